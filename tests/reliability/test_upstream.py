"""Upstream misuse: a wrong-environment or expired token, a missing scope, an unknown API version and an
exhausted rate limit each reach the agent as a clear, specific message."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx2
import pytest
from mcp.client import Client
from mcp.server.mcpserver import MCPServer

from polar_orders_mcp.emulator.seed import READ_ONLY_TOKEN, SeedInfo
from polar_orders_mcp.emulator.state import EmulatorState
from polar_orders_mcp.server.app import build_server
from polar_orders_mcp.settings import Settings
from tests.reliability.conftest import Faults
from tests.tools.conftest import call, fail

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    "server,says",
    [
        (
            "sandbox",
            "Polar sandbox (https://sandbox-api.polar.sh) does not accept this access token. Is it a "
            "production token used against sandbox? Point the client at production",
        ),
        (
            "production",
            "Polar production (https://api.polar.sh) does not accept this access token. Is it a "
            "sandbox token used against production? Point the client at sandbox",
        ),
    ],
)
async def test_a_token_from_the_other_environment_says_which_one_to_use(
    emulator: Any, seed: SeedInfo, server: str, says: str
) -> None:
    # The emulator stands in for the real Polar at the real URL: it knows no other token than its own.
    settings = Settings(server=server, access_token="polar_oat_from_the_other_environment")
    async with Client(build_server(settings, transport=httpx2.ASGITransport(app=emulator))) as client:
        message = await fail(client, "get_order", {"order_id": seed.paid_order_id})
    assert "invalid_token (HTTP 401)" in message and says in message, message
    assert "revoked or have expired" in message  # an expired token gets the same answer from Polar
    assert "polar_oat_from_the_other_environment" not in message


async def test_an_expired_or_revoked_token_against_a_custom_url_says_to_check_the_url(
    make_server: Callable[..., MCPServer[Any]], seed: SeedInfo, polar_url: str
) -> None:
    async with Client(make_server(access_token="polar_oat_revoked_last_week")) as client:
        message = await fail(client, "get_order", {"order_id": seed.paid_order_id})
    assert f"The server at {polar_url} does not accept this access token" in message, message
    assert "revoked or have expired" in message and "polar_oat_revoked_last_week" not in message


async def test_a_missing_scope_names_the_scope(
    make_server: Callable[..., MCPServer[Any]], seed: SeedInfo, state: EmulatorState
) -> None:
    orders = len(state.store.orders)
    async with Client(make_server(access_token=READ_ONLY_TOKEN)) as client:
        order = await call(client, "get_order", {"order_id": seed.paid_order_id})  # reading is allowed
        message = await fail(
            client,
            "create_order",
            {"customer_id": seed.customers["good_card"], "product_id": seed.products["one_time_fixed"]},
        )
    assert order["id"] == seed.paid_order_id
    assert "insufficient_scope (HTTP 403)" in message
    assert "The access token needs the scope orders:write; create a token that has it." in message, message
    assert len(state.store.orders) == orders


async def test_an_unknown_api_version_says_so(make_server: Callable[..., MCPServer[Any]], seed: SeedInfo) -> None:
    async with Client(make_server(api_version="2099-01")) as client:
        message = await fail(client, "get_order", {"order_id": seed.paid_order_id})
    assert "HTTP 404" in message and "Polar-Version 2099-01 is a version Polar knows" in message, message


async def test_a_rate_limited_write_is_not_repeated_and_says_when_to_retry(
    make_server: Callable[..., MCPServer[Any]], faults: Faults, seed: SeedInfo, state: EmulatorState
) -> None:
    orders = len(state.store.orders)
    await faults.add("rate_limit", "/v1/orders/", method="POST", retry_after=20)
    args = {"customer_id": seed.customers["good_card"], "product_id": seed.products["one_time_fixed"]}
    async with Client(make_server()) as client:
        message = await fail(client, "create_order", args)
        assert "HTTP 429" in message and "rate limit was hit; nothing was done. Retry after 20 seconds." in message
        assert await faults.received("POST", "/v1/orders/") == 1 and len(state.store.orders) == orders
        created = await call(client, "create_order", args)  # the limit has passed (here: at once)
    assert created["status"] == "draft" and len(state.store.orders) == orders + 1
