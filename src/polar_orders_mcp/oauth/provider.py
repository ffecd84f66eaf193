"""An external identity provider as this server reads it: its discovery document, its signing keys, its answers."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote, urlsplit

import httpx2
from jwt import PyJWK
from jwt.exceptions import PyJWKError

log = logging.getLogger(__name__)

FETCH_TIMEOUT = httpx2.Timeout(5.0, connect=3.0)
"""Seconds a request to the provider may take: a verify waits for it, and so does the client behind it."""
DOCUMENT_LIMIT = 512 * 1024
"""Bytes a discovery document or a JWKS may have (real ones are a few kilobytes)."""
ANSWER_LIMIT = 64 * 1024
"""Bytes an introspection or token answer may have."""
REFETCH_INTERVAL = 30.0
"""Seconds between two fetches of the JWKS for a key it lacks: a flood of unknown kids fetches it once."""
JWKS_MAX_AGE = 3600.0
"""Seconds the JWKS is used before it is fetched again (keys the provider dropped stop verifying)."""
WARN_INTERVAL = 60.0
"""Seconds between two warnings that the provider cannot be reached (each failure in between is DEBUG)."""

# The key a signature algorithm needs: the JWK's kty, and its crv where the algorithm fixes one.
KEY_OF_ALG: dict[str, tuple[str, frozenset[str] | None]] = {
    **{f"{family}{bits}": ("RSA", None) for family in ("RS", "PS") for bits in (256, 384, 512)},
    "ES256": ("EC", frozenset({"P-256"})),
    "ES384": ("EC", frozenset({"P-384"})),
    "ES512": ("EC", frozenset({"P-521"})),
    "ES256K": ("EC", frozenset({"secp256k1"})),
    "EdDSA": ("OKP", frozenset({"Ed25519", "Ed448"})),
}


class ProviderUnreachable(Exception):
    """The provider did not answer as it should (down, slow, too large, not JSON): nothing is known of a token."""


def loopback(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    return host == "localhost" or host.endswith(".localhost") or host == "::1" or host.startswith("127.")


def refused_url(url: str) -> str | None:
    """Why this server will not talk to the provider at `url`, or None: https only, http on loopback alone."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return None
    if parts.scheme == "http" and loopback(url):
        return None
    return f"{url} is not https: tokens and secrets would cross the network in the clear (http is for loopback only)"


class Provider:
    """One identity provider: `issuer` exactly as its tokens name it. Discovery, the JWKS and introspection are
    fetched with timeouts and size caps; a failure raises ProviderUnreachable and is warned of once a minute."""

    def __init__(
        self,
        issuer: str,
        *,
        jwks_url: str | None = None,
        transport: httpx2.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.issuer = issuer
        self._jwks_url = jwks_url
        self._transport = transport
        self._clock = clock
        self._metadata: dict[str, Any] | None = None
        self._keys: dict[str, dict[str, Any]] = {}  # kid ("" when the provider gives none) → JWK
        self._parsed: dict[tuple[str, str], PyJWK] = {}
        self._fetched_at: float | None = None
        self._tried_at: float | None = None
        self._refresh: asyncio.Task[None] | None = None
        self._warned_at: float | None = None

    # Discovery --------------------------------------------------------------------------------------

    async def metadata(self) -> dict[str, Any]:
        """The provider's metadata: OpenID discovery, else RFC 8414; its `issuer` must be ours exactly."""
        if self._metadata is not None:
            return self._metadata
        failures = []
        for suffix in ("/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"):
            try:
                found = await self.get_json(self.issuer + suffix)
            except ProviderUnreachable as exc:
                failures.append(str(exc))
                continue
            if found.get("issuer") != self.issuer:
                raise ProviderUnreachable(
                    f"the discovery document at {self.issuer + suffix} names the issuer "
                    f"{str(found.get('issuer'))[:200]!r}, not {self.issuer!r}: check --oauth-issuer (exactly as the "
                    "provider's tokens name it, trailing slash aside)"
                )
            self._metadata = found
            return found
        raise ProviderUnreachable("no discovery document: " + "; ".join(failures))

    async def endpoint(self, name: str) -> str:
        """An https (or loopback) endpoint of the provider's metadata, e.g. `jwks_uri`."""
        found = (await self.metadata()).get(name)
        if not isinstance(found, str) or refused_url(found) is not None:
            raise ProviderUnreachable(f"the provider's metadata has no usable {name} ({str(found)[:200]!r})")
        return found

    # Keys -------------------------------------------------------------------------------------------

    async def key(self, kid: str | None, alg: str) -> PyJWK | None:
        """The provider's key `kid` for `alg`, or None: no such key (after one refetch, at most every
        REFETCH_INTERVAL seconds), or a key of another type or for another use than signing with `alg`."""
        now = self._clock()
        stale = self._fetched_at is None or now - self._fetched_at > JWKS_MAX_AGE
        may_fetch = self._tried_at is None or now - self._tried_at >= REFETCH_INTERVAL or self._refresh is not None
        if (stale or self._pick(kid) is None) and may_fetch:
            await self._refreshed()
        jwk = self._pick(kid)
        if jwk is None:
            return None
        return self._parse(jwk, alg)

    def _pick(self, kid: str | None) -> dict[str, Any] | None:
        if kid is not None:
            return self._keys.get(kid)
        # A token without kid: only a provider with one signing key leaves no doubt which it is.
        return next(iter(self._keys.values())) if len(self._keys) == 1 else None

    async def _refreshed(self) -> None:
        """One fetch of the JWKS at a time: verifies waiting for a key share the fetch under way."""
        if self._refresh is None or self._refresh.done():
            self._tried_at = self._clock()
            self._refresh = asyncio.ensure_future(self._fetch_keys())
        task = self._refresh
        try:
            await asyncio.shield(task)
        except ProviderUnreachable as exc:
            self.warn(f"cannot fetch the signing keys of {self.issuer}: {exc}")
        finally:
            if task.done() and self._refresh is task:
                self._refresh = None

    async def _fetch_keys(self) -> None:
        url = self._jwks_url or await self.endpoint("jwks_uri")
        found = await self.get_json(url)
        keys = found.get("keys")
        if not isinstance(keys, list):
            raise ProviderUnreachable(f"{url} is not a JWKS (no 'keys' list)")
        usable: dict[str, dict[str, Any]] = {}
        for jwk in keys:
            if not isinstance(jwk, dict) or jwk.get("kty") not in ("RSA", "EC", "OKP"):
                continue  # symmetric keys ("oct") never verify a provider's token
            if jwk.get("use", "sig") != "sig" or "verify" not in jwk.get("key_ops", ["verify"]):
                continue
            usable.setdefault(str(jwk.get("kid", "")) if "kid" in jwk else "", jwk)
        self._keys, self._parsed = usable, {}
        self._fetched_at = self._clock()
        log.debug("fetched %d signing keys of %s", len(usable), self.issuer)

    def _parse(self, jwk: dict[str, Any], alg: str) -> PyJWK | None:
        wanted = KEY_OF_ALG.get(alg)
        if wanted is None or jwk.get("kty") != wanted[0] or (wanted[1] is not None and jwk.get("crv") not in wanted[1]):
            return None  # the token's alg does not fit this key: RS256 on an EC key, ES256 on P-384 …
        if "alg" in jwk and jwk["alg"] != alg:
            return None
        cache_key = (json.dumps(jwk, sort_keys=True), alg)
        if cache_key not in self._parsed:
            try:
                self._parsed[cache_key] = PyJWK(jwk, algorithm=alg)
            except PyJWKError:
                return None
        return self._parsed[cache_key]

    # Fetching ---------------------------------------------------------------------------------------

    async def get_json(self, url: str) -> dict[str, Any]:
        return await self._json("GET", url, limit=DOCUMENT_LIMIT)

    async def post_form(
        self, url: str, form: Mapping[str, str], *, client: tuple[str, str] | None = None
    ) -> dict[str, Any]:
        """POST a form, with client_secret_basic authentication when `client` (id, secret) is given."""
        headers = {}
        if client is not None:
            # RFC 6749 2.3.1: the id and secret are form-urlencoded before they are joined.
            pair = f"{quote(client[0], safe='')}:{quote(client[1], safe='')}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        return await self._json("POST", url, limit=ANSWER_LIMIT, data=dict(form), headers=headers)

    async def _json(self, method: str, url: str, *, limit: int, **request: Any) -> dict[str, Any]:
        headers = {"Accept": "application/json", **request.pop("headers", {})}
        try:
            async with (
                httpx2.AsyncClient(
                    transport=self._transport, timeout=FETCH_TIMEOUT, follow_redirects=False, trust_env=False
                ) as http,
                http.stream(method, url, headers=headers, **request) as response,
            ):
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > limit:
                        raise ProviderUnreachable(f"{url} answered more than {limit} bytes")
                status = response.status_code
        except httpx2.TimeoutException as exc:
            raise ProviderUnreachable(f"{url} did not answer within {FETCH_TIMEOUT.read:g} s") from exc
        except httpx2.HTTPError as exc:
            raise ProviderUnreachable(f"{url} cannot be reached ({type(exc).__name__}: {exc})") from exc
        if status != 200:
            raise ProviderUnreachable(f"{url} answered HTTP {status}")
        try:
            found = json.loads(body)
        except ValueError as exc:
            raise ProviderUnreachable(f"{url} did not answer JSON") from exc
        if not isinstance(found, dict):
            raise ProviderUnreachable(f"{url} did not answer a JSON object")
        return found

    def warn(self, message: str) -> None:
        """A WARNING the first time and once every WARN_INTERVAL seconds after; DEBUG in between."""
        now = self._clock()
        if self._warned_at is None or now - self._warned_at >= WARN_INTERVAL:
            self._warned_at = now
            log.warning("%s; tokens cannot be checked meanwhile (clients get 401)", message)
        else:
            log.debug("%s", message)
