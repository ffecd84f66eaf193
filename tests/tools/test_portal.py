"""Customer mode: one signed-in customer's own orders through the customer portal, nothing more."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx2
import pytest
from mcp.client import Client

from polar_orders_mcp.emulator.seed import SeedInfo
from polar_orders_mcp.emulator.state import EmulatorState
from polar_orders_mcp.server.app import build_server
from polar_orders_mcp.settings import Settings
from polar_orders_mcp.tools.registry import CUSTOMER_TOOLS
from tests.tools.conftest import call, fail

pytestmark = pytest.mark.anyio


def session_for(state: EmulatorState, kind: str) -> str:
    return state.catalog.create_session(customer_id=state.seed_info.customers[kind]).token


@pytest.fixture
def customer_server(emulator: Any, state: EmulatorState) -> Any:
    token = session_for(state, "good_card")
    return build_server(Settings(emulator=True, customer_session=token), transport=httpx2.ASGITransport(app=emulator))


def other_customers_order(state: EmulatorState, seed: SeedInfo) -> str:
    mine = seed.customers["good_card"]
    return next(o.id for o in state.store.orders if o.customer.id != mine and o.status == "paid")


async def test_customer_mode_serves_only_the_portal_tools(customer_server: Any, mode: str) -> None:
    async with Client(customer_server, mode=mode) as client:
        tools = {t.name for t in (await client.list_tools()).tools}
        prompts = (await client.list_prompts()).prompts
        templates = (await client.list_resource_templates()).resource_templates
        result = await client.call_tool("list_orders", {})
    assert tools == {t.name for t in CUSTOMER_TOOLS}
    assert not prompts and not templates
    assert result.is_error  # no organization tool is reachable


async def test_my_orders_are_only_mine(customer_server: Any, seed: SeedInfo, mode: str) -> None:
    async with Client(customer_server, mode=mode) as client:
        listing = await call(client, "list_my_orders", {"limit": 100})
    assert listing["items"]
    assert {o["customer_id"] for o in listing["items"]} == {seed.customers["good_card"]}


async def test_another_customers_order_is_not_found(customer_server: Any, state: EmulatorState, seed: SeedInfo) -> None:
    foreign = other_customers_order(state, seed)
    async with Client(customer_server) as client:
        for tool in ("get_my_order", "get_my_receipt", "get_my_invoice", "request_my_invoice"):
            message = await fail(client, tool, {"order_id": foreign})
            assert message.endswith(f"Order {foreign} is not one of your orders."), tool
        message = await fail(client, "update_my_billing_details", {"order_id": foreign, "billing_name": "Mallory"})
    assert message.endswith(f"Order {foreign} is not one of your orders.")
    assert state.store.order(foreign).billing_name != "Mallory"


# Arguments that get each customer-mode tool as far as Polar; every tool of the table is listed.
EXPIRED_CALLS = {
    "list_my_orders": {},
    "get_my_order": {"order_id": "paid"},
    "update_my_billing_details": {"order_id": "paid", "billing_name": "Ada Good"},
    "request_my_invoice": {"order_id": "paid"},
    "get_my_invoice": {"order_id": "paid"},
    "get_my_receipt": {"order_id": "paid"},
}


def test_every_customer_tool_is_tried_with_an_expired_session() -> None:
    assert set(EXPIRED_CALLS) == {tool.name for tool in CUSTOMER_TOOLS}


@pytest.mark.parametrize("tool", sorted(EXPIRED_CALLS))
async def test_an_expired_session_says_to_create_a_new_one(
    emulator: Any, state: EmulatorState, seed: SeedInfo, tool: str
) -> None:
    token = session_for(state, "good_card")
    state.store.sessions[token].expires_at = state.now() - timedelta(seconds=1)
    server = build_server(Settings(emulator=True, customer_session=token), transport=httpx2.ASGITransport(app=emulator))
    args = {name: seed.paid_order_id if value == "paid" else value for name, value in EXPIRED_CALLS[tool].items()}
    async with Client(server) as client:
        message = await fail(client, tool, args)
    assert message == (
        f"Error executing tool {tool}: The customer session has expired or is not valid: create a new one "
        "(create_customer_session in organization mode, or your app's sign-in flow), then try again."
    )


async def test_billing_details_rules(customer_server: Any, state: EmulatorState, seed: SeedInfo) -> None:
    mine = next(
        o
        for o in state.store.orders
        if o.customer.id == seed.customers["good_card"] and o.status == "paid" and not o.is_invoice_generated
    )
    async with Client(customer_server) as client:
        renamed = await call(client, "update_my_billing_details", {"order_id": mine.id, "billing_name": "Ada Ltd"})
        assert renamed["customer_supplied"]["billing_name"] == "Ada Ltd"
        moved = await fail(
            client,
            "update_my_billing_details",
            {
                "order_id": mine.id,
                "billing_address": {"country": "US", "state": "US-CA", "city": "Oakland"},
            },
        )
        assert "422" in moved
        requested = await call(client, "request_my_invoice", {"order_id": mine.id})
        assert requested["customer_supplied"]["billing_name"] == "Ada Ltd"
        assert state.store.order(mine.id).is_invoice_generated
        invoice = await call(client, "get_my_invoice", {"order_id": mine.id})
        assert invoice["url"].startswith("http")
        # Polar accepts billing details after the invoice exists; the next request regenerates it.
        late = await call(client, "update_my_billing_details", {"order_id": mine.id, "billing_name": "Not Too Late"})
        again = await call(client, "request_my_invoice", {"order_id": mine.id})
    assert late["customer_supplied"]["billing_name"] == state.store.order(mine.id).billing_name == "Not Too Late"
    assert again["customer_supplied"]["billing_name"] == "Not Too Late"


async def test_my_receipt(customer_server: Any, state: EmulatorState, seed: SeedInfo) -> None:
    mine = next(o for o in state.store.orders if o.customer.id == seed.customers["good_card"] and o.status == "paid")
    async with Client(customer_server) as client:
        receipt = await call(client, "get_my_receipt", {"order_id": mine.id})
    assert receipt["state"] == "ready"


async def test_create_customer_session_hands_out_a_working_scoped_token(
    server: Any, emulator: Any, seed: SeedInfo
) -> None:
    async with Client(server) as client:
        session = await call(client, "create_customer_session", {"customer_id": seed.customers["sca_card"]})
        both = await fail(client, "create_customer_session", {})
    assert "exactly one" in both
    assert session["token"].startswith("polar_cst_")
    scoped = build_server(
        Settings(emulator=True, customer_session=session["token"]), transport=httpx2.ASGITransport(app=emulator)
    )
    async with Client(scoped) as client:
        listing = await call(client, "list_my_orders", {"limit": 100})
    assert {o["customer_id"] for o in listing["items"]} == {seed.customers["sca_card"]}


async def test_the_deprecated_users_path_serves_the_same_order(emulator: Any, state: EmulatorState) -> None:
    token = session_for(state, "good_card")
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=emulator), base_url="http://e") as http:
        listing = (await http.get("/v1/customer-portal/orders/", headers=headers)).json()
        order_id = listing["items"][0]["id"]
        new = await http.get(f"/v1/customer-portal/orders/{order_id}", headers=headers)
        old = await http.get(f"/v1/users/orders/{order_id}", headers=headers)
    assert new.status_code == old.status_code == 200
    assert new.json() == old.json()


async def test_list_my_orders_keeps_only_the_statuses_asked_for(
    customer_server: Any, state: EmulatorState, mode: str
) -> None:
    mine = [o for o in state.store.orders if o.customer.id == state.seed_info.customers["good_card"]]
    paid = sorted((o for o in mine if o.status == "paid"), key=lambda o: o.created_at, reverse=True)
    async with Client(customer_server, mode=mode) as client:
        first = await call(client, "list_my_orders", {"status": ["paid"], "limit": 3})
        second = await call(client, "list_my_orders", {"status": ["paid"], "limit": 3, "page": 2})
        refunded = await call(client, "list_my_orders", {"status": ["refunded", "partially_refunded"]})
    assert [o["id"] for o in first["items"] + second["items"]] == [o.id for o in paid[:6]]
    assert first["total_count"] == len(paid) and first["next_page"] == 2
    assert {o["status"] for o in refunded["items"]} == {"refunded", "partially_refunded"}
