"""An approval whose stored facts were changed in the database behind the server is not acted on: the act redeems
it with the digest of the facts it carries, which no longer matches the digest the person approved."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from mcp.client import Client
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from polar_orders_mcp.emulator.models import PaymentMethod
from polar_orders_mcp.emulator.seed import SeedInfo
from polar_orders_mcp.emulator.state import EmulatorState
from polar_orders_mcp.server.app import ServerParts
from polar_orders_mcp.store.database import async_url
from tests.approvals.console_client import Person
from tests.tools.conftest import call, fail

pytestmark = pytest.mark.anyio

FINALIZE = "/v1/orders/{id}/finalize"
OTHER_CARD = "7b0c5e8e-0000-4000-8000-0000000000aa"


def database(tmp_path: Path) -> str:
    """This test's own SQLite store, so that the test can reach its rows directly."""
    return f"sqlite:///{tmp_path / 'tampered.db'}"


async def rewrite_facts(url: str, approval_id: str, change: dict[str, Any]) -> None:
    """Change the `facts` column of one approval, leaving its digest as the person approved it."""
    engine = create_async_engine(async_url(url), poolclass=NullPool)
    try:
        async with engine.begin() as conn:
            select = sa.text("SELECT facts FROM pom_approvals WHERE id = :id")
            facts = json.loads((await conn.execute(select, {"id": approval_id})).scalar_one())
            update = sa.text("UPDATE pom_approvals SET facts = :facts WHERE id = :id")
            await conn.execute(update, {"facts": json.dumps({**facts, **change}, sort_keys=True), "id": approval_id})
    finally:
        await engine.dispose()


def a_second_card(state: EmulatorState, order_id: str) -> None:
    """The customer also has a card that works, one no person approved this charge on."""
    customer = state.store.order(order_id).customer
    card = PaymentMethod(
        id=OTHER_CARD,
        customer_id=customer.id,
        created_at=state.now(),
        brand="mastercard",
        last4="0341",
        exp_month=1,
        exp_year=2031,
        outcome="succeeds",
    )
    state.store.payment_methods[card.id] = card
    customer.payment_methods.append(card)


async def approved(parts: ServerParts, order_id: str) -> str:
    async with Client(parts.server) as client, Person(parts.console) as person:
        approval_id: str = (await call(client, "finalize_order", {"order_id": order_id}))["approval"]["approval_id"]
        await person.approve(approval_id)
    return approval_id


async def test_an_approval_whose_stored_facts_were_changed_is_refused_with_nothing_sent(
    make_parts: Any, seed: SeedInfo, state: EmulatorState, tmp_path: Path
) -> None:
    order_id = seed.draft_orders["good_card"]
    a_second_card(state, order_id)
    url = database(tmp_path)
    parts: ServerParts = make_parts(database_url=url)
    approval_id = await approved(parts, order_id)
    await rewrite_facts(url, approval_id, {"payment_method_id": OTHER_CARD, "payment_method": "mastercard •••• 0341"})
    async with Client(parts.server) as client:
        message = await fail(client, "finalize_order", {"order_id": order_id, "approval_id": approval_id})
    assert message == (
        f"Error executing tool finalize_order: Order {order_id} was not charged by this call: approval {approval_id} "
        "was changed in the server's store: its facts no longer match the ones approved. Tell the operator."
    )
    assert state.faults.received("POST", FINALIZE) == []
    store = await parts.store()
    after = await store.get_approval(approval_id)
    assert (after.state if after else None, await store.spent("usd")) == ("approved", 0)


async def test_an_approval_whose_stored_facts_are_untouched_is_acted_on(
    make_parts: Any, seed: SeedInfo, state: EmulatorState, tmp_path: Path
) -> None:
    order_id = seed.draft_orders["good_card"]
    a_second_card(state, order_id)
    url = database(tmp_path)
    parts: ServerParts = make_parts(database_url=url)
    approval_id = await approved(parts, order_id)
    await rewrite_facts(url, approval_id, {})  # written again as they were
    async with Client(parts.server) as client:
        charged = await call(client, "finalize_order", {"order_id": order_id, "approval_id": approval_id})
    assert charged["status"] == "charged"
    assert "4242" in charged["preview"]["payment_method"]
    assert len(state.faults.received("POST", FINALIZE)) == 1
