"""A client's answer to a confirmation request is stored as the decision it is: a refusal is a denial for good."""

from __future__ import annotations

from typing import Any

import mcp_types as types
import pytest
from mcp.client import Client

from polar_orders_mcp.emulator.seed import SeedInfo
from polar_orders_mcp.emulator.state import EmulatorState
from polar_orders_mcp.money import major_units
from polar_orders_mcp.server.app import ServerParts
from polar_orders_mcp.store.records import Approval
from polar_orders_mcp.tools.orders import STRAY_DRAFT
from tests.tools.conftest import error_text, fail

pytestmark = pytest.mark.anyio

FINALIZE = "/v1/orders/{id}/finalize"

# Each answer that approves nothing, and how the store records who decided it.
REFUSALS = [
    pytest.param(types.ElicitResult(action="decline"), "stdio: the person declined it in the client", id="decline"),
    pytest.param(types.ElicitResult(action="cancel"), "stdio: the person dismissed it in the client", id="cancel"),
    pytest.param(
        types.ElicitResult(action="accept", content={"amount": "0.01"}),
        "stdio: the amount typed was not the one shown",
        id="mistyped",
    ),
    pytest.param(
        types.ElicitResult(action="accept", content={"approve": True}), "stdio: an unreadable answer", id="blind"
    ),
]
# What the agent is told of each: that nothing was charged, and why.
TOLD = {
    "the person declined it in the client": "the person declined the confirmation request.",
    "the person dismissed it in the client": "the person dismissed the confirmation request.",
    "the amount typed was not the one shown": "the person types it as shown to approve.",
    "an unreadable answer": "so nobody approved it. Call again to ask once more.",
}


def answering(answer: types.ElicitResult) -> Any:
    async def person(_ctx: Any, _params: types.ElicitRequestParams) -> types.ElicitResult:
        return answer

    return person


async def only_approval(parts: ServerParts) -> Approval:
    store = await parts.store()
    [approval] = await store.list_approvals(states=["pending", "approved", "denied", "expired", "used"])
    return approval


@pytest.mark.parametrize(("answer", "by"), REFUSALS)
async def test_a_refused_or_unreadable_answer_is_stored_as_a_denial_by_that_client(
    parts: ServerParts, seed: SeedInfo, mode: str, answer: types.ElicitResult, by: str
) -> None:
    order_id = seed.draft_orders["good_card"]
    async with Client(parts.server, mode=mode, elicitation_callback=answering(answer)) as client:
        told = await fail(client, "finalize_order", {"order_id": order_id})
    approval = await only_approval(parts)
    assert (approval.state, approval.decided_by, approval.channel) == ("denied", by, "form")
    assert told.startswith(f"Error executing tool finalize_order: Order {order_id} was not charged: ")
    assert told.endswith(f"{TOLD[by.removeprefix('stdio: ')]} {STRAY_DRAFT}")


@pytest.mark.parametrize(("answer", "by"), REFUSALS)
async def test_a_refused_request_replayed_with_an_accept_is_not_acted_on(
    parts: ServerParts, seed: SeedInfo, state: EmulatorState, answer: types.ElicitResult, by: str
) -> None:
    """Protocol 2026-07-28: the client holds the sealed request_state, and can send it again with any answer.
    Once refused, the request stays refused."""
    order_id = seed.draft_orders["good_card"]
    args = {"order_id": order_id}
    total = state.store.order(order_id).total_amount
    yes = types.ElicitResult(action="accept", content={"amount": major_units(total, "usd")})
    async with Client(parts.server, mode="auto", elicitation_callback=answering(yes)) as client:
        asked = await client.session.call_tool("finalize_order", args, allow_input_required=True)
        assert isinstance(asked, types.InputRequiredResult)
        refused = await client.session.call_tool(
            "finalize_order",
            args,
            input_responses={"approval": answer},
            request_state=asked.request_state,
            allow_input_required=True,
        )
        replayed = await client.session.call_tool(
            "finalize_order",
            args,
            input_responses={"approval": yes},
            request_state=asked.request_state,
            allow_input_required=True,
        )
    approval = await only_approval(parts)
    assert isinstance(refused, types.CallToolResult) and refused.is_error
    assert isinstance(replayed, types.CallToolResult) and replayed.is_error
    assert error_text(replayed) == (
        f"Error executing tool finalize_order: Order {order_id} was not charged: approval {approval.id} is denied, "
        "not open for a decision."
    )
    assert (approval.state, approval.decided_by) == ("denied", by)
    assert state.faults.received("POST", FINALIZE) == []
    assert state.store.order(order_id).status == "draft"


async def test_a_client_that_fails_to_show_the_request_leaves_it_denied(
    parts: ServerParts, seed: SeedInfo, state: EmulatorState
) -> None:
    """Before 2026-07-28 the server asks mid-call: a client that answers with an error approved nothing."""
    order_id = seed.draft_orders["good_card"]

    async def broken(_ctx: Any, _params: types.ElicitRequestParams) -> types.ElicitResult:
        raise RuntimeError("the client's window could not open")

    async with Client(parts.server, mode="legacy", elicitation_callback=broken) as client:
        message = await fail(client, "finalize_order", {"order_id": order_id})
    approval = await only_approval(parts)
    assert message == (
        f"Error executing tool finalize_order: Order {order_id} was not charged: the client could not show the "
        f"confirmation request (MCPError). {STRAY_DRAFT}"
    )
    assert (approval.state, approval.decided_by) == ("denied", "stdio: the confirmation request failed")
    assert state.faults.received("POST", FINALIZE) == []
