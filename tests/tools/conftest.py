"""Tool tests run through a real MCP client, in memory, against a fresh emulator per test."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx2
import mcp_types as types
import pytest
from mcp.client import Client
from mcp.server.mcpserver import MCPServer

from polar_orders_mcp.emulator.app import create_app
from polar_orders_mcp.emulator.seed import SeedInfo
from polar_orders_mcp.emulator.state import EmulatorState
from polar_orders_mcp.server.app import build_server
from polar_orders_mcp.settings import Settings


@pytest.fixture
def emulator() -> Any:
    return create_app(orders=40)


@pytest.fixture
def state(emulator: Any) -> EmulatorState:
    return emulator.state.emulator  # type: ignore[no-any-return]


@pytest.fixture
def seed(state: EmulatorState) -> SeedInfo:
    return state.seed_info


@pytest.fixture
def make_server(emulator: Any) -> Callable[..., MCPServer[Any]]:
    def make(**settings: Any) -> MCPServer[Any]:
        return build_server(Settings(emulator=True, **settings), transport=httpx2.ASGITransport(app=emulator))

    return make


@pytest.fixture
def server(make_server: Callable[..., MCPServer[Any]]) -> MCPServer[Any]:
    return make_server()


@pytest.fixture(params=["auto", "legacy"])
def mode(request: pytest.FixtureRequest) -> str:
    """Both protocol eras: the stateless 2026 one and the initialize handshake."""
    return str(request.param)


async def call(client: Client, tool: str, args: dict[str, Any] | None = None) -> dict[str, Any]:
    """Call a tool that must succeed; return its structured content."""
    result = await client.call_tool(tool, args or {})
    assert not result.is_error, error_text(result)
    assert result.structured_content is not None
    return result.structured_content


async def fail(client: Client, tool: str, args: dict[str, Any] | None = None) -> str:
    """Call a tool that must fail cleanly; return the message the agent sees."""
    result = await client.call_tool(tool, args or {})
    assert result.is_error, json.dumps(result.structured_content)
    return error_text(result)


def error_text(result: types.CallToolResult) -> str:
    return " ".join(c.text for c in result.content if isinstance(c, types.TextContent))
