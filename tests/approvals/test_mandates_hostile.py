"""Standing approvals against a hostile model or client: what a mandate must never cover without a person."""

from __future__ import annotations

from typing import Any

import pytest
from mcp.client import Client

from polar_orders_mcp.emulator.seed import SeedInfo
from polar_orders_mcp.emulator.state import EmulatorState
from polar_orders_mcp.server.app import ServerParts
from polar_orders_mcp.store.records import MandateUsage
from tests.approvals.authenticator import SoftPasskey
from tests.approvals.test_console_mandate_passkeys import challenge_of, signed_in
from tests.approvals.test_console_mandates import TERMS, review, sign
from tests.approvals.test_mandates import REFUNDS, made, mandate, missed, posted, refundable, usage
from tests.approvals.test_passkeys import ORIGIN, PASSKEY_SETTINGS, enrol
from tests.tools.conftest import call, fail

pytestmark = pytest.mark.anyio


@pytest.fixture
def order_id(seed: SeedInfo, state: EmulatorState) -> str:
    """A paid order of $12.50 + $2.50 tax, made three days ago."""
    made(state, seed.paid_order_id, 3)
    return seed.paid_order_id


async def test_a_refund_retried_after_an_unknown_outcome_is_asked_of_a_person(
    parts: ServerParts, order_id: str, state: EmulatorState
) -> None:
    """Polar may still be making the first refund (its answer was a 500): the retry's preview warns a person of it,
    and a mandate, which nobody reads at the act, must not pay the customer back a second time unseen."""
    await mandate(parts, max_acts=10)
    state.faults.add(path=REFUNDS, method="POST", kind="status", status=500)
    async with Client(parts.server) as client:
        first = await fail(client, "create_refund", {"order_id": order_id, "amount": 500})
        again = await call(client, "create_refund", {"order_id": order_id, "amount": 500})
    assert "Polar may still be making it" in first
    assert again["status"] == "approval_pending", again
    assert "with no answer from Polar" in (again["preview"]["unsettled_note"] or "")
    assert "has no answer from Polar yet" in again["next_step"]
    assert posted(state) == 1


async def test_removing_the_mandates_passkey_between_the_checks_and_the_act_stops_the_act(
    make_parts: Any, seed: SeedInfo, state: EmulatorState, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As for an approval signed with a passkey (store/approvals.py), in the transaction that starts the act."""
    parts = make_parts(**PASSKEY_SETTINGS)
    async with await signed_in(parts) as person:
        key = SoftPasskey()
        assert (await enrol(person, key)).status_code == 303
        confirm = await review(person, TERMS)
        assert (await sign(person, confirm, assertion=key.get(challenge_of(confirm.text), ORIGIN))).status_code == 303
    store = await parts.store()
    redeem = store.redeem_and_start

    async def removed_first(approval_id: str, **act: Any) -> Any:
        assert await store.remove_passkey(key.id, approver="approver")  # the console, meanwhile
        return await redeem(approval_id, **act)

    monkeypatch.setattr(store, "redeem_and_start", removed_first)
    async with Client(parts.server) as client:
        refused = await fail(client, "create_refund", {"order_id": seed.paid_order_id, "total": 1500})
    assert "was not refunded" in refused and "passkey" in refused, refused
    assert posted(state) == 0 and state.store.order(seed.paid_order_id).refunded_amount == 0


async def test_many_tasks_of_one_client_racing_stay_within_the_budget(
    parts: ServerParts, seed: SeedInfo, state: EmulatorState
) -> None:
    """One process, one client, eight calls at once: the budget holds three acts of $1.20 and not one more."""
    import anyio

    orders = refundable(state, seed)[:8]
    for order_id in orders:
        made(state, order_id, 3)
    standing = await mandate(parts, daily_budget=360, max_acts=3)
    answers: dict[str, dict[str, Any]] = {}

    async def refund(client: Client, order_id: str) -> None:
        answers[order_id] = await call(client, "create_refund", {"order_id": order_id, "amount": 100})

    async with Client(parts.server) as client, anyio.create_task_group() as group:
        for order_id in orders:
            group.start_soon(refund, client, order_id)
    statuses = sorted(a["status"] for a in answers.values())
    assert statuses == ["approval_pending"] * 5 + ["refunded"] * 3
    assert posted(state) == 3 and await usage(parts, standing) == MandateUsage(3, 360, 360, 3)


@pytest.mark.parametrize("hidden", ["\u3164", "\u2800", "\u115f", "\ufe0f"])
async def test_a_customer_named_by_email_is_not_matched_by_an_address_that_only_reads_the_same(
    parts: ServerParts, order_id: str, state: EmulatorState, hidden: str
) -> None:
    """Another customer's address with a character the preview's cleaning drops (Polar takes them in an address's
    local part) is another address: a mandate for vip@example.com never covers it."""
    state.store.order(order_id).customer.email = f"vip{hidden}@example.com"
    standing = await mandate(parts, customers=("vip@example.com",))
    async with Client(parts.server) as client:
        answer = await call(client, "create_refund", {"order_id": order_id, "amount": 500})
    assert answer["status"] == "approval_pending", answer
    assert answer["next_step"] == missed(standing, "the customer is not one of its customers")
    assert answer["preview"]["customer_email"] != "vip@example.com"
    assert posted(state) == 0
