"""The MCP server as an OAuth 2.1 resource server: its RFC 9728 metadata, the challenges of 401 and 403, and
the scope each request needs."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from mcp.server.auth.routes import cors_middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from polar_orders_mcp.oauth.grants import SCOPE_OF_TIER, SCOPE_READ, SCOPES, Grant, Verifier

WELL_KNOWN = "/.well-known/oauth-protected-resource"

# Requests that read the organization's data without a tool: they need what a read tool needs.
_READING = frozenset({"resources/read", "prompts/get"})


class ResourceServer:
    """Verifies OAuth bearer tokens for this MCP endpoint, and says how to get one that is good enough."""

    def __init__(self, resource_url: str, issuer: str, verifiers: Sequence[Verifier], tiers: Mapping[str, str]) -> None:
        self.resource_url = resource_url
        self.issuer = issuer
        self.verifiers = tuple(verifiers)
        self.tiers = dict(tiers)
        parts = urlsplit(resource_url)
        self.metadata_path = WELL_KNOWN + (parts.path if parts.path not in ("", "/") else "")
        self.metadata_url = f"{parts.scheme}://{parts.netloc}{self.metadata_path}"

    def routes(self) -> list[BaseRoute]:
        """RFC 9728 metadata at the path form for the MCP endpoint, and at the bare well-known path."""
        # Written out rather than through pydantic's AnyHttpUrl, which adds a slash to a bare origin: clients
        # compare the issuer they are sent to with the one its metadata names, exactly.
        described = {
            "resource": self.resource_url,
            "authorization_servers": [self.issuer],
            "scopes_supported": list(SCOPES),
            "bearer_methods_supported": ["header"],
            "resource_name": "Polar orders",
        }

        async def metadata(_: Request) -> Response:
            return JSONResponse(described, headers={"Cache-Control": "public, max-age=3600"})

        handler = cors_middleware(metadata, ["GET", "OPTIONS"])
        paths = dict.fromkeys((self.metadata_path, WELL_KNOWN))
        return [Route(path, endpoint=handler, methods=["GET", "OPTIONS"]) for path in paths]

    async def verify(self, token: str) -> Grant | None:
        for verifier in self.verifiers:
            grant = await verifier.verify(token)
            if grant is not None:
                return grant
        return None

    def challenge(self, error: str | None = None, *, scope: str | None = None) -> bytes:
        """The WWW-Authenticate value of a 401 (no token, or `invalid_token`) or a 403 (`insufficient_scope`)."""
        parts = [f'resource_metadata="{self.metadata_url}"']
        if error is not None:
            parts.insert(0, f'error="{error}"')
        parts.append(f'scope="{scope or " ".join(SCOPES)}"')
        return ("Bearer " + ", ".join(parts)).encode()

    def missing_scope(self, grant: Grant, body: bytes) -> str | None:
        """The scope a JSON-RPC request (or batch) needs and `grant` lacks, or None. A body that is not
        JSON-RPC needs nothing here: the SDK answers it with its own error."""
        if grant.scopes is None:
            return None
        try:
            parsed: Any = json.loads(body)
        except (ValueError, UnicodeDecodeError, RecursionError):
            # Nested deeper than Python's parser goes: the SDK's parser stops far sooner and refuses it too.
            return None
        for message in parsed if isinstance(parsed, list) else [parsed]:
            needed = self._needed(message)
            if needed is not None and needed not in grant.scopes:
                return needed
        return None

    def _needed(self, message: Any) -> str | None:
        if not isinstance(message, dict):
            return None
        method = message.get("method")
        if method in _READING:
            return SCOPE_READ
        if method != "tools/call":
            return None
        params = message.get("params")
        name = params.get("name") if isinstance(params, dict) else None
        tier = self.tiers.get(name) if isinstance(name, str) else None
        return SCOPE_OF_TIER[tier] if tier is not None else None
