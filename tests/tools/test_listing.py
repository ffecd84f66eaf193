"""Every list answer says the server's time, so that "today" and "this month" are not guessed from the rows."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import httpx2
import pytest
from mcp.client import Client
from mcp.server.mcpserver import MCPServer

from polar_orders_mcp.emulator.state import EmulatorState
from polar_orders_mcp.server.app import build_parts
from polar_orders_mcp.settings import Settings
from tests.tools.conftest import call

pytestmark = pytest.mark.anyio
# A clock away from UTC and off the second: the answer says it in UTC, to the second.
NOW = datetime(2026, 10, 15, 9, 30, 5, 250_000, tzinfo=timezone(timedelta(hours=2)))
LISTS = {
    "list_orders": {},
    "list_checkouts": {},
    "find_customers": {"text": "a"},
    "list_products": {},
    "list_refunds": {},
    "list_subscriptions": {},
    "list_disputes": {},
    "summarize_orders": {},
    "export_orders": {},
}


@pytest.mark.parametrize("tool", LISTS)
async def test_a_list_answer_says_the_servers_time_in_utc(
    server: MCPServer[Any], state: EmulatorState, tool: str
) -> None:
    state.clock = lambda: NOW
    async with Client(server) as client:
        result = await call(client, tool, LISTS[tool])
    assert result["as_of"] == "2026-10-15T07:30:05Z"


async def test_the_customers_own_list_says_the_servers_time(emulator: Any, state: EmulatorState) -> None:
    token = state.catalog.create_session(customer_id=state.seed_info.customers["good_card"]).token
    built = build_parts(
        Settings(emulator=True, customer_session=token), transport=httpx2.ASGITransport(app=emulator), clock=lambda: NOW
    )
    async with Client(built.server) as client:
        result = await call(client, "list_my_orders")
    assert result["as_of"] == "2026-10-15T07:30:05Z"
