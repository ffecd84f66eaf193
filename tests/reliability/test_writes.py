"""Writes under faults: never repeated on their own, never charged twice, and the agent is told what happened.

The emulator counts the requests it received: a write the client repeated would show up as a second one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import anyio
import pytest
from mcp.client import Client
from mcp.server.mcpserver import MCPServer

from polar_orders_mcp.emulator.seed import SeedInfo
from polar_orders_mcp.emulator.state import EmulatorState
from tests.reliability.conftest import Faults
from tests.tools.conftest import call, fail

pytestmark = pytest.mark.anyio

FINALIZE = "/v1/orders/{id}/finalize"
CONFIRM = "/v1/checkouts/client/{secret}/confirm"


@dataclass
class Write:
    tool: str
    path: str
    args: Callable[[SeedInfo], dict[str, Any]]
    done: Callable[[EmulatorState], int]  # how many times the write has taken effect


def ready_checkout(state: EmulatorState) -> None:
    """The seeded open checkout, filled in as its payment page would, so it can be confirmed."""
    checkout = state.store.checkout(state.seed_info.open_checkout_id)
    checkout.customer_email = "payer@example.com"
    checkout.customer_billing_address = {
        "country": "US",
        "state": "US-NY",
        "line1": "1 Main St",
        "line2": None,
        "postal_code": "10001",
        "city": "New York",
    }


def seeded_count(state: EmulatorState, table: str) -> Callable[[EmulatorState], int]:
    start = len(getattr(state.store, table))
    return lambda s: len(getattr(s.store, table)) - start


def writes(state: EmulatorState) -> dict[str, Write]:
    seed = state.seed_info
    draft, paid = seed.draft_orders["good_card"], seed.paid_order_id
    return {
        "create_order": Write(
            "create_order",
            "/v1/orders/",
            lambda s: {"customer_id": s.customers["good_card"], "product_id": s.products["one_time_fixed"]},
            seeded_count(state, "orders"),
        ),
        "create_checkout": Write(
            "create_checkout",
            "/v1/checkouts/",
            lambda s: {"products": [s.products["one_time_fixed"]]},
            seeded_count(state, "checkouts"),
        ),
        "finalize_order": Write(
            "finalize_order",
            FINALIZE,
            lambda s: {"order_id": draft},
            lambda s: int(s.store.order(draft).status == "paid"),
        ),
        "confirm_checkout": Write(
            "confirm_checkout",
            CONFIRM,
            lambda s: {"client_secret": s.open_checkout_client_secret, "payment_token": "tok_visa"},
            lambda s: int(s.store.checkout(s.seed_info.open_checkout_id).status != "open"),
        ),
        "generate_invoice": Write(
            "generate_invoice",
            "/v1/orders/{id}/invoice",
            lambda s: {"order_id": paid},
            lambda s: int(s.store.order(paid).is_invoice_generated),
        ),
    }


WRITE_TOOLS = ["create_order", "create_checkout", "finalize_order", "confirm_checkout", "generate_invoice"]


@pytest.mark.parametrize("tool", WRITE_TOOLS)
@pytest.mark.parametrize(
    "fault", [{"kind": "status", "status": 503}, {"kind": "status", "status": 502}], ids=["503", "502"]
)
async def test_a_write_answered_5xx_is_sent_once_and_not_done(
    make_server: Callable[..., MCPServer[Any]], faults: Faults, state: EmulatorState, tool: str, fault: dict[str, Any]
) -> None:
    ready_checkout(state)
    write = writes(state)[tool]
    await faults.add(path=write.path, method="POST", count=5, **fault)
    async with Client(make_server()) as client:
        message = await fail(client, write.tool, write.args(state.seed_info))
        assert await faults.received("POST", write.path) == 1
        assert write.done(state) == 0
        if tool in ("finalize_order", "confirm_checkout"):
            # The server read the target back: not done so far, a retry is safe, and a slow Polar may still act.
            assert ("still a draft" if tool == "finalize_order" else "still open") in message, message
            assert "may still be processing" in message and "again is safe" in message, message
        elif tool == "generate_invoice":
            # Read back too: no invoice so far, a slow Polar may still make it, and a retry cannot make two.
            assert "has no invoice yet" in message and "again is safe" in message, message
        else:
            assert f"HTTP {fault['status']}" in message and "Polar's side" in message, message
        await faults.http.delete("/_emulator/faults")
        await call(client, write.tool, write.args(state.seed_info))  # Polar is back: the same call works
    assert await faults.received("POST", write.path) == 2
    assert write.done(state) == 1


@pytest.mark.parametrize("tool", WRITE_TOOLS)
async def test_a_write_whose_answer_is_lost_is_sent_once_and_the_agent_learns_it_happened(
    make_server: Callable[..., MCPServer[Any]], faults: Faults, state: EmulatorState, tool: str
) -> None:
    ready_checkout(state)
    write = writes(state)[tool]
    await faults.add("drop_after", write.path, method="POST")
    async with Client(make_server()) as client:
        result = await client.call_tool(write.tool, write.args(state.seed_info))
    assert await faults.received("POST", write.path) == 1
    assert write.done(state) == 1
    text = " ".join(getattr(c, "text", "") for c in result.content)
    if tool == "finalize_order":
        assert not result.is_error and result.structured_content is not None
        assert result.structured_content["status"] == "charged" and "Do not retry" in text
    elif tool == "confirm_checkout":
        assert not result.is_error and result.structured_content is not None
        assert result.structured_content["status"] == "confirmed"
    elif tool == "generate_invoice":
        # Read back: the invoice exists, so the call waits for it and returns its link.
        assert not result.is_error and result.structured_content is not None
        assert result.structured_content["status"] == "ready"
    else:
        assert result.is_error
        assert "no answer came back, so Polar may have acted on it" in text, text
        assert "before trying again" in text


@pytest.mark.parametrize("tool", ["create_order", "create_checkout"])
async def test_a_create_whose_answer_is_unreadable_says_it_was_most_likely_made(
    make_server: Callable[..., MCPServer[Any]], faults: Faults, state: EmulatorState, tool: str
) -> None:
    write = writes(state)[tool]
    await faults.add("malformed", write.path, method="POST")
    async with Client(make_server()) as client:
        message = await fail(client, write.tool, write.args(state.seed_info))
    assert "answer could not be read, so the change was most likely made" in message, message
    assert "list the newest ones" in message and "retry once" not in message
    assert await faults.received("POST", write.path) == 1
    assert write.done(state) == 1


async def test_an_invoice_whose_answer_is_lost_is_read_back_and_keeps_its_number(
    make_server: Callable[..., MCPServer[Any]], faults: Faults, seed: SeedInfo, state: EmulatorState
) -> None:
    path = "/v1/orders/{id}/invoice"
    await faults.add("drop_after", path, method="POST")
    async with Client(make_server()) as client:
        first = await call(client, "generate_invoice", {"order_id": seed.paid_order_id})
        assert first["status"] == "ready"  # read back: the invoice was made
        number = state.store.order(seed.paid_order_id).invoice_number
        again = await call(client, "generate_invoice", {"order_id": seed.paid_order_id})
        link = await call(client, "get_invoice", {"order_id": seed.paid_order_id})
    assert again["status"] == "ready" and again["invoice_number"] == number
    assert state.store.order(seed.paid_order_id).invoice_number == number
    assert link["url"].startswith("http")
    assert await faults.received("POST", path) == 2


@pytest.mark.parametrize("kind", ["drop_before", "drop_after", "truncate", "malformed", "slow_body"])
async def test_a_charge_that_fails_mid_flight_is_read_back_never_repeated(
    make_server: Callable[..., MCPServer[Any]], faults: Faults, seed: SeedInfo, state: EmulatorState, kind: str
) -> None:
    order_id = seed.draft_orders["good_card"]
    await faults.add(kind, FINALIZE, method="POST", seconds=1.0)
    async with Client(make_server(timeout=0.5)) as client:
        result = await client.call_tool("finalize_order", {"order_id": order_id})
        text = " ".join(getattr(c, "text", "") for c in result.content)
        if kind == "drop_before":  # Polar never saw it: nothing charged, and the agent may retry
            assert result.is_error and f"Order {order_id} was not charged" in text
            assert "safe to call finalize_order again" in text
            assert state.store.order(order_id).status == "draft"
        else:  # Polar charged, then the answer was lost, cut, mangled or too slow: the server reads it back
            assert not result.is_error, text
            assert result.structured_content is not None and result.structured_content["status"] == "charged"
            assert result.structured_content["order"]["status"] == "paid"
            assert state.store.order(order_id).status == "paid"
        assert await faults.received("POST", FINALIZE) == 1
        # And the server answers the next call normally.
        order = await call(client, "get_order", {"order_id": order_id})
    assert order["status"] == state.store.order(order_id).status


async def test_a_charge_still_running_when_the_client_gives_up_is_charged_once(
    make_server: Callable[..., MCPServer[Any]], faults: Faults, seed: SeedInfo, state: EmulatorState
) -> None:
    """Polar is slow: the charge lands after the client's timeout and after the order was read back."""
    order_id = seed.draft_orders["good_card"]
    await faults.add("latency", FINALIZE, method="POST", seconds=1.0)
    async with Client(make_server(timeout=0.5)) as client:
        message = await fail(client, "finalize_order", {"order_id": order_id})
        assert "still a draft" in message and "may still be processing" in message, message
        assert "Polar never charges one order twice" in message
        with anyio.fail_after(10):
            while state.store.order(order_id).status != "paid":
                await anyio.sleep(0.05)
        again = await fail(client, "finalize_order", {"order_id": order_id})
    assert "is paid, not a draft" in again and "nothing to charge" in again
    assert await faults.received("POST", FINALIZE) == 1


async def test_a_charge_whose_read_back_fails_too_says_not_to_retry_blindly(
    make_server: Callable[..., MCPServer[Any]], faults: Faults, seed: SeedInfo, state: EmulatorState
) -> None:
    order_id = seed.draft_orders["good_card"]
    await faults.add("drop_after", FINALIZE, method="POST")
    # The preview reads the order (with --confirm off nothing waits, so nothing reads it again before the
    # charge); every read after that fails.
    await faults.add("status", f"/v1/orders/{order_id}", method="GET", skip=1, count=100, status=503)
    async with Client(make_server(max_retries=1)) as client:
        message = await fail(client, "finalize_order", {"order_id": order_id})
    assert "may or may not have been charged" in message, message
    assert "Do not call finalize_order again" in message
    assert await faults.received("POST", FINALIZE) == 1
    assert state.store.order(order_id).status == "paid"
