"""Spending limits per currency and per 24 hours, held in the store: atomic across sessions and restarts."""

from __future__ import annotations

from typing import Any

import anyio
import mcp_types as types
import pytest
from mcp.client import Client
from pydantic import ValidationError

from polar_orders_mcp.approvals.limits import Limits
from polar_orders_mcp.emulator.seed import SeedInfo
from polar_orders_mcp.emulator.state import EmulatorState
from polar_orders_mcp.server.app import ServerParts
from polar_orders_mcp.settings import Settings
from tests.approvals.console_client import Person
from tests.approvals.form_person import typed_yes
from tests.tools.conftest import approved_call, call, fail

pytestmark = pytest.mark.anyio


def test_limits_are_written_per_currency_or_for_any() -> None:
    assert Limits.parse("usd=50000,eur=45000").of("usd") == 50000
    assert Limits.parse("usd=50000,eur=45000").of("jpy") == 0  # a currency the limits leave out: nothing
    assert not Limits.parse("usd=50000").names("jpy") and Limits.parse("usd=50000").names("USD")
    assert Limits.parse("*=700,usd=50000").of("jpy") == 700 and Limits.parse("*=700").names("jpy")
    assert Limits.parse("").of("usd") is None and Limits.parse("").names("usd")
    assert Limits.parse("10000").of("jpy") == 10000
    assert Limits.parse("10000,jpy=1000000").of("jpy") == 1000000
    assert Limits.parse("10000,jpy=1000000").of("USD") == 10000
    assert not Limits.parse("")


@pytest.mark.parametrize(
    ("given", "said"),
    [
        (
            "12.50",
            "'12.50' is not an amount in minor units: give a whole number, e.g. 1250 for $12.50 (12.50 in major "
            "units is 1250 minor units for a 2-decimal currency)",
        ),
        ("usd=12.5", "'12.5' is not an amount in minor units"),
        ("dollars=100", "'dollars' is not a currency code: use ISO codes such as usd, eur, jpy"),
        ("100,2000", "two amounts for any currency (100 and 2000): give one"),
        ("usd=50000,usd=100", "usd is given twice (usd=50000 and usd=100): keep one, usd=50000 or usd=100"),
        ("USD=50000,usd=100", "usd is given twice (usd=50000 and usd=100): keep one, usd=50000 or usd=100"),
        ("usd:50000", "'usd:50000': write usd=50000 (a currency's limit is currency=amount)"),
        ("eur=1,usd: 50000", "'usd: 50000': write usd=50000 (a currency's limit is currency=amount)"),
        ("usd 50000", "'usd 50000': write usd=50000 (a currency's limit is currency=amount)"),
        ("usd50000", "'usd50000': write usd=50000 (a currency's limit is currency=amount)"),
        ("50000 USD", "'50000 USD': write usd=50000 (a currency's limit is currency=amount)"),
        ("*:10000", "'*:10000': write *=10000 (a currency's limit is currency=amount)"),
        ("usd=50000 eur=45000", "'usd=50000 eur=45000': separate limits with commas: write usd=50000,eur=45000"),
        ("usd=50000;eur=45000", "'usd=50000;eur=45000': separate limits with commas: write usd=50000,eur=45000"),
        ("usd=1:2", "'1:2' is not an amount in minor units"),
        ("usd=50_000", "'50_000' is not an amount in minor units: write 50000, no separators"),
    ],
)
def test_a_limit_that_is_not_one_says_what_to_write(given: str, said: str) -> None:
    with pytest.raises(ValidationError, match="max_charge") as caught:
        Settings(max_charge=given)
    assert said in str(caught.value)


@pytest.mark.parametrize(
    ("given", "said"),
    [
        (
            "usd=50,000",
            "'usd=50,000': a comma separates limits, so this reads as two; write usd=50000 (no thousands separators)",
        ),
        ("50,000", "'50,000': a comma separates limits, so this reads as two; write 50000 (no thousands separators)"),
        (
            "usd=1,000,000,eur=5",
            "'usd=1,000': a comma separates limits, so this reads as two; write "
            "usd=1000000,eur=5 (no thousands separators)",
        ),
        (
            "usd=1,500",
            "'usd=1,500': a comma separates limits, so this reads as two; write usd=1500 (no thousands "
            "separators), or *=500 for a limit on any other currency",
        ),
    ],
)
def test_a_limit_written_with_thousands_separators_is_refused_not_read_as_two(given: str, said: str) -> None:
    # usd=50,000 used to read as usd=50 and 0 for every other currency: a cap of $0.50 nobody asked for.
    with pytest.raises(ValidationError, match="max_charge") as caught:
        Settings(max_charge=given)
    assert said in str(caught.value)
    assert Limits.parse("usd=1,*=500").of("eur") == 500  # the any-currency amount said plainly is still taken


async def test_a_charge_over_its_currencys_limit_is_refused_before_anyone_is_asked(
    make_parts: Any, seed: SeedInfo, state: EmulatorState
) -> None:
    order_id = seed.draft_orders["good_card"]
    async with Client(make_parts(max_charge="usd=1000,eur=900000").server) as client:
        message = await fail(client, "finalize_order", {"order_id": order_id})
    assert message == (
        f"Error executing tool finalize_order: Order {order_id} was not charged: $15.00 is over this server's "
        "limit for a single move of money in USD, $10.00 (--max-charge). A person can do it in Polar's dashboard, "
        "or the operator who runs this server can raise --max-charge."
    )
    store = await make_parts().store()
    assert await store.list_approvals(states=["pending"]) == []  # nobody was asked


@pytest.mark.parametrize("flag", ["max_charge", "max_daily", "approval_above"])
async def test_a_move_in_a_currency_the_limits_leave_out_is_refused_before_anyone_is_asked(
    make_parts: Any, seed: SeedInfo, state: EmulatorState, flag: str
) -> None:
    order_id = seed.draft_orders["good_card"]
    parts = make_parts(**{flag: "eur=900000"})
    async with Client(parts.server) as client:
        message = await fail(client, "finalize_order", {"order_id": order_id})
    option = "--" + flag.replace("_", "-")
    assert message == (
        f"Error executing tool finalize_order: Order {order_id} was not charged: it moves money in USD, and this "
        f"server's {option} names only EUR: a move in a currency its limits leave out is refused. The operator who "
        f"runs this server can add usd=AMOUNT to {option}, or *=AMOUNT for every other currency."
    )
    assert await (await parts.store()).list_approvals(states=["pending"]) == []
    assert state.store.order(order_id).status == "draft"


async def test_a_currency_left_out_is_refused_at_the_act_too(
    make_parts: Any, seed: SeedInfo, state: EmulatorState
) -> None:
    """Approved while no limit was set; the server restarted with limits that name only EUR: the act refuses."""
    order_id = seed.draft_orders["good_card"]
    before = make_parts()
    async with Client(before.server) as client, Person(before.console) as person:
        approval_id = (await call(client, "finalize_order", {"order_id": order_id}))["approval"]["approval_id"]
        await person.approve(approval_id)
    async with Client(make_parts(max_daily="eur=900000").server) as client:
        message = await fail(client, "finalize_order", {"order_id": order_id, "approval_id": approval_id})
    assert "it moves money in USD, and this server's --max-daily names only EUR" in message
    assert state.store.order(order_id).status == "draft"


async def test_a_star_limit_covers_every_other_currency(make_parts: Any, seed: SeedInfo, state: EmulatorState) -> None:
    async with Client(make_parts(max_charge="eur=1000,*=2000").server) as client:
        first = await call(client, "finalize_order", {"order_id": seed.draft_orders["good_card"]})
    assert first["status"] == "approval_pending"


async def test_conceding_a_dispute_counts_against_the_limits(
    make_parts: Any, seed: SeedInfo, state: EmulatorState
) -> None:
    dispute_id = seed.disputes["needs_response"]
    async with Client(make_parts(max_charge="usd=1000", toolsets=["all"]).server) as client:
        message = await fail(client, "accept_dispute", {"dispute_id": dispute_id})
    assert (
        f"Dispute {dispute_id} was not accepted: $15.00 is over this server's limit for a single move of money in "
        "USD, $10.00 (--max-charge)."
    ) in message
    assert state.store.dispute(dispute_id).status == "needs_response"


async def test_a_bare_limit_applies_to_every_currency(make_parts: Any, seed: SeedInfo, state: EmulatorState) -> None:
    async with Client(make_parts(max_charge="1000").server) as client:
        message = await fail(client, "finalize_order", {"order_id": seed.draft_orders["good_card"]})
    assert "over this server's limit for a single move of money in USD, $10.00" in message


async def drafts(client: Client, seed: SeedInfo, count: int) -> list[str]:
    made = []
    for _ in range(count):
        order = await call(
            client,
            "create_order",
            {
                "customer_id": seed.customers["good_card"],
                "product_id": seed.products["one_time_fixed"],
            },
        )
        made.append(order["id"])
    return made


async def test_the_daily_limit_holds_when_approved_charges_land_at_once_from_many_sessions(
    make_parts: Any, seed: SeedInfo, state: EmulatorState
) -> None:
    parts: ServerParts = make_parts(max_daily="usd=4500")  # three $15.00 charges
    async with Client(parts.server) as client, Person(parts.console) as person:
        orders = await drafts(client, seed, 6)
        approvals = []
        for order_id in orders:  # each alone is within the limit, so every request is made and approved
            approval_id = (await call(client, "finalize_order", {"order_id": order_id}))["approval"]["approval_id"]
            await person.approve(approval_id)
            approvals.append(approval_id)
    outcomes: dict[str, Any] = {}

    async def charge(order_id: str, approval_id: str) -> None:
        async with Client(parts.server) as session:
            outcomes[order_id] = await session.call_tool(
                "finalize_order", {"order_id": order_id, "approval_id": approval_id}
            )

    async with anyio.create_task_group() as group:
        for order_id, approval_id in zip(orders, approvals, strict=True):
            group.start_soon(charge, order_id, approval_id)
    paid = [o for o in orders if state.store.order(o).status == "paid"]
    refused = [outcomes[o] for o in orders if outcomes[o].is_error]
    assert len(paid) == 3 and len(refused) == 3
    for result in refused:
        text = result.content[0].text  # type: ignore[union-attr]
        assert "over this server's limit of $45.00 (--max-daily); $0.00 is left" in text
    assert await (await parts.store()).spent("usd") == 4500


async def test_the_daily_total_survives_a_restart(make_parts: Any, seed: SeedInfo, state: EmulatorState) -> None:
    first: ServerParts = make_parts(max_daily="usd=2000", confirm="off")
    async with Client(first.server) as client:
        [one, two] = await drafts(client, seed, 2)
        await call(client, "finalize_order", {"order_id": one})
    restarted: ServerParts = make_parts(max_daily="usd=2000", confirm="off")  # a new process on the same state
    async with Client(restarted.server) as client:
        message = await fail(client, "finalize_order", {"order_id": two})
    assert (
        "would take the money moved in USD in the last 24 hours to $30.00, over this server's limit of $20.00"
        in message
    )
    assert "$5.00 is left" in message
    assert state.store.order(two).status == "draft"


async def test_a_charge_polar_refused_frees_its_share_of_the_daily_limit(
    make_parts: Any, seed: SeedInfo, state: EmulatorState
) -> None:
    parts: ServerParts = make_parts(max_daily="usd=1500", confirm="off")
    async with Client(parts.server) as client:
        await fail(client, "finalize_order", {"order_id": seed.draft_orders["declining_card"]})  # $12.50, declined
        charged = await call(client, "finalize_order", {"order_id": seed.draft_orders["good_card"]})  # $15.00
    assert charged["status"] == "charged"
    assert await (await parts.store()).spent("usd") == 1500


async def test_a_charge_over_the_days_total_is_refused_before_anyone_is_asked(make_parts: Any, seed: SeedInfo) -> None:
    """The request is not recorded: checked in the same transaction that would record it."""
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
    async with Client(parts.server) as client:
        message = await fail(client, "finalize_order", {"order_id": order_id})
    assert message == (
        f"Error executing tool finalize_order: Order {order_id} was not charged: $15.00 would take the money moved "
        "in USD in the last 24 hours to $25.00, over this server's limit of $20.00 (--max-daily); $10.00 is left "
        "until earlier moves are 24 hours old. A person can do it in Polar's dashboard, or the operator who runs "
        "this server can raise --max-daily."
    )
    assert await store.list_approvals(states=["pending"]) == []


async def test_an_approved_charge_over_the_days_total_by_now_keeps_its_approval(
    make_parts: Any, seed: SeedInfo
) -> None:
    """Another charge used up the day's total after the approval: the approved call is refused before the
    approval is used (it can be used once the total allows), and nothing is charged."""
    parts: ServerParts = make_parts(max_daily="usd=2000")
    store = await parts.store()
    order_id = seed.draft_orders["good_card"]
    async with Client(parts.server) as client, Person(parts.console) as person:
        approval_id = (await call(client, "finalize_order", {"order_id": order_id}))["approval"]["approval_id"]
        await person.approve(approval_id)
        await store.start_act(
            approval_id="another",
            tool="finalize_order",
            target="another-order",
            currency="usd",
            amount=1000,
            per_charge=None,
            daily=None,
            seen=0,
        )
        message = await fail(client, "finalize_order", {"order_id": order_id, "approval_id": approval_id})
    approval = await store.get_approval(approval_id)
    assert "over this server's limit of $20.00 (--max-daily)" in message
    assert (approval.state if approval else None, await store.spent("usd")) == ("approved", 1000)


async def test_the_act_takes_the_servers_limits_into_the_store_with_it(
    make_parts: Any, seed: SeedInfo, state: EmulatorState
) -> None:
    """The limits are checked before anyone is asked, and again atomically in the store as the approval is
    redeemed: the act hands the store this server's own per-charge and daily limits, so that second check is
    never skipped (it is what holds when the first one was made with other facts or limits)."""
    parts: ServerParts = make_parts(max_charge="usd=5000", max_daily="usd=100000")
    store = await parts.store()
    handed: list[tuple[Any, Any]] = []
    redeem = store.redeem_and_start

    async def recording(approval_id: str, **act: Any) -> Any:
        handed.append((act["per_charge"], act["daily"]))
        return await redeem(approval_id, **act)

    store.redeem_and_start = recording  # type: ignore[method-assign]
    async with Client(parts.server) as client, Person(parts.console) as person:
        order_id = seed.draft_orders["good_card"]
        approval_id = (await call(client, "finalize_order", {"order_id": order_id}))["approval"]["approval_id"]
        await person.approve(approval_id)
        done = await call(client, "finalize_order", {"order_id": order_id, "approval_id": approval_id})
    assert (done["status"], handed) == ("charged", [(5000, 100000)])


class InClient:
    """A person in the client who approves what they are asked; records each question."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    async def __call__(self, _ctx: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        self.asked.append(params.message)
        return typed_yes(params)


async def test_a_charge_of_exactly_the_per_charge_limit_is_approved_and_made(
    make_parts: Any, seed: SeedInfo, state: EmulatorState
) -> None:
    """The draft is $15.00 and --max-charge usd=1500: checked before asking, before acting and in the store's
    act, it passes each."""
    order_id = seed.draft_orders["good_card"]
    parts: ServerParts = make_parts(max_charge="usd=1500")
    async with Client(parts.server) as client, Person(parts.console) as person:
        charged = await approved_call(client, person, "finalize_order", {"order_id": order_id})
    assert charged["status"] == "charged"
    assert state.store.order(order_id).status == "paid"


async def test_a_charge_one_unit_over_the_per_charge_limit_is_refused_before_anyone_is_asked(
    make_parts: Any, seed: SeedInfo, state: EmulatorState
) -> None:
    order_id = seed.draft_orders["good_card"]
    parts: ServerParts = make_parts(max_charge="usd=1499")
    async with Client(parts.server) as client:
        message = await fail(client, "finalize_order", {"order_id": order_id})
    assert message == (
        f"Error executing tool finalize_order: Order {order_id} was not charged: $15.00 is over this server's "
        "limit for a single move of money in USD, $14.99 (--max-charge). A person can do it in Polar's dashboard, "
        "or the operator who runs this server can raise --max-charge."
    )
    assert await (await parts.store()).list_approvals(states=["pending"]) == []


async def test_a_request_that_brings_the_days_total_to_exactly_the_limit_is_recorded(
    make_parts: Any, seed: SeedInfo
) -> None:
    """$10.00 moved today and a $15.00 charge: --max-daily usd=2500 records the request for a person."""
    parts: ServerParts = make_parts(max_daily="usd=2500")
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
    async with Client(parts.server) as client:
        waiting = await call(client, "finalize_order", {"order_id": seed.draft_orders["good_card"]})
    assert waiting["status"] == "approval_pending"
    assert [a.id for a in await store.list_approvals(states=["pending"])] == [waiting["approval"]["approval_id"]]


async def test_a_request_one_unit_over_the_days_limit_asks_nobody_and_records_nothing(
    make_parts: Any, seed: SeedInfo, state: EmulatorState
) -> None:
    """$10.00 moved today and a $15.00 charge over --max-daily usd=2499: the client that could ask is not asked."""
    parts: ServerParts = make_parts(max_daily="usd=2499")
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
    person = InClient()
    order_id = seed.draft_orders["good_card"]
    async with Client(parts.server, elicitation_callback=person) as client:
        message = await fail(client, "finalize_order", {"order_id": order_id})
    assert message == (
        f"Error executing tool finalize_order: Order {order_id} was not charged: $15.00 would take the money moved "
        "in USD in the last 24 hours to $25.00, over this server's limit of $24.99 (--max-daily); $14.99 is left "
        "until earlier moves are 24 hours old. A person can do it in Polar's dashboard, or the operator who runs "
        "this server can raise --max-daily."
    )
    assert person.asked == []
    assert await store.list_approvals(states=["pending", "approved", "denied", "expired", "used"]) == []
    assert state.store.order(order_id).status == "draft"


async def test_a_charge_of_exactly_the_approval_above_threshold_may_be_approved_in_the_client(
    make_parts: Any, seed: SeedInfo, state: EmulatorState
) -> None:
    """--approval-above names the largest amount a person may approve in the client: only above it is the
    approval console required. The draft is $15.00."""
    order_id = seed.draft_orders["good_card"]
    async with Client(make_parts(approval_above="usd=1500").server, elicitation_callback=InClient()) as client:
        charged = await call(client, "finalize_order", {"order_id": order_id})
    assert charged["status"] == "charged"
    assert charged["decided"].startswith("Approved by the person in the client (stdio) at ")
    assert state.store.order(order_id).status == "paid"


async def test_a_charge_one_unit_above_the_approval_above_threshold_goes_to_the_console(
    make_parts: Any, seed: SeedInfo, state: EmulatorState
) -> None:
    order_id = seed.draft_orders["good_card"]
    person = InClient()
    async with Client(make_parts(approval_above="usd=1499").server, elicitation_callback=person) as client:
        waiting = await call(client, "finalize_order", {"order_id": order_id})
    assert (waiting["status"], person.asked) == ("approval_pending", [])
    assert state.store.order(order_id).status == "draft"
