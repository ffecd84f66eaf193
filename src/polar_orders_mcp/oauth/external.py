"""Bearer tokens of an external identity provider: JWT access tokens checked against its JWKS, or introspection."""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import jwt
from starlette.routing import BaseRoute

from polar_orders_mcp.oauth.grants import SCOPES, Grant, Person, Verifier
from polar_orders_mcp.oauth.provider import Provider, ProviderUnreachable, refused_url
from polar_orders_mcp.settings import Settings

log = logging.getLogger(__name__)

LEEWAY = 30
"""Seconds of clock skew allowed between the provider and this server on exp, nbf and iat."""
TOKEN_LIMIT = 16 * 1024
"""Characters a bearer token may have; a longer one is refused unread."""
INTROSPECTION_TTL = 60.0
"""Seconds an introspection answer is reused (never past the token's exp): a revocation shows within it."""
CACHE_LIMIT = 10_000
"""Introspection answers kept at most; the oldest go first."""
NEVER_ALGORITHMS = ("none", "HS256", "HS384", "HS512")
"""Refused whatever --oauth-algorithms says: a provider's tokens are checked with its public keys only."""


class ExternalSetupError(ValueError):
    """A configuration of --oauth-issuer the server refuses to start with."""


class Refused(Exception):
    """Why a token grants nothing here (logged at INFO, never with the token)."""


def check_settings(settings: Settings) -> None:
    """Refuse at startup what cannot work or would be unsafe, saying what to change."""
    issuer = settings.oauth_issuer or ""
    for flag, url in (
        ("--oauth-issuer", issuer),
        ("--oauth-jwks-url", settings.oauth_jwks_url),
        ("--oauth-introspection-url", settings.oauth_introspection_url),
    ):
        if url is not None and (why := refused_url(url)) is not None:
            raise ExternalSetupError(f"{flag}: {why}. Use the provider's https address.")
    secretless = settings.oauth_client_id is None or settings.oauth_client_secret is None
    if settings.oauth_introspection_url is not None and secretless:
        raise ExternalSetupError(
            "--oauth-introspection-url needs this server's client at the provider: set --oauth-client-id and "
            "POLAR_MCP_OAUTH_CLIENT_SECRET (a confidential client allowed to introspect), or drop the URL to check "
            "JWT access tokens against the provider's JWKS."
        )
    if settings.oauth_console and secretless:
        raise ExternalSetupError(
            "--oauth-console signs approvers in through the provider as this server's client: set --oauth-client-id "
            "and POLAR_MCP_OAUTH_CLIENT_SECRET (redirect URI: the console's address + /oidc/callback)."
        )
    if never := [alg for alg in settings.oauth_algorithms if alg in NEVER_ALGORITHMS]:
        raise ExternalSetupError(f"--oauth-algorithms: {never[0]} is refused; use RS256, PS256, ES256 or EdDSA.")


def scopes_of(claims: Mapping[str, Any]) -> frozenset[str]:
    """The token's scopes of this server: `scope` (space-separated) or `scp` (a list, or Entra's string)."""
    given = claims.get("scope", claims.get("scp"))
    words: Iterable[object] = given.split() if isinstance(given, str) else given if isinstance(given, list) else ()
    return frozenset(word for word in words if isinstance(word, str)) & frozenset(SCOPES)


def audiences(claims: Mapping[str, Any]) -> list[str]:
    given = claims.get("aud")
    if isinstance(given, str):
        return [given]
    return [one for one in given if isinstance(one, str)] if isinstance(given, list) else []


class ExternalVerifier:
    """Verifier of the provider's tokens: `audience` is what they must be for (this server's resource URL)."""

    def __init__(
        self,
        provider: Provider,
        *,
        audience: str,
        algorithms: Iterable[str],
        name_claim: str = "preferred_username",
        introspection: tuple[str, str, str] | None = None,
        clock: Callable[[], float] = time.time,
        leeway: int = LEEWAY,
    ) -> None:
        self.provider = provider
        self.audience = audience
        self.algorithms = tuple(alg for alg in algorithms if alg not in NEVER_ALGORITHMS)
        self.name_claim = name_claim
        self._introspection = introspection  # (url, client id, client secret)
        self._clock = clock
        self._leeway = leeway
        self._answers: dict[str, tuple[Grant | None, float]] = {}  # hash of the token → (grant, until)

    async def verify(self, token: str) -> Grant | None:
        try:
            if len(token) > TOKEN_LIMIT:
                raise Refused(f"longer than {TOKEN_LIMIT} characters")
            if self._introspection is not None:
                return await self._introspected(token)
            return await self._checked(token)
        except Refused as why:
            log.info("bearer token refused: %s", why)
        except ProviderUnreachable as exc:
            self.provider.warn(f"cannot check a bearer token with {self.provider.issuer}: {exc}")
        return None

    # JWT access tokens ------------------------------------------------------------------------------

    async def _checked(self, token: str) -> Grant:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise Refused(f"not a JWT ({exc})") from exc
        alg, kid = header.get("alg"), header.get("kid")
        if not isinstance(alg, str) or alg not in self.algorithms:
            raise Refused(f"alg {str(alg)[:16]!r} is not one of --oauth-algorithms ({', '.join(self.algorithms)})")
        if kid is not None and not isinstance(kid, str):
            raise Refused("kid is not a string")
        key = await self.provider.key(kid, alg)
        if key is None:
            raise Refused(f"no {alg} signing key {str(kid)[:64]!r} in the JWKS of {self.provider.issuer}")
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[alg],
                audience=self.audience,
                issuer=self.provider.issuer,
                leeway=self._leeway,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.PyJWTError as exc:
            raise Refused(f"{type(exc).__name__}: {exc}") from exc
        return self._grant(claims)

    # Introspection (RFC 7662) -----------------------------------------------------------------------

    async def _introspected(self, token: str) -> Grant | None:
        assert self._introspection is not None
        url, client_id, secret = self._introspection
        digest = hashlib.sha256(token.encode()).hexdigest()
        now = self._clock()
        if (kept := self._answers.get(digest)) is not None and kept[1] > now:
            return kept[0]
        answer = await self.provider.post_form(
            url, {"token": token, "token_type_hint": "access_token"}, client=(client_id, secret)
        )
        try:
            if answer.get("active") is not True:
                raise Refused("the provider says it is not active (expired, revoked or unknown)")
            if "iss" in answer and answer["iss"] != self.provider.issuer:
                raise Refused(f"issued by {str(answer['iss'])[:200]!r}, not {self.provider.issuer!r}")
            if str(answer.get("token_type", "Bearer")).lower() not in ("bearer", "access_token"):
                raise Refused(f"a {str(answer['token_type'])[:32]!r} token, not an access token")
            grant = self._grant(answer, check_times=True)
        except Refused:
            # An inactive token never becomes active: remembering that spares the provider a replay's calls.
            self._keep(digest, None, now + INTROSPECTION_TTL)
            raise
        self._keep(digest, grant, min(now + INTROSPECTION_TTL, grant.expires_at or now))
        return grant

    def _keep(self, digest: str, grant: Grant | None, until: float) -> None:
        if len(self._answers) >= CACHE_LIMIT:
            now = self._clock()
            self._answers = {k: v for k, v in self._answers.items() if v[1] > now}
            while len(self._answers) >= CACHE_LIMIT:
                del self._answers[next(iter(self._answers))]
        self._answers[digest] = (grant, until)

    # What a token grants ----------------------------------------------------------------------------

    def _grant(self, claims: Mapping[str, Any], *, check_times: bool = False) -> Grant:
        """The grant of checked claims (a decoded JWT's, or an introspection answer's, whose times and audience
        are checked here as PyJWT checks a JWT's)."""
        if self.audience not in audiences(claims):
            raise Refused(f"not for {self.audience} (aud {audiences(claims)[:5]!r})")
        exp = claims.get("exp")
        if not isinstance(exp, int | float) or isinstance(exp, bool):
            raise Refused("no exp")
        if check_times:
            now = self._clock()
            if exp <= now - self._leeway:
                raise Refused("expired")
            for name in ("nbf", "iat"):
                if isinstance(claims.get(name), int | float) and claims[name] > now + self._leeway:
                    raise Refused(f"{name} is in the future")
        if "cnf" in claims:
            raise Refused("sender-constrained (cnf): this server does not check DPoP or mTLS proofs")
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject:
            raise Refused("no sub: the token names nobody")
        # Approvals name who asked by this, and the console names approvers by the same claim: a fallback here
        # (the email, the subject) would name the asker as no approver is named, and let them approve their own.
        named = claims.get(self.name_claim)
        if not isinstance(named, str) or not named:
            raise Refused(
                f"no {self.name_claim} claim, which names the person as approvers are named: have the provider put it "
                "in access tokens, or set --oauth-name-claim to the claim it puts there"
            )
        client_id = next((v for v in (claims.get("client_id"), claims.get("azp")) if isinstance(v, str) and v), None)
        return Grant(
            client=f"oauth:{client_id or 'external'}",
            scopes=scopes_of(claims),
            person=Person(subject=subject, name=named, issuer=self.provider.issuer),
            expires_at=float(exp),
        )


def verifier_of(settings: Settings, provider: Provider) -> ExternalVerifier:
    introspection = None
    if settings.oauth_introspection_url is not None:
        assert settings.oauth_client_id is not None and settings.oauth_client_secret is not None
        secret = settings.oauth_client_secret.get_secret_value()
        introspection = (settings.oauth_introspection_url, settings.oauth_client_id, secret)
    return ExternalVerifier(
        provider,
        audience=settings.oauth_audience or settings.resource_url(),
        algorithms=settings.oauth_algorithms,
        name_claim=settings.oauth_name_claim,
        introspection=introspection,
    )


def build(settings: Settings) -> tuple[Verifier, list[BaseRoute]]:
    """The verifier of the provider's tokens, and the console's sign-in through it (--oauth-console) as routes
    served without a bearer. Raises ExternalSetupError for a configuration that cannot work."""
    check_settings(settings)
    assert settings.oauth_issuer is not None
    provider = Provider(settings.oauth_issuer, jwks_url=settings.oauth_jwks_url)
    return verifier_of(settings, provider), []
