"""One act per target at a time: two approved acts on one target, redeemed together, never both reach Polar on
facts read before the other one acted, on either store backend."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from mcp.client import Client

from polar_orders_mcp.emulator.state import EmulatorState
from polar_orders_mcp.server.app import ServerParts
from tests.approvals.console_client import Person
from tests.tools.conftest import call, error_text

pytestmark = pytest.mark.anyio

ROUNDS = 20
PART = 500  # each approval refunds $5.00 before tax: both fit in what is refundable, as in the finding

# What the call that did nothing may be told: the other act was in flight, it settled after this call read the
# order, or (having read it after) the order no longer matches what was approved.
HELD_BACK = ("another call is acting on", "another call acted on", "changed after it was approved")


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, make_parts: Any) -> ServerParts:
    if request.param == "postgresql":
        return make_parts(database_url=request.getfixturevalue("postgres").new_database())  # type: ignore[no-any-return]
    return make_parts(database_url=None)  # type: ignore[no-any-return]


def refundable_orders(state: EmulatorState, count: int) -> list[str]:
    found = [
        o.id
        for o in state.store.orders
        if o.status == "paid"
        and o.refundable_amount >= 2 * PART
        and not o.refunds_blocked
        and not any(d.order.id == o.id for d in state.store.disputes.values())
    ]
    assert len(found) >= count, "the seed has too few paid orders for this test"
    return found[:count]


async def test_two_approved_partial_refunds_of_one_order_redeemed_together_pay_once(
    backend: ServerParts, state: EmulatorState
) -> None:
    refunds_posted: list[int] = []
    async with Client(backend.server) as client, Person(backend.console) as person:
        for order_id in refundable_orders(state, ROUNDS):
            args = {"order_id": order_id, "amount": PART}
            ids = [(await call(client, "create_refund", args))["approval"]["approval_id"] for _ in range(2)]
            for approval_id in ids:
                await person.approve(approval_id)
            # The first refund to reach Polar takes a while there: the other call redeems in that window.
            state.faults.add("latency", "/v1/refunds/", method="POST", seconds=0.05)
            before = len(state.faults.received("POST", "/v1/refunds/"))
            answers: dict[str, Any] = {}

            async def redeem(approval_id: str, order_id: str = order_id, answers: dict[str, Any] = answers) -> None:
                result = await client.call_tool(
                    "create_refund", {"order_id": order_id, "amount": PART, "approval_id": approval_id}
                )
                answers[approval_id] = result

            async with anyio.create_task_group() as group:
                for approval_id in ids:
                    group.start_soon(redeem, approval_id)
            state.faults.clear()
            refunds_posted.append(len(state.faults.received("POST", "/v1/refunds/")) - before)
            done = [r for r in answers.values() if not r.is_error]
            held = [error_text(r) for r in answers.values() if r.is_error]
            assert len(done) == 1 and len(held) == 1, [error_text(r) for r in answers.values()]
            assert any(why in held[0] for why in HELD_BACK), held[0]
            assert f"Order {order_id} was not refunded" in held[0]
            assert state.store.order(order_id).refunded_amount == PART
    assert refunds_posted == [1] * ROUNDS


async def held_back(backend: ServerParts, state: EmulatorState, *, until: str) -> tuple[str, list[str], str, str]:
    """Two approved refunds of one order; the second reaches the store's act only once the first is at Polar
    (`until="at Polar"`) or settled (`until="settled"`), having read the order before the first acted. Returns
    the order, the approval ids, what the second call was told, and what calling it again says."""
    order_id = refundable_orders(state, 1)[0]
    args = {"order_id": order_id, "amount": PART}
    store = await backend.store()
    second_read, first_at_polar, first_settled = anyio.Event(), anyio.Event(), anyio.Event()
    redeem, finish = store.redeem_and_start, store.finish_act
    ids: list[str] = []

    async def redeem_in_order(approval_id: str, **act: Any) -> Any:
        if approval_id == ids[1]:  # the second waits, its facts read, until the first is where the test wants it
            second_read.set()
            await (first_at_polar if until == "at Polar" else first_settled).wait()
        else:  # the first acts only once the second has read everything it reads
            await second_read.wait()
        started = await redeem(approval_id, **act)
        first_at_polar.set()
        return started

    async def finish_and_tell(approval_id: str, *args: Any, **kwargs: Any) -> Any:
        settled = await finish(approval_id, *args, **kwargs)
        first_settled.set()
        return settled

    store.redeem_and_start = redeem_in_order  # type: ignore[method-assign]
    store.finish_act = finish_and_tell  # type: ignore[method-assign]
    answers: dict[str, str] = {}
    async with Client(backend.server) as client, Person(backend.console) as person:
        ids.extend([(await call(client, "create_refund", args))["approval"]["approval_id"] for _ in range(2)])
        for approval_id in ids:
            await person.approve(approval_id)
        state.faults.add("latency", "/v1/refunds/", method="POST", seconds=0.2)

        async def redeem_call(approval_id: str) -> None:
            result = await client.call_tool("create_refund", {**args, "approval_id": approval_id})
            answers[approval_id] = error_text(result) if result.is_error else "refunded"

        async with anyio.create_task_group() as group:
            for approval_id in ids:
                group.start_soon(redeem_call, approval_id)
        kept = await store.get_approval(ids[1])
        assert kept is not None and kept.state == "approved"  # nothing was sent, nothing used up
        again = await client.call_tool("create_refund", {**args, "approval_id": ids[1]})
    assert answers[ids[0]] == "refunded"
    assert state.store.order(order_id).refunded_amount == PART
    return order_id, ids, answers[ids[1]], error_text(again)


async def test_an_act_on_a_target_another_act_is_in_flight_on_sends_nothing_and_keeps_its_approval(
    backend: ServerParts, state: EmulatorState
) -> None:
    order_id, ids, told, again = await held_back(backend, state, until="at Polar")
    assert told == (
        f"Error executing tool create_refund: Order {order_id} was not refunded by this call: another call is "
        f"acting on {order_id} right now (nothing was sent by this one; approval {ids[1]} is still good). Wait "
        "until it is done, check the target's status, then call again with the same approval_id: the server reads "
        "it again and acts only if it still matches what was approved."
    )
    assert "changed after it was approved" in again  # read afresh: what was refundable then is not any more


async def test_an_act_on_a_target_acted_on_after_its_facts_were_read_sends_nothing_and_keeps_its_approval(
    backend: ServerParts, state: EmulatorState
) -> None:
    order_id, ids, told, again = await held_back(backend, state, until="settled")
    assert told == (
        f"Error executing tool create_refund: Order {order_id} was not refunded by this call: another call acted on "
        f"{order_id} after this one read it, so what was read may be out of date (nothing was sent by this one; "
        f"approval {ids[1]} is still good). Check the target's status, then call again with the same approval_id: "
        "the server reads it again and acts only if it still matches what was approved."
    )
    assert "changed after it was approved" in again


async def test_with_confirm_off_two_refunds_of_one_order_fired_together_send_one(
    make_parts: Any, state: EmulatorState
) -> None:
    """No person is asked, and acts on one target are still one at a time: the second is held back while the
    first is at Polar, and told to call again if it is still needed."""
    parts: ServerParts = make_parts(confirm="off")
    order_id = refundable_orders(state, 1)[0]
    state.faults.add("latency", "/v1/refunds/", method="POST", seconds=0.3)
    answers: list[Any] = []
    async with Client(parts.server) as client:

        async def refund() -> None:
            answers.append(await client.call_tool("create_refund", {"order_id": order_id, "amount": PART}))

        async with anyio.create_task_group() as group:
            group.start_soon(refund)
            group.start_soon(refund)
    held = [error_text(r) for r in answers if r.is_error]
    assert len(state.faults.received("POST", "/v1/refunds/")) == 1
    assert held == [
        f"Error executing tool create_refund: Order {order_id} was not refunded by this call: another call is "
        f"acting on {order_id} right now (nothing was sent by this one). Wait until it is done, check the target's "
        "status, then call again if it is still needed."
    ]
    assert state.store.order(order_id).refunded_amount == PART
