"""The external provider's JWT access tokens, checked against a JWKS of local keys: what is accepted, what not."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from polar_orders_mcp.oauth.external import ExternalVerifier
from polar_orders_mcp.oauth.grants import Grant, Person
from polar_orders_mcp.oauth.provider import JWKS_MAX_AGE, REFETCH_INTERVAL, Provider
from tests.oauth.local_idp import RESOURCE, LocalIdp, ec_key, public_jwk, rsa_key, unsigned

pytestmark = pytest.mark.anyio

ALGORITHMS = ("RS256", "PS256", "ES256", "EdDSA")


@pytest.fixture
def idp() -> LocalIdp:
    return LocalIdp()


class Clock:
    """The provider's monotonic clock, moved by the test."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def verifier(idp: LocalIdp, *, clock: Clock | None = None, **options: Any) -> ExternalVerifier:
    provider = Provider(
        idp.issuer, transport=idp.transport, jwks_url=options.pop("jwks_url", None), clock=clock or Clock()
    )
    return ExternalVerifier(provider, audience=RESOURCE, algorithms=options.pop("algorithms", ALGORITHMS), **options)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


async def test_a_token_signed_by_the_provider_grants_its_scopes_of_this_server_to_the_person(idp: LocalIdp) -> None:
    token = idp.token()
    grant = await verifier(idp).verify(token)
    assert grant == Grant(
        client="oauth:agent",
        scopes=frozenset({"polar:read", "polar:write"}),
        person=Person(subject="sub-ada", name="ada", issuer=idp.issuer),
        expires_at=float(jwt.decode(token, options={"verify_signature": False})["exp"]),
    )


@pytest.mark.parametrize(
    ("changes", "client", "scopes"),
    [
        ({"client_id": None, "azp": "desk"}, "oauth:desk", {"polar:read", "polar:write"}),
        ({"client_id": None}, "oauth:external", {"polar:read", "polar:write"}),
        ({"scope": None, "scp": ["polar:money", "polar:read", "admin"]}, "oauth:agent", {"polar:money", "polar:read"}),
        ({"scope": None, "scp": "polar:write User.Read"}, "oauth:agent", {"polar:write"}),  # Entra's string form
        ({"scope": None}, "oauth:agent", set()),
    ],
)
async def test_the_client_and_the_scopes_of_this_server_come_from_the_claims(
    idp: LocalIdp, changes: dict[str, Any], client: str, scopes: set[str]
) -> None:
    grant = await verifier(idp).verify(idp.token(**changes))
    assert grant is not None and (grant.client, grant.scopes) == (client, frozenset(scopes))


async def test_the_person_is_named_by_the_name_claim(idp: LocalIdp) -> None:
    grant = await verifier(idp).verify(idp.token())
    assert grant is not None and grant.person is not None and grant.person.name == "ada"


@pytest.mark.parametrize("changes", [{"preferred_username": None}, {"preferred_username": None, "email": None}])
async def test_a_token_without_the_name_claim_is_refused(
    idp: LocalIdp, changes: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    """Approvals name who asked as approvers are named: by the name claim. A token without it named ada by her email
    or her subject, which no approver name matches, so ada, signed in to the console as "ada" through the same
    provider (whose ID token carries the claim), approved her own request."""
    caplog.set_level(logging.INFO, logger="polar_orders_mcp.oauth.external")
    assert await verifier(idp).verify(idp.token(**changes)) is None
    assert "no preferred_username claim, which names the person as approvers are named" in caplog.text
    assert "--oauth-name-claim" in caplog.text


async def test_another_name_claim_is_read_when_configured(idp: LocalIdp) -> None:
    grant = await verifier(idp, name_claim="upn").verify(idp.token(upn="ada.l"))
    assert grant is not None and grant.person is not None and grant.person.name == "ada.l"


async def test_an_es256_token_is_checked_with_the_ec_key(idp: LocalIdp) -> None:
    assert await verifier(idp).verify(idp.token(alg="ES256", kid="e1")) is not None


async def test_an_eddsa_token_is_checked_with_the_okp_key(idp: LocalIdp) -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    idp.keys.append({"kty": "OKP", "crv": "Ed25519", "x": b64(raw), "kid": "o1"})
    assert await verifier(idp).verify(idp.token(alg="EdDSA", kid="o1", key=key)) is not None


async def test_a_token_with_an_audience_list_holding_this_server_is_accepted(idp: LocalIdp) -> None:
    assert await verifier(idp).verify(idp.token(aud=["https://other.example/api", RESOURCE])) is not None


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"aud": "https://other.example/mcp"}, id="another-audience"),
        pytest.param({"aud": RESOURCE + "/"}, id="audience-almost-ours"),
        pytest.param({"aud": None}, id="no-audience"),
        pytest.param({"iss": "https://evil.example.test"}, id="another-issuer-claimed"),
        pytest.param({"iss": None}, id="no-issuer"),
        pytest.param({"exp": int(time.time()) - 120}, id="expired"),
        pytest.param({"exp": None}, id="no-exp"),
        pytest.param({"nbf": int(time.time()) + 600}, id="not-yet-valid"),
        pytest.param({"iat": int(time.time()) + 600}, id="issued-in-the-future"),
        pytest.param({"sub": None}, id="no-subject"),
        pytest.param({"cnf": {"jkt": "abc"}}, id="sender-constrained"),
    ],
)
async def test_a_signed_token_with_a_wrong_claim_grants_nothing(idp: LocalIdp, changes: dict[str, Any]) -> None:
    assert await verifier(idp).verify(idp.token(**changes)) is None


async def test_an_expired_token_within_the_leeway_is_accepted_past_it_not(idp: LocalIdp) -> None:
    now = int(time.time())
    assert await verifier(idp).verify(idp.token(exp=now - 5)) is not None
    assert await verifier(idp, leeway=0).verify(idp.token(exp=now - 5)) is None


async def test_alg_none_grants_nothing(idp: LocalIdp) -> None:
    token = unsigned(idp.claims(), {"alg": "none", "kid": "r1", "typ": "JWT"})
    assert await verifier(idp, algorithms=(*ALGORITHMS, "none")).verify(token) is None


async def test_hs256_signed_with_the_providers_public_key_grants_nothing(idp: LocalIdp) -> None:
    """Algorithm confusion: the public key (PEM, or its JWK's n) as an HMAC secret."""
    pem = (
        rsa_key("r1")
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    for secret in (pem, idp.keys[0]["n"].encode()):
        head = b64(json.dumps({"alg": "HS256", "kid": "r1", "typ": "JWT"}).encode())
        body = b64(json.dumps(idp.claims()).encode())
        mac = hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
        assert await verifier(idp, algorithms=(*ALGORITHMS, "HS256")).verify(f"{head}.{body}.{b64(mac)}") is None


async def test_an_alg_the_settings_do_not_allow_grants_nothing(idp: LocalIdp) -> None:
    assert await verifier(idp, algorithms=("ES256",)).verify(idp.token(alg="RS256")) is None
    assert await verifier(idp, algorithms=("RS256",)).verify(idp.token(alg="PS256")) is None


@pytest.mark.parametrize(
    ("alg", "kid"), [("ES256", "r1"), ("RS256", "e1"), ("ES384", "e1")], ids=["ec-alg-on-rsa", "rsa-alg-on-ec", "curve"]
)
async def test_a_header_alg_that_does_not_fit_the_key_grants_nothing(idp: LocalIdp, alg: str, kid: str) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    key: Any = {"ES256": ec_key("e1"), "RS256": rsa_key("r1"), "ES384": ec.generate_private_key(ec.SECP384R1())}[alg]
    token = idp.token(alg=alg, kid=kid, key=key)
    assert await verifier(idp, algorithms=(*ALGORITHMS, "ES384")).verify(token) is None


async def test_a_key_that_names_another_alg_does_not_verify_this_one(idp: LocalIdp) -> None:
    idp.keys[0]["alg"] = "PS256"
    assert await verifier(idp).verify(idp.token(alg="RS256")) is None
    assert await verifier(idp).verify(idp.token(alg="PS256")) is not None


async def test_a_token_signed_by_another_key_with_the_providers_kid_grants_nothing(idp: LocalIdp) -> None:
    assert await verifier(idp).verify(idp.token(key=rsa_key("someone else"))) is None


async def test_a_token_of_another_issuer_grants_nothing(idp: LocalIdp) -> None:
    other = LocalIdp("https://other-idp.example.test")
    other.keys = [public_jwk(rsa_key("o1"), "o1")]
    assert await verifier(idp).verify(other.token(kid="o1", key=rsa_key("o1"))) is None


async def test_an_encryption_key_or_a_symmetric_key_never_verifies(idp: LocalIdp) -> None:
    idp.keys = [{**idp.keys[0], "use": "enc"}, {"kty": "oct", "k": b64(b"secret"), "kid": "s1"}]
    assert await verifier(idp).verify(idp.token()) is None


async def test_a_token_without_kid_is_checked_when_the_provider_has_one_key(idp: LocalIdp) -> None:
    assert await verifier(idp).verify(idp.token(kid=None)) is None  # two keys: which one is unknown
    idp.keys = idp.keys[:1]
    assert await verifier(idp).verify(idp.token(kid=None)) is not None


async def test_unknown_kids_fetch_the_jwks_again_at_most_once_per_interval(idp: LocalIdp) -> None:
    clock = Clock()
    checker = verifier(idp, clock=clock)
    assert await checker.verify(idp.token()) is not None
    for number in range(20):
        assert await checker.verify(idp.token(kid=f"unknown-{number}")) is None
    assert idp.requests["/jwks"] == 1  # fetched for the first token; unknown kids within the interval fetch nothing
    clock.now += REFETCH_INTERVAL
    for number in range(20):
        assert await checker.verify(idp.token(kid=f"unknown-{number}")) is None
    assert idp.requests["/jwks"] == 2  # one more fetch, for the first unknown kid past the interval


async def test_a_key_the_provider_adds_is_found_on_its_first_token_past_the_interval(idp: LocalIdp) -> None:
    clock = Clock()
    checker = verifier(idp, clock=clock)
    assert await checker.verify(idp.token()) is not None
    idp.keys.append(public_jwk(rsa_key("r2"), "r2"))
    clock.now += REFETCH_INTERVAL
    assert await checker.verify(idp.token(kid="r2", key=rsa_key("r2"))) is not None
    assert idp.requests["/jwks"] == 2


async def test_the_jwks_is_fetched_again_once_it_is_old(idp: LocalIdp) -> None:
    clock = Clock()
    checker = verifier(idp, clock=clock)
    assert await checker.verify(idp.token()) is not None
    idp.keys = [public_jwk(rsa_key("r2"), "r2")]  # r1 dropped by the provider
    clock.now += JWKS_MAX_AGE + 1
    assert await checker.verify(idp.token()) is None
    assert idp.requests["/jwks"] == 2


@pytest.mark.parametrize("token", ["", "not a token", "a.b.c", "x" * 20_000], ids=["empty", "words", "dots", "huge"])
async def test_garbage_grants_nothing_and_logs_no_token(
    idp: LocalIdp, token: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    assert await verifier(idp).verify(token) is None
    assert token[:30] not in caplog.text or not token


async def test_a_refusal_is_logged_with_its_reason_and_never_the_token(
    idp: LocalIdp, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    token = idp.token(aud="https://other.example/mcp")
    assert await verifier(idp).verify(token) is None
    assert "not for http://localhost:8000/mcp" in caplog.text or "Audience" in caplog.text
    assert token not in caplog.text and token.split(".")[2] not in caplog.text
