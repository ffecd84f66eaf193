"""Refund reads through the MCP protocol: list_refunds and get_refund."""

from __future__ import annotations

from typing import Any

import pytest
from mcp.client import Client
from mcp.server.mcpserver import MCPServer

from polar_orders_mcp.emulator.seed import SeedInfo
from polar_orders_mcp.emulator.state import EmulatorState
from tests.tools.conftest import call, fail

pytestmark = pytest.mark.anyio
UNKNOWN = "00000000-0000-4000-8000-000000000000"


async def test_list_refunds_of_an_order_shows_what_was_paid_back(
    server: MCPServer[Any], seed: SeedInfo, state: EmulatorState, mode: str
) -> None:
    order_id = seed.paid_order_id
    state.refunds.create(order_id=order_id, reason="duplicate", amount=500)
    state.refunds.create(order_id=order_id, reason="customer_request", amount=125)
    async with Client(server, mode=mode) as client:
        listed = await call(client, "list_refunds", {"order_id": order_id})
        by_amount = await call(client, "list_refunds", {"order_id": order_id, "sorting": ["amount"], "limit": 1})
    assert [(r["amount"], r["tax_amount"], r["total_amount"], r["total"]) for r in listed["items"]] == [
        (125, 25, 150, "$1.50"),
        (500, 100, 600, "$6.00"),
    ]
    assert {r["order_id"] for r in listed["items"]} == {order_id} and listed["total_count"] == 2
    assert listed["items"][0]["status"] == "succeeded" and "api_object" not in listed["items"][0]
    assert by_amount["items"][0]["amount"] == 125 and by_amount["next_page"] == 2


async def test_list_refunds_by_customer_and_status(
    server: MCPServer[Any], seed: SeedInfo, state: EmulatorState
) -> None:
    state.settings.refund_status = "pending"
    pending = state.refunds.create(order_id=seed.paid_order_id, reason="other", amount=100)
    async with Client(server) as client:
        mine = await call(client, "list_refunds", {"customer_id": seed.customers["good_card"], "limit": 100})
        not_yet = await call(client, "list_refunds", {"succeeded": False})
    assert {r["customer_id"] for r in mine["items"]} == {seed.customers["good_card"]}
    assert set(seed.refunds.values()) | {pending.id} <= {r["id"] for r in mine["items"]}
    assert [r["id"] for r in not_yet["items"]] == [pending.id]


async def test_get_refund_reads_one_and_says_when_there_is_none(
    server: MCPServer[Any], seed: SeedInfo, mode: str
) -> None:
    refund_id = seed.refunds["partially_refunded"]
    async with Client(server, mode=mode) as client:
        refund = await call(client, "get_refund", {"refund_id": refund_id, "detail": "full"})
        missing = await fail(client, "get_refund", {"refund_id": UNKNOWN})
    assert refund["id"] == refund_id and refund["order_id"] == seed.orders_by_status["partially_refunded"]
    assert refund["api_object"]["id"] == refund_id
    assert f"ResourceNotFound (HTTP 404) on GET /v1/refunds/: No refund {UNKNOWN} in this organization." in missing


async def test_refund_ids_are_validated_before_any_request(server: MCPServer[Any]) -> None:
    async with Client(server) as client:
        message = await fail(client, "get_refund", {"refund_id": "../orders"})
    assert message == (
        'Error executing tool get_refund: Argument refund_id ("../orders") is not a UUID. For example: '
        '"8f14e45f-ceea-4e7a-9c2b-3d5e6f708192". Nothing was done: call get_refund again with this fixed.'
    )
