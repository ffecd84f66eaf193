"""Authentication, scopes and the API version against the emulator, and the token canary over HTTP."""

from __future__ import annotations

import logging

import pytest

from polar_orders_mcp.polar import errors
from tests.polar.conftest import READ_ONLY_TOKEN, Emulator

pytestmark = pytest.mark.anyio

CANARY = "polar_oat_CANARY_over_http_5a1b"


async def test_unknown_token_is_invalid_token_with_environment_hint(emulator: Emulator) -> None:
    async with emulator.client(CANARY) as polar:
        with pytest.raises(errors.AuthenticationError) as caught:
            await polar.orders.list()
    error = caught.value
    assert error.code == "invalid_token"
    assert emulator.base_url in error.hint
    assert CANARY not in str(error) and CANARY not in repr(error)


async def test_missing_token(emulator: Emulator) -> None:
    async with emulator.client("") as polar:
        with pytest.raises(errors.AuthenticationError) as caught:
            await polar.orders.get(emulator.seed["paid_order_id"])
    assert caught.value.code == "Unauthorized"
    assert "No access token was sent" in caught.value.hint


async def test_read_only_token_cannot_write(emulator: Emulator) -> None:
    async with emulator.client(READ_ONLY_TOKEN) as polar:
        assert (await polar.orders.list()).items
        with pytest.raises(errors.PermissionDeniedError) as caught:
            await polar.orders.finalize(emulator.seed["draft_orders"]["good_card"])
        assert (await polar.orders.get(emulator.seed["draft_orders"]["good_card"])).status == "draft"
    error = caught.value
    assert error.code == "insufficient_scope"
    assert error.required_scope and "orders:write" in error.required_scope
    assert "orders:write" in error.hint


async def test_unknown_api_version_is_not_found(emulator: Emulator) -> None:
    async with emulator.client(api_version="1999-01") as polar:
        with pytest.raises(errors.NotFoundError) as caught:
            await polar.orders.list()
    assert (caught.value.code, caught.value.detail) == (None, "Not Found")
    assert "Polar-Version 1999-01" in caught.value.hint


async def test_token_stays_out_of_logs_over_http(emulator: Emulator, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    async with emulator.client(CANARY) as polar:
        for call in (
            polar.orders.list(),
            polar.orders.finalize(emulator.seed["paid_order_id"]),
            polar.checkouts.client_get(emulator.seed["expired_checkout_client_secret"]),
        ):
            with pytest.raises(errors.PolarError) as caught:
                await call
            assert CANARY not in str(caught.value)
    assert caplog.records
    secret = emulator.seed["expired_checkout_client_secret"]
    for record in caplog.records:
        assert CANARY not in record.getMessage()
        assert secret not in record.getMessage()
