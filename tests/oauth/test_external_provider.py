"""Reaching the external provider: discovery, the JWKS URL, an unreachable or misbehaving provider, introspection."""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from typing import Any

import httpx2
import pytest
from pydantic import SecretStr

from polar_orders_mcp.oauth import external
from polar_orders_mcp.oauth.external import ExternalSetupError, ExternalVerifier
from polar_orders_mcp.oauth.grants import Grant, Person
from polar_orders_mcp.oauth.provider import DOCUMENT_LIMIT, WARN_INTERVAL, Provider
from polar_orders_mcp.settings import Settings
from tests.oauth.local_idp import INTROSPECTION, ISSUER, RESOURCE, LocalIdp

pytestmark = pytest.mark.anyio


class Clock:
    """The wall clock, moved by the test (the verifier's and the provider's)."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def verifier(
    idp: LocalIdp, *, clock: Clock | None = None, jwks_url: str | None = None, **options: Any
) -> ExternalVerifier:
    clock = clock or Clock()
    provider = Provider(idp.issuer, transport=idp.transport, jwks_url=jwks_url, clock=clock)
    return ExternalVerifier(provider, audience=RESOURCE, algorithms=("RS256", "ES256"), clock=clock, **options)


def introspecting(idp: LocalIdp, clock: Clock) -> ExternalVerifier:
    return verifier(idp, clock=clock, introspection=(INTROSPECTION, "polar-mcp", "s3cret:with/odd chars"))


# Discovery and the JWKS --------------------------------------------------------------------------------------------


async def test_the_jwks_is_found_through_openid_discovery() -> None:
    idp = LocalIdp()
    assert await verifier(idp).verify(idp.token()) is not None
    assert idp.requests["/.well-known/openid-configuration"] == 1
    assert idp.requests["/.well-known/oauth-authorization-server"] == 0


async def test_discovery_falls_back_to_rfc_8414_metadata() -> None:
    idp = LocalIdp()
    idp.openid = False
    assert await verifier(idp).verify(idp.token()) is not None
    assert idp.requests["/.well-known/oauth-authorization-server"] == 1


async def test_a_discovery_document_naming_another_issuer_is_refused_and_said(caplog: pytest.LogCaptureFixture) -> None:
    idp = LocalIdp()
    idp.discovered_issuer = "https://idp.example.test/realms/other"
    assert await verifier(idp).verify(idp.token()) is None
    assert idp.requests["/jwks"] == 0
    assert "names the issuer 'https://idp.example.test/realms/other', not 'https://idp.example.test'" in caplog.text


async def test_the_configured_jwks_url_is_used_without_discovery() -> None:
    idp = LocalIdp()
    assert await verifier(idp, jwks_url=f"{ISSUER}/jwks").verify(idp.token()) is not None
    assert idp.requests["/.well-known/openid-configuration"] == 0


async def test_tokens_waiting_for_the_jwks_share_one_fetch() -> None:
    idp = LocalIdp()
    checker = verifier(idp)
    grants = await asyncio.gather(*(checker.verify(idp.token()) for _ in range(10)))
    assert all(grant is not None for grant in grants)
    assert idp.requests["/jwks"] == 1


# An unreachable or misbehaving provider ---------------------------------------------------------------------------


async def test_a_provider_that_is_down_grants_nothing_and_is_warned_of_once_per_interval(
    caplog: pytest.LogCaptureFixture,
) -> None:
    idp, clock = LocalIdp(), Clock()
    idp.down = True
    checker = verifier(idp, clock=clock)
    caplog.set_level(logging.WARNING)
    for _ in range(5):
        assert await checker.verify(idp.token()) is None
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert f"cannot fetch the signing keys of {ISSUER}" in warnings[0].getMessage()
    assert "clients get 401" in warnings[0].getMessage()
    assert idp.requests["/.well-known/openid-configuration"] == 1  # no fetch within the interval either
    clock.now += WARN_INTERVAL
    idp.down = False
    assert await checker.verify(idp.token()) is not None  # back: the next fetch finds the keys


def answering(body: bytes, status: int = 200) -> httpx2.MockTransport:
    return httpx2.MockTransport(lambda request: httpx2.Response(status, content=body))


@pytest.mark.parametrize(
    ("transport", "said"),
    [
        (answering(b"{" + b" " * DOCUMENT_LIMIT + b"}"), f"answered more than {DOCUMENT_LIMIT} bytes"),
        (answering(b"<html>"), "did not answer JSON"),
        (answering(b"[1]"), "did not answer a JSON object"),
        (answering(b"{}", status=503), "answered HTTP 503"),
    ],
    ids=["too-large", "not-json", "not-an-object", "503"],
)
async def test_a_misbehaving_provider_grants_nothing_and_says_why(
    transport: httpx2.MockTransport, said: str, caplog: pytest.LogCaptureFixture
) -> None:
    provider = Provider(ISSUER, transport=transport, jwks_url=f"{ISSUER}/jwks")
    checker = ExternalVerifier(provider, audience=RESOURCE, algorithms=("RS256",))
    assert await checker.verify(LocalIdp().token()) is None
    assert said in caplog.text


async def test_a_provider_that_does_not_answer_in_time_grants_nothing(caplog: pytest.LogCaptureFixture) -> None:
    def slow(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ReadTimeout("timed out", request=request)

    provider = Provider(ISSUER, transport=httpx2.MockTransport(slow), jwks_url=f"{ISSUER}/jwks")
    assert await ExternalVerifier(provider, audience=RESOURCE, algorithms=("RS256",)).verify(LocalIdp().token()) is None
    assert f"{ISSUER}/jwks did not answer within 5 s" in caplog.text


# Introspection (RFC 7662) -----------------------------------------------------------------------------------------


def active(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    found = {
        "active": True,
        "iss": ISSUER,
        "aud": RESOURCE,
        "sub": "sub-bob",
        "preferred_username": "bob",
        "client_id": "desk",
        "scope": "polar:read polar:money",
        "exp": now + 600,
        "iat": now,
        "token_type": "Bearer",
    }
    found.update(changes)
    return {name: value for name, value in found.items() if value is not None}


async def test_an_active_opaque_token_grants_what_introspection_says() -> None:
    idp, clock = LocalIdp(), Clock()
    idp.introspected = active()
    grant = await introspecting(idp, clock).verify("opaque-token")
    assert grant == Grant(
        client="oauth:desk",
        scopes=frozenset({"polar:read", "polar:money"}),
        person=Person(subject="sub-bob", name="bob", issuer=ISSUER),
        expires_at=float(idp.introspected["exp"]),
    )
    expected = base64.b64encode(b"polar-mcp:s3cret%3Awith%2Fodd%20chars").decode()
    assert idp.introspection_auth == [f"Basic {expected}"]


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param({"active": False}, id="inactive"),
        pytest.param(active(active="true"), id="active-not-a-boolean"),
        pytest.param(active(aud="https://other.example/mcp"), id="another-audience"),
        pytest.param(active(aud=None), id="no-audience"),
        pytest.param(active(iss="https://evil.example.test"), id="another-issuer"),
        pytest.param(active(exp=int(time.time()) - 120), id="expired"),
        pytest.param(active(exp=None), id="no-exp"),
        pytest.param(active(sub=None), id="no-subject"),
        pytest.param(active(token_type="refresh_token"), id="a-refresh-token"),
        pytest.param(active(cnf={"jkt": "x"}), id="sender-constrained"),
    ],
)
async def test_introspection_refusals_grant_nothing(answer: dict[str, Any]) -> None:
    idp = LocalIdp()
    idp.introspected = answer
    assert await introspecting(idp, Clock()).verify("opaque-token") is None


async def test_an_introspection_answer_is_reused_briefly_then_asked_again() -> None:
    idp, clock = LocalIdp(), Clock()
    idp.introspected = active(exp=int(time.time()) + 3600)
    checker = introspecting(idp, clock)
    for _ in range(3):
        assert await checker.verify("opaque-token") is not None
    assert len(idp.introspection_auth) == 1
    idp.introspected = {"active": False}  # revoked meanwhile
    clock.now += external.INTROSPECTION_TTL
    assert await checker.verify("opaque-token") is None
    assert len(idp.introspection_auth) == 2


async def test_an_introspection_answer_is_not_reused_past_the_tokens_exp() -> None:
    idp, clock = LocalIdp(), Clock()
    idp.introspected = active(exp=int(clock.now) + 10)
    checker = introspecting(idp, clock)
    assert await checker.verify("opaque-token") is not None
    clock.now += 11
    await checker.verify("opaque-token")
    assert len(idp.introspection_auth) == 2


async def test_introspection_with_the_provider_down_grants_nothing_and_remembers_nothing() -> None:
    idp, clock = LocalIdp(), Clock()
    idp.down = True
    checker = introspecting(idp, clock)
    assert await checker.verify("opaque-token") is None
    idp.down, idp.introspected = False, active()
    assert await checker.verify("opaque-token") is not None


# Startup ----------------------------------------------------------------------------------------------------------


def settings(**given: Any) -> Settings:
    return Settings(emulator=True, transport="http", **given)


@pytest.mark.parametrize(
    ("given", "said"),
    [
        ({"oauth_issuer": "http://idp.example.test"}, "--oauth-issuer: http://idp.example.test is not https"),
        ({"oauth_issuer": ISSUER, "oauth_jwks_url": "http://idp.example.test/jwks"}, "--oauth-jwks-url: http://"),
        (
            {"oauth_issuer": ISSUER, "oauth_introspection_url": INTROSPECTION},
            "--oauth-introspection-url needs this server's client at the provider",
        ),
        (
            {"oauth_issuer": ISSUER, "oauth_introspection_url": INTROSPECTION, "oauth_client_id": "polar-mcp"},
            "set --oauth-client-id and POLAR_MCP_OAUTH_CLIENT_SECRET",
        ),
        ({"oauth_issuer": ISSUER, "oauth_console": True}, "--oauth-console signs approvers in through the provider"),
    ],
)
def test_a_configuration_that_cannot_work_is_refused_at_startup(given: dict[str, Any], said: str) -> None:
    with pytest.raises(ExternalSetupError) as refused:
        external.build(settings(**given))
    assert said in str(refused.value)


@pytest.mark.parametrize("issuer", ["http://127.0.0.1:9000", "http://localhost:9000/realms/x", "http://[::1]:9000"])
def test_http_is_accepted_for_a_loopback_provider(issuer: str) -> None:
    verifier, routes = external.build(settings(oauth_issuer=issuer))
    assert isinstance(verifier, ExternalVerifier) and routes == []


def test_the_audience_is_this_servers_resource_unless_configured() -> None:
    made, _ = external.build(settings(oauth_issuer=ISSUER, public_url="https://mcp.example.com"))
    assert isinstance(made, ExternalVerifier) and made.audience == "https://mcp.example.com/mcp"
    made, _ = external.build(settings(oauth_issuer=ISSUER, oauth_audience="api://polar-mcp"))
    assert isinstance(made, ExternalVerifier) and made.audience == "api://polar-mcp"


def test_introspection_is_used_when_configured() -> None:
    made, _ = external.build(
        settings(
            oauth_issuer=ISSUER,
            oauth_introspection_url=INTROSPECTION,
            oauth_client_id="polar-mcp",
            oauth_client_secret=SecretStr("x" * 32),
        )
    )
    assert isinstance(made, ExternalVerifier) and made._introspection == (INTROSPECTION, "polar-mcp", "x" * 32)


def test_people_named_only_in_the_roles_may_approve_through_an_external_provider() -> None:
    roles = "ada=approve,bob=use"
    assert settings(roles=roles).people_roles() == {}
    external_roles = settings(roles=roles, oauth_issuer=ISSUER).people_roles()
    assert external_roles == {"ada": frozenset({"approve"}), "bob": frozenset({"use"})}
