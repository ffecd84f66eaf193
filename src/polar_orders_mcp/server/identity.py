"""Who is calling: the client's credential name and its protocol session, from the request."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from polar_orders_mcp.approvals.policy import Caller

# Set in the ASGI scope's state by the HTTP bearer check: the name of the credential that matched.
CLIENT_KEY = "polar_mcp_client"


def caller(ctx: Any) -> Caller:
    """stdio: the one local client. HTTP: the credential's name, and the legacy session id if any."""
    request = getattr(getattr(ctx, "request_context", None), "request", None)
    if not isinstance(request, Request):
        return Caller("stdio")
    state = request.scope.get("state") or {}
    client = str(state.get(CLIENT_KEY) or "http")
    session = request.headers.get("mcp-session-id") or request.query_params.get("session_id")
    return Caller(client, session)
