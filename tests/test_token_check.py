"""The Polar token checked at start, in this process against the emulator: its kind, then one request."""

from __future__ import annotations

import httpx2
import pytest

from polar_orders_mcp.emulator.app import create_app
from polar_orders_mcp.emulator.seed import ORG_TOKEN, SCOPES
from polar_orders_mcp.emulator.store import OrgPrincipal
from polar_orders_mcp.settings import Settings
from polar_orders_mcp.token_check import TokenRefused, check_access, check_kind

pytestmark = pytest.mark.anyio

MADE_UP = "polar_oat_MADEupZq7ZpL2mXv9RtK4wNs8BdJ3h"


@pytest.fixture
def emulator() -> httpx2.ASGITransport:
    return httpx2.ASGITransport(app=create_app(orders=3))


@pytest.mark.parametrize(
    ("token", "kind"),
    [
        ("sk_live_51Habcdefghijklmnop", "a Stripe secret key (sk_live_…)"),
        ("polar_c_abcdefghijklmnop", "a checkout's client secret (polar_c_…)"),
        ("polar_cs_abcdefghijklmnop", "an OAuth client secret (polar_cs_…)"),
        ("polar_oa_abcdefghijklmnop", "not a Polar access token (those start polar_oat_)"),
    ],
)
def test_a_token_of_a_kind_polar_refuses_is_refused_without_a_request(token: str, kind: str) -> None:
    with pytest.raises(TokenRefused) as refused:
        check_kind(Settings(access_token=token, server="sandbox"), token)
    assert str(refused.value) == (
        f"POLAR_ACCESS_TOKEN is {kind}, which Polar refuses on every call this server makes. Create an organization "
        "access token (polar_oat_…) in your organization's settings in Polar sandbox and set POLAR_ACCESS_TOKEN to it. "
        "Not started."
    )
    assert "abcdefghijklmnop" not in str(refused.value)


def test_a_personal_token_starts_with_a_warning() -> None:
    """Polar takes a personal access token on the order endpoints (as a user), so it is no refusal."""
    token = "polar_pat_abcdefghijklmnop"
    assert check_kind(Settings(access_token=token), token) == [
        "POLAR_ACCESS_TOKEN is a personal access token (polar_pat_…): Polar takes it as a person, with every "
        "organization of theirs, and this server is built for one organization's token; calls that create something "
        "may be refused. Create an organization access token (polar_oat_…) in your organization's settings in Polar "
        "production and set POLAR_ACCESS_TOKEN to it."
    ]


def test_organization_tokens_and_any_token_of_another_server_pass_the_kind_check() -> None:
    for token in ("polar_oat_abc", "polar_at_o_abc"):
        assert check_kind(Settings(access_token=token), token) == []
    assert check_kind(Settings(access_token="proxy-credential", server="http://127.0.0.1:9"), "proxy-credential") == []


def test_a_customer_session_must_be_one() -> None:
    token = "polar_pat_abcdefghijklmnop"
    with pytest.raises(TokenRefused) as refused:
        check_kind(Settings(customer_session=token), token)
    assert str(refused.value).startswith(
        "POLAR_CUSTOMER_SESSION is a personal access token (polar_pat_…): Polar's customer portal takes only a "
        "customer session (polar_cst_…)"
    )


@pytest.mark.parametrize(
    ("server", "guess"),
    [
        ("production", "one made in sandbox? Then set POLAR_SERVER=sandbox (or --server sandbox)"),
        ("sandbox", "one made in production? Then set POLAR_SERVER=production (or --server production)"),
    ],
)
async def test_a_token_polar_does_not_accept_is_refused_naming_the_other_environment(
    emulator: httpx2.ASGITransport, server: str, guess: str
) -> None:
    settings = Settings(access_token=MADE_UP, server=server)
    with pytest.raises(TokenRefused) as refused:
        await check_access(settings, MADE_UP, emulator)
    where = {
        "production": "Polar production (https://api.polar.sh)",
        "sandbox": "Polar sandbox (https://sandbox-api.polar.sh)",
    }[server]
    assert str(refused.value) == (
        f"{where} does not accept POLAR_ACCESS_TOKEN: is it {guess}. Otherwise it was revoked, has expired or was "
        f"mistyped. Create an organization access token (polar_oat_…) in your organization's settings in Polar "
        f"{server} and set POLAR_ACCESS_TOKEN to it. Not started."
    )
    assert "MADEup" not in str(refused.value)


async def test_a_customer_session_polar_does_not_accept_is_refused_saying_sessions_expire(
    emulator: httpx2.ASGITransport,
) -> None:
    session = "polar_cst_" + "0" * 40
    with pytest.raises(TokenRefused) as refused:
        await check_access(Settings(customer_session=session, server="sandbox"), session, emulator)
    assert str(refused.value).startswith(
        "Polar sandbox (https://sandbox-api.polar.sh) does not accept POLAR_CUSTOMER_SESSION (or --customer-session): "
        "customer sessions last one hour"
    )


async def test_a_token_without_the_scope_to_read_orders_starts_with_a_warning(emulator: httpx2.ASGITransport) -> None:
    state = emulator.app.state.emulator  # type: ignore[attr-defined]
    token = "polar_oat_without_orders"
    state.store.tokens[token] = OrgPrincipal(state.store.organization.id, SCOPES - {"orders:read", "orders:write"})
    warnings = await check_access(Settings(access_token=token), token, emulator)
    assert warnings == [
        "POLAR_ACCESS_TOKEN is accepted but lacks the scope orders:read: the order tools will fail. Add the "
        "scope to the token in Polar (or create one that has it)."
    ]


async def test_a_token_polar_accepts_says_nothing(emulator: httpx2.ASGITransport) -> None:
    assert await check_access(Settings(access_token=ORG_TOKEN), ORG_TOKEN, emulator) == []
