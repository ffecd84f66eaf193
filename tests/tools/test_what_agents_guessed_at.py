"""What agents doing support tasks had to guess at: the total with tax, what `amount` does, a customer's card,
a foreign order in customer mode, a subscription's charge, a refund's reason, and `customer_supplied`."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx2
import pytest
from mcp.client import Client
from mcp.server.mcpserver import MCPServer

from polar_orders_mcp.emulator.state import EmulatorState
from polar_orders_mcp.server.app import build_server
from polar_orders_mcp.settings import Settings
from tests.tools.conftest import call, fail

pytestmark = pytest.mark.anyio



async def listed(server: MCPServer[Any]) -> dict[str, Any]:
    async with Client(server) as client:
        return {tool.name: tool for tool in (await client.list_tools()).tools}


# Item: customer mode says a foreign order is not the customer's, and filters by date.


def customer_server(emulator: Any, state: EmulatorState) -> MCPServer[Any]:
    token = state.catalog.create_session(customer_id=state.seed_info.customers["good_card"]).token
    return build_server(Settings(emulator=True, customer_session=token), transport=httpx2.ASGITransport(app=emulator))


@pytest.mark.parametrize(
    "tool", ["get_my_order", "get_my_receipt", "get_my_invoice", "request_my_invoice", "update_my_billing_details"]
)
async def test_a_foreign_order_is_not_one_of_yours(emulator: Any, state: EmulatorState, tool: str) -> None:
    mine = state.seed_info.customers["good_card"]
    foreign = next(o.id for o in state.store.orders if o.customer.id != mine and o.status == "paid")
    args = {"order_id": foreign, **({"billing_name": "Mallory"} if tool == "update_my_billing_details" else {})}
    async with Client(customer_server(emulator, state)) as client:
        message = await fail(client, tool, args)
    assert message == f"Error executing tool {tool}: Order {foreign} is not one of your orders."


async def test_an_own_order_without_an_invoice_still_says_so(emulator: Any, state: EmulatorState) -> None:
    mine = state.seed_info.customers["good_card"]
    order = next(
        o for o in state.store.orders if o.customer.id == mine and o.status == "paid" and not o.is_invoice_generated
    )
    async with Client(customer_server(emulator, state)) as client:
        message = await fail(client, "get_my_invoice", {"order_id": order.id})
    assert "InvoiceDoesNotExist" in message and "not one of your orders" not in message


async def test_list_my_orders_filters_by_date(emulator: Any, state: EmulatorState) -> None:
    mine = sorted(
        (o for o in state.store.orders if o.customer.id == state.seed_info.customers["good_card"]),
        key=lambda o: o.created_at, reverse=True,
    )  # fmt: skip
    assert len(mine) >= 4
    after, before = mine[-1].created_at, mine[0].created_at
    inside = [o.id for o in mine if after < o.created_at < before]
    async with Client(customer_server(emulator, state)) as client:
        between = await call(client, "list_my_orders", {
            "created_after": after.isoformat(), "created_before": before.isoformat(), "limit": 100,
        })  # fmt: skip
        paid_since = await call(client, "list_my_orders", {
            "status": ["paid"], "created_after": (after - timedelta(seconds=1)).isoformat(), "limit": 100,
        })  # fmt: skip
        backwards = await fail(client, "list_my_orders", {
            "created_after": before.isoformat(), "created_before": after.isoformat(),
        })  # fmt: skip
    assert [o["id"] for o in between["items"]] == inside and between["total_count"] == len(inside)
    assert [o["id"] for o in paid_since["items"]] == [o.id for o in mine if o.status == "paid"]
    assert backwards.endswith("created_after must be before created_before.")
