"""Order reads and writes through the MCP protocol: list, get, create, update."""

from __future__ import annotations

import json
from typing import Any

import pytest
from mcp.client import Client
from mcp.server.mcpserver import MCPServer

from polar_orders_mcp.emulator.seed import SeedInfo
from polar_orders_mcp.emulator.state import EmulatorState
from tests.tools.conftest import call, fail

pytestmark = pytest.mark.anyio


async def test_list_orders_pages_newest_first(server: MCPServer[Any], mode: str) -> None:
    async with Client(server, mode=mode) as client:
        first = await call(client, "list_orders", {"limit": 15})
        second = await call(client, "list_orders", {"limit": 15, "page": first["next_page"]})
    assert first["total_count"] == second["total_count"] >= 40
    assert len(first["items"]) == 15
    assert first["next_page"] == 2
    stamps = [o["created_at"] for o in first["items"] + second["items"]]
    assert stamps == sorted(stamps, reverse=True)
    assert not {o["id"] for o in first["items"]} & {o["id"] for o in second["items"]}


async def test_list_orders_filters_by_customer(server: MCPServer[Any], seed: SeedInfo) -> None:
    customer = seed.customers["good_card"]
    async with Client(server) as client:
        listing = await call(client, "list_orders", {"customer_id": customer, "limit": 100})
    assert listing["items"]
    assert {o["customer_id"] for o in listing["items"]} == {customer}


async def test_list_orders_on_the_last_page_has_no_next_page(server: MCPServer[Any]) -> None:
    async with Client(server) as client:
        listing = await call(client, "list_orders", {"limit": 100})
    assert listing["next_page"] is None


async def test_get_order_summary_has_what_support_needs(
    server: MCPServer[Any], seed: SeedInfo, state: EmulatorState, mode: str
) -> None:
    async with Client(server, mode=mode) as client:
        order = await call(client, "get_order", {"order_id": seed.paid_order_id})
    assert order["id"] == seed.paid_order_id
    assert order["status"] == "paid"
    assert order["customer_supplied"]["email"]
    assert order["product"]["name"]
    assert isinstance(order["total_amount"], int)
    paid = state.store.order(seed.paid_order_id)
    assert (order["currency"], order["total"]) == ("usd", f"${paid.total_amount / 100:,.2f}")
    assert "api_object" not in order  # not even as null: only detail="full" has it


async def test_get_order_shows_the_units_bought(server: MCPServer[Any], seed: SeedInfo, state: EmulatorState) -> None:
    # Today's API sends `units` on every order (null unless the price is unit-based).
    state.store.order(seed.paid_order_id).units = 3
    async with Client(server) as client:
        order = await call(client, "get_order", {"order_id": seed.paid_order_id})
        other = await call(client, "get_order", {"order_id": seed.draft_orders["good_card"]})
    assert order["units"] == 3
    assert "units" not in other  # null unless the price is unit-based: left out rather than shown as null


async def test_get_order_full_detail_adds_the_api_object(server: MCPServer[Any], seed: SeedInfo) -> None:
    async with Client(server) as client:
        order = await call(client, "get_order", {"order_id": seed.paid_order_id, "detail": "full"})
    assert order["api_object"]["id"] == seed.paid_order_id
    assert "subtotal_amount" in order["api_object"]


async def test_get_order_unknown_id_says_not_found(server: MCPServer[Any]) -> None:
    async with Client(server) as client:
        message = await fail(client, "get_order", {"order_id": "00000000-0000-4000-8000-000000000000"})
    assert "404" in message
    assert "ResourceNotFound" in message


@pytest.mark.parametrize("bad", ["../../v1/customers", "abc", "", "1 OR 1=1", "00000000-0000-4000-8000-00000000000g"])
async def test_ids_are_validated_before_any_request(server: MCPServer[Any], bad: str) -> None:
    async with Client(server) as client:
        message = await fail(client, "get_order", {"order_id": bad})
    assert f"Argument order_id ({json.dumps(bad)}) is not a UUID." in message


async def test_create_order_makes_a_draft_and_charges_nothing(
    server: MCPServer[Any], seed: SeedInfo, state: EmulatorState
) -> None:
    async with Client(server) as client:
        order = await call(
            client,
            "create_order",
            {
                "customer_id": seed.customers["good_card"],
                "product_id": seed.products["one_time_fixed"],
                "description": "Extra seats",
            },
        )
    assert order["status"] == "draft"
    assert order["total_amount"] > 0
    assert state.store.order(order["id"]).status == "draft"


async def test_create_order_for_a_recurring_product_is_refused_clearly(server: MCPServer[Any], seed: SeedInfo) -> None:
    async with Client(server) as client:
        message = await fail(
            client,
            "create_order",
            {
                "customer_id": seed.customers["good_card"],
                "product_id": seed.products["recurring"],
            },
        )
    assert "422" in message


async def test_update_order_changes_billing_name(server: MCPServer[Any], seed: SeedInfo) -> None:
    async with Client(server) as client:
        order = await call(client, "update_order", {"order_id": seed.paid_order_id, "billing_name": "ACME Ltd"})
    assert order["customer_supplied"]["billing_name"] == "ACME Ltd"


async def test_update_order_with_nothing_to_change_is_refused(server: MCPServer[Any], seed: SeedInfo) -> None:
    async with Client(server) as client:
        message = await fail(client, "update_order", {"order_id": seed.paid_order_id})
    assert "Nothing to update" in message


async def test_list_orders_filters_by_status_dates_and_subscription(
    server: MCPServer[Any], seed: SeedInfo, state: EmulatorState, mode: str
) -> None:
    orders = state.store.orders
    after, before = orders[5].created_at, orders[30].created_at
    async with Client(server, mode=mode) as client:
        refunds = await call(client, "list_orders", {"status": ["refunded", "partially_refunded"], "limit": 100})
        window = await call(
            client,
            "list_orders",
            {"created_after": after.isoformat(), "created_before": before.isoformat(), "limit": 100},
        )
        subscribed = await call(client, "list_orders", {"subscription_id": seed.subscriptions["active"]})
    assert {o["status"] for o in refunds["items"]} == {"refunded", "partially_refunded"}
    assert refunds["total_count"] == sum(o.status in ("refunded", "partially_refunded") for o in orders)
    # Both bounds are exclusive: the orders at exactly `after` and `before` are left out.
    assert {o["id"] for o in window["items"]} == {o.id for o in orders[6:30]}
    assert [o["id"] for o in subscribed["items"]] == [seed.subscription_orders["active"]]


async def test_list_orders_refuses_naive_or_backwards_dates(server: MCPServer[Any], state: EmulatorState) -> None:
    async with Client(server) as client:
        naive = await fail(client, "list_orders", {"created_after": "2026-10-01T00:00:00"})
        backwards = await fail(
            client, "list_orders", {"created_after": "2026-10-02T00:00:00Z", "created_before": "2026-10-01T00:00:00Z"}
        )
    assert "created_after" in naive and "timezone" in naive
    assert backwards == "Error executing tool list_orders: created_after must be before created_before."
    assert state.faults.received("GET", "/v1/orders/") == []
