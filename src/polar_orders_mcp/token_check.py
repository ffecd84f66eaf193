"""The Polar token checked at start: its kind from its prefix, then one cheap request that Polar must accept.

A token Polar can never accept stops the start (`TokenRefused`, said on stderr, exit 2): every call would fail
with it, and a server that starts looks healthy to the client and to a service manager until the first call.
A token that Polar accepts with a doubt (a personal one, a scope missing) starts with a warning, and so does
a check that could not be made (Polar unreachable, rate-limited, failing): the server is then no worse off
than without the check. No message holds the token or any part of it past its kind's prefix.
"""

from __future__ import annotations

import anyio
import httpx2

from polar_orders_mcp.polar.client import PolarClient
from polar_orders_mcp.polar.errors import (
    AuthenticationError,
    PermissionDeniedError,
    PolarConnectionError,
    PolarError,
)
from polar_orders_mcp.polar.servers import resolve_server
from polar_orders_mcp.settings import Settings

# Seconds the start waits for Polar's answer: long enough for a slow link, short enough that a desktop client
# waiting for the server's first answer does not give up.
CHECK_TIMEOUT = 5.0

# Polar's credential prefixes (server/polar/auth/middlewares.py and the services it imports): which bearer
# reaches the order endpoints as an organization, which as a user, and which not at all.
ORGANIZATION_KINDS = ("polar_oat_", "polar_at_o_")  # organization access token, OAuth token of an organization
CUSTOMER_KINDS = ("polar_cst_", "polar_mst_")  # customer session, member session
USER_KINDS = {
    "polar_pat_": "a personal access token (polar_pat_…)",
    "polar_at_u_": "an OAuth access token of a user (polar_at_u_…)",
}
OTHER_KINDS = {
    "polar_cst_": "a customer session (polar_cst_…)",
    "polar_mst_": "a member session (polar_mst_…)",
    "polar_rt_": "an OAuth refresh token (polar_rt_…)",
    "polar_crt_": "an OAuth client registration token (polar_crt_…)",
    "polar_ci_": "an OAuth client id (polar_ci_…)",
    "polar_cs_": "an OAuth client secret (polar_cs_…)",
    "polar_ac_": "an OAuth authorization code (polar_ac_…)",
    "polar_us_": "a Polar web sign-in session (polar_us_…)",
    "polar_cl_": "a checkout link's client secret (polar_cl_…)",
    "polar_c_": "a checkout's client secret (polar_c_…)",
    "sk_live_": "a Stripe secret key (sk_live_…)",
    "sk_test_": "a Stripe secret key (sk_test_…)",
    "rk_live_": "a Stripe restricted key (rk_live_…)",
    "rk_test_": "a Stripe restricted key (rk_test_…)",
    "pk_live_": "a Stripe publishable key (pk_live_…)",
    "pk_test_": "a Stripe publishable key (pk_test_…)",
}
MAKE_ONE = "Create an organization access token (polar_oat_…) in your organization's settings in Polar{where}"


def _make_one(environment: str) -> str:
    """How to get a right token, in Polar production or sandbox (or wherever the custom server's tokens come from)."""
    return MAKE_ONE.format(where=f" {environment}" if environment in ("production", "sandbox") else "")


class TokenRefused(ValueError):
    """A token Polar will never accept for this server's calls: the server does not start."""


def _kind(token: str, kinds: dict[str, str]) -> str | None:
    """What the token is, from the longest prefix of `kinds` it starts with."""
    for prefix in sorted(kinds, key=len, reverse=True):
        if token.startswith(prefix):
            return kinds[prefix]
    return None


def _variable(settings: Settings) -> str:
    return "POLAR_CUSTOMER_SESSION (or --customer-session)" if settings.customer_mode else "POLAR_ACCESS_TOKEN"


def check_kind(settings: Settings, token: str) -> list[str]:
    """Refuse a token of a kind Polar refuses on every call this server makes; warnings for a doubtful one.

    Only against Polar's own servers: a server at another URL (a proxy, an emulator) may take other tokens."""
    environment, _ = resolve_server(settings.server)
    if environment == "custom":
        return []
    if settings.customer_mode:
        if not token.startswith(CUSTOMER_KINDS):
            what = _kind(token, {**USER_KINDS, **OTHER_KINDS}) or "not a Polar customer session"
            raise TokenRefused(
                f"POLAR_CUSTOMER_SESSION is {what}: Polar's customer portal takes only a customer session "
                "(polar_cst_…), which POST /v1/customer-sessions/ makes for one customer. Not started."
            )
        return []
    if token.startswith(ORGANIZATION_KINDS):
        return []
    if (person := _kind(token, USER_KINDS)) is not None:
        return [
            f"POLAR_ACCESS_TOKEN is {person}: Polar takes it as a person, with every organization of theirs, and this "
            "server is built for one organization's token; calls that create something may be refused. "
            f"{_make_one(environment)} and set POLAR_ACCESS_TOKEN to it."
        ]
    kind = _kind(token, OTHER_KINDS) or "not a Polar access token (those start polar_oat_)"
    raise TokenRefused(
        f"POLAR_ACCESS_TOKEN is {kind}, which Polar refuses on every call this server makes. "
        f"{_make_one(environment)} and set POLAR_ACCESS_TOKEN to it. Not started."
    )


def _not_accepted(settings: Settings, client: PolarClient) -> str:
    variable = _variable(settings)
    where = {"production": "Polar production", "sandbox": "Polar sandbox"}.get(client.environment, "The server")
    head = f"{where} ({client.base_url}) does not accept {variable}"
    if settings.customer_mode:
        return (
            f"{head}: customer sessions last one hour, and one made in another environment is unknown here. Create a "
            "new one (POST /v1/customer-sessions/ with an organization token) and set it. Not started."
        )
    other = {
        "production": "one made in sandbox? Then set POLAR_SERVER=sandbox (or --server sandbox)",
        "sandbox": "one made in production? Then set POLAR_SERVER=production (or --server production)",
    }.get(client.environment, "one made for another server? Check POLAR_SERVER (or --server)")
    return (
        f"{head}: is it {other}. Otherwise it was revoked, has expired or was mistyped. "
        f"{_make_one(client.environment)} and set {variable} to it. Not started."
    )


async def check_access(settings: Settings, token: str, transport: httpx2.AsyncBaseTransport | None = None) -> list[str]:
    """One read Polar must accept (the first page of one order): TokenRefused on 401; warnings when a scope is
    missing or Polar could not be asked."""
    client = PolarClient(
        token,
        server=settings.server,
        api_version=settings.api_version,
        transport=transport,
        timeout=min(settings.timeout, CHECK_TIMEOUT),
        max_retries=0,
    )
    async with client:
        try:
            if settings.customer_mode:
                await client.customer_portal.orders.list(limit=1)
            else:
                await client.orders.list(limit=1)
        except AuthenticationError as exc:
            raise TokenRefused(_not_accepted(settings, client)) from exc
        except PermissionDeniedError as exc:
            if exc.code != "insufficient_scope":
                return [f"the start check of {_variable(settings)} was refused: {exc}"]
            scope = exc.required_scope or "orders:read"
            return [
                f"{_variable(settings)} is accepted but lacks the scope {scope}: the order tools will fail. Add the "
                "scope to the token in Polar (or create one that has it)."
            ]
        except PolarConnectionError as exc:
            reason = str(exc).split(" on GET ", 1)[0]
            return [
                f"{reason}, so {_variable(settings)} was not checked; serving all the same: calls fail until Polar "
                "answers. Check the network and POLAR_SERVER (or --server)."
            ]
        except PolarError as exc:
            return [f"{_variable(settings)} could not be checked at start, so it is not known to work: {exc}"]
    return []


def check_token(settings: Settings, transport: httpx2.AsyncBaseTransport | None = None) -> list[str]:
    """The start's check of the Polar token (none against the embedded emulator): warnings to show, or
    TokenRefused."""
    if settings.emulator:
        return []
    secret = settings.customer_session or settings.access_token
    if secret is None:
        return []  # said when the server is built: no token at all
    token = secret.get_secret_value()
    warnings = check_kind(settings, token)
    return [*warnings, *anyio.run(check_access, settings, token, transport)]
