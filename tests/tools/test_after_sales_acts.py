"""Refunds, revocations and conceded disputes: a person approves each, it happens once, as approved."""

from __future__ import annotations

from typing import Any

import mcp_types as types
import pytest
from mcp.client import Client

from polar_orders_mcp.emulator.seed import SeedInfo
from polar_orders_mcp.emulator.state import EmulatorState
from polar_orders_mcp.server.app import ServerParts
from tests.approvals.console_client import Person
from tests.approvals.form_person import typed
from tests.tools.conftest import approved_call, call, fail

pytestmark = pytest.mark.anyio

REFUNDS = "/v1/refunds/"


def refund_posts(state: EmulatorState) -> int:
    return sum(1 for r in state.faults.journal if r.method == "POST" and r.path == REFUNDS)


async def test_a_full_refund_is_previewed_approved_and_made_once(
    parts: ServerParts, person: Person, seed: SeedInfo, state: EmulatorState, mode: str
) -> None:
    order_id = seed.paid_order_id
    order = state.store.order(order_id)
    async with Client(parts.server, mode=mode) as client:
        first = await call(client, "create_refund", {"order_id": order_id})
        preview = first["preview"]
        assert first["status"] == "approval_pending" and refund_posts(state) == 0
        assert (preview["amount"], preview["tax_amount"], preview["total_amount"]) == (
            order.net_amount,
            order.tax_amount,
            order.total_amount,
        )
        assert preview["full_refund"] is True and preview["benefits"] == "kept by the customer"
        await person.approve(first["approval"]["approval_id"])
        done = await call(
            client, "create_refund", {"order_id": order_id, "approval_id": first["approval"]["approval_id"]}
        )
        again = await fail(
            client, "create_refund", {"order_id": order_id, "approval_id": first["approval"]["approval_id"]}
        )
    assert done["status"] == "refunded" and done["refund"]["total_amount"] == order.total_amount
    refund_id = done["refund"]["id"]
    assert done["next_step"] == f"Refund {refund_id} succeeded: list_refunds(order_id={order_id!r}) shows it."
    assert "order_status" not in done["preview"] and done["refund"]["status"] == "succeeded"  # one status
    assert state.store.order(order_id).status == "refunded"
    assert f"was not refunded by this call: approval {first['approval']['approval_id']} was already used" in again
    assert refund_posts(state) == 1


async def test_a_second_refund_within_a_day_is_flagged_to_the_person(
    parts: ServerParts, person: Person, seed: SeedInfo, state: EmulatorState
) -> None:
    order_id = seed.paid_order_id
    async with Client(parts.server) as client:
        await approved_call(client, person, "create_refund", {"order_id": order_id, "amount": 500})
        second = await call(client, "create_refund", {"order_id": order_id, "amount": 500})
        page = await person.http.get(f"/approvals/{second['approval']['approval_id']}")
    note = second["preview"]["recent_refunds_note"]
    assert note.startswith("$6.00 was refunded on this order at ") and "(refund " in note  # $5.00 + 20% tax
    assert "Already refunded in the last 24 hours" in page.text and "$6.00 was refunded on this order" in page.text
    assert second["preview"]["refunded_before"] == f"$6.00 of {second['preview']['refunded_before'].split(' of ')[1]}"


async def test_a_refund_made_in_between_voids_the_approval(
    parts: ServerParts, person: Person, seed: SeedInfo, state: EmulatorState
) -> None:
    order_id = seed.paid_order_id
    async with Client(parts.server) as client:
        first = await call(client, "create_refund", {"order_id": order_id, "amount": 500})
        await person.approve(first["approval"]["approval_id"])
        await approved_call(client, person, "create_refund", {"order_id": order_id, "amount": 300})  # someone else's
        message = await fail(
            client,
            "create_refund",
            {
                "order_id": order_id,
                "amount": 500,
                "approval_id": first["approval"]["approval_id"],
            },
        )
    assert "changed after it was approved" in message
    assert refund_posts(state) == 1


async def test_the_approved_refund_reads_the_order_and_its_refunds_then_refunds(
    parts: ServerParts, person: Person, seed: SeedInfo, state: EmulatorState
) -> None:
    """The order (its status and amounts) and its refunds (one made in between) are read again right before the
    refund; its disputes are not: Polar refuses to refund a disputed payment by itself."""
    order_id = seed.paid_order_id
    async with Client(parts.server) as client:
        first = await call(client, "create_refund", {"order_id": order_id})
        await person.approve(first["approval"]["approval_id"])
        state.faults.journal.clear()
        await call(client, "create_refund", {"order_id": order_id, "approval_id": first["approval"]["approval_id"]})
    sent = [(r.method, r.path.split("?")[0]) for r in state.faults.journal]
    assert sent == [("GET", f"/v1/orders/{order_id}"), ("GET", REFUNDS), ("POST", REFUNDS)]


async def test_a_dispute_opened_after_the_approval_stops_the_refund(
    parts: ServerParts, person: Person, seed: SeedInfo, state: EmulatorState
) -> None:
    order_id = seed.paid_order_id
    async with Client(parts.server) as client:
        first = await call(client, "create_refund", {"order_id": order_id})
        await person.approve(first["approval"]["approval_id"])
        disputed = state.store.dispute(seed.disputes["needs_response"])
        disputed.order = state.store.order(order_id)  # the customer's bank opened one meanwhile
        message = await fail(
            client, "create_refund", {"order_id": order_id, "approval_id": first["approval"]["approval_id"]}
        )
    assert f"Order {order_id} was not refunded" in message and "disput" in message
    assert state.store.order(order_id).refunded_amount == 0


# Each fault on POST /v1/refunds/, whether the emulator made the refund behind it, and what the agent must be told.
LOST = "succeeded (the answer was lost, and reading it back from Polar showed it was done): it was made once"
LOST_WORDS = "answer was lost"
SLOW = "Polar may still be making it. Do not call create_refund again"
FAULTS = [
    ({"kind": "status", "status": 500}, False, SLOW),
    ({"kind": "status", "status": 503}, False, SLOW),
    ({"kind": "rate_limit"}, False, "was not refunded: HTTP error (HTTP 429)"),
    ({"kind": "drop_before"}, False, "was not refunded: the connection was lost before Polar's answer arrived"),
    ({"kind": "drop_after"}, True, LOST),
    ({"kind": "truncate"}, True, LOST),
    ({"kind": "malformed"}, True, LOST),
    ({"kind": "slow_body", "seconds": 0.05}, True, "succeeded: list_refunds"),
    ({"kind": "latency", "seconds": 0.05}, True, "succeeded: list_refunds"),
]


@pytest.mark.parametrize(
    ("fault", "made", "told"), FAULTS, ids=[f["kind"] + str(f.get("status", "")) for f, _, _ in FAULTS]
)
async def test_every_fault_on_the_refund_request_sends_it_once_and_says_what_happened(
    make_parts: Any, seed: SeedInfo, state: EmulatorState, fault: dict[str, Any], made: bool, told: str
) -> None:
    order_id = seed.paid_order_id
    state.faults.add(path=REFUNDS, method="POST", **fault)
    async with Client(make_parts(confirm="off").server) as client:
        result = await client.call_tool("create_refund", {"order_id": order_id, "amount": 500})
        listed = await call(client, "list_refunds", {"order_id": order_id})  # reads still work
    text = " ".join(getattr(c, "text", "") for c in result.content)
    refunds = [r for r in state.store.refunds if r.order.id == order_id and r.amount == 500]
    assert refund_posts(state) == 1
    assert len(refunds) == int(made)
    assert result.is_error is not made and told in text, text
    assert (LOST_WORDS in text) is (told == LOST)  # said only when the answer really was lost
    assert len([r for r in listed["items"] if r["amount"] == 500]) == int(made)


async def test_polars_refusals_say_what_to_do(make_parts: Any, seed: SeedInfo, state: EmulatorState) -> None:
    async with Client(make_parts(confirm="off").server) as client:
        blocked = await fail(client, "create_refund", {"order_id": seed.refunds_blocked_order_id})
        disputed = await fail(client, "create_refund", {"order_id": seed.disputed_orders["needs_response"]})
        too_much = await fail(client, "create_refund", {"order_id": seed.paid_order_id, "amount": 99_999_999})
        draft = await fail(client, "create_refund", {"order_id": seed.draft_orders["good_card"]})
        benefits = await fail(
            client,
            "create_refund",
            {
                "order_id": seed.subscription_orders["active"],
                "revoke_benefits": True,
            },
        )
    assert (
        "RefundsBlocked (HTTP 403)" in blocked and f"Order {seed.refunds_blocked_order_id} was not refunded" in blocked
    )
    assert "its payment is disputed" in disputed and "get_dispute" in disputed
    assert "is more than the" in too_much and "left to refund" in too_much
    assert "it is draft, so it has no succeeded payment to refund" in draft
    assert "use revoke_subscription" in benefits
    assert refund_posts(state) == 1  # only the blocked one reached Polar (which refuses it)


async def test_refunds_count_against_the_daily_limit(make_parts: Any, seed: SeedInfo, state: EmulatorState) -> None:
    async with Client(make_parts(confirm="off", max_daily="usd=1000").server) as client:
        await call(client, "create_refund", {"order_id": seed.paid_order_id, "amount": 500})  # $6.00 with tax
        message = await fail(client, "create_refund", {"order_id": seed.paid_order_id, "amount": 500})
    assert "--max-daily" in message and "$4.00 is left" in message
    assert refund_posts(state) == 1


async def test_revoking_a_subscription_is_approved_then_ends_it_at_once(
    parts: ServerParts, person: Person, seed: SeedInfo, state: EmulatorState, mode: str
) -> None:
    subscription_id = seed.subscriptions["active"]
    async with Client(parts.server, mode=mode) as client:
        first = await call(client, "revoke_subscription", {"subscription_id": subscription_id})
        assert "Access ends NOW" in first["preview"]["effect"]
        assert state.store.subscriptions[subscription_id].ended_at is None
        await person.approve(first["approval"]["approval_id"])
        done = await call(
            client,
            "revoke_subscription",
            {
                "subscription_id": subscription_id,
                "approval_id": first["approval"]["approval_id"],
            },
        )
        again = await fail(client, "revoke_subscription", {"subscription_id": subscription_id})
    assert done["status"] == "revoked" and done["subscription"]["ended_at"]
    assert state.store.subscriptions[subscription_id].ended_at is not None
    assert "there is nothing to revoke" in again


@pytest.mark.parametrize(
    ("typing", "revoked"),
    [
        ("the email", True),
        ("  ACTIVE@EXAMPLE.COM ", True),  # case and outer spaces aside
        ("someone-else@example.com", False),
        ("yes", False),
    ],
)
async def test_revoking_in_a_clients_form_takes_the_customers_email_typed_as_shown(
    parts: ServerParts, seed: SeedInfo, state: EmulatorState, mode: str, typing: str, revoked: bool
) -> None:
    """No money moves, so the form asks for the customer's email: a reader of the facts can give it."""
    subscription_id = seed.subscriptions["active"]
    email = state.store.customers[state.store.subscriptions[subscription_id].customer_id].email
    typing = email if typing == "the email" else typing.replace("ACTIVE@EXAMPLE.COM", email.upper())

    async def person_types(_ctx: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        assert isinstance(params, types.ElicitRequestFormParams)
        assert list(params.requested_schema["properties"]) == ["customer_email"]
        return typed(params, typing)

    async with Client(parts.server, mode=mode, elicitation_callback=person_types) as client:
        result = await client.call_tool("revoke_subscription", {"subscription_id": subscription_id})
    assert (state.store.subscriptions[subscription_id].ended_at is not None) == revoked
    assert result.is_error != revoked


async def test_conceding_a_dispute_is_approved_then_closes_it(
    parts: ServerParts, person: Person, seed: SeedInfo, state: EmulatorState, mode: str
) -> None:
    dispute_id = seed.disputes["needs_response"]
    async with Client(parts.server, mode=mode) as client:
        first = await call(client, "accept_dispute", {"dispute_id": dispute_id})
        assert (
            first["preview"]["total_display"].startswith("$")
            and "Concedes the chargeback" in first["preview"]["effect"]
        )
        await person.approve(first["approval"]["approval_id"])
        done = await call(
            client, "accept_dispute", {"dispute_id": dispute_id, "approval_id": first["approval"]["approval_id"]}
        )
        closed = await fail(client, "accept_dispute", {"dispute_id": seed.disputes["won"]})
    assert done["status"] == "accepted" and done["dispute"]["status"] == "lost"
    assert "only a dispute awaiting a response (needs_response) can be accepted" in closed


async def test_a_refund_by_the_total_the_customer_gets_back_is_split_as_polar_splits_it(
    parts: ServerParts, person: Person, seed: SeedInfo, state: EmulatorState
) -> None:
    """$2.00 back on a 20%-tax order: 167 net + 33 prorated tax. An agent that passed 200 as the net amount
    would have refunded $2.40."""
    order_id = seed.disputed_orders["won"]  # 12.50 + 20% tax, paid, its dispute won
    order = state.store.order(order_id)
    assert (order.net_amount, order.tax_amount) == (1250, 250)
    async with Client(parts.server) as client:
        first = await call(client, "create_refund", {"order_id": order_id, "total": 200})
        preview = first["preview"]
        assert (preview["total_amount"], preview["amount"], preview["tax_amount"]) == (200, 167, 33)
        assert preview["total_display"] == "$2.00" and preview["amount_display"] == "$1.67"
        await person.approve(first["approval"]["approval_id"])
        done = await call(
            client,
            "create_refund",
            {
                "order_id": order_id,
                "total": 200,
                "approval_id": first["approval"]["approval_id"],
            },
        )
    assert done["refund"]["total_amount"] == 200
    assert (state.store.order(order_id).refunded_amount, state.store.order(order_id).refunded_tax_amount) == (167, 33)


async def test_a_total_no_refund_can_pay_back_names_the_nearest(parts: ServerParts, seed: SeedInfo) -> None:
    order_id = seed.disputed_orders["won"]
    async with Client(parts.server) as client:
        unreachable = await fail(client, "create_refund", {"order_id": order_id, "total": 3})
        too_much = await fail(client, "create_refund", {"order_id": order_id, "total": 1501})
        both = await fail(client, "create_refund", {"order_id": order_id, "total": 200, "amount": 167})
    assert unreachable.endswith(
        f"Order {order_id} was not refunded: no refund pays back exactly $0.03: Polar rounds the tax it prorates to "
        "the cent. The nearest totals are 2 ($0.02) or 4 ($0.04): pass one of them as total."
    )
    assert too_much.endswith(
        f"Order {order_id} was not refunded: $15.01 is more than the $15.00 (tax included) left to refund. Pass a "
        "total of at most 1500, or leave both out to refund all of it."
    )
    assert both.endswith(
        f"Order {order_id} was not refunded: pass amount (net of tax) or total (what the customer gets back, tax "
        "included), not both."
    )
