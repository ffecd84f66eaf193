"""Standing approvals (mandates): an act that fits one is done without asking, naming it; any other is asked about."""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from mcp.client import Client

from polar_orders_mcp import receipts
from polar_orders_mcp.approvals.policy import Caller
from polar_orders_mcp.emulator.seed import SeedInfo
from polar_orders_mcp.emulator.state import EmulatorState
from polar_orders_mcp.server.app import ServerParts
from polar_orders_mcp.signing import KEY_FILE, SigningKey
from polar_orders_mcp.store import signed
from polar_orders_mcp.store.mandates import MandateStore
from polar_orders_mcp.store.records import Mandate, MandateTerms, MandateUsage
from tests.tools.conftest import call, fail

pytestmark = pytest.mark.anyio

DAY = 86_400.0
REFUNDS = "/v1/refunds/"
REFUND = {"amount": 500}  # $5.00 net of tax: $6.00 paid back, tax included (what a mandate counts)
PENDING = (
    "Nothing was done yet: a person decides at approve_at, signed in to the approval console (the link alone allows "
    "nothing), before expires_at. Tell the user; once decided, call create_refund again with the same arguments and "
    "approval_id."
)


def made(state: EmulatorState, order_id: str, days: float) -> None:
    """The order was made `days` ago (the mandates in these tests bound the order's age)."""
    state.store.order(order_id).created_at = datetime.now(UTC) - timedelta(days=days)


async def mandate(parts: ServerParts, *, ttl: float = 3600, by: str = "ada", **terms: Any) -> Mandate:
    """A standing approval for create_refund in USD signed by `by`, as the approval console records it."""
    given: dict[str, Any] = {"tools": ("create_refund",), "currency": "usd", "max_per_act": 2000, **terms}
    return await MandateStore(await parts.store()).create(MandateTerms(**given), by=by, ttl=ttl)


async def usage(parts: ServerParts, made_: Mandate) -> MandateUsage:
    return await MandateStore(await parts.store()).usage(made_.id)


def posted(state: EmulatorState) -> int:
    """Refund requests Polar got."""
    return sum(1 for r in state.faults.journal if r.method == "POST" and r.path == REFUNDS)


def missed(made_: Mandate, why: str) -> str:
    return f"{PENDING} No standing approval covers it: {made_.id} ({made_.created_by}): {why}."


def frozen(parts_store: Any, at: float) -> list[float]:
    """Stop the store's clock at `at` (moved by the test through the list returned)."""
    now = [at]
    parts_store._clock = lambda: now[0]
    return now


@pytest.fixture
def order_id(seed: SeedInfo, state: EmulatorState) -> str:
    """A paid order of $12.50 + $2.50 tax, made three days ago."""
    made(state, seed.paid_order_id, 3)
    return seed.paid_order_id


# Within a mandate: done without asking, and it says so everywhere it is recorded.


async def test_an_act_within_a_mandate_is_done_at_once_and_says_which_and_what_is_left(
    parts: ServerParts, order_id: str, state: EmulatorState
) -> None:
    standing = await mandate(parts, max_acts=10, daily_budget=5000, max_order_age_days=30)
    async with Client(parts.server) as client:
        done = await call(client, "create_refund", {"order_id": order_id, **REFUND})
    assert done["status"] == "refunded" and "approval" not in done and done["refund"]["total_amount"] == 600
    assert done["decided"] == (
        f"Done without asking anyone, under standing approval {standing.id} signed by ada (create_refund up to "
        "$20.00 each; $50.00 a day; at most 10 acts; orders under 30 days old); left of it: 9 acts, $44.00 today."
    )
    assert posted(state) == 1 and state.store.order(order_id).refunded_amount == 500
    assert await usage(parts, standing) == MandateUsage(acts=1, total=600, today=600, acts_today=1)


async def test_the_audit_record_of_the_act_names_the_mandate_and_its_approver(
    parts: ServerParts, order_id: str
) -> None:
    standing = await mandate(parts)
    async with Client(parts.server) as client:
        await call(client, "create_refund", {"order_id": order_id, **REFUND})
    [record] = await (await parts.store()).audit_records()
    entry = record.entry
    assert (entry["tool"], entry["outcome"], entry["channel"]) == ("create_refund", "done", "mandate")
    assert entry["approver"] == "ada" and entry["acted"] is True
    assert entry["mandate"] == standing.id


async def test_the_signed_decision_and_the_receipt_reference_the_mandate(
    parts: ServerParts, order_id: str, tmp_path: Any
) -> None:
    standing = await mandate(parts)
    async with Client(parts.server) as client:
        await call(client, "create_refund", {"order_id": order_id, **REFUND})
    store = await parts.store()
    approval_id = (await store.audit_records())[0].entry["approval_id"]
    approval, act, records, payee = await store.evidence(approval_id)
    assert approval is not None and approval.mandate == standing.id and approval.decided_by == "ada"
    key = SigningKey.from_text((tmp_path / "state" / KEY_FILE).read_text(), "test")
    claims = signed.decision_claims(approval)
    assert claims["mandate"] == standing.id and claims["channel"] == "mandate" and claims["decided_by"] == "ada"
    assert signed.matches([key.public], approval.signature, signed.DECISION, claims) is None
    document = receipts.verify(receipts.build(approval, act, records, payee, key, time.time()), [key.public])
    shown = document["payment_mandate"]
    assert (shown["channel"], shown["approver"], shown["decision"]) == ("mandate", "ada", "approved")
    assert shown["standing_mandate"] == standing.id
    assert _payload(document["decision"])["mandate"] == standing.id
    assert document["payment_receipt"]["status"] == "succeeded"
    assert document["payment_receipt"]["amount_moved"] == {"value": 600, "currency": "USD"}
    document["payment_mandate"]["standing_mandate"] = "mdt_" + "B" * 16  # re-signed whole: the decision says not
    with pytest.raises(receipts.ReceiptRefused) as refused:
        receipts.verify(key.sign(document, receipts.RECEIPT), [key.public])
    assert str(refused.value) == "the mandate's standing_mandate is not what the decision's signature covers"


def _payload(token: str) -> dict[str, Any]:
    body = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))  # type: ignore[no-any-return]


# Each constraint at its boundary: within it, done; past it, asked about, saying which constraint was missed.

# (terms, the caller, the call's arguments beyond the order, why it is missed: None when it fits)
Case = tuple[dict[str, Any], Caller, dict[str, Any], str | None]
STDIO = Caller("stdio")


def cases(seed: SeedInfo) -> dict[str, Case]:
    fixed, yearly = seed.products["one_time_fixed"], seed.products["recurring_yearly"]
    return {
        "per act, at": ({"max_per_act": 600}, STDIO, REFUND, None),
        "per act, a cent over": ({"max_per_act": 599}, STDIO, REFUND, "$6.00 is over its $5.99 per act"),
        "currency": ({"currency": "eur"}, STDIO, REFUND, "it is in EUR, and this act is in USD"),
        "product, one of": ({"products": (yearly, fixed)}, STDIO, REFUND, None),
        "product, another": ({"products": (yearly,)}, STDIO, REFUND, f"the product {fixed} is not one of its products"),
        "customer, by email": ({"customers": ("Good-Card@Example.com",)}, STDIO, REFUND, None),
        "customer, another": (
            {"customers": ("someone@example.com",)},
            STDIO,
            REFUND,
            "the customer is not one of its customers",
        ),
        "reason, one of": ({"reasons": ("duplicate",)}, STDIO, {**REFUND, "reason": "duplicate"}, None),
        "reason, another": (
            {"reasons": ("duplicate", "fraudulent")},
            STDIO,
            REFUND,
            "the reason customer_request is not one of its reasons (duplicate, fraudulent)",
        ),
        "client A, by A": ({"for_client": "desk-a"}, Caller("desk-a"), REFUND, None),
        "client A, by B": (
            {"for_client": "desk-a"},
            Caller("desk-b"),
            REFUND,
            "it is for the client desk-a, and desk-b asked",
        ),
        "person X, by X": ({"for_person": "xavier"}, Caller("desk", None, "xavier"), REFUND, None),
        "person X, by Y": (
            {"for_person": "xavier"},
            Caller("desk", None, "yvonne"),
            REFUND,
            "it is for xavier, and yvonne asked",
        ),
        "person X, by a program": (
            {"for_person": "xavier"},
            Caller("desk"),
            REFUND,
            "it is for xavier, and no signed-in person asked",
        ),
    }


CASES = [  # built per test from its seed
    "per act, at",
    "per act, a cent over",
    "currency",
    "product, one of",
    "product, another",
    "customer, by email",
    "customer, another",
    "reason, one of",
    "reason, another",
    "client A, by A",
    "client A, by B",
    "person X, by X",
    "person X, by Y",
    "person X, by a program",
]


@pytest.mark.parametrize("case", CASES)
async def test_each_constraint_at_and_past_its_boundary(
    parts: ServerParts, order_id: str, seed: SeedInfo, state: EmulatorState, case: str
) -> None:
    terms, caller, arguments, why = cases(seed)[case]
    parts.guard.identify = lambda _ctx: caller
    standing = await mandate(parts, **terms)
    async with Client(parts.server) as client:
        answer = await call(client, "create_refund", {"order_id": order_id, **arguments})
    if why is None:
        assert answer["status"] == "refunded" and standing.id in answer["decided"], answer
        assert posted(state) == 1 and (await usage(parts, standing)).acts == 1
    else:
        assert answer["status"] == "approval_pending" and "decided" not in answer
        assert answer["next_step"] == missed(standing, why)
        assert posted(state) == 0 and await usage(parts, standing) == MandateUsage(0, 0, 0, 0)


SMALL = {"amount": 300}  # $3.60 paid back, tax included: three fit in the order


@pytest.mark.parametrize(
    ("budget", "left", "why"),
    [
        ({"max_acts": 2}, "0 acts", "its 2 acts are used"),
        ({"daily_acts": 2}, "0 acts today", "its 2 acts a day are used"),
        ({"daily_budget": 720}, "$0.00 today", "$7.20 of its $7.20 a day is used, and this is $3.60"),
        ({"total_budget": 720}, "$0.00 in all", "$7.20 of its $7.20 in all is used, and this is $3.60"),
    ],
    ids=["acts", "acts-a-day", "daily", "total"],
)
async def test_a_budget_holds_its_last_act_and_not_one_more(
    parts: ServerParts, order_id: str, state: EmulatorState, budget: dict[str, Any], left: str, why: str
) -> None:
    standing = await mandate(parts, **budget)
    async with Client(parts.server) as client:
        first = await call(client, "create_refund", {"order_id": order_id, **SMALL})
        last = await call(client, "create_refund", {"order_id": order_id, **SMALL})
        over = await call(client, "create_refund", {"order_id": order_id, **SMALL})
    assert [first["status"], last["status"], over["status"]] == ["refunded", "refunded", "approval_pending"]
    assert last["decided"].endswith(f"; left of it: {left}.")
    assert over["next_step"] == missed(standing, why)
    assert posted(state) == 2 and await usage(parts, standing) == MandateUsage(2, 720, 720, 2)


async def test_the_daily_budget_is_free_again_a_day_later_and_the_total_is_not(
    parts: ServerParts, order_id: str, state: EmulatorState
) -> None:
    standing = await mandate(parts, ttl=7 * DAY, daily_budget=480, total_budget=720)
    now = frozen(await parts.store(), time.time())
    refund = {"order_id": order_id, "amount": 200}  # $2.40 paid back, tax included
    async with Client(parts.server) as client:
        day_one = [(await call(client, "create_refund", refund))["status"] for _ in range(2)]
        same_day = await call(client, "create_refund", refund)
        now[0] += DAY + 1
        next_day = await call(client, "create_refund", refund)
        after = await call(client, "create_refund", refund)
    assert day_one == ["refunded", "refunded"] and next_day["status"] == "refunded"
    assert same_day["next_step"] == missed(standing, "$4.80 of its $4.80 a day is used, and this is $2.40")
    assert after["next_step"] == missed(standing, "$7.20 of its $7.20 in all is used, and this is $2.40")
    assert posted(state) == 3 and await usage(parts, standing) == MandateUsage(3, 720, 240, 1)


@pytest.mark.parametrize(("older", "why"), [(0, None), (1, "the order is 30 days old, over its 30 days")])
async def test_the_order_age_at_and_past_its_bound(
    parts: ServerParts, seed: SeedInfo, state: EmulatorState, older: int, why: str | None
) -> None:
    at = float(int(time.time()))
    frozen(await parts.store(), at)
    order_id = seed.paid_order_id
    state.store.order(order_id).created_at = datetime.fromtimestamp(at - 30 * DAY - older, UTC)
    standing = await mandate(parts, max_order_age_days=30)
    async with Client(parts.server) as client:
        answer = await call(client, "create_refund", {"order_id": order_id, **REFUND})
    if why is None:
        assert answer["status"] == "refunded" and posted(state) == 1
    else:
        assert answer["next_step"] == missed(standing, why) and posted(state) == 0


# Ended mandates, failed acts, and a revocation racing an act.


@pytest.mark.parametrize("ended", ["expired", "revoked"])
async def test_an_ended_mandate_allows_nothing(
    parts: ServerParts, order_id: str, state: EmulatorState, ended: str
) -> None:
    standing = await mandate(parts, ttl=0 if ended == "expired" else 3600)
    if ended == "revoked":
        assert await MandateStore(await parts.store()).revoke(standing.id, by="bea") is not None
    async with Client(parts.server) as client:
        answer = await call(client, "create_refund", {"order_id": order_id, **REFUND})
    assert answer["status"] == "approval_pending" and answer["next_step"] == PENDING
    assert posted(state) == 0 and await usage(parts, standing) == MandateUsage(0, 0, 0, 0)


async def test_an_act_polar_refuses_does_not_use_the_budget(
    parts: ServerParts, order_id: str, seed: SeedInfo, state: EmulatorState
) -> None:
    made(state, seed.refunds_blocked_order_id, 3)
    standing = await mandate(parts, max_acts=1, daily_budget=1500)
    async with Client(parts.server) as client:
        refused = await fail(client, "create_refund", {"order_id": seed.refunds_blocked_order_id})
        left = await usage(parts, standing)
        done = await call(client, "create_refund", {"order_id": order_id, **REFUND})
    assert f"Order {seed.refunds_blocked_order_id} was not refunded" in refused and "RefundsBlocked" in refused
    assert left == MandateUsage(0, 0, 0, 0)
    assert done["status"] == "refunded" and done["decided"].endswith("left of it: 0 acts, $9.00 today.")
    assert posted(state) == 2 and state.store.order(seed.refunds_blocked_order_id).refunded_amount == 0


async def test_a_revocation_between_the_grant_and_the_act_stops_the_act(
    parts: ServerParts, order_id: str, state: EmulatorState, monkeypatch: pytest.MonkeyPatch
) -> None:
    standing = await mandate(parts)
    store = await parts.store()
    redeem = store.redeem_and_start

    async def revoked_first(approval_id: str, **act: Any) -> Any:
        assert await MandateStore(store).revoke(standing.id, by="bea") is not None  # the console, meanwhile
        return await redeem(approval_id, **act)

    monkeypatch.setattr(store, "redeem_and_start", revoked_first)
    async with Client(parts.server) as client:
        message = await fail(client, "create_refund", {"order_id": order_id, **REFUND})
    assert message == (
        f"Error executing tool create_refund: Order {order_id} was not refunded: the standing approval it was "
        "granted under was revoked or expired just now. Call create_refund again without approval_id for a person "
        "to approve it."
    )
    assert posted(state) == 0 and state.store.order(order_id).refunded_amount == 0
    [record] = await store.audit_records()
    assert record.entry["outcome"] == "refused" and "acted" not in record.entry


# A hostile model: nothing it can call makes, widens or extends a mandate, and no id it invents stands for one.


async def test_no_tool_makes_or_changes_a_mandate(parts: ServerParts) -> None:
    async with Client(parts.server) as client:
        tools = (await client.list_tools()).tools
    assert len(tools) > 20
    for tool in tools:
        said = json.dumps([tool.name, tool.title, tool.description, tool.input_schema]).lower()
        assert "mandate" not in said and "standing" not in said, tool.name
        arguments = set((tool.input_schema or {}).get("properties", {}))
        assert not {a for a in arguments if re.search(r"mandate|standing|budget|policy", a)}, tool.name


@pytest.mark.parametrize("kind", ["the mandate's id", "made up"])
async def test_a_mandate_id_passed_as_an_approval_grants_nothing(
    parts: ServerParts, order_id: str, state: EmulatorState, kind: str
) -> None:
    standing = await mandate(parts, max_per_act=100)  # covers nothing this call moves
    given = standing.id if kind == "the mandate's id" else "mdt_" + "A" * 16
    async with Client(parts.server) as client:
        message = await fail(client, "create_refund", {"order_id": order_id, **REFUND, "approval_id": given})
    assert message == (
        f'Error executing tool create_refund: Argument approval_id ("{given}") does not have the expected form. '
        "Expected: only after an approval_pending answer. Nothing was done: call create_refund again with this fixed."
    )
    assert posted(state) == 0 and await usage(parts, standing) == MandateUsage(0, 0, 0, 0)


# The server's own limits stand above any mandate.


async def test_the_per_charge_limit_refuses_what_a_mandate_allows(
    make_parts: Callable[..., ServerParts], order_id: str, state: EmulatorState
) -> None:
    parts = make_parts(max_charge="usd=599")
    standing = await mandate(parts)
    async with Client(parts.server) as client:
        message = await fail(client, "create_refund", {"order_id": order_id, **REFUND})
    assert f"Order {order_id} was not refunded" in message and "--max-charge" in message
    assert posted(state) == 0 and await usage(parts, standing) == MandateUsage(0, 0, 0, 0)


async def test_the_daily_limit_refuses_what_a_mandate_allows(
    make_parts: Callable[..., ServerParts], order_id: str, state: EmulatorState
) -> None:
    parts = make_parts(max_daily="usd=1000")
    standing = await mandate(parts)
    async with Client(parts.server) as client:
        done = await call(client, "create_refund", {"order_id": order_id, **REFUND})
        message = await fail(client, "create_refund", {"order_id": order_id, **REFUND})
    assert done["status"] == "refunded"
    assert "--max-daily" in message and "$4.00 is left" in message
    assert posted(state) == 1 and await usage(parts, standing) == MandateUsage(1, 600, 600, 1)


async def test_an_act_the_daily_limit_refuses_at_the_act_does_not_use_the_mandate(
    make_parts: Callable[..., ServerParts], order_id: str, state: EmulatorState, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another call moves money between this one's grant and its act, filling the day's limit: Polar is not asked,
    and the mandate's budget is left as it was."""
    parts = make_parts(max_daily="usd=1000")
    standing = await mandate(parts, max_acts=5)
    store = await parts.store()
    redeem = store.redeem_and_start

    async def another_first(approval_id: str, **act: Any) -> Any:
        elsewhere = {**act, "target": "elsewhere", "seen": 0}
        del elsewhere["digest"]
        await store.start_act(approval_id="off_elsewhere", **elsewhere)
        return await redeem(approval_id, **act)

    monkeypatch.setattr(store, "redeem_and_start", another_first)
    async with Client(parts.server) as client:
        message = await fail(client, "create_refund", {"order_id": order_id, **REFUND})
    assert "--max-daily" in message and posted(state) == 0
    assert await usage(parts, standing) == MandateUsage(0, 0, 0, 0)


# Two servers on one store: a budget holds across them.


def refundable(state: EmulatorState, seed: SeedInfo) -> list[str]:
    """Paid one-time orders taxed at 20%, that Polar lets be refunded: $1.00 of each pays back $1.20."""
    barred = {seed.refunds_blocked_order_id, *seed.disputed_orders.values()}
    return [
        o.id
        for o in state.store.orders
        if o.status == "paid"
        and o.subscription is None
        and o.id not in barred
        and o.tax_amount * 5 == o.subtotal_amount
    ]


async def test_parallel_acts_on_two_servers_sharing_a_state_dir_stay_within_the_daily_budget(
    make_parts: Callable[..., ServerParts], seed: SeedInfo, state: EmulatorState, tmp_path: Any
) -> None:
    import anyio

    orders = refundable(state, seed)[:8]
    assert len(orders) == 8
    for order_id in orders:
        made(state, order_id, 3)
    one, two = make_parts(state_dir=tmp_path / "shared"), make_parts(state_dir=tmp_path / "shared")
    standing = await mandate(one, daily_budget=360)  # three acts of $1.20
    answers: dict[str, dict[str, Any]] = {}

    async def refund(client: Client, order_id: str) -> None:
        answers[order_id] = await call(client, "create_refund", {"order_id": order_id, "amount": 100})

    async with Client(one.server) as a, Client(two.server) as b, anyio.create_task_group() as group:
        for n, order_id in enumerate(orders):
            group.start_soon(refund, (a, b)[n % 2], order_id)
    done = [o for o, answer in answers.items() if answer["status"] == "refunded"]
    asked = [o for o, answer in answers.items() if answer["status"] == "approval_pending"]
    assert len(done) == 3 and len(asked) == 5
    assert all(standing.id in answers[o]["decided"] for o in done)
    for order_id in asked:
        assert answers[order_id]["next_step"] == missed(standing, "$3.60 of its $3.60 a day is used, and this is $1.20")
    assert posted(state) == 3 and [state.store.order(o).refunded_amount for o in done] == [100] * 3
    assert await usage(one, standing) == MandateUsage(3, 360, 360, 3)


async def test_a_mandate_covers_only_its_own_tools(parts: ServerParts, seed: SeedInfo, state: EmulatorState) -> None:
    """A standing approval for refunds allows no charge, however small."""
    standing = await mandate(parts, max_per_act=100_000)
    order_id = seed.draft_orders["good_card"]
    async with Client(parts.server) as client:
        asked = await call(client, "finalize_order", {"order_id": order_id})
    assert asked["status"] == "approval_pending" and standing.id not in asked["next_step"]
    assert state.store.order(order_id).status == "draft"


async def test_an_order_age_bound_never_fits_a_preview_that_does_not_say_the_orders_age(
    parts: ServerParts, seed: SeedInfo, state: EmulatorState
) -> None:
    standing = await mandate(parts, tools=("finalize_order",), max_per_act=100_000, max_order_age_days=30)
    order_id = seed.draft_orders["good_card"]
    async with Client(parts.server) as client:
        asked = await call(client, "finalize_order", {"order_id": order_id})
    assert asked["status"] == "approval_pending"
    assert asked["next_step"].endswith(
        f"{standing.id} (ada): it bounds the order's age, and this act's preview does not say when the order was made."
    )
    assert state.store.order(order_id).status == "draft"


async def test_a_mandate_without_a_passkey_allows_nothing_where_the_server_needs_one(
    make_parts: Callable[..., ServerParts], order_id: str, state: EmulatorState
) -> None:
    from tests.approvals.test_passkeys import PASSKEY_SETTINGS

    parts = make_parts(**PASSKEY_SETTINGS)
    standing = await mandate(parts)  # recorded without a proof (the console would have asked for one)
    async with Client(parts.server) as client:
        refused = await fail(client, "create_refund", {"order_id": order_id, **REFUND})
    assert "was granted under a standing approval signed without a passkey, and this server needs one for it" in (
        refused
    )
    assert standing.proof is None and posted(state) == 0


async def test_a_mandate_covers_its_acts_in_relay_mode_too(
    make_parts: Callable[..., ServerParts], order_id: str, state: EmulatorState
) -> None:
    """A person's standing approval is worth more than a token the model passes back: used where it fits."""
    parts = make_parts(confirm="relay")
    standing = await mandate(parts)
    async with Client(parts.server) as client:
        done = await call(client, "create_refund", {"order_id": order_id, **REFUND})
    assert done["status"] == "refunded" and standing.id in done["decided"] and posted(state) == 1


async def test_a_grant_never_acted_on_stops_counting_once_it_lapses(parts: ServerParts) -> None:
    """A call granted under a mandate that never acted (it crashed, or its target was busy) holds its share of the
    budgets only while its approval can still be redeemed."""
    from polar_orders_mcp.store.mandates import Granted
    from polar_orders_mcp.store.records import NewApproval

    standing = await mandate(parts, max_acts=1)
    store = await parts.store()
    now = frozen(store, store.now())
    new = NewApproval(
        tool="create_refund",
        target="order-x",
        digest="d" * 64,
        facts={},
        summary="s",
        message="m",
        display=[],
        amount=600,
        currency="usd",
        client="stdio",
        session=None,
        channel="mandate",
        ttl=120,
    )
    granted = await MandateStore(store).take(new, lambda *_: None, window=120)
    assert isinstance(granted, Granted) and granted.used.acts == 1
    now[0] += 119
    assert (await usage(parts, standing)).acts == 1
    now[0] += 2
    assert await usage(parts, standing) == MandateUsage(0, 0, 0, 0)


async def test_a_draft_whose_price_was_set_by_hand_is_never_charged_under_a_mandate(
    make_parts: Callable[..., ServerParts], seed: SeedInfo, state: EmulatorState
) -> None:
    """create_order's amount replaces the product's price: a person sees that before it is charged."""
    parts = make_parts(allow_price_override=True)
    standing = await mandate(parts, tools=("finalize_order",), max_per_act=100_000)
    async with Client(parts.server) as client:
        product = seed.products["one_time_fixed"]
        ordered = {"customer_id": seed.customers["good_card"], "product_id": product, "amount": 100}
        draft = await call(client, "create_order", ordered)
        asked = await call(client, "finalize_order", {"order_id": draft["id"]})
    assert asked["status"] == "approval_pending"
    assert f"{standing.id} (ada): its price was set by hand (this order's price $1.00" in asked["next_step"]
    assert state.store.order(draft["id"]).status == "draft"
