"""A ceiling the person gave the agent ("any charge of $15.00 or less"): enforced by the server, shown beside the
amount to whoever approves."""

from __future__ import annotations

from typing import Any

import mcp_types as types
import pytest
from mcp.client import Client

from polar_orders_mcp.emulator.seed import SeedInfo
from polar_orders_mcp.emulator.state import EmulatorState
from polar_orders_mcp.server.app import ServerParts
from tests.approvals.console_client import Person
from tests.approvals.form_person import typed_yes
from tests.tools.conftest import call, fail

pytestmark = pytest.mark.anyio


async def test_a_charge_over_the_ceiling_it_was_given_is_refused_before_anyone_is_asked(
    parts: ServerParts, seed: SeedInfo, state: EmulatorState
) -> None:
    order_id = seed.draft_orders["good_card"]  # $15.00, tax included
    async with Client(parts.server) as client:
        message = await fail(client, "finalize_order", {"order_id": order_id, "max_amount": 1499})
    assert message == (
        f"Error executing tool finalize_order: Order {order_id} was not charged: it moves $15.00 (tax included), "
        "over the ceiling of $14.99 it was given (max_amount). Nothing was asked or done: tell the user the amount, "
        "and call again only with a ceiling they agree to."
    )
    assert await (await parts.store()).list_approvals(states=["pending"]) == []
    assert state.store.order(order_id).status == "draft"


async def test_a_charge_at_the_ceiling_is_asked_with_the_ceiling_beside_the_amount(
    parts: ServerParts, seed: SeedInfo, state: EmulatorState
) -> None:
    order_id = seed.draft_orders["good_card"]
    asked: list[str] = []

    async def approve(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        asked.append(params.message)
        return typed_yes(params)

    async with Client(parts.server, elicitation_callback=approve) as client:
        charged = await call(client, "finalize_order", {"order_id": order_id, "max_amount": 1500})
    store = await parts.store()
    (approval,) = await store.list_approvals(states=["used"])
    rows = [(label, value) for label, value, _ in approval.display]
    assert rows[:2] == [
        ("Amount, tax included", "$15.00"),
        ("At most (the ceiling the agent was given)", "$15.00, tax included: this server refuses more"),
    ]
    assert "At most (the ceiling the agent was given): $15.00, tax included: this server refuses more" in asked[0]
    assert charged["status"] == "charged" and state.store.order(order_id).status == "paid"


async def test_a_ceiling_in_another_currency_is_refused(parts: ServerParts, seed: SeedInfo) -> None:
    order_id = seed.draft_orders["good_card"]
    async with Client(parts.server) as client:
        message = await fail(
            client, "finalize_order", {"order_id": order_id, "max_amount": 100_000, "max_currency": "EUR"}
        )
    assert message == (
        f"Error executing tool finalize_order: Order {order_id} was not charged: it moves $15.00, in USD, and the "
        "ceiling it was given (max_amount) is €1,000.00. Nothing was asked or done: tell the user the amount and "
        "currency."
    )


async def test_an_approval_asked_without_a_ceiling_is_not_acted_on_over_a_ceiling_given_later(
    parts: ServerParts, person: Person, seed: SeedInfo, state: EmulatorState
) -> None:
    """The second call brings a lower ceiling: nothing is charged and the approval is kept (it is not used)."""
    order_id = seed.draft_orders["good_card"]
    async with Client(parts.server) as client:
        approval_id = (await call(client, "finalize_order", {"order_id": order_id}))["approval"]["approval_id"]
        await person.approve(approval_id)
        message = await fail(
            client, "finalize_order", {"order_id": order_id, "approval_id": approval_id, "max_amount": 1000}
        )
    assert "over the ceiling of $10.00 it was given (max_amount)" in message
    approval = await (await parts.store()).get_approval(approval_id)
    assert approval is not None and approval.state == "approved"
    assert state.store.order(order_id).status == "draft"


async def test_a_refund_and_a_conceded_dispute_take_a_ceiling_too(parts: ServerParts, seed: SeedInfo) -> None:
    async with Client(parts.server) as client:
        refund = await fail(client, "create_refund", {"order_id": seed.paid_order_id, "total": 200, "max_amount": 199})
        dispute_id = seed.disputes["needs_response"]
        concede = await fail(client, "accept_dispute", {"dispute_id": dispute_id, "max_amount": 1})
        within = await call(client, "create_refund", {"order_id": seed.paid_order_id, "total": 200, "max_amount": 200})
    assert "was not refunded: it moves $2.00 (tax included), over the ceiling of $1.99" in refund
    assert "over the ceiling of $0.01 it was given (max_amount)" in concede
    assert within["status"] == "approval_pending"
