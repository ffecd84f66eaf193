"""An identity provider made of local keys, served through MockTransport: the fast token tests' issuer."""

from __future__ import annotations

import functools
import json
import time
from collections import Counter
from typing import Any

import httpx2
import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

ISSUER = "https://idp.example.test"
RESOURCE = "http://localhost:8000/mcp"
INTROSPECTION = f"{ISSUER}/token/introspection"


@functools.cache
def rsa_key(name: str) -> rsa.RSAPrivateKey:
    """One RSA key per name for the whole run (making one takes a while)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@functools.cache
def ec_key(name: str) -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def public_jwk(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, kid: str, **extra: str) -> dict[str, Any]:
    if isinstance(key, rsa.RSAPrivateKey):
        found = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    else:
        found = ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
    return {**found, "kid": kid, "use": "sig", **extra}


class LocalIdp:
    """Discovery, a JWKS (an RSA key `r1`, a P-256 key `e1`) and introspection; counts every request by path.
    `down` makes every request fail to connect; `introspected` is what introspection answers."""

    def __init__(self, issuer: str = ISSUER) -> None:
        self.issuer = issuer
        self.discovered_issuer = issuer
        self.keys = [public_jwk(rsa_key("r1"), "r1"), public_jwk(ec_key("e1"), "e1")]
        self.requests: Counter[str] = Counter()
        self.down = False
        self.openid = True
        self.introspected: dict[str, Any] = {"active": False}
        self.introspection_auth: list[str] = []
        self.transport = httpx2.MockTransport(self._answer)

    def _answer(self, request: httpx2.Request) -> httpx2.Response:
        path = request.url.path
        self.requests[path] = self.requests[path] + 1
        if self.down:
            raise httpx2.ConnectError("connection refused", request=request)
        discovery = ("/.well-known/openid-configuration",) if self.openid else ()
        if path in (*discovery, "/.well-known/oauth-authorization-server"):
            return httpx2.Response(
                200,
                json={
                    "issuer": self.discovered_issuer,
                    "jwks_uri": f"{self.issuer}/jwks",
                    "introspection_endpoint": INTROSPECTION,
                },
            )
        if path == "/jwks":
            return httpx2.Response(200, json={"keys": self.keys})
        if path == "/token/introspection":
            self.introspection_auth.append(request.headers.get("authorization", ""))
            return httpx2.Response(200, json=self.introspected)
        return httpx2.Response(404, json={"error": "not_found"})

    def claims(self, **changes: Any) -> dict[str, Any]:
        now = int(time.time())
        found = {
            "iss": self.issuer,
            "aud": RESOURCE,
            "sub": "sub-ada",
            "preferred_username": "ada",
            "email": "ada@example.test",
            "client_id": "agent",
            "scope": "openid polar:read polar:write other:scope",
            "iat": now,
            "exp": now + 300,
        }
        found.update(changes)
        return {name: value for name, value in found.items() if value is not None}

    def token(self, *, alg: str = "RS256", kid: str | None = "r1", key: Any = None, **changes: Any) -> str:
        """A JWT of these claims (changes of None drop a claim), signed with the key `kid` names unless given."""
        if key is None:
            key = ec_key("e1") if kid == "e1" else rsa_key("r1")
        headers = {"kid": kid} if kid is not None else {}
        return jwt.encode(self.claims(**changes), key, algorithm=alg, headers=headers)


def unsigned(claims: dict[str, Any], header: dict[str, Any]) -> str:
    """A token with `alg: none` (PyJWT makes one only with alg none and no key)."""
    import base64

    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part(header)}.{part(claims)}."
