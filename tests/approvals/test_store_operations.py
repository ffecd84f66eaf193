"""What the store costs an approved charge: its transactions, counted at the database engine."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from mcp.client import Client

from polar_orders_mcp.emulator.seed import SeedInfo
from tests.approvals.console_client import Person
from tests.tools.conftest import call

pytestmark = pytest.mark.anyio


@pytest.fixture
def transactions() -> Iterator[list[str]]:
    """Every transaction begun on any database engine while the test runs."""
    begun: list[str] = []

    def count(conn: sa.Connection) -> None:
        begun.append(conn.engine.url.get_backend_name())

    sa.event.listen(sa.Engine, "begin", count)
    yield begun
    sa.event.remove(sa.Engine, "begin", count)


async def test_a_console_approved_charge_takes_six_store_transactions(
    make_parts: Any, seed: SeedInfo, mode: str, transactions: list[str]
) -> None:
    """Under a daily limit: the request recorded with its limit check and audit record (1); the person's
    page (1) and decision (1); the approval read with the day's spend (1), redeemed with the act counted
    (1), the act settled with the outcome and audit record (1)."""
    parts = make_parts(max_daily="usd=1000000")
    order_id = seed.draft_orders["good_card"]
    steps: dict[str, int] = {}
    async with Client(parts.server, mode=mode) as client, Person(parts.console) as person:
        await person.sign_in()
        transactions.clear()
        first = await call(client, "finalize_order", {"order_id": order_id})
        steps["ask"], _ = len(transactions), transactions.clear()
        approved = await person.approve(first["approval"]["approval_id"])
        steps["the person's page and decision"], _ = len(transactions), transactions.clear()
        done = await call(
            client, "finalize_order", {"order_id": order_id, "approval_id": first["approval"]["approval_id"]}
        )
        steps["the charge"] = len(transactions)
    assert (approved.status_code, done["status"]) == (303, "charged")
    assert steps == {"ask": 1, "the person's page and decision": 2, "the charge": 3}
