"""An approval is for one call of one client: other clients, sessions, targets and forgeries get nothing."""

from __future__ import annotations

from typing import Any

import pytest
from mcp.client import Client

from polar_orders_mcp.approvals.policy import Caller
from polar_orders_mcp.emulator.seed import SeedInfo
from polar_orders_mcp.emulator.state import EmulatorState
from polar_orders_mcp.server.app import ServerParts
from tests.approvals.console_client import Person
from tests.tools.conftest import call, fail

pytestmark = pytest.mark.anyio


def as_caller(parts: ServerParts, client: str, session: str | None = None) -> ServerParts:
    """The server as a given HTTP credential (and legacy session) reaches it; stdio has just one caller."""
    parts.guard.identify = lambda _ctx: Caller(client, session)
    return parts


async def test_an_approval_asked_by_one_client_cannot_be_used_by_another(
    make_parts: Any, seed: SeedInfo, state: EmulatorState, tmp_path: Any
) -> None:
    order_id = seed.draft_orders["good_card"]
    desk_a = as_caller(make_parts(state_dir=tmp_path / "shared"), "desk-a")
    desk_b = as_caller(make_parts(state_dir=tmp_path / "shared"), "desk-b")
    async with Client(desk_a.server) as a, Client(desk_b.server) as b, Person(desk_a.console) as person:
        approval_id = (await call(a, "finalize_order", {"order_id": order_id}))["approval"]["approval_id"]
        await person.approve(approval_id)
        stolen = await fail(b, "finalize_order", {"order_id": order_id, "approval_id": approval_id})
        assert state.store.order(order_id).status == "draft"
        mine = await call(a, "finalize_order", {"order_id": order_id, "approval_id": approval_id})
    assert f"approval {approval_id} was requested by another client, person or session" in stolen
    assert mine["status"] == "charged"


async def test_an_approval_asked_in_one_session_cannot_be_used_from_another(
    make_parts: Any, seed: SeedInfo, state: EmulatorState, tmp_path: Any
) -> None:
    order_id = seed.draft_orders["good_card"]
    first = as_caller(make_parts(state_dir=tmp_path / "shared"), "desk", "session-1")
    second = as_caller(make_parts(state_dir=tmp_path / "shared"), "desk", "session-2")
    async with Client(first.server) as one, Client(second.server) as two, Person(first.console) as person:
        approval_id = (await call(one, "finalize_order", {"order_id": order_id}))["approval"]["approval_id"]
        await person.approve(approval_id)
        message = await fail(two, "finalize_order", {"order_id": order_id, "approval_id": approval_id})
    assert "requested by another client, person or session" in message
    assert state.store.order(order_id).status == "draft"


async def test_an_approval_for_one_tool_does_not_serve_another(
    parts: ServerParts, person: Person, seed: SeedInfo, state: EmulatorState
) -> None:
    async with Client(parts.server) as client:
        await call(
            client,
            "update_checkout_by_secret",
            {
                "client_secret": seed.open_checkout_client_secret,
                "customer_email": "p@example.com",
                "customer_billing_address": {
                    "country": "US",
                    "state": "US-NY",
                    "city": "New York",
                    "line1": "1 Main St",
                    "postal_code": "10001",
                },
            },
        )
        charge = (await call(client, "finalize_order", {"order_id": seed.draft_orders["good_card"]}))["approval"]
        await person.approve(charge["approval_id"])
        message = await fail(
            client,
            "confirm_checkout",
            {
                "client_secret": seed.open_checkout_client_secret,
                "payment_token": "tok_visa",
                "approval_id": charge["approval_id"],
            },
        )
    assert f"approval {charge['approval_id']} was requested for finalize_order on" in message
    assert state.store.checkout(seed.open_checkout_id).status == "open"


@pytest.mark.parametrize(
    "made_up",
    [
        "apr_" + "A" * 24,  # the shape of an id, issued by nobody
        "apr_" + "é" * 20,  # not even the shape
        "pr1.apr_" + "A" * 24 + "." + "0" * 43,  # the shape of a relay token
        "pr1.apr_" + "A" * 24 + "." + "é" * 43,
    ],
)
async def test_made_up_approvals_allow_nothing(server: Any, seed: SeedInfo, state: EmulatorState, made_up: str) -> None:
    order_id = seed.draft_orders["good_card"]
    async with Client(server) as client:
        message = await fail(client, "finalize_order", {"order_id": order_id, "approval_id": made_up})
    assert f"Order {order_id}" in message or "approval_id" in message
    assert "Error executing tool finalize_order" in message and "Traceback" not in message
    assert state.store.order(order_id).status == "draft"


async def test_a_relay_token_with_odd_characters_is_refused_cleanly(
    make_parts: Any, seed: SeedInfo, state: EmulatorState
) -> None:
    order_id = seed.draft_orders["good_card"]
    parts: ServerParts = make_parts(confirm="relay")
    async with Client(parts.server) as client:
        token = (await call(client, "finalize_order", {"order_id": order_id}))["approval"]["approval_id"]
        store = await parts.store()
        approval = await store.get_approval(token.split(".")[1])
        assert approval is not None
        # Signed over the right approval, then one hex digit swapped for a look-alike: the signature
        # check must say "not valid", not crash comparing a non-ASCII string.
        forged = token[:-1] + ("0" if token[-1] != "0" else "1")
        message = await fail(client, "finalize_order", {"order_id": order_id, "approval_id": forged})
    assert "The confirmation_token is not valid: it was altered or not issued here." in message
    assert state.store.order(order_id).status == "draft"


async def test_one_approval_raced_from_two_servers_on_one_store_charges_once(
    make_parts: Any, seed: SeedInfo, state: EmulatorState, tmp_path: Any
) -> None:
    import anyio

    order_id = seed.draft_orders["good_card"]
    one: ServerParts = make_parts(state_dir=tmp_path / "shared")
    two: ServerParts = make_parts(state_dir=tmp_path / "shared")
    async with Client(one.server) as a, Person(one.console) as person:
        approval_id = (await call(a, "finalize_order", {"order_id": order_id}))["approval"]["approval_id"]
        await person.approve(approval_id)
    results: list[Any] = []

    async def use(parts: ServerParts) -> None:
        async with Client(parts.server) as client:
            results.append(await client.call_tool("finalize_order", {"order_id": order_id, "approval_id": approval_id}))

    async with anyio.create_task_group() as group:
        for parts in (one, two, one, two):
            group.start_soon(use, parts)
    charged = [r for r in results if not r.is_error]
    assert len(charged) == 1
    assert [r.path for r in state.faults.journal if r.method == "POST"] == [f"/v1/orders/{order_id}/finalize"]
