"""Dispute reads through the MCP protocol: list_disputes and get_dispute."""

from __future__ import annotations

from typing import Any

import pytest
from mcp.client import Client
from mcp.server.mcpserver import MCPServer

from polar_orders_mcp.emulator.seed import SeedInfo
from tests.tools.conftest import call, fail

pytestmark = pytest.mark.anyio


async def test_list_disputes_by_status_and_order(server: MCPServer[Any], seed: SeedInfo, mode: str) -> None:
    async with Client(server, mode=mode) as client:
        open_ = await call(client, "list_disputes", {"status": ["needs_response"]})
        every = await call(client, "list_disputes", {"sorting": ["-amount"], "limit": 2})
        of_order = await call(client, "list_disputes", {"order_id": seed.disputed_orders["won"]})
    assert [d["id"] for d in open_["items"]] == [seed.disputes["needs_response"]]
    item = open_["items"][0]
    assert (item["total_amount"], item["total"], item["reason"], item["customer_supplied"]["email"]) == (
        1500,
        "$15.00",
        "fraudulent",
        "good-card@example.com",
    )
    assert item["evidence_due_by"] and (item["resolved"], item["closed"]) == (False, False)
    assert every["total_count"] == 4 and every["next_page"] == 2
    assert [d["status"] for d in of_order["items"]] == ["won"]


async def test_get_dispute_and_an_unknown_one(server: MCPServer[Any], seed: SeedInfo, mode: str) -> None:
    async with Client(server, mode=mode) as client:
        lost = await call(client, "get_dispute", {"dispute_id": seed.disputes["lost"], "detail": "full"})
        missing = await fail(client, "get_dispute", {"dispute_id": "00000000-0000-4000-8000-000000000000"})
    assert (lost["status"], lost["resolved"], lost["closed"]) == ("lost", True, True)
    assert lost["api_object"]["order_id"] == seed.disputed_orders["lost"]
    assert "ResourceNotFound (HTTP 404) on GET /v1/disputes/" in missing
