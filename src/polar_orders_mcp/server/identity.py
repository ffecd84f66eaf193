"""Who is calling a tool: the HTTP client's credential name (or stdio), the person an OAuth client acts for, and
its MCP session (as a fingerprint) when it has one."""

from __future__ import annotations

import hashlib
from typing import Any

from mcp.server.mcpserver import Context

from polar_orders_mcp.approvals.policy import Caller
from polar_orders_mcp.oauth.grants import Grant
from polar_orders_mcp.settings import ANONYMOUS_CLIENT, STDIO_CLIENT
from polar_orders_mcp.tools.views import clean_text

# Where the HTTP layer (server/http.py) leaves what it established about a request, in the ASGI scope.
CLIENT_KEY = "polar_orders_mcp.client"
SESSION_KEY = "polar_orders_mcp.session"
GRANT_KEY = "polar_orders_mcp.grant"

STDIO = STDIO_CLIENT
"""The client name of every call over stdio (and of an in-memory client): whoever started the process."""
ANONYMOUS = ANONYMOUS_CLIENT
"""The client name over HTTP served with --no-auth (loopback only): no credential tells callers apart."""


def session_fingerprint(session_id: str) -> str:
    """What stands for an MCP session wherever it is written (the store's approvals, the audit): the live id
    answers that session's questions, so it is never written in clear."""
    return "s_" + hashlib.sha256(session_id.encode()).hexdigest()[:24]


DECLARED_LIMIT = 80
"""Characters kept of the name a client gives itself."""


def declared_name(ctx: Context[Any, Any]) -> str | None:
    """The name the client gives itself in MCP's clientInfo (its title, else its name), cleaned; None when it
    gave none."""
    try:
        params = ctx.request_context.session.client_params
    except (LookupError, ValueError, AttributeError):
        return None
    info = getattr(params, "client_info", None)
    name = getattr(info, "title", None) or getattr(info, "name", None)
    return (clean_text(name, DECLARED_LIMIT) or None) if isinstance(name, str) else None


def caller(ctx: Context[Any, Any]) -> Caller:
    """The caller of the tool call (or resolver, prompt, resource read) that `ctx` belongs to."""
    scope = _scope(ctx)
    if scope is None:
        return Caller(STDIO, None, declared=declared_name(ctx))
    client = scope.get(CLIENT_KEY)
    session = scope.get(SESSION_KEY)
    fingerprint = session_fingerprint(session) if isinstance(session, str) else None
    grant = scope.get(GRANT_KEY)
    person = grant.person.name if isinstance(grant, Grant) and grant.person is not None else None
    return Caller(client if isinstance(client, str) else ANONYMOUS, fingerprint, person, declared_name(ctx))


def grant_of(ctx: Context[Any, Any]) -> Grant | None:
    """What the bearer token of the call grants; None over stdio (and in memory): everything served."""
    scope = _scope(ctx)
    grant = scope.get(GRANT_KEY) if scope is not None else None
    return grant if isinstance(grant, Grant) else None


def _scope(ctx: Context[Any, Any]) -> dict[str, Any] | None:
    try:
        request = ctx.request_context.request
    except (LookupError, ValueError):
        return None
    scope = getattr(request, "scope", None)
    return scope if isinstance(scope, dict) else None
