"""The real command over stdio: a subprocess, a real MCP client, nothing but protocol on stdout."""

from __future__ import annotations

import os
import sys

import pytest
from mcp.client import Client
from mcp.client.stdio import StdioServerParameters

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_stdio_server_on_the_emulator(mode: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("POLAR")}
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "polar_orders_mcp", "serve", "--emulator", "--log-level", "debug"],
        env=env,
    )
    # Debug logging is on: any log line on stdout would break the client's JSON-RPC parsing.
    async with Client(params, mode=mode) as client:
        assert client.server_info is not None and client.server_info.name == "polar-orders-mcp"
        tools = await client.list_tools()
        listing = await client.call_tool("list_orders", {"limit": 2})
        order_id = listing.structured_content["items"][0]["id"]  # type: ignore[index]
        order = await client.call_tool("get_order", {"order_id": order_id})
    assert len(tools.tools) >= 5
    assert not order.is_error
