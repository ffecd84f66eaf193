"""The store's database failing: before Polar is asked nothing is sent and the agent is told so; after,
Polar's answer is still reported, and the unsettled act keeps counting against the limits."""

from __future__ import annotations

from typing import Any

import anyio
import asyncpg
import httpx2
import pytest
from mcp.client import Client
from sqlalchemy.engine import make_url

from polar_orders_mcp.emulator.seed import SeedInfo
from polar_orders_mcp.emulator.state import EmulatorState
from polar_orders_mcp.store.sql import SqlStore
from polar_orders_mcp.tools.orders import STRAY_DRAFT
from tests.approvals.console_client import Person
from tests.conftest import Postgres
from tests.tools.conftest import call, fail

pytestmark = pytest.mark.anyio


async def test_with_the_database_unreachable_nothing_is_sent_and_the_agent_is_told(
    make_parts: Any, seed: SeedInfo, state: EmulatorState
) -> None:
    order_id = seed.draft_orders["good_card"]
    parts = make_parts(database_url="postgresql://pom:db-password-1234@127.0.0.1:1/pom")
    async with Client(parts.server) as client:
        message = await fail(client, "finalize_order", {"order_id": order_id})
    assert message == (
        f"Error executing tool finalize_order: Order {order_id} was not charged: the server's approval store is "
        "unavailable (ConnectionRefusedError), so nothing was sent to Polar. Tell the operator; once it is back, "
        f"call again (a person may have to approve again). {STRAY_DRAFT}"
    )
    assert state.store.order(order_id).status == "draft"


async def _block(admin_url: str, database: str, allow: bool) -> None:
    connection = await asyncpg.connect(admin_url)
    try:
        await connection.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS {str(allow).lower()}')
        if not allow:
            await connection.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", database
            )
    finally:
        await connection.close()


async def test_a_database_lost_while_polar_charges_does_not_hide_the_charge(
    make_parts: Any, seed: SeedInfo, state: EmulatorState, emulator: Any, postgres: Postgres
) -> None:
    url = postgres.new_database()
    database = make_url(url).database
    assert database is not None
    order_id = seed.draft_orders["good_card"]
    parts = make_parts(database_url=url)
    control = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=emulator), base_url="http://emulator")
    async with Client(parts.server) as client, Person(parts.console) as person, control:
        first = await call(client, "finalize_order", {"order_id": order_id})
        approval_id = first["approval"]["approval_id"]
        await person.approve(approval_id)
        fault = {"kind": "slow_body", "path": "/v1/orders/{id}/finalize", "method": "POST", "seconds": 1.0}
        assert (await control.post("/_emulator/faults", json=fault)).status_code == 201
        outcome: dict[str, Any] = {}

        async def charge() -> None:
            outcome["result"] = await client.call_tool(
                "finalize_order", {"order_id": order_id, "approval_id": approval_id}
            )

        async with anyio.create_task_group() as group:
            group.start_soon(charge)
            with anyio.fail_after(20):
                while state.store.order(order_id).status != "paid":  # Polar has charged; its answer is late
                    await anyio.sleep(0.02)
            await _block(postgres.admin_url, database, allow=False)
    await _block(postgres.admin_url, database, allow=True)
    result = outcome["result"]
    assert not result.is_error, result.content
    assert result.structured_content["order"]["status"] == "paid"
    store = SqlStore(url)
    try:
        acts = await store.acts_for("finalize_order", order_id)
        spent = await store.spent("usd")
    finally:
        await store.close()
    assert [(a.approval_id, a.state) for a in acts] == [(approval_id, "started")]  # unsettled: it still counts
    assert spent == 1500
