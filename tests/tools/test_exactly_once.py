"""A charge whose answer is lost is never sent twice: the server reads back what really happened."""

from __future__ import annotations

from typing import Any

import httpx2
import pytest
from mcp.client import Client

from polar_orders_mcp.emulator.seed import SeedInfo
from polar_orders_mcp.emulator.state import EmulatorState
from polar_orders_mcp.server.app import build_server
from polar_orders_mcp.settings import Settings
from tests.tools.conftest import call, fail

pytestmark = pytest.mark.anyio


class DroppedConnection(httpx2.AsyncBaseTransport):
    """Loses the connection on matching requests: after the emulator acted, or before it saw them."""

    def __init__(self, app: Any, suffix: str, *, after_acting: bool) -> None:
        self.inner = httpx2.ASGITransport(app=app)
        self.suffix, self.after_acting = suffix, after_acting
        self.sent: list[str] = []

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        if request.method == "POST" and request.url.path.endswith(self.suffix):
            self.sent.append(request.url.path)
            if self.after_acting:
                await self.inner.handle_async_request(request)
            raise httpx2.ReadError("connection reset by peer")
        return await self.inner.handle_async_request(request)


async def test_a_charge_whose_answer_is_lost_is_reported_as_charged_not_repeated(
    emulator: Any, seed: SeedInfo, state: EmulatorState, mode: str
) -> None:
    order_id = seed.draft_orders["good_card"]
    transport = DroppedConnection(emulator, "/finalize", after_acting=True)
    server = build_server(Settings(emulator=True, confirm="off"), transport=transport)
    async with Client(server, mode=mode) as client:
        result = await call(client, "finalize_order", {"order_id": order_id})
    assert result["status"] == "charged"
    assert result["order"]["status"] == "paid"
    assert "Do not retry" in result["next_step"]
    assert len(transport.sent) == 1  # one charge request, never a second
    assert state.store.order(order_id).status == "paid"


async def test_a_charge_lost_before_polar_acted_says_it_is_safe_to_retry(
    emulator: Any, seed: SeedInfo, state: EmulatorState
) -> None:
    order_id = seed.draft_orders["good_card"]
    transport = DroppedConnection(emulator, "/finalize", after_acting=False)
    server = build_server(Settings(emulator=True, confirm="off"), transport=transport)
    async with Client(server) as client:
        message = await fail(client, "finalize_order", {"order_id": order_id})
    assert f"Order {order_id} was not charged" in message and "safe to call finalize_order again" in message
    assert len(transport.sent) == 1
    assert state.store.order(order_id).status == "draft"


async def test_a_checkout_confirm_whose_answer_is_lost_is_read_back(
    emulator: Any, seed: SeedInfo, state: EmulatorState
) -> None:
    secret = seed.open_checkout_client_secret
    checkout = state.store.checkout(seed.open_checkout_id)
    checkout.customer_email = "payer@example.com"
    checkout.customer_billing_address = {
        "country": "US",
        "state": "US-NY",
        "line1": "1 Main St",
        "line2": None,
        "postal_code": "10001",
        "city": "New York",
    }
    transport = DroppedConnection(emulator, "/confirm", after_acting=True)
    server = build_server(Settings(emulator=True, confirm="off"), transport=transport)
    async with Client(server) as client:
        result = await call(client, "confirm_checkout", {"client_secret": secret, "payment_token": "tok_visa"})
    assert result["status"] == "confirmed"
    assert len(transport.sent) == 1
    # The read back after the lost answer is the read that moves a confirmed checkout on to succeeded.
    assert state.store.checkout(seed.open_checkout_id).status == "succeeded"
