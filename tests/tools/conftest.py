"""Tool tests run through a real MCP client, in memory, against a fresh emulator per test."""

from __future__ import annotations

import json
import os
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
from polar_orders_mcp.server.app import ServerParts, build_parts
from polar_orders_mcp.settings import Settings
from tests.approvals.console_client import APPROVER_SECRET, Person

CONSOLE_URL = "http://127.0.0.1:8765/approvals"
# What every test server runs with unless a test says otherwise: an approver for the console, links
# to a fixed address, no waiting for decisions that a test makes itself, and every toolset.
TEST_SETTINGS: dict[str, Any] = {
    "approver_token": APPROVER_SECRET,
    "console_url": CONSOLE_URL,
    "approval_wait": 0,
    "toolsets": ["all"],
}


@pytest.fixture
def emulator() -> Any:
    return create_app(orders=40)


@pytest.fixture
def state(emulator: Any) -> EmulatorState:
    return emulator.state.emulator  # type: ignore[no-any-return]


@pytest.fixture
def seed(state: EmulatorState) -> SeedInfo:
    return state.seed_info


# POLAR_MCP_TEST_STORE=postgresql runs these tests with their stores on PostgreSQL instead of SQLite.
STORE_ENV = "POLAR_MCP_TEST_STORE"


@pytest.fixture
def make_parts(emulator: Any, tmp_path: Any, request: pytest.FixtureRequest) -> Callable[..., ServerParts]:
    """Build a server on this test's emulator and its own store (a fresh SQLite file per test, or a fresh
    PostgreSQL database under POLAR_MCP_TEST_STORE=postgresql)."""
    database: list[str] = []  # on PostgreSQL: one database per test, shared by its servers as a state dir is

    def make(**settings: Any) -> ServerParts:
        merged = {**TEST_SETTINGS, "state_dir": tmp_path / "state", **settings}
        if os.environ.get(STORE_ENV) == "postgresql" and "database_url" not in settings:
            database or database.append(request.getfixturevalue("postgres").new_database())
            merged["database_url"] = database[0]
        return build_parts(
            Settings(emulator=True, **merged),
            transport=httpx2.ASGITransport(app=emulator),
            clock=lambda: emulator.state.emulator.now(),
        )

    return make


@pytest.fixture
def make_server(make_parts: Callable[..., ServerParts]) -> Callable[..., MCPServer[Any]]:
    def make(**settings: Any) -> MCPServer[Any]:
        return make_parts(**settings).server

    return make


@pytest.fixture
def parts(make_parts: Callable[..., ServerParts]) -> ServerParts:
    return make_parts()


@pytest.fixture
def server(parts: ServerParts) -> MCPServer[Any]:
    return parts.server


@pytest.fixture
async def person(parts: ServerParts) -> Any:
    """A person signed in to this server's approval console."""
    async with Person(parts.console) as someone:
        yield someone


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


async def approved_call(client: Client, person: Person, tool: str, args: dict[str, Any]) -> dict[str, Any]:
    """An irreversible call the way it goes with the console: ask, a person approves, call again."""
    first = await call(client, tool, args)
    assert first["status"] == "approval_pending", first
    approval_id = first["approval"]["approval_id"]
    response = await person.approve(approval_id)
    assert response.status_code == 303, response.text[:300]
    return await call(client, tool, {**args, "approval_id": approval_id})
