"""Refunds, subscriptions and disputes validate against Polar's full spec (the subset has none of them).

Where Polar sends a status its spec does not list for the path (the refund refusals other than
RefundedAlready, uncancel's bare 400 and 410), the exact shape is asserted instead.
"""

from __future__ import annotations

import httpx2
import pytest

from polar_orders_mcp.emulator.seed import SeedInfo
from polar_orders_mcp.emulator.state import EmulatorState

from .conftest import SpecChecker
from .test_conformance import UNKNOWN, polar_error

pytestmark = pytest.mark.anyio


async def test_refunds(
    client: httpx2.AsyncClient, conform_full: SpecChecker, info: SeedInfo, state: EmulatorState
) -> None:
    many = "/v1/refunds/"

    def body(order_id: str, amount: int = 100, **extra: object) -> dict[str, object]:
        return {"order_id": order_id, "amount": amount, "reason": "duplicate", **extra}

    conform_full.check(
        await client.post(many, json=body(info.paid_order_id, comment="x", metadata={"k": 1})), "POST", many
    )
    conform_full.check(await client.post(many, json=body(info.orders_by_status["refunded"])), "POST", many)
    conform_full.check(await client.post(many, json=body(info.paid_order_id, 10**6)), "POST", many)
    conform_full.check(await client.post(many, json=body(UNKNOWN)), "POST", many)
    conform_full.check(await client.post(many, json={"amount": -1}), "POST", many)
    conform_full.check(await client.get(many, params={"limit": 100}), "GET", many)
    conform_full.check(
        await client.get(many, params={"order_id": info.paid_order_id, "sorting": "-amount"}), "GET", many
    )
    conform_full.check(await client.get(many, params={"id": "nope"}), "GET", many)
    assert {(m, s) for m, _, s in conform_full.checked} == {
        ("POST", 201),
        ("POST", 403),
        ("POST", 422),
        ("GET", 200),
        ("GET", 422),
    }
    # Not in the spec, sent by Polar all the same.
    polar_error(await client.post(many, json=body(info.refunds_blocked_order_id)), 403, "RefundsBlocked")
    polar_error(
        await client.post(many, json=body(info.disputed_orders["needs_response"])), 403, "RefundDisputedPayment"
    )
    polar_error(
        await client.post(many, json=body(info.subscription_orders["active"], revoke_benefits=True)),
        400,
        "RevokeSubscriptionBenefitsProhibited",
    )
    polar_error(await client.post(many, json=body(info.orders_by_status["pending"])), 404, "RefundUnknownPayment")


async def test_subscriptions(client: httpx2.AsyncClient, conform_full: SpecChecker, info: SeedInfo) -> None:
    many, one = "/v1/subscriptions/", "/v1/subscriptions/{id}"
    conform_full.check(await client.get(many, params={"limit": 100}), "GET", many)
    conform_full.check(await client.get(many, params={"status": "nope"}), "GET", many)
    export = "/v1/subscriptions/export"
    conform_full.check(await client.get(export, params={"columns": ["email", "seats", "trial_end"]}), "GET", export)
    conform_full.check(await client.get(export, params={"started_after": "2026-01-01T00:00:00"}), "GET", export)
    for subscription_id in info.subscriptions.values():
        conform_full.check(await client.get(f"/v1/subscriptions/{subscription_id}"), "GET", one)
    for bad in (UNKNOWN, "x"):
        conform_full.check(await client.get(f"/v1/subscriptions/{bad}"), "GET", one)
        conform_full.check(
            await client.patch(f"/v1/subscriptions/{bad}", json={"cancel_at_period_end": True}), "PATCH", one
        )
        conform_full.check(await client.delete(f"/v1/subscriptions/{bad}"), "DELETE", one)
    active, scheduled = (f"/v1/subscriptions/{info.subscriptions[s]}" for s in ("active", "canceled_at_period_end"))
    conform_full.check(await client.patch(active, json={"cancel_at_period_end": True}), "PATCH", one)
    conform_full.check(await client.patch(active, json={"cancel_at_period_end": True}), "PATCH", one)  # 403
    conform_full.check(await client.patch(active, json={"cancel_at_period_end": False}), "PATCH", one)
    conform_full.check(await client.patch(active, json={"seats": "many"}), "PATCH", one)
    conform_full.check(await client.patch(active, json={}), "PATCH", one)
    conform_full.check(await client.patch(active, json={"metadata": {"crm_id": "A-17", "seats": 3}}), "PATCH", one)
    conform_full.check(await client.patch(active, json={"metadata": {"k": "v" * 501}}), "PATCH", one)
    conform_full.check(await client.patch(scheduled, json={"revoke": True}), "PATCH", one)
    conform_full.check(await client.delete(active), "DELETE", one)
    conform_full.check(await client.delete(active), "DELETE", one)  # 403
    assert {(m, s) for m, _, s in conform_full.checked} == {
        ("GET", 200),
        ("GET", 404),
        ("GET", 422),
        ("PATCH", 200),
        ("PATCH", 403),
        ("PATCH", 404),
        ("PATCH", 422),
        ("DELETE", 200),
        ("DELETE", 403),
        ("DELETE", 404),
        ("DELETE", 422),
    }
    polar_error(await client.patch(active, json={"cancel_at_period_end": False}), 410, "ResourceUnavailable")


async def test_disputes(client: httpx2.AsyncClient, conform_full: SpecChecker, info: SeedInfo) -> None:
    many, one, accept = "/v1/disputes/", "/v1/disputes/{id}", "/v1/disputes/{id}/accept"
    conform_full.check(await client.get(many), "GET", many)
    conform_full.check(await client.get(many, params={"sorting": "status"}), "GET", many)
    for dispute_id in info.disputes.values():
        conform_full.check(await client.get(f"/v1/disputes/{dispute_id}"), "GET", one)
    conform_full.check(await client.get(f"/v1/disputes/{UNKNOWN}"), "GET", one)
    conform_full.check(await client.get("/v1/disputes/x"), "GET", one)
    conform_full.check(await client.post(f"/v1/disputes/{info.disputes['needs_response']}/accept"), "POST", accept)
    conform_full.check(await client.post(f"/v1/disputes/{info.disputes['needs_response']}/accept"), "POST", accept)
    conform_full.check(await client.post(f"/v1/disputes/{UNKNOWN}/accept"), "POST", accept)
    conform_full.check(await client.post("/v1/disputes/x/accept"), "POST", accept)
    assert {(m, s) for m, _, s in conform_full.checked} == {
        ("GET", 200),
        ("GET", 404),
        ("GET", 422),
        ("POST", 200),
        ("POST", 404),
        ("POST", 409),
        ("POST", 422),
    }


async def test_orders_with_refunds_and_subscriptions_still_match_both_specs(
    client: httpx2.AsyncClient, conform: SpecChecker, conform_full: SpecChecker, info: SeedInfo
) -> None:
    await client.post(
        "/v1/refunds/", json={"order_id": info.subscription_orders["active"], "amount": 900, "reason": "other"}
    )
    await client.patch(f"/v1/subscriptions/{info.subscriptions['active']}", json={"cancel_at_period_end": True})
    for checker in (conform, conform_full):
        for order_id in (*info.subscription_orders.values(), *info.disputed_orders.values()):
            checker.check(await client.get(f"/v1/orders/{order_id}"), "GET", "/v1/orders/{id}")
        checker.check(await client.get("/v1/orders/", params={"limit": 100}), "GET", "/v1/orders/")
