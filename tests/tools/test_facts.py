"""The facts an irreversible after-sales act would have: refund_facts, subscription_revoke_facts,
dispute_accept_facts, read through the real client from the emulator."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx2
import pytest
from mcp.server.mcpserver.exceptions import ToolError

from polar_orders_mcp.emulator.models import Dispute, OrgPrincipal
from polar_orders_mcp.emulator.seed import ORG_TOKEN, SCOPES, SeedInfo
from polar_orders_mcp.emulator.state import EmulatorState
from polar_orders_mcp.polar.client import PolarClient
from polar_orders_mcp.polar.errors import NotFoundError
from polar_orders_mcp.tools.disputes import dispute_accept_facts
from polar_orders_mcp.tools.refunds import prorated_tax, refund_facts
from polar_orders_mcp.tools.subscriptions import subscription_revoke_facts

pytestmark = pytest.mark.anyio


@pytest.fixture
async def api(emulator: Any) -> AsyncIterator[PolarClient]:
    async with PolarClient(
        ORG_TOKEN, server="http://emulator.test", transport=httpx2.ASGITransport(app=emulator)
    ) as client:
        yield client


async def test_the_default_is_the_whole_refundable_amount_with_its_tax(api: PolarClient, seed: SeedInfo) -> None:
    facts = await refund_facts(api, seed.paid_order_id)
    assert (facts.amount, facts.tax_amount, facts.total_amount, facts.currency) == (1250, 250, 1500, "usd")
    assert (facts.amount_display, facts.tax_display, facts.total_display) == ("$12.50", "$2.50", "$15.00")
    assert (facts.customer_email, facts.customer_name, facts.product) == (
        "good-card@example.com",
        "Ada Good",
        "Starter Pack",
    )
    assert facts.full_refund and facts.refundable_amount == facts.available_amount == 1250
    assert facts.previous_refunds == [] and not facts.refunded_in_last_24h and facts.recent_refunds_note is None
    assert facts.disputes_checked and facts.subscription_id is None


async def test_a_partial_refund_then_facts_show_it_as_recent(api: PolarClient, seed: SeedInfo) -> None:
    order_id = seed.paid_order_id
    facts = await refund_facts(api, order_id, 333)
    assert (facts.amount, facts.tax_amount, facts.total_amount, facts.full_refund) == (333, 67, 400, False)
    made = await api.refunds.create(order_id=order_id, reason="duplicate", amount=facts.amount)
    # What Polar refunded is exactly what the facts said.
    assert (made.amount, made.tax_amount, made.total_amount) == (facts.amount, facts.tax_amount, facts.total_amount)
    after = await refund_facts(api, order_id)
    assert (after.amount, after.tax_amount, after.refunded_amount, after.order_status) == (
        917,
        183,
        333,
        "partially_refunded",
    )
    assert [(r.id, r.amount, r.tax_amount, r.total) for r in after.previous_refunds] == [(made.id, 333, 67, "$4.00")]
    assert after.refunded_in_last_24h
    at = made.created_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    assert after.recent_refunds_note == f"$4.00 was refunded on this order at {at} (refund {made.id}, succeeded)"
    later = await refund_facts(api, order_id, now=made.created_at + timedelta(hours=24, seconds=1))
    assert not later.refunded_in_last_24h and later.recent_refunds_note is None


async def test_a_seeded_partial_refund_is_listed_and_leaves_the_rest(api: PolarClient, seed: SeedInfo) -> None:
    facts = await refund_facts(api, seed.orders_by_status["partially_refunded"])
    assert (facts.available_amount, facts.amount, facts.tax_amount) == (625, 625, 125)
    assert [r.id for r in facts.previous_refunds] == [seed.refunds["partially_refunded"]]
    assert not facts.refunded_in_last_24h  # seeded a day after an order dated before the seed's epoch


async def test_a_pending_refund_is_held_back_from_what_is_left(
    api: PolarClient, seed: SeedInfo, state: EmulatorState
) -> None:
    state.settings.refund_status = "pending"
    await api.refunds.create(order_id=seed.paid_order_id, reason="other", amount=1000)
    facts = await refund_facts(api, seed.paid_order_id)
    # Polar's refundable amount does not count a pending refund yet; the facts do.
    assert (facts.refundable_amount, facts.pending_amount, facts.available_amount, facts.amount) == (
        1250,
        1000,
        250,
        250,
    )
    assert facts.refunded_in_last_24h and not facts.full_refund


@pytest.mark.parametrize(
    "case, amount, says",
    [
        (
            "draft",
            None,
            ": it is draft, so it has no succeeded payment to refund. Only paid or partially refunded "
            "orders can be refunded.",
        ),
        ("void", None, ": it is void, so it has no succeeded payment to refund."),
        ("refunded", None, ": it is already fully refunded ($15.00 paid back). See when with list_refunds(order_id="),
        (
            "paid",
            1251,
            ": $12.51 is more than the $12.50 left to refund (amounts are net of tax; Polar adds the "
            "prorated tax). Pass an amount of at most 1250, or leave it out to refund all of it.",
        ),
        ("paid", 0, ": amount must be at least 1 (minor units, net of tax)."),
        ("disputed", None, ": its payment is disputed (dispute "),
    ],
)
async def test_what_polar_would_refuse_is_refused_with_what_to_do(
    api: PolarClient, seed: SeedInfo, case: str, amount: int | None, says: str
) -> None:
    order_id = {
        "draft": seed.draft_orders["good_card"],
        "void": seed.orders_by_status["void"],
        "refunded": seed.orders_by_status["refunded"],
        "paid": seed.paid_order_id,
        "disputed": seed.disputed_orders["needs_response"],
    }[case]
    with pytest.raises(ToolError) as caught:
        await refund_facts(api, order_id, amount)
    assert str(caught.value).startswith(f"Order {order_id} was not refunded{says}")


async def test_a_free_order_and_an_unknown_one(api: PolarClient, seed: SeedInfo) -> None:
    draft = await api.orders.create(customer_id=seed.customers["good_card"], product_id=seed.products["free"])
    free = await api.orders.finalize(draft.id)
    assert (free.status, free.total_amount) == ("paid", 0)
    with pytest.raises(ToolError, match=f"^Order {free.id} was not refunded: it was free"):
        await refund_facts(api, free.id)
    with pytest.raises(NotFoundError):
        await refund_facts(api, "00000000-0000-4000-8000-000000000000")


async def test_without_the_disputes_scope_the_facts_say_disputes_were_not_checked(
    emulator: Any, state: EmulatorState, seed: SeedInfo
) -> None:
    token = "polar_oat_no_disputes"
    state.store.tokens[token] = OrgPrincipal(seed.organization_id, SCOPES - {"disputes:read", "disputes:write"})
    async with PolarClient(token, server="http://emulator.test", transport=httpx2.ASGITransport(app=emulator)) as api:
        facts = await refund_facts(api, seed.paid_order_id)
    assert facts.disputes_checked is False and facts.amount == 1250


def test_the_tax_is_prorated_exactly_as_polars_order_model_does(state: EmulatorState, seed: SeedInfo) -> None:
    from polar_orders_mcp.polar.models import Order

    for order_id in (seed.paid_order_id, seed.orders_by_status["partially_refunded"]):
        emulated = state.store.order(order_id)
        order = Order.model_validate(
            {
                "id": order_id,
                "created_at": "2026-10-01T00:00:00Z",
                "status": emulated.status,
                "subtotal_amount": emulated.subtotal_amount,
                "net_amount": emulated.net_amount,
                "tax_amount": emulated.tax_amount,
                "total_amount": emulated.total_amount,
                "currency": "usd",
                "customer_id": emulated.customer.id,
                "refunded_amount": emulated.refunded_amount,
                "refunded_tax_amount": emulated.refunded_tax_amount,
            }
        )
        for amount in range(1, emulated.refundable_amount + 1):
            assert prorated_tax(order, amount) == emulated.refund_tax_from_subtotal(amount), amount


async def test_revoke_facts_of_active_and_scheduled_subscriptions(api: PolarClient, seed: SeedInfo) -> None:
    active = await subscription_revoke_facts(api, seed.subscriptions["active"])
    assert (active.status, active.price, active.customer_email, active.product) == (
        "active",
        "$29.00 / month",
        "good-card@example.com",
        "Pro Monthly",
    )
    assert active.last_order is not None and active.last_order.id == seed.subscription_orders["active"]
    assert (active.last_order.total, active.last_order.refundable_amount) == ("$34.80", 2900)
    assert "Access ends NOW" in active.effect and "Nothing is refunded" in active.effect
    assert f"renew at {active.current_period_end}" in active.effect
    scheduled = await subscription_revoke_facts(api, seed.subscriptions["canceled_at_period_end"])
    assert scheduled.cancel_at_period_end and f"end at {scheduled.ends_at}" in scheduled.effect


async def test_revoke_facts_refuse_an_ended_subscription(api: PolarClient, seed: SeedInfo) -> None:
    subscription_id = seed.subscriptions["active"]
    revoked = await api.subscriptions.revoke(subscription_id)
    with pytest.raises(ToolError) as caught:
        await subscription_revoke_facts(api, subscription_id)
    assert revoked.ended_at is not None
    assert str(caught.value) == (
        f"Subscription {subscription_id} was not revoked: it is canceled and ended at "
        f"{revoked.ended_at.isoformat()}; there is nothing to revoke."
    )


async def test_accept_facts_of_an_open_dispute(api: PolarClient, seed: SeedInfo) -> None:
    facts = await dispute_accept_facts(api, seed.disputes["needs_response"])
    assert (facts.amount, facts.tax_amount, facts.total_amount, facts.total_display) == (1250, 250, 1500, "$15.00")
    assert (facts.order_id, facts.customer_email, facts.reason) == (
        seed.disputed_orders["needs_response"],
        "good-card@example.com",
        "fraudulent",
    )
    assert facts.subscription_id is None and facts.evidence_due_by
    assert "the customer keeps the $15.00" in facts.effect and "revoked at once" not in facts.effect


async def test_accept_facts_name_the_subscription_polar_revokes(
    api: PolarClient, seed: SeedInfo, state: EmulatorState
) -> None:
    order = state.store.order(seed.subscription_orders["active"])
    dispute = Dispute(
        state.store.new_id(),
        datetime.now(UTC),
        order,
        "needs_response",
        order.net_amount,
        order.tax_amount,
        state.store.derived_id("payment", order.id),
    )
    state.store.disputes[dispute.id] = dispute
    facts = await dispute_accept_facts(api, dispute.id)
    assert facts.subscription_id == seed.subscriptions["active"]
    assert f"Its subscription {seed.subscriptions['active']} is revoked at once." in facts.effect


@pytest.mark.parametrize("status", ["under_review", "won", "lost"])
async def test_accept_facts_refuse_a_dispute_not_awaiting_a_response(
    api: PolarClient, seed: SeedInfo, status: str
) -> None:
    dispute_id = seed.disputes[status]
    with pytest.raises(ToolError) as caught:
        await dispute_accept_facts(api, dispute_id)
    assert str(caught.value) == (
        f"Dispute {dispute_id} was not accepted: it is {status}, and only a dispute "
        "awaiting a response (needs_response) can be accepted. Nothing was done."
    )
