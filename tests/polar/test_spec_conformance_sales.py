"""Every refund, subscription, dispute and organization request the client can send is one Polar's full spec
accepts."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import httpx2
import pytest

from polar_orders_mcp.polar.client import PolarClient
from polar_orders_mcp.polar.errors import PolarError
from tests.polar.scripted import CUSTOMER_ID, ORDER_ID, PRODUCT_ID, Sleeps
from tests.polar.spec_check import Recorder, operation, problems

pytestmark = pytest.mark.anyio

ID2 = "11111111-2222-4333-8444-555555555555"
WHEN = datetime(2026, 10, 1, tzinfo=UTC)


async def _all(iterator: Any) -> list[Any]:
    return [item async for item in iterator]


CALLS: dict[str, Callable[[PolarClient], Awaitable[object]]] = {
    "refunds.list": lambda p: p.refunds.list(
        page=2,
        limit=50,
        id=[ID2],
        organization_id=ID2,
        order_id=ORDER_ID,
        subscription_id=[ID2],
        customer_id=CUSTOMER_ID,
        external_customer_id=["ext_1"],
        succeeded=False,
        sorting=["-amount", "created_at"],
    ),
    "refunds.iterate": lambda p: _all(p.refunds.iterate(order_id=ORDER_ID, succeeded=True)),
    "refunds.get": lambda p: p.refunds.get(ID2),
    "refunds.create": lambda p: p.refunds.create(
        order_id=ORDER_ID,
        reason="customer_request",
        amount=625,
        comment="late",
        revoke_benefits=True,
        metadata={"ticket": "T-1", "n": 2},
    ),
    "refunds.create.minimal": lambda p: p.refunds.create(order_id=ORDER_ID, reason="other", amount=1),
    "subscriptions.list": lambda p: p.subscriptions.list(
        page=1,
        limit=100,
        organization_id=ID2,
        product_id=[PRODUCT_ID],
        customer_id=CUSTOMER_ID,
        external_customer_id="ext",
        discount_id=ID2,
        status=["active", "past_due"],
        cancel_at_period_end=True,
        customer_cancellation_reason=["unused"],
        canceled_at_after=WHEN,
        canceled_at_before=WHEN,
        started_after="2026-01-01T00:00:00Z",
        started_before=WHEN,
        metadata={"plan": "pro"},
        sorting=["-current_period_end", "customer"],
    ),
    "subscriptions.iterate": lambda p: _all(p.subscriptions.iterate(status="active")),
    "subscriptions.get": lambda p: p.subscriptions.get(ID2),
    "subscriptions.cancel_at_period_end": lambda p: p.subscriptions.cancel_at_period_end(
        ID2, reason="too_expensive", comment="Too pricey"
    ),
    "subscriptions.cancel_at_period_end.bare": lambda p: p.subscriptions.cancel_at_period_end(ID2),
    "subscriptions.uncancel": lambda p: p.subscriptions.uncancel(ID2),
    "subscriptions.revoke": lambda p: p.subscriptions.revoke(ID2, reason="other", comment="moved"),
    "subscriptions.revoke.bare": lambda p: p.subscriptions.revoke(ID2),
    "disputes.list": lambda p: p.disputes.list(
        page=1, limit=10, organization_id=ID2, order_id=[ORDER_ID], status=["needs_response"], sorting=["-amount"]
    ),
    "disputes.iterate": lambda p: _all(p.disputes.iterate(status="won")),
    "disputes.get": lambda p: p.disputes.get(ID2),
    "disputes.accept": lambda p: p.disputes.accept(ID2),
    "organizations.get": lambda p: p.organizations.get(ID2),
}
OPERATIONS = {
    "refunds:list",
    "refunds:create",
    "subscriptions:list",
    "subscriptions:get",
    "subscriptions:update",
    "disputes:list",
    "disputes:get",
    "disputes:accept",
    "organizations:get",
}


async def _sent(call: Callable[[PolarClient], Awaitable[object]]) -> list[httpx2.Request]:
    recorder = Recorder(httpx2.MockTransport(lambda request: httpx2.Response(404)))
    async with PolarClient("polar_oat_x", transport=recorder, sleep=Sleeps()) as polar:
        with contextlib.suppress(PolarError):  # only the request matters here
            await call(polar)
    return recorder.requests


@pytest.mark.parametrize("name", sorted(CALLS))
async def test_request_is_one_the_full_spec_accepts(full_spec: dict[str, Any], name: str) -> None:
    requests = await _sent(CALLS[name])
    assert requests, "no request was sent"
    for request in requests:
        assert problems(full_spec, request) == []


async def test_the_table_covers_every_operation_of_these_services(full_spec: dict[str, Any]) -> None:
    seen = set()
    for call in CALLS.values():
        for request in await _sent(call):
            op = operation(full_spec, request.method, request.url.raw_path.decode().split("?")[0])
            assert op is not None
            seen.add(op["operationId"])
    assert seen == OPERATIONS
