"""Signing approvers in to the console through the external identity provider (OpenID Connect, code with PKCE)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import secrets
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import jwt
from starlette.requests import Request
from starlette.responses import Response

from polar_orders_mcp.oauth.provider import Provider, ProviderUnreachable

if TYPE_CHECKING:
    from polar_orders_mcp.approvals.console import Console

log = logging.getLogger(__name__)

STATE_COOKIE = "pom_oidc"
STATE_TTL = 600
"""Seconds a person has at the provider to sign in before the console's state for it is forgotten."""
LEEWAY = 30
SCOPE = "openid profile email"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Refused(Exception):
    """Why a sign-in through the provider signs nobody in (shown to the person; nothing secret in it)."""


class OidcSignIn:
    """The console's sign-in through the provider: /oidc/start sends the person there, /oidc/callback checks the
    ID token they come back with (iss, aud = this server's client id, nonce, exp, signature with the provider's
    JWKS) and signs in the approver the name claim names, if they may approve."""

    def __init__(
        self,
        provider: Provider,
        *,
        client_id: str,
        client_secret: str,
        algorithms: Iterable[str],
        name_claim: str,
        approvers: Iterable[str],
    ) -> None:
        self.provider = provider
        self.client_id = client_id
        self._secret = client_secret
        self.algorithms = tuple(algorithms)
        self.name_claim = name_claim
        self.approvers = frozenset(approvers)

    def binding_secret(self, name: str) -> str | None:
        """What ties a session of an approver signed in here to this server's client secret (rotating it ends the
        sessions); None for a name that may not approve. Never a sign-in secret: the console's form ignores it."""
        if name not in self.approvers:
            return None
        return hmac.new(self._secret.encode(), b"pom-console-oidc\n" + name.encode(), hashlib.sha256).hexdigest()

    def routes(self, console: Console) -> list[tuple[str, list[str], Callable[[Request], Awaitable[Response]]]]:
        async def start(request: Request) -> Response:
            return await self._start(console, request)

        async def callback(request: Request) -> Response:
            return await self._callback(console, request)

        return [(f"{console.path}/oidc/start", ["GET"], start), (f"{console.path}/oidc/callback", ["GET"], callback)]

    def _redirect_uri(self, console: Console, request: Request) -> str:
        base = console.base_url or f"{request.url.scheme}://{request.url.netloc}{console.path}"
        return f"{base}/oidc/callback"

    async def _start(self, console: Console, request: Request) -> Response:
        if (refused := console.refuse(request)) is not None:
            return refused
        try:
            authorize = await self.provider.endpoint("authorization_endpoint")
        except ProviderUnreachable as exc:
            self.provider.warn(f"cannot sign approvers in through {self.provider.issuer}: {exc}")
            return await console.sign_in_failed(
                request, "The identity provider cannot be reached: try again shortly, or sign in with your secret."
            )
        state, nonce, verifier = (secrets.token_urlsafe(32) for _ in range(3))
        query = urlencode(
            {
                "response_type": "code",
                "client_id": self.client_id,
                "redirect_uri": self._redirect_uri(console, request),
                "scope": SCOPE,
                "state": state,
                "nonce": nonce,
                "code_challenge": _b64(hashlib.sha256(verifier.encode()).digest()),
                "code_challenge_method": "S256",
            }
        )
        response = Response(status_code=303, headers={"Location": f"{authorize}?{query}", "Cache-Control": "no-store"})
        kept = {"state": state, "nonce": nonce, "verifier": verifier, "next": request.query_params.get("next", "")}
        # Lax, not Strict: the provider's redirect back is a cross-site navigation, which a Strict cookie misses.
        response.set_cookie(
            STATE_COOKIE,
            _b64(json.dumps(kept).encode()),
            max_age=STATE_TTL,
            path=f"{console.path}/oidc",
            httponly=True,
            samesite="lax",
            secure=self._redirect_uri(console, request).startswith("https://"),
        )
        return response

    async def _callback(self, console: Console, request: Request) -> Response:
        if (refused := console.refuse(request)) is not None:
            return refused
        try:
            kept = self._kept(request)
            name = await self._approver(console, request, kept)
        except Refused as why:
            log.info("console sign-in through the identity provider refused: %s", why)
            response = await console.sign_in_failed(request, f"Not signed in: {why}")
        except ProviderUnreachable as exc:
            self.provider.warn(f"cannot sign approvers in through {self.provider.issuer}: {exc}")
            response = await console.sign_in_failed(
                request, "The identity provider cannot be reached: try again shortly, or sign in with your secret."
            )
        else:
            response = await console.open_session(request, name, str(kept.get("next", "")))
        response.delete_cookie(STATE_COOKIE, path=f"{console.path}/oidc")
        return response

    def _kept(self, request: Request) -> dict[str, Any]:
        given = request.query_params
        try:
            kept = json.loads(base64.urlsafe_b64decode(request.cookies.get(STATE_COOKIE, "") + "=="))
        except ValueError:
            kept = None
        if not isinstance(kept, dict) or not all(isinstance(kept.get(k), str) for k in ("state", "nonce", "verifier")):
            raise Refused("this sign-in was not started here, or took longer than 10 minutes; start again")
        if not hmac.compare_digest(given.get("state", "").encode(), kept["state"].encode()):
            raise Refused("the provider's answer is not for this sign-in (state); start again")
        if "error" in given:
            raise Refused(f"the identity provider said {given['error'][:64]!r}")
        return kept

    async def _approver(self, console: Console, request: Request, kept: dict[str, Any]) -> str:
        code = request.query_params.get("code")
        if not code:
            raise Refused("the identity provider sent no code")
        answer = await self.provider.post_form(
            await self.provider.endpoint("token_endpoint"),
            {
                "grant_type": "authorization_code",
                "code": code,
                "code_verifier": kept["verifier"],
                "redirect_uri": self._redirect_uri(console, request),
            },
            client=(self.client_id, self._secret),
        )
        claims = await self._id_token(answer.get("id_token"), kept["nonce"])
        # The claim alone, as the tokens that call tools name who asked (oauth/external.py): maker and checker.
        name = claims.get(self.name_claim)
        if not isinstance(name, str) or not name:
            raise Refused(f"the identity provider named nobody (no {self.name_claim} claim)")
        if name not in self.approvers:
            raise Refused(f"{name[:64]} is not an approver of this server (POLAR_MCP_ROLES: name=approve)")
        return name

    async def _id_token(self, token: object, nonce: str) -> dict[str, Any]:
        if not isinstance(token, str):
            raise Refused("the identity provider sent no ID token")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise Refused("the ID token is not a JWT") from exc
        alg, kid = header.get("alg"), header.get("kid")
        if alg not in self.algorithms or (kid is not None and not isinstance(kid, str)):
            raise Refused(f"the ID token is signed with {str(alg)[:16]!r}, not one of --oauth-algorithms")
        key = await self.provider.key(kid, alg)
        if key is None:
            raise Refused("the ID token's signing key is not in the provider's JWKS")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[alg],
                audience=self.client_id,
                issuer=self.provider.issuer,
                leeway=LEEWAY,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except jwt.PyJWTError as exc:
            raise Refused(f"the ID token is not valid ({type(exc).__name__})") from exc
        if not hmac.compare_digest(str(claims.get("nonce", "")).encode(), nonce.encode()):
            raise Refused("the ID token is not for this sign-in (nonce); start again")
        if "azp" in claims and claims["azp"] != self.client_id:
            raise Refused("the ID token was issued to another client (azp)")
        return claims
