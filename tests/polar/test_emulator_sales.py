"""Refunds, subscriptions and disputes against the emulator: reads, writes, and each refusal as an error."""

from __future__ import annotations

import pytest

from polar_orders_mcp.polar import errors
from polar_orders_mcp.polar.client import PolarClient
from polar_orders_mcp.polar.hints import CODE_HINTS, REFUND_TOO_HIGH_HINT, SUBSCRIPTION_HINTS
from tests.polar.conftest import Emulator

pytestmark = pytest.mark.anyio
UNKNOWN = "00000000-0000-4000-8000-000000000000"


async def test_refund_create_list_and_get(polar: PolarClient, emulator: Emulator) -> None:
    order_id = emulator.seed["paid_order_id"]
    made = await polar.refunds.create(
        order_id=order_id, reason="customer_request", amount=500, comment="late", metadata={"ticket": "T-9"}
    )
    assert (made.status, made.amount, made.tax_amount, made.total_amount) == ("succeeded", 500, 100, 600)
    assert made.metadata == {"ticket": "T-9"} and made.order_id == order_id
    listed = await polar.refunds.list(order_id=order_id, succeeded=True, sorting=["-amount"])
    assert [r.id for r in listed.items] == [made.id]
    assert (await polar.refunds.get(made.id)).amount == 500
    assert [r.id async for r in polar.refunds.iterate(order_id=order_id, limit=1)] == [made.id]
    order = await polar.orders.get(order_id)
    assert (order.status, order.refunded_amount, order.refundable_amount) == ("partially_refunded", 500, 750)


async def test_get_of_an_unknown_refund_is_not_found(polar: PolarClient) -> None:
    with pytest.raises(errors.NotFoundError) as caught:
        await polar.refunds.get(UNKNOWN)
    assert caught.value.code == "ResourceNotFound" and UNKNOWN in str(caught.value)


@pytest.mark.parametrize(
    "case, status, code, cls",
    [
        ("blocked", 403, "RefundsBlocked", errors.PermissionDeniedError),
        ("refunded", 403, "RefundedAlready", errors.PermissionDeniedError),
        ("disputed", 403, "RefundDisputedPayment", errors.PermissionDeniedError),
        ("subscription", 400, "RevokeSubscriptionBenefitsProhibited", errors.BadRequestError),
        ("void", 404, "RefundUnknownPayment", errors.NotFoundError),
    ],
)
async def test_each_refusal_is_an_error_with_polars_code_and_a_hint(
    polar: PolarClient, emulator: Emulator, case: str, status: int, code: str, cls: type[errors.PolarAPIError]
) -> None:
    seed = emulator.seed
    order_id = {
        "blocked": seed["refunds_blocked_order_id"],
        "refunded": seed["orders_by_status"]["refunded"],
        "disputed": seed["disputed_orders"]["needs_response"],
        "subscription": seed["subscription_orders"]["active"],
        "void": seed["orders_by_status"]["void"],
    }[case]
    with pytest.raises(cls) as caught:
        await polar.refunds.create(
            order_id=order_id, reason="duplicate", amount=100, revoke_benefits=case == "subscription"
        )
    error = caught.value
    assert (error.status_code, error.code) == (status, code)
    assert error.hint == CODE_HINTS[code] and "nothing" in error.hint.lower()
    assert order_id in str(error.detail) or case == "subscription"


async def test_an_amount_above_the_refundable_one_says_so(polar: PolarClient, emulator: Emulator) -> None:
    with pytest.raises(errors.UnprocessableEntityError) as caught:
        await polar.refunds.create(order_id=emulator.seed["paid_order_id"], reason="other", amount=1251)
    assert caught.value.hint == REFUND_TOO_HIGH_HINT
    assert "body.amount: Refund amount exceeds refundable amount" in str(caught.value)


async def test_subscriptions_cancel_uncancel_and_revoke(polar: PolarClient, emulator: Emulator) -> None:
    subscription_id = emulator.seed["subscriptions"]["active"]
    active = await polar.subscriptions.get(subscription_id)
    assert (active.status, active.cancel_at_period_end) == ("active", False)
    assert active.customer is not None and active.customer.id == emulator.seed["customers"]["good_card"]
    scheduled = await polar.subscriptions.cancel_at_period_end(subscription_id, reason="unused", comment="bye")
    assert scheduled.cancel_at_period_end and scheduled.ends_at == scheduled.current_period_end
    assert (scheduled.customer_cancellation_reason, scheduled.customer_cancellation_comment) == ("unused", "bye")
    with pytest.raises(errors.PermissionDeniedError) as again:
        await polar.subscriptions.cancel_at_period_end(subscription_id)
    assert again.value.code == "AlreadyCanceledSubscription"
    kept = await polar.subscriptions.uncancel(subscription_id)
    assert (kept.cancel_at_period_end, kept.ends_at) == (False, None)
    with pytest.raises(errors.BadRequestError) as nothing:
        await polar.subscriptions.uncancel(subscription_id)
    assert nothing.value.hint == SUBSCRIPTION_HINTS["BadRequest"]
    revoked = await polar.subscriptions.revoke(subscription_id, reason="other")
    assert revoked.status == "canceled" and revoked.ended_at is not None
    with pytest.raises(errors.GoneError) as ended:
        await polar.subscriptions.uncancel(subscription_id)
    assert ended.value.hint == SUBSCRIPTION_HINTS["ResourceUnavailable"]
    listed = await polar.subscriptions.list(
        customer_id=emulator.seed["customers"]["good_card"], status="canceled", limit=100
    )
    assert subscription_id in {s.id for s in listed.items}
    everything = [s.id async for s in polar.subscriptions.iterate(cancel_at_period_end=True)]
    assert everything == [emulator.seed["subscriptions"]["canceled_at_period_end"]]


async def test_disputes_list_get_and_accept_once(polar: PolarClient, emulator: Emulator) -> None:
    disputes = emulator.seed["disputes"]
    listed = await polar.disputes.list(status=["needs_response", "won"])
    assert {d.id for d in listed.items} == {disputes["needs_response"], disputes["won"]}
    dispute = await polar.disputes.get(disputes["needs_response"])
    assert (dispute.total_amount, dispute.customer and dispute.customer.email) == (1500, "good-card@example.com")
    accepted = await polar.disputes.accept(dispute.id)
    assert (accepted.status, accepted.resolved, accepted.closed) == ("lost", True, True)
    with pytest.raises(errors.ConflictError) as caught:
        await polar.disputes.accept(dispute.id)
    assert caught.value.code == "DisputeNotOpenError" and caught.value.hint == CODE_HINTS["DisputeNotOpenError"]
    assert [d.id async for d in polar.disputes.iterate(order_id=dispute.order_id)] == [dispute.id]
