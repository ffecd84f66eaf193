"""Who is calling a tool: the HTTP client's credential name (or stdio), and its MCP session (as a fingerprint)
when it has one."""

from __future__ import annotations

import hashlib
from typing import Any

from mcp.server.mcpserver import Context

from polar_orders_mcp.approvals.policy import Caller
from polar_orders_mcp.settings import ANONYMOUS_CLIENT, STDIO_CLIENT

# Where the HTTP layer (server/http.py) leaves what it established about a request, in the ASGI scope.
CLIENT_KEY = "polar_orders_mcp.client"
SESSION_KEY = "polar_orders_mcp.session"

STDIO = STDIO_CLIENT
"""The client name of every call over stdio (and of an in-memory client): whoever started the process."""
ANONYMOUS = ANONYMOUS_CLIENT
"""The client name over HTTP served with --no-auth (loopback only): no credential tells callers apart."""


def session_fingerprint(session_id: str) -> str:
    """What stands for an MCP session wherever it is written (the store's approvals, the audit): the live id
    answers that session's questions, so it is never written in clear."""
    return "s_" + hashlib.sha256(session_id.encode()).hexdigest()[:24]


def caller(ctx: Context[Any, Any]) -> Caller:
    """The caller of the tool call (or resolver, prompt, resource read) that `ctx` belongs to."""
    request = ctx.request_context.request
    scope = getattr(request, "scope", None)
    if not isinstance(scope, dict):
        return Caller(STDIO, None)
    client = scope.get(CLIENT_KEY)
    session = scope.get(SESSION_KEY)
    fingerprint = session_fingerprint(session) if isinstance(session, str) else None
    return Caller(client if isinstance(client, str) else ANONYMOUS, fingerprint)
