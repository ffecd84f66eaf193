"""The embedded OAuth 2.1 authorization server: the SDK's endpoints over our store, and the verifier of its tokens.

The SDK's handlers check the requests (PKCE S256, the exact redirect URI, client authentication, the scopes of a
refresh); this provider decides who the clients are (registered by DCR, or a metadata document), keeps the
authorization request while a person signs in and consents (signin.py), and issues opaque tokens bound to the
person, the client, the scopes and this server's resource URL.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

from mcp.server.auth.handlers.authorize import AuthorizationHandler
from mcp.server.auth.provider import (
    AccessToken,
    AuthorizationCode,
    AuthorizationParams,
    AuthorizeError,
    OAuthAuthorizationServerProvider,
    RefreshToken,
    RegistrationError,
    TokenError,
)
from mcp.server.auth.routes import build_metadata, cors_middleware, create_auth_routes
from mcp.server.auth.settings import ClientRegistrationOptions, RevocationOptions
from mcp.server.transport_security import DEFAULT_MAX_REQUEST_BODY_SIZE, RequestBodyLimitMiddleware
from mcp.shared.auth import OAuthClientInformationFull, OAuthToken
from pydantic import AnyHttpUrl, AnyUrl, ValidationError
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route, request_response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from polar_orders_mcp.approvals.slowdown import SlowDown
from polar_orders_mcp.oauth import pages
from polar_orders_mcp.oauth.documents import DocumentFetcher, DocumentRefused, is_document_id
from polar_orders_mcp.oauth.grants import SCOPE_READ, SCOPES, Grant, Person
from polar_orders_mcp.oauth.signin import PAGE_HEADERS, SignIn
from polar_orders_mcp.settings import Settings
from polar_orders_mcp.store.base import Store
from polar_orders_mcp.store.oauth import ACCESS_PREFIX, OAuthStore, TokenRecord
from polar_orders_mcp.store.sql import SqlStore

log = logging.getLogger(__name__)

REQUEST_TTL = 600.0
"""Seconds a person has to sign in and decide once a client sent them to authorize."""
DEFAULT_SCOPES = [SCOPE_READ]
"""What a client that names no scope is asked for: reading only (it may ask for more, and step up)."""
GRANT_TYPES = ["authorization_code", "refresh_token"]


class Embedded:
    """What the provider, the verifier and the pages share: the settings, the store, the document fetcher."""

    def __init__(self, settings: Settings, store: Callable[[], Awaitable[Store]], fetcher: DocumentFetcher) -> None:
        self.settings = settings
        self._store = store
        self.fetcher = fetcher
        self._oauth: OAuthStore | None = None

    async def oauth(self) -> OAuthStore:
        if self._oauth is None:
            store = await self._store()
            if not isinstance(store, SqlStore):
                raise TypeError("the embedded authorization server needs the SQL store")
            self._oauth = OAuthStore(
                store, access_ttl=self.settings.oauth_access_ttl, refresh_ttl=self.settings.oauth_refresh_ttl
            )
        return self._oauth

    def may_use(self, person: str) -> bool:
        return "use" in self.settings.people_roles().get(person, frozenset())

    async def client(self, client_id: str) -> OAuthClientInformationFull:
        """The client of this id, or DocumentRefused / LookupError saying why there is none."""
        oauth = await self.oauth()
        stored = await oauth.get_client(client_id)
        if not is_document_id(client_id):
            if stored is None or stored.kind != "registered":
                raise LookupError(f"No client {client_id[:80]!r} is registered here.")
            if not self.settings.oauth_registration:
                raise LookupError("Clients registered by DCR are not accepted here (registration is off).")
            return OAuthClientInformationFull.model_validate(stored.info)
        if stored is not None and stored.kind == "document" and (stored.fresh_until or 0) > oauth.now():
            return _document_client(stored.info)
        document = await self.fetcher.fetch(client_id)
        client = _document_client(document.info)
        await oauth.put_client(client_id, document.info, kind="document", fresh_until=oauth.now() + document.max_age)
        return client


def _document_client(info: dict[str, Any]) -> OAuthClientInformationFull:
    name = info.get("client_name")
    try:
        client = OAuthClientInformationFull(
            client_id=info["client_id"],
            redirect_uris=[AnyUrl(u) for u in info["redirect_uris"]],
            client_name=name[:100] if isinstance(name, str) else None,
            token_endpoint_auth_method="none",
            grant_types=GRANT_TYPES,
            response_types=["code"],
            scope=" ".join(SCOPES),
        )
    except (ValidationError, ValueError) as exc:
        raise DocumentRefused(
            f"The client's metadata document at {info['client_id']} has an invalid redirect URI."
        ) from exc
    # The rules a registration by DCR is held to (register_client), for a client that describes itself.
    for uri in client.redirect_uris or []:
        if not _redirect_allowed(uri):
            raise DocumentRefused(
                f"The client's metadata document at {info['client_id']} names the redirect URI {str(uri)[:200]!r}, "
                "which is refused: use https, http on localhost, or the app's own scheme, without a fragment."
            )
    return client


def _redirect_allowed(uri: AnyUrl) -> bool:
    """OAuth 2.1 redirect URIs: https, http on loopback only, or an app's own scheme; never a fragment."""
    if uri.fragment or uri.scheme in ("javascript", "data", "file", "vbscript"):
        return False
    return uri.scheme != "http" or (uri.host or "") in ("localhost", "127.0.0.1", "[::1]", "::1")


class Provider(OAuthAuthorizationServerProvider[AuthorizationCode, RefreshToken, AccessToken]):
    """The SDK's OAuthAuthorizationServerProvider over the store (its identity-assertion grant stays refused)."""

    def __init__(self, embedded: Embedded) -> None:
        self._e = embedded

    async def get_client(self, client_id: str) -> OAuthClientInformationFull | None:
        try:
            return await self._e.client(client_id)
        except (DocumentRefused, LookupError):
            return None

    async def register_client(self, client_info: OAuthClientInformationFull) -> None:
        for uri in client_info.redirect_uris or []:
            if not _redirect_allowed(uri):
                raise RegistrationError(
                    "invalid_redirect_uri",
                    f"Redirect URI {str(uri)[:200]!r} is refused: use "
                    "https, http on localhost, or the app's own scheme, without a fragment.",
                )
        info = client_info.model_dump(mode="json", exclude_none=True)
        await (await self._e.oauth()).put_client(client_info.client_id, info, kind="registered", fresh_until=None)

    async def authorize(self, client: OAuthClientInformationFull, params: AuthorizationParams) -> str:
        resource = self._e.settings.resource_url()
        if params.resource is not None and params.resource != resource:
            raise AuthorizeError(
                "invalid_target",
                f"This server issues tokens for {resource} only, not for "
                f"{params.resource[:200]}: ask for resource={resource}.",
            )
        scopes = params.scopes or DEFAULT_SCOPES
        if unknown := [s for s in scopes if s not in SCOPES]:
            raise AuthorizeError("invalid_scope", f"Unknown scope {unknown[0][:40]!r}: ask for {', '.join(SCOPES)}.")
        request = {
            "state": params.state,
            "scopes": scopes,
            "challenge": params.code_challenge,
            "redirect_uri": str(params.redirect_uri),
            "explicit": params.redirect_uri_provided_explicitly,
            "resource": resource,
        }
        request_id = await (await self._e.oauth()).create_request(client.client_id, request, ttl=REQUEST_TTL)
        return f"{self._e.settings.base_url()}/oauth/sign-in?request={request_id}"

    async def load_authorization_code(self, client: OAuthClientInformationFull, code: str) -> AuthorizationCode | None:
        oauth = await self._e.oauth()
        grant = await oauth.get_code(code)
        if grant is None:
            return None
        if grant.used:
            log.warning(
                "an authorization code of client %s came back after use: its tokens are revoked", client.client_id[:80]
            )
            await oauth.replayed(code)
            return None
        return AuthorizationCode(
            code=code,
            scopes=list(grant.scopes),
            expires_at=grant.expires_at,
            client_id=grant.client_id,
            code_challenge=grant.challenge,
            redirect_uri=AnyUrl(grant.redirect_uri),
            redirect_uri_provided_explicitly=grant.redirect_explicit,
            resource=grant.resource,
            subject=grant.person,
        )

    async def exchange_authorization_code(
        self, client: OAuthClientInformationFull, code: AuthorizationCode
    ) -> OAuthToken:
        issued = await (await self._e.oauth()).exchange_code(code.code, client.client_id)
        if issued is None:
            raise TokenError(
                "invalid_grant",
                "The authorization code was used already or has expired; tokens "
                "issued with it are revoked: authorize again.",
            )
        return self._token(issued.access, issued.refresh, issued.scopes)

    async def load_refresh_token(self, client: OAuthClientInformationFull, refresh_token: str) -> RefreshToken | None:
        found = await self._found(refresh_token, "refresh")
        if found is None or found.client_id != client.client_id:
            return None
        # A used one is returned too: exchanging it again is a reuse, which revokes its family.
        return RefreshToken(
            token=refresh_token,
            client_id=found.client_id,
            scopes=list(found.scopes),
            expires_at=int(found.expires_at),
            resource=found.resource,
            subject=found.person,
        )

    async def exchange_refresh_token(
        self, client: OAuthClientInformationFull, refresh_token: RefreshToken, scopes: list[str]
    ) -> OAuthToken:
        oauth = await self._e.oauth()
        issued = await oauth.refresh(refresh_token.token, client.client_id, tuple(scopes))
        if issued is None:
            found = await oauth.token(refresh_token.token)
            if found is not None and found.used_at is not None:
                log.warning(
                    "a rotated refresh token of client %s was used again: its grant is revoked", client.client_id[:80]
                )
                raise TokenError(
                    "invalid_grant",
                    "This refresh token was used already (each one works once): "
                    "every token of this grant is now revoked; authorize again.",
                )
            raise TokenError("invalid_grant", "This refresh token has expired or was revoked: authorize again.")
        return self._token(issued.access, issued.refresh, issued.scopes)

    async def load_access_token(self, token: str) -> AccessToken | None:
        found = await self._found(token, "access")
        if found is None or found.used_at is not None or found.expires_at <= (await self._e.oauth()).now():
            return None
        return AccessToken(
            token=token,
            client_id=found.client_id,
            scopes=list(found.scopes),
            expires_at=int(found.expires_at),
            resource=found.resource,
            subject=found.person,
        )

    async def revoke_token(self, token: AccessToken | RefreshToken) -> None:
        await (await self._e.oauth()).revoke(token.token)

    async def _found(self, token: str, kind: str) -> TokenRecord | None:
        if len(token) > 256:
            return None
        found = await (await self._e.oauth()).token(token)
        if found is None or found.kind != kind or found.revoked_at is not None:
            return None
        return found

    def _token(self, access: str, refresh: str, scopes: tuple[str, ...]) -> OAuthToken:
        return OAuthToken(
            access_token=access,
            expires_in=self._e.settings.oauth_access_ttl,
            scope=" ".join(scopes),
            refresh_token=refresh,
        )


class EmbeddedVerifier:
    """What an access token of this server grants: looked up by its hash; None when unknown, expired, revoked,
    issued for another resource, or its person may no longer use clients."""

    def __init__(self, embedded: Embedded) -> None:
        self._e = embedded

    async def verify(self, token: str) -> Grant | None:
        if not token.startswith(ACCESS_PREFIX) or len(token) > 256:
            return None
        oauth = await self._e.oauth()
        found = await oauth.token(token)
        if found is None or found.kind != "access" or found.revoked_at is not None or found.expires_at <= oauth.now():
            return None
        if found.resource != self._e.settings.resource_url() or not self._e.may_use(found.person):
            return None
        person = Person(subject=found.person, name=found.person, issuer=self._e.settings.base_url())
        return Grant(
            client=f"oauth:{found.client_id}",
            scopes=frozenset(found.scopes),
            person=person,
            expires_at=found.expires_at,
        )


def metadata_document(settings: Settings) -> dict[str, Any]:
    """RFC 8414 metadata: the SDK's, plus metadata documents, our scopes, public clients and RFC 9207 `iss`."""
    metadata = build_metadata(
        AnyHttpUrl(settings.base_url()),
        None,
        ClientRegistrationOptions(enabled=settings.oauth_registration, valid_scopes=list(SCOPES)),
        RevocationOptions(enabled=True),
    )
    metadata.client_id_metadata_document_supported = True
    metadata.authorization_response_iss_parameter_supported = True
    metadata.token_endpoint_auth_methods_supported = ["none", "client_secret_post", "client_secret_basic"]
    metadata.revocation_endpoint_auth_methods_supported = ["none", "client_secret_post", "client_secret_basic"]
    # The issuer exactly as the redirect's `iss` carries it (RFC 9207 compares strings): no slash added.
    return {**metadata.model_dump(mode="json", exclude_none=True), "issuer": settings.base_url()}


def build(
    settings: Settings,
    store: Callable[[], Awaitable[Store]],
    *,
    fetcher: DocumentFetcher | None = None,
    slow_down: SlowDown | None = None,
) -> tuple[EmbeddedVerifier, list[BaseRoute]]:
    """The verifier of this server's tokens, and its routes: metadata, authorize, token, register (with DCR on),
    revoke, and the sign-in and consent pages. `fetcher`: how metadata documents are fetched (tests).
    `slow_down`: the approval console's, so that guessing a person's secret is slowed down once for both
    sign-in pages (they take the same secrets)."""
    embedded = Embedded(settings, store, fetcher or DocumentFetcher(private_ok=settings.oauth_private_metadata))
    provider = Provider(embedded)
    sdk = create_auth_routes(
        provider,
        AnyHttpUrl(settings.base_url()),
        client_registration_options=ClientRegistrationOptions(
            enabled=settings.oauth_registration, valid_scopes=list(SCOPES), default_scopes=list(SCOPES)
        ),
        revocation_options=RevocationOptions(enabled=True),
    )
    kept = [
        _public_revocation(r) for r in sdk if r.path not in ("/.well-known/oauth-authorization-server", "/authorize")
    ]
    metadata = metadata_document(settings)

    async def serve_metadata(request: Request) -> Response:
        return JSONResponse(metadata, headers={"Cache-Control": "public, max-age=3600"})

    authorize = AuthorizationHandler(provider)

    async def authorize_first(request: Request) -> Response:
        # The SDK's handler answers an unusable client with a bare "not found": say here what is wrong with it.
        source = request.query_params if request.method == "GET" else await request.form()
        client_id = source.get("client_id")
        if isinstance(client_id, str) and client_id:
            try:
                await embedded.client(client_id)
            except (DocumentRefused, LookupError) as exc:
                return HTMLResponse(pages.problem("This client cannot connect", str(exc)), 400, headers=PAGE_HEADERS)
        return await authorize.handle(request)

    issuer_path = urlsplit(settings.base_url()).path.rstrip("/")
    well_known = {"/.well-known/oauth-authorization-server", f"/.well-known/oauth-authorization-server{issuer_path}"}
    routes: list[BaseRoute] = [
        *(
            Route(path, cors_middleware(serve_metadata, ["GET", "OPTIONS"]), methods=["GET", "OPTIONS"])
            for path in sorted(well_known)
        ),
        Route(
            "/authorize",
            RequestBodyLimitMiddleware(request_response(authorize_first), DEFAULT_MAX_REQUEST_BODY_SIZE),
            methods=["GET", "POST"],
        ),
        *kept,
        *SignIn(embedded, provider_issuer=settings.base_url(), slow_down=slow_down).routes(),
    ]
    return EmbeddedVerifier(embedded), routes


def _public_revocation(route: BaseRoute) -> BaseRoute:
    """The SDK's revocation endpoint (checked on mcp 2.3.0) requires a `client_secret` form field, which a public
    client (RFC 7009 with `token_endpoint_auth_method: none`) never sends: an empty one is added when absent, so
    that such a client can revoke its tokens. The client is still authenticated as its registration says."""
    if not isinstance(route, Route) or route.path != "/revoke":
        return route
    return Route(route.path, _WithClientSecretField(route.app), methods=list(route.methods or ["POST"]))


class _WithClientSecretField:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") != "POST":
            await self.app(scope, receive, send)
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if len(body) > DEFAULT_MAX_REQUEST_BODY_SIZE or not message.get("more_body", False):
                break
        if "client_secret" not in parse_qs(body.decode("latin-1"), keep_blank_values=True):
            body += b"&client_secret=" if body else b"client_secret="
        given = False

        async def replay() -> Message:
            nonlocal given
            if not given:
                given = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
