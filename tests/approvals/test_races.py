"""Two calls racing with one approval: both pass every check before the act, and only one acts."""

from __future__ import annotations

from typing import Any

import anyio
import httpx2
import mcp_types as types
import pytest
from mcp.client import Client

from polar_orders_mcp.emulator.seed import SeedInfo
from polar_orders_mcp.emulator.state import EmulatorState
from polar_orders_mcp.server.app import ServerParts
from tests.approvals.console_client import Person
from tests.approvals.test_pinning import parts_with
from tests.tools.conftest import call, error_text

pytestmark = pytest.mark.anyio


class Gate(httpx2.AsyncBaseTransport):
    """The emulator, with the reread of one path held until `calls` requests for it have arrived: each
    racing call then has its approval read as approved and its target read as unchanged, and they go on
    to redeem the approval together."""

    def __init__(self, app: Any, path: str, calls: int = 2) -> None:
        self.inner = httpx2.ASGITransport(app=app)
        self.path, self.calls = path, calls
        self.armed = False
        self.arrived = 0
        self.all_in = anyio.Event()

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        if self.armed and request.method == "GET" and request.url.path == self.path:
            self.arrived += 1
            if self.arrived >= self.calls:
                self.all_in.set()
            with anyio.fail_after(10):  # a call that never comes fails the test here, not the suite's timeout
                await self.all_in.wait()
        return await self.inner.handle_async_request(request)


async def race(
    parts: ServerParts, tool: str, args: dict[str, Any], mode: str, times: int = 2
) -> list[types.CallToolResult]:
    """The same call, with the same approval, from `times` sessions of the client that asked, at once."""
    results: list[types.CallToolResult] = []

    async def one() -> None:
        async with Client(parts.server, mode=mode) as client:
            results.append(await client.call_tool(tool, args))

    async with anyio.create_task_group() as group:
        for _ in range(times):
            group.start_soon(one)
    return results


async def test_the_loser_of_a_redeem_race_sends_nothing_to_polar(
    emulator: Any, seed: SeedInfo, state: EmulatorState, tmp_path: Any, mode: str
) -> None:
    order_id = seed.draft_orders["good_card"]
    gate = Gate(emulator, f"/v1/orders/{order_id}")
    parts = parts_with(emulator, gate, tmp_path)
    async with Client(parts.server, mode=mode) as client, Person(parts.console) as person:
        approval_id = (await call(client, "finalize_order", {"order_id": order_id}))["approval"]["approval_id"]
        await person.approve(approval_id)
    gate.armed = True
    results = await race(parts, "finalize_order", {"order_id": order_id, "approval_id": approval_id}, mode)
    [won] = [r for r in results if not r.is_error]
    [lost] = [error_text(r) for r in results if r.is_error]
    assert gate.arrived == 2  # both read the order as a draft, with the approval still approved
    assert won.structured_content is not None and won.structured_content["status"] == "charged"
    assert lost == (
        f"Error executing tool finalize_order: Order {order_id} was not charged by this call: approval {approval_id} "
        "is used (another call may have used it)."
    )
    assert len(state.faults.received("POST", "/v1/orders/{id}/finalize")) == 1
    assert state.store.order(order_id).status == "paid"
