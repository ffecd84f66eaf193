"""An act Polar refused, or never received, is settled as failed: its amount stops counting against the limits
and its target is free for the next call."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx2
import pytest
from mcp.client import Client

from polar_orders_mcp.emulator.seed import SeedInfo
from polar_orders_mcp.emulator.state import EmulatorState
from polar_orders_mcp.tools.orders import STRAY_DRAFT
from tests.approvals.console_client import Person
from tests.approvals.test_pinning import BUYER, Window, parts_with
from tests.tools.conftest import call, fail

pytestmark = pytest.mark.anyio


class Unreachable(httpx2.AsyncBaseTransport):
    """The emulator, except that the request moving money cannot even connect: it never reaches Polar."""

    def __init__(self, app: Any, suffix: str) -> None:
        self.inner, self.suffix = httpx2.ASGITransport(app=app), suffix

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        if request.method == "POST" and request.url.path.endswith(self.suffix):
            raise httpx2.ConnectError("connection refused", request=request)
        return await self.inner.handle_async_request(request)


async def test_a_checkout_polar_refuses_at_the_confirm_is_settled_as_failed(
    emulator: Any, seed: SeedInfo, state: EmulatorState, tmp_path: Any
) -> None:
    secrets: list[str] = []

    async def it_expires() -> None:
        checkout = state.store.checkouts_by_secret[secrets[0]]
        checkout.expires_at = state.now() - timedelta(seconds=1)

    parts = parts_with(emulator, Window(emulator, "/confirm", it_expires), tmp_path)
    async with Client(parts.server) as client, Person(parts.console) as person:
        checkout = await call(
            client, "create_checkout", {"products": [seed.products["one_time_custom"]], "amount": 1200}
        )
        secrets.append(checkout["client_secret"])
        await call(client, "update_checkout_by_secret", {"client_secret": checkout["client_secret"], **BUYER})
        args = {"client_secret": checkout["client_secret"], "payment_token": "tok_visa"}
        first = await call(client, "confirm_checkout", args)
        await person.approve(first["approval"]["approval_id"])
        message = await fail(client, "confirm_checkout", {**args, "approval_id": first["approval"]["approval_id"]})
    store = await parts.store()
    [act] = await store.acts_for("confirm_checkout", checkout["id"])
    assert message.startswith(
        f"Error executing tool confirm_checkout: Checkout {checkout['id']} was not confirmed and nothing was charged: "
    )
    assert "ExpiredCheckoutError" in message
    assert (act.state, await store.spent("usd")) == ("failed", 0)


async def test_a_charge_that_never_reached_polar_is_settled_as_failed(
    emulator: Any, seed: SeedInfo, state: EmulatorState, tmp_path: Any
) -> None:
    order_id = seed.draft_orders["good_card"]
    parts = parts_with(emulator, Unreachable(emulator, "/finalize"), tmp_path)
    async with Client(parts.server) as client, Person(parts.console) as person:
        first = await call(client, "finalize_order", {"order_id": order_id})
        await person.approve(first["approval"]["approval_id"])
        message = await fail(
            client, "finalize_order", {"order_id": order_id, "approval_id": first["approval"]["approval_id"]}
        )
    store = await parts.store()
    [act] = await store.acts_for("finalize_order", order_id)
    assert message.startswith(f"Error executing tool finalize_order: Order {order_id} was not charged: Polar could ")
    assert message.endswith(f"Nothing happened; calling again is safe. {STRAY_DRAFT}")
    assert (act.state, await store.spent("usd"), state.store.order(order_id).status) == ("failed", 0, "draft")
