"""What Polar would refuse is answered before anyone is asked: no approval is recorded, no client is asked to
show a confirmation, nothing is sent to Polar. What only Polar's answer tells (an order's refunds blocked by
its staff) is remembered, so nobody is asked about it again for a day."""

from __future__ import annotations

import time
from typing import Any

import mcp_types as types
import pytest
from mcp.client import Client

from polar_orders_mcp.approvals.flow import iso
from polar_orders_mcp.emulator.models import OrgPrincipal
from polar_orders_mcp.emulator.seed import SCOPES, SeedInfo
from polar_orders_mcp.emulator.state import EmulatorState
from polar_orders_mcp.server.app import ServerParts
from polar_orders_mcp.store.base import Store
from tests.approvals.console_client import Person
from tests.approvals.form_person import typed_yes
from tests.tools.conftest import call, fail

pytestmark = pytest.mark.anyio

EVERY_STATE: list[Any] = ["pending", "approved", "denied", "expired", "used"]
DAY = 86_400


class Human:
    """A client that shows a form confirmation to a person, who approves whatever is shown."""

    def __init__(self) -> None:
        self.shown: list[str] = []

    async def __call__(self, _ctx: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        self.shown.append(params.message)
        return typed_yes(params)


def posts(state: EmulatorState, suffix: str) -> int:
    return sum(1 for r in state.faults.journal if r.method == "POST" and r.path.split("?")[0].endswith(suffix))


async def nobody_was_asked(parts: ServerParts, human: Human) -> None:
    store = await parts.store()
    assert await store.list_approvals(states=EVERY_STATE) == []
    assert human.shown == []


async def refused_at(store: Store, order_id: str) -> float:
    """When the (only) refund this server sent for the order, which Polar refused, was sent."""
    [act] = await store.acts_for("create_refund", order_id)
    assert act.state == "failed"
    return act.started_at


# Read before asking: the organization's capabilities and feature settings.


async def test_a_refund_when_polar_has_turned_the_organizations_refunds_off_is_refused_before_anyone_is_asked(
    parts: ServerParts, seed: SeedInfo, state: EmulatorState, mode: str
) -> None:
    state.set_organization(can_refund=False)
    order_id = seed.paid_order_id
    human = Human()
    async with Client(parts.server, mode=mode, elicitation_callback=human) as client:
        message = await fail(client, "create_refund", {"order_id": order_id})
    assert message == (
        f"Error executing tool create_refund: Order {order_id} was not refunded: Polar has turned refunds off for "
        "this organization (its refunds capability), so it would refuse this refund (RefundsBlocked). Nobody was "
        "asked to approve it. The organization's owner can ask Polar support to turn refunds back on."
    )
    await nobody_was_asked(parts, human)
    assert posts(state, "/v1/refunds/") == 0


async def test_a_charge_when_off_session_charges_are_off_is_refused_before_anyone_is_asked(
    parts: ServerParts, seed: SeedInfo, state: EmulatorState, mode: str
) -> None:
    state.set_organization(off_session_charges_enabled=False)
    order_id = seed.draft_orders["good_card"]
    human = Human()
    async with Client(parts.server, mode=mode, elicitation_callback=human) as client:
        message = await fail(client, "finalize_order", {"order_id": order_id})
    assert message == (
        f"Error executing tool finalize_order: Order {order_id} was not charged: off-session charges are not "
        "enabled for this organization, so Polar would refuse to charge a draft order (OffSessionChargesNotEnabled). "
        "Nobody was asked to approve it. Polar support enables them on request; until then, send the customer a "
        "checkout link (create_checkout)."
    )
    await nobody_was_asked(parts, human)
    assert posts(state, "/finalize") == 0 and state.store.order(order_id).status == "draft"


async def test_a_charge_when_the_organization_cannot_accept_payments_is_refused_before_anyone_is_asked(
    parts: ServerParts, seed: SeedInfo, state: EmulatorState, mode: str
) -> None:
    state.set_organization(payments_ready=False)
    order_id = seed.draft_orders["good_card"]
    human = Human()
    async with Client(parts.server, mode=mode, elicitation_callback=human) as client:
        message = await fail(client, "finalize_order", {"order_id": order_id})
    assert message == (
        f"Error executing tool finalize_order: Order {order_id} was not charged: this organization cannot accept "
        "payments at the moment (its checkout_payments capability is off: its account may be pending onboarding or "
        "under review), so Polar would refuse the charge (OrganizationNotReadyForPayments). Nobody was asked to "
        "approve it. The organization's owner can finish onboarding or ask Polar support."
    )
    await nobody_was_asked(parts, human)
    assert posts(state, "/finalize") == 0 and state.store.order(order_id).status == "draft"


async def test_an_organization_turned_back_on_is_read_again_before_refusing(
    parts: ServerParts, seed: SeedInfo, state: EmulatorState
) -> None:
    """The organization is remembered for a few minutes to save a read, but a refusal is said on a fresh read."""
    state.set_organization(off_session_charges_enabled=False)
    async with Client(parts.server) as client:
        await fail(client, "finalize_order", {"order_id": seed.draft_orders["good_card"]})
        state.set_organization(off_session_charges_enabled=True)
        asked = await call(client, "finalize_order", {"order_id": seed.draft_orders["good_card"]})
    assert asked["status"] == "approval_pending"


async def test_the_approved_refund_does_not_read_the_organization_again(
    parts: ServerParts, person: Person, seed: SeedInfo, state: EmulatorState, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Right before the refund only what the approval pins is read again (the order and its refunds): Polar
    refuses refunds turned off meanwhile itself, so the organization is not read, however long ago it was."""
    from polar_orders_mcp.polar import recent

    order_id = seed.paid_order_id
    async with Client(parts.server) as client:
        first = await call(client, "create_refund", {"order_id": order_id})
        await person.approve(first["approval"]["approval_id"])
        monkeypatch.setattr(recent, "SECONDS", -1.0)
        state.faults.journal.clear()
        await call(client, "create_refund", {"order_id": order_id, "approval_id": first["approval"]["approval_id"]})
    assert not [r for r in state.faults.journal if r.path.startswith("/v1/organizations/")]


async def test_an_organization_that_cannot_be_read_now_is_no_reason_to_refuse(
    parts: ServerParts, seed: SeedInfo, state: EmulatorState
) -> None:
    """The read only spares a person an approval Polar would refuse: when it fails, the person is asked."""
    state.set_organization(off_session_charges_enabled=False)
    state.faults.add(kind="status", path="/v1/organizations/{id}", status=500)
    async with Client(parts.server) as client:
        asked = await call(client, "finalize_order", {"order_id": seed.draft_orders["good_card"]})
    assert asked["status"] == "approval_pending"


# Known only from Polar's answer: remembered for a day.


def token_without(state: EmulatorState, seed: SeedInfo, *resources: str) -> str:
    token = "polar_oat_without_" + "_".join(resources)
    scopes = {s for s in SCOPES if s.split(":")[0] not in resources}
    state.store.tokens[token] = OrgPrincipal(seed.organization_id, frozenset(scopes))
    return token


async def test_after_polar_refused_a_refund_as_blocked_nobody_is_asked_about_that_order_again(
    parts: ServerParts, seed: SeedInfo, state: EmulatorState, mode: str
) -> None:
    """Polar's staff blocked refunds of this order; its API does not show that, so the first request is asked and
    refused by Polar. The next one is answered from that refusal."""
    order_id = seed.refunds_blocked_order_id
    human = Human()
    async with Client(parts.server, mode=mode, elicitation_callback=human) as client:
        first = await fail(client, "create_refund", {"order_id": order_id})
        second = await fail(client, "create_refund", {"order_id": order_id, "amount": 100})
    store = await parts.store()
    refused = await refused_at(store, order_id)
    assert f"Order {order_id} was not refunded: RefundsBlocked (HTTP 403)" in first
    assert second == (
        f"Error executing tool create_refund: Order {order_id} was not refunded: Polar refused a refund of it at "
        f"{iso(refused)} (RefundsBlocked: refunds of this order are blocked at Polar, which its API does not show "
        f"beforehand), and this server does not ask anyone about it again before {iso(refused + DAY)}. Ask Polar "
        "support to unblock it."
    )
    assert len(human.shown) == 1 and len(await store.list_approvals(states=EVERY_STATE)) == 1
    assert posts(state, "/v1/refunds/") == 1


async def test_a_blocked_order_is_asked_about_again_after_a_day(
    parts: ServerParts, seed: SeedInfo, state: EmulatorState, monkeypatch: pytest.MonkeyPatch
) -> None:
    order_id = seed.refunds_blocked_order_id
    human = Human()
    async with Client(parts.server, elicitation_callback=human) as client:
        await fail(client, "create_refund", {"order_id": order_id})
        await fail(client, "create_refund", {"order_id": order_id})
        assert len(human.shown) == 1
        store = await parts.store()
        monkeypatch.setattr(store, "now", lambda: time.time() + DAY + 60)
        state.store.order(order_id).refunds_blocked = False  # Polar's support unblocked it meanwhile
        done = await call(client, "create_refund", {"order_id": order_id})
    assert done["status"] == "refunded" and len(human.shown) == 2


async def test_the_refusal_of_a_console_approved_refund_is_remembered_too(
    parts: ServerParts, person: Person, seed: SeedInfo, state: EmulatorState
) -> None:
    order_id = seed.refunds_blocked_order_id
    async with Client(parts.server) as client:
        first = await call(client, "create_refund", {"order_id": order_id})
        await person.approve(first["approval"]["approval_id"])
        await fail(client, "create_refund", {"order_id": order_id, "approval_id": first["approval"]["approval_id"]})
        again = await fail(client, "create_refund", {"order_id": order_id})
    assert "(RefundsBlocked: refunds of this order are blocked at Polar" in again
    assert len(await (await parts.store()).list_approvals(states=EVERY_STATE)) == 1


async def test_without_organizations_read_the_preview_cannot_tell_and_polar_answers(
    make_parts: Any, seed: SeedInfo, state: EmulatorState
) -> None:
    """A token that cannot read the organization: the refund is asked for, Polar refuses it, and that is
    remembered for the order."""
    state.set_organization(can_refund=False)
    parts: ServerParts = make_parts(access_token=token_without(state, seed, "organizations"))
    order_id = seed.paid_order_id
    human = Human()
    async with Client(parts.server, elicitation_callback=human) as client:
        first = await fail(client, "create_refund", {"order_id": order_id})
        second = await fail(client, "create_refund", {"order_id": order_id})
    assert f"Order {order_id} was not refunded: RefundsBlocked (HTTP 403)" in first
    assert len(human.shown) == 1 and posts(state, "/v1/refunds/") == 1
    assert "Polar refused a refund of it at" in second and "does not ask anyone about it again before" in second


async def test_a_disputed_payment_polar_refused_is_remembered_when_disputes_cannot_be_read(
    make_parts: Any, seed: SeedInfo, state: EmulatorState
) -> None:
    parts: ServerParts = make_parts(access_token=token_without(state, seed, "disputes"))
    order_id = seed.disputed_orders["needs_response"]
    human = Human()
    async with Client(parts.server, elicitation_callback=human) as client:
        first = await fail(client, "create_refund", {"order_id": order_id})
        second = await fail(client, "create_refund", {"order_id": order_id})
    refused = await refused_at(await parts.store(), order_id)
    assert "RefundDisputedPayment" in first
    assert second == (
        f"Error executing tool create_refund: Order {order_id} was not refunded: Polar refused a refund of it at "
        f"{iso(refused)} (RefundDisputedPayment: its payment is disputed), and this server does not ask anyone about "
        f"it again before {iso(refused + DAY)}. Handle the dispute instead: list_disputes(order_id={order_id!r})."
    )
    assert len(human.shown) == 1


REMEMBERED = [
    (
        "RefundsBlocked",
        "refunds of this order are blocked at Polar, which its API does not show beforehand",
        "Ask Polar support to unblock it.",
    ),
    ("RefundDisputedPayment", "its payment is disputed", "Handle the dispute instead: list_disputes(order_id={id!r})."),
    ("RefundedAlready", "it is already fully refunded", "See what was paid back: list_refunds(order_id={id!r})."),
    ("RefundUnknownPayment", "Polar has no succeeded payment of it to refund", "Check the order with get_order."),
]


@pytest.mark.parametrize(("code", "why", "then"), REMEMBERED, ids=[c for c, _, _ in REMEMBERED])
async def test_each_remembered_refusal_says_what_polar_said_and_what_to_do(
    parts: ServerParts, seed: SeedInfo, code: str, why: str, then: str
) -> None:
    order_id = seed.paid_order_id
    store = await parts.store()
    await store.start_act(
        approval_id="earlier",
        tool="create_refund",
        target=order_id,
        currency="usd",
        amount=1500,
        per_charge=None,
        daily=None,
        seen=await store.target_version(order_id),
    )
    await store.finish_act("earlier", "failed", {"refusal": code})
    [act] = await store.acts_for("create_refund", order_id)
    human = Human()
    async with Client(parts.server, elicitation_callback=human) as client:
        message = await fail(client, "create_refund", {"order_id": order_id})
    assert message == (
        f"Error executing tool create_refund: Order {order_id} was not refunded: Polar refused a refund of it at "
        f"{iso(act.started_at)} ({code}: {why}), and this server does not ask anyone about it again before "
        f"{iso(act.started_at + DAY)}. {then.format(id=order_id)}"
    )
    await nobody_was_asked(parts, human)


HISTORIES = {
    "an amount refused": [("failed", "RequestValidationError")],
    "an option refused": [("failed", "RevokeSubscriptionBenefitsProhibited")],
    "refunded since": [("failed", "RefundsBlocked"), ("done", None)],
}


@pytest.mark.parametrize("history", HISTORIES.values(), ids=HISTORIES.keys())
async def test_other_refusals_and_a_refund_made_since_are_no_reason_to_refuse(
    parts: ServerParts, seed: SeedInfo, history: list[tuple[Any, str | None]]
) -> None:
    """Polar's answers about a request (its amount, its options) are not about the order; and a refund made after
    a remembered refusal shows the order was unblocked."""
    order_id = seed.paid_order_id
    store = await parts.store()
    for n, (outcome, refusal) in enumerate(history):
        await store.start_act(
            approval_id=f"earlier{n}",
            tool="create_refund",
            target=order_id,
            currency="usd",
            amount=100,
            per_charge=None,
            daily=None,
            seen=await store.target_version(order_id),
        )
        await store.finish_act(f"earlier{n}", outcome, {"refusal": refusal} if refusal else None)
    async with Client(parts.server) as client:
        asked = await call(client, "create_refund", {"order_id": order_id, "amount": 100})
    assert asked["status"] == "approval_pending"


async def test_a_declined_charge_is_not_remembered(parts: ServerParts, seed: SeedInfo, state: EmulatorState) -> None:
    """Only refunds remember Polar's refusals; a declined card may be fixed by the customer in a minute."""
    order_id = seed.draft_orders["declining_card"]
    human = Human()
    async with Client(parts.server, elicitation_callback=human) as client:
        await fail(client, "finalize_order", {"order_id": order_id})
        await fail(client, "finalize_order", {"order_id": order_id})
    assert len(human.shown) == 2


# Refused before asking already: each checked the same way.


async def test_a_daily_limit_already_reached_is_refused_before_anyone_is_asked(
    make_parts: Any, seed: SeedInfo, state: EmulatorState
) -> None:
    parts: ServerParts = make_parts(max_daily="usd=2000")
    store = await parts.store()
    await store.start_act(
        approval_id="earlier",
        tool="finalize_order",
        target="another-order",
        currency="usd",
        amount=1000,
        per_charge=None,
        daily=None,
        seen=0,
    )
    order_id = seed.draft_orders["good_card"]
    human = Human()
    async with Client(parts.server, elicitation_callback=human) as client:
        message = await fail(client, "finalize_order", {"order_id": order_id})
    assert message == (
        f"Error executing tool finalize_order: Order {order_id} was not charged: $15.00 would take the money moved "
        "in USD in the last 24 hours to $25.00, over this server's limit of $20.00 (--max-daily); $10.00 is left "
        "until earlier moves are 24 hours old. A person can do it in Polar's dashboard, or the operator who runs "
        "this server can raise --max-daily."
    )
    await nobody_was_asked(parts, human)
    assert posts(state, "/finalize") == 0


KNOWN_BEFORE = [
    pytest.param(
        "create_refund",
        lambda s: {"order_id": s.disputed_orders["needs_response"]},
        lambda s: (
            f"Order {s.disputed_orders['needs_response']} was not refunded: its payment is disputed (dispute "
            f"{s.disputes['needs_response']}, needs_response), and Polar cannot refund a disputed payment. Handle the "
            "dispute instead (get_dispute)."
        ),
        id="disputed payment",
    ),
    pytest.param(
        "create_refund",
        lambda s: {"order_id": s.orders_by_status["refunded"]},
        lambda s: f"Order {s.orders_by_status['refunded']} was not refunded: it is already fully refunded",
        id="fully refunded",
    ),
    pytest.param(
        "create_refund",
        lambda s: {"order_id": s.paid_order_id, "amount": 1251},
        lambda s: f"Order {s.paid_order_id} was not refunded: $12.51 is more than the $12.50 left to refund",
        id="more than is left",
    ),
    pytest.param(
        "create_refund",
        lambda s: {"order_id": s.draft_orders["good_card"]},
        lambda s: (
            f"Order {s.draft_orders['good_card']} was not refunded: it is draft, so it has no succeeded "
            "payment to refund."
        ),
        id="no payment to refund",
    ),
    pytest.param(
        "finalize_order",
        lambda s: {"order_id": s.draft_orders["no_payment_method"]},
        lambda s: (
            f"Order {s.draft_orders['no_payment_method']} was not charged: the customer has no default saved "
            "payment method. Pass payment_method_id, or send the customer a checkout link with create_checkout."
        ),
        id="draft with no card",
    ),
    pytest.param(
        "finalize_order",
        lambda s: {"order_id": s.paid_order_id},
        lambda s: f"Order {s.paid_order_id} is paid, not a draft: there is nothing to charge.",
        id="not a draft",
    ),
    pytest.param(
        "accept_dispute",
        lambda s: {"dispute_id": s.disputes["won"]},
        lambda s: (
            f"Dispute {s.disputes['won']} was not accepted: it is won, and only a dispute awaiting a response "
            "(needs_response) can be accepted."
        ),
        id="dispute not open",
    ),
    pytest.param(
        "revoke_subscription",
        lambda s: {"subscription_id": s.subscriptions["revoked"]},
        lambda s: f"Subscription {s.subscriptions['revoked']} was not revoked: it is canceled and ended",
        id="subscription ended",
    ),
]


@pytest.mark.parametrize(("tool", "args", "said"), KNOWN_BEFORE)
async def test_what_polars_data_shows_is_refused_before_anyone_is_asked(
    parts: ServerParts, seed: SeedInfo, state: EmulatorState, tool: str, args: Any, said: Any
) -> None:
    human = Human()
    async with Client(parts.server, elicitation_callback=human) as client:
        message = await fail(client, tool, args(seed))
    assert said(seed) in message, message
    await nobody_was_asked(parts, human)
    assert [r for r in state.faults.journal if r.method != "GET"] == []


async def test_a_refund_of_what_pending_refunds_cover_is_refused_before_anyone_is_asked(
    parts: ServerParts, person: Person, seed: SeedInfo, state: EmulatorState
) -> None:
    state.settings.refund_status = "pending"
    order_id = seed.paid_order_id
    async with Client(parts.server) as client:
        first = await call(client, "create_refund", {"order_id": order_id})
        await person.approve(first["approval"]["approval_id"])
        await call(client, "create_refund", {"order_id": order_id, "approval_id": first["approval"]["approval_id"]})
    human = Human()
    async with Client(parts.server, elicitation_callback=human) as client:
        message = await fail(client, "create_refund", {"order_id": order_id})
    assert f"Order {order_id} was not refunded: nothing is left to refund; $12.50 of it is in a refund " in message
    assert human.shown == [] and len(await (await parts.store()).list_approvals(states=EVERY_STATE)) == 1
