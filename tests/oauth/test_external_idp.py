"""The external provider's tokens, as a real OpenID provider (oidc-provider) issues them, checked by the verifier."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator
from typing import Any

import httpx2
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from polar_orders_mcp.oauth.external import ExternalVerifier
from polar_orders_mcp.oauth.grants import Grant, Person
from polar_orders_mcp.oauth.provider import Provider
from tests.oauth.real_idp import SECRET, RealIdp

pytestmark = pytest.mark.anyio

RESOURCE = "http://localhost:8000/mcp"


@pytest.fixture(scope="module")
def idp() -> Iterator[RealIdp]:
    started = RealIdp()
    yield started
    started.stop()


def verifier(idp: RealIdp, **options: Any) -> ExternalVerifier:
    return ExternalVerifier(Provider(idp.issuer), audience=RESOURCE, algorithms=("RS256", "ES256"), **options)


async def test_a_client_credentials_token_grants_its_scopes(idp: RealIdp) -> None:
    token = idp.client_credentials(RESOURCE, scope="polar:read polar:money")
    grant = await verifier(idp).verify(token)
    assert grant is not None
    assert grant.client == "oauth:agent" and grant.scopes == frozenset({"polar:read", "polar:money"})


async def test_a_persons_token_names_them(idp: RealIdp) -> None:
    tokens = idp.code_flow(RESOURCE, scope="openid offline_access polar:read polar:write", person="ada")
    grant = await verifier(idp).verify(tokens["access_token"])
    exp = jwt.decode(tokens["access_token"], options={"verify_signature": False})["exp"]
    assert grant == Grant(
        client="oauth:agent",
        scopes=frozenset({"polar:read", "polar:write"}),
        person=Person(subject="sub-ada", name="ada", issuer=idp.issuer),
        expires_at=float(exp),
    )


async def test_the_provider_is_found_by_discovery(idp: RealIdp) -> None:
    metadata = await Provider(idp.issuer).metadata()
    assert metadata["issuer"] == idp.issuer
    assert metadata["jwks_uri"].startswith(idp.issuer)


async def test_only_the_scopes_of_this_server_are_granted(idp: RealIdp) -> None:
    token = idp.client_credentials(RESOURCE, scope="polar:money other:scope")
    grant = await verifier(idp).verify(token)
    assert grant is not None and grant.scopes == frozenset({"polar:money"})


async def test_a_token_for_another_resource_grants_nothing(idp: RealIdp) -> None:
    token = idp.client_credentials("https://other.example/mcp")
    assert await verifier(idp).verify(token) is None


async def test_a_token_checked_for_another_audience_grants_nothing(idp: RealIdp) -> None:
    token = idp.client_credentials(RESOURCE)
    other = ExternalVerifier(Provider(idp.issuer), audience="http://localhost:9000/mcp", algorithms=("RS256",))
    assert await other.verify(token) is None


async def test_an_id_token_is_no_access_token(idp: RealIdp) -> None:
    tokens = idp.code_flow(RESOURCE)
    assert await verifier(idp).verify(tokens["id_token"]) is None


async def test_an_expired_token_grants_nothing(idp: RealIdp) -> None:
    token = idp.client_credentials(RESOURCE, client="agent-short")
    checker = verifier(idp, leeway=0)
    assert await checker.verify(token) is not None
    idp.wait_past(jwt.decode(token, options={"verify_signature": False})["exp"])
    assert await checker.verify(token) is None


def _parts(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    header, claims, _ = token.split(".")
    return (json.loads(base64.urlsafe_b64decode(header + "==")), json.loads(base64.urlsafe_b64decode(claims + "==")))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


async def test_a_real_token_turned_to_alg_none_grants_nothing(idp: RealIdp) -> None:
    header, claims = _parts(idp.client_credentials(RESOURCE))
    forged = f"{_b64(json.dumps({**header, 'alg': 'none'}).encode())}.{_b64(json.dumps(claims).encode())}."
    assert await verifier(idp).verify(forged) is None


async def test_hs256_signed_with_the_providers_public_key_grants_nothing(idp: RealIdp) -> None:
    header, claims = _parts(idp.client_credentials(RESOURCE))
    jwks = httpx2.get((await Provider(idp.issuer).metadata())["jwks_uri"]).json()
    key = jwt.PyJWK(jwks["keys"][0]).key
    pem = key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    signing_input = f"{_b64(json.dumps({**header, 'alg': 'HS256'}).encode())}.{_b64(json.dumps(claims).encode())}"
    mac = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
    checker = verifier(idp)
    assert await checker.verify(idp.client_credentials(RESOURCE)) is not None  # the keys are known
    assert await checker.verify(f"{signing_input}.{_b64(mac)}") is None


async def test_a_token_of_another_provider_grants_nothing(idp: RealIdp) -> None:
    other = RealIdp()
    try:
        token = other.client_credentials(RESOURCE)
    finally:
        other.stop()
    assert await verifier(idp).verify(token) is None


async def test_a_token_signed_with_another_key_under_the_providers_kid_or_an_unknown_one_grants_nothing(
    idp: RealIdp,
) -> None:
    header, claims = _parts(idp.client_credentials(RESOURCE))
    mine = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    checker = verifier(idp)
    assert await checker.verify(jwt.encode(claims, mine, algorithm="RS256", headers={"kid": header["kid"]})) is None
    assert await checker.verify(jwt.encode(claims, mine, algorithm="RS256", headers={"kid": "unknown"})) is None


async def test_a_refreshed_token_still_grants(idp: RealIdp) -> None:
    tokens = idp.code_flow(RESOURCE, scope="openid offline_access polar:read polar:write", person="bob")
    refreshed = idp.token(grant_type="refresh_token", refresh_token=tokens["refresh_token"], resource=RESOURCE)
    assert refreshed["access_token"] != tokens["access_token"]
    grant = await verifier(idp).verify(refreshed["access_token"])
    assert grant is not None and grant.person is not None
    assert (grant.person.name, grant.scopes) == ("bob", frozenset({"polar:read", "polar:write"}))


def _introspecting(idp: RealIdp) -> ExternalVerifier:
    return verifier(idp, introspection=(f"{idp.issuer}/token/introspection", "polar-mcp", SECRET))


async def test_an_opaque_token_is_checked_by_introspection(idp: RealIdp) -> None:
    tokens = idp.code_flow(RESOURCE, client="agent-opaque", scope="openid offline_access polar:read", person="cy")
    assert tokens["access_token"].count(".") == 0  # opaque
    grant = await _introspecting(idp).verify(tokens["access_token"])
    assert grant is not None
    assert grant.client == "oauth:agent-opaque" and grant.scopes == frozenset({"polar:read"})
    assert grant.person == Person(subject="sub-cy", name="cy", issuer=idp.issuer)


async def test_a_revoked_or_unknown_opaque_token_grants_nothing(idp: RealIdp) -> None:
    tokens = idp.code_flow(RESOURCE, client="agent-opaque", scope="openid polar:read")
    answer = httpx2.post(
        f"{idp.issuer}/token/revocation", data={"token": tokens["access_token"]}, auth=("agent-opaque", SECRET)
    )
    assert answer.status_code == 200
    assert await _introspecting(idp).verify(tokens["access_token"]) is None
    assert await _introspecting(idp).verify("no-such-token") is None


async def test_an_opaque_token_for_another_resource_grants_nothing_by_introspection(idp: RealIdp) -> None:
    tokens = idp.code_flow("https://other.example/mcp", client="agent-opaque", scope="openid polar:read")
    assert await _introspecting(idp).verify(tokens["access_token"]) is None


async def test_the_provider_down_grants_nothing_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    gone = RealIdp()
    token = gone.client_credentials(RESOURCE)
    gone.stop()
    assert await verifier(gone).verify(token) is None
    assert f"cannot fetch the signing keys of {gone.issuer}" in caplog.text
