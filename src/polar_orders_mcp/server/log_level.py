"""`logging/setLevel` for clients of the handshake era: accepted, with nothing to filter."""

from __future__ import annotations

from typing import Any

from mcp.server.context import ServerRequestContext
from mcp.server.mcpserver import MCPServer
from mcp.types import EmptyResult, SetLevelRequestParams


async def _accept_log_level(_: ServerRequestContext[Any], __: SetLevelRequestParams) -> EmptyResult:
    # The server sends no log notifications (its logs go to stderr only), so any level is honoured.
    return EmptyResult()


def accept_log_level(mcp: MCPServer[Any]) -> None:
    """Answer `logging/setLevel` with `{}` instead of "method not found".

    Clients of the handshake era (≤ 2025-11-25) may set a level whether or not they read the
    server's capabilities. The 2026-07-28 protocol dropped the method; the SDK refuses it there.
    MCPServer has no public hook for a removed spec method: the SDK's own advice is the low-level
    server's `add_request_handler`.
    """
    mcp._lowlevel_server.add_request_handler("logging/setLevel", SetLevelRequestParams, _accept_log_level)
