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


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_the_stdio_servers_own_approval_console_approves_a_charge(mode: str, tmp_path: object) -> None:
    """stdio mode starts the approval console on loopback beside stdin/stdout; its logs never reach stdout."""
    from tests.approvals.console_client import APPROVER_SECRET, Person

    env = {k: v for k, v in os.environ.items() if not k.startswith("POLAR")}
    env["POLAR_MCP_APPROVER_TOKEN"] = APPROVER_SECRET
    params = StdioServerParameters(
        command=sys.executable,
        args=[
            "-m",
            "polar_orders_mcp",
            "serve",
            "--emulator",
            "--approvals-port",
            "0",
            "--approval-wait",
            "0",
            "--log-level",
            "debug",
            "--state-dir",
            str(tmp_path),
        ],
        env=env,
    )
    async with Client(params, mode=mode) as client:
        drafts = await client.call_tool("list_orders", {"status": ["draft"], "limit": 50})
        order_id = next(
            o["id"]
            for o in drafts.structured_content["items"]  # type: ignore[index]
            if o["customer_supplied"]["email"] == "good-card@example.com"
        )
        first = await client.call_tool("finalize_order", {"order_id": order_id})
        approval = first.structured_content["approval"]  # type: ignore[index]
        link = approval["approve_at"]
        base = link.split("/approvals/")[0]
        assert base.startswith("http://localhost:") and not base.endswith(":8765")  # the port it really got
        async with Person(base_url=base, path=link.rpartition("/")[0].removeprefix(base)) as person:
            assert (await person.approve(approval["approval_id"])).status_code == 303
        charged = await client.call_tool(
            "finalize_order", {"order_id": order_id, "approval_id": approval["approval_id"]}
        )
    assert not charged.is_error, charged.content
    assert charged.structured_content["status"] == "charged"  # type: ignore[index]
