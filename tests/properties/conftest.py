"""Helpers for the property tests: emulator-backed servers, result text, and telling a crash from an error."""

from __future__ import annotations

import re
from typing import Any

import httpx2
import mcp_types as types
from mcp.server.mcpserver import MCPServer

from polar_orders_mcp.emulator.app import create_app
from polar_orders_mcp.server.app import build_server
from polar_orders_mcp.settings import Settings

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
# What the SDK says for an exception the tool did not anticipate: the name and nothing else.
_CRASH = re.compile(r"Error executing tool [\w-]+(: Error executing tool [\w-]+)*")


def quiet_emulator(orders: int = 20) -> Any:
    """A fresh emulator whose receipts are ready at once, so no call sleeps while a PDF "renders"."""
    app = create_app(orders=orders)
    app.state.emulator.settings.receipt_render_polls = 0
    return app


def emulator_server(app: Any, **settings: Any) -> MCPServer[Any]:
    """Our server in emulator mode, talking to `app` (the emulator, or a wrapper of it) in process."""
    return build_server(Settings(emulator=True, **settings), transport=httpx2.ASGITransport(app=app))


def result_text(result: types.CallToolResult) -> str:
    return " ".join(c.text for c in result.content if isinstance(c, types.TextContent))


def is_crash(result: types.CallToolResult) -> bool:
    """An is_error result carrying only the SDK's generic message: an unexpected exception in the tool."""
    return result.is_error and _CRASH.fullmatch(result_text(result).strip()) is not None
