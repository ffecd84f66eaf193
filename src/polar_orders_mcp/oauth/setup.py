"""OAuth for the HTTP app, as the settings ask: who verifies bearer tokens, and the routes served without one."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from starlette.routing import BaseRoute

from polar_orders_mcp.approvals.slowdown import SlowDown
from polar_orders_mcp.oauth.grants import Verifier
from polar_orders_mcp.settings import Settings
from polar_orders_mcp.store.base import Store


@dataclass(frozen=True)
class OAuthParts:
    """`verifiers`: asked in order for a token that is none of the static ones. `routes`: served without a
    bearer, behind the Host and Origin checks (the authorization server's metadata, authorize, token, register,
    revoke and sign-in pages). `issuer`: the authorization server clients are sent to (RFC 9728 metadata)."""

    verifiers: Sequence[Verifier]
    routes: Sequence[BaseRoute]
    issuer: str


def oauth_parts(
    settings: Settings, store: Callable[[], Awaitable[Store]], slow_down: SlowDown | None = None
) -> OAuthParts | None:
    """None with --oauth off; else the embedded authorization server, or the external provider's verifier.
    `slow_down`: the approval console's, shared by the authorization server's sign-in page."""
    if settings.oauth_mode == "off":
        return None
    if settings.oauth_mode == "external":
        from polar_orders_mcp.oauth import external

        verifier, routes = external.build(settings)
        return OAuthParts([verifier], routes, settings.oauth_issuer or "")
    from polar_orders_mcp.oauth import embedded

    verifier, routes = embedded.build(settings, store, slow_down=slow_down)
    return OAuthParts([verifier], routes, settings.base_url())
