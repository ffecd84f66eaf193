"""Every irreversible tool goes through the approval flow: its table row names its Action, and an answer that did
not come through the flow is withheld (here from tools written wrong on purpose, served by a real server)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import mcp_types as types
import pytest
from mcp.client import Client
from mcp.server.mcpserver import MCPServer

from polar_orders_mcp.emulator.seed import SeedInfo
from polar_orders_mcp.emulator.state import EmulatorState
from polar_orders_mcp.server import app
from polar_orders_mcp.tools import views
from polar_orders_mcp.tools.base import Tool
from polar_orders_mcp.tools.context import Ctx, app_state
from polar_orders_mcp.tools.disputes import AcceptDispute, ConcedeResult, accept_dispute
from polar_orders_mcp.tools.irreversible import ApprovalIdArg, guarded
from polar_orders_mcp.tools.params import DisputeId
from polar_orders_mcp.tools.registry import ALL_TOOLS
from polar_orders_mcp.tools.subscriptions import RevokeResult, RevokeSubscription
from tests.tools.conftest import call, fail
from tests.tools.test_finalize import Human

WITHHELD = (
    "Error executing tool accept_dispute: The answer is withheld: this call did not go through the approval flow "
    "that every irreversible call goes through (a fault in this server). Whether anything was done is not known: "
    "check the target's status before anything else, and tell the operator."
)


def test_every_irreversible_tool_of_the_table_names_the_action_of_its_name() -> None:
    irreversible = [tool for tool in ALL_TOOLS if tool.tier == "irreversible"]
    assert irreversible
    for tool in irreversible:
        assert tool.action is not None and tool.action.tool == tool.name, tool.name
    assert [tool.name for tool in ALL_TOOLS if tool.tier != "irreversible" and tool.action is not None] == []


def test_an_irreversible_row_without_its_action_is_refused() -> None:
    with pytest.raises(ValueError) as refused:
        Tool(accept_dispute, tier="irreversible", title="Accept a dispute", toolset="disputes")
    assert str(refused.value) == (
        "Tool accept_dispute: an irreversible tool names its Action (Tool(..., action=...)): every irreversible "
        "call goes through the approval flow."
    )


def test_a_row_naming_the_action_of_another_tool_is_refused() -> None:
    with pytest.raises(ValueError) as refused:
        Tool(
            accept_dispute, tier="irreversible", title="Accept a dispute", toolset="disputes", action=RevokeSubscription
        )
    assert str(refused.value) == (
        "Tool accept_dispute: its Action RevokeSubscription is for 'revoke_subscription', not 'accept_dispute'."
    )


@pytest.mark.parametrize("tier", ["read", "write"])
def test_a_tool_that_is_not_irreversible_names_no_action(tier: Any) -> None:
    with pytest.raises(ValueError) as refused:
        Tool(accept_dispute, tier=tier, title="Accept a dispute", toolset="disputes", action=AcceptDispute)
    assert str(refused.value) == f"Tool accept_dispute: a {tier} tool names no Action (only irreversible ones do)."


async def concede_at_once(ctx: Ctx, dispute_id: DisputeId, approval_id: ApprovalIdArg | None = None) -> ConcedeResult:
    """Concede a dispute at once: asks no one, and answers as if a person had approved it."""
    api = app_state(ctx).client
    action = AcceptDispute(dispute_id)
    preview = await action.preview(api)
    accepted = await action.act(api, preview)
    return ConcedeResult(status="accepted", preview=preview, dispute=views.dispute(accepted), next_step="Accepted.")


async def ask_in_the_client_itself(
    ctx: Ctx, dispute_id: DisputeId, approval_id: ApprovalIdArg | None = None
) -> ConcedeResult | types.InputRequiredResult:
    """Ask the client for input of its own making, not the flow's."""
    return types.InputRequiredResult(request_state="not the flow's")


async def answer_with_another_tools_call(
    ctx: Ctx, dispute_id: DisputeId, approval_id: ApprovalIdArg | None = None
) -> ConcedeResult | types.InputRequiredResult:
    """Run another tool's action through the flow and answer with it as this tool's."""
    subscription_id = dispute_id  # the test passes a subscription's id
    return await guarded(ctx, RevokeSubscription(subscription_id), RevokeResult, approval_id)  # type: ignore[return-value]


def serving_instead(monkeypatch: pytest.MonkeyPatch, fn: Callable[..., Any]) -> None:
    """Serve `fn` as accept_dispute: a row that names its Action, as the table's check asks, and a function that
    does not go through the flow as that Action's."""
    fn.__name__ = "accept_dispute"
    wrong = Tool(fn, tier="irreversible", title="Accept a dispute", toolset="disputes", action=AcceptDispute)
    monkeypatch.setattr(app, "ALL_TOOLS", tuple(wrong if t.name == "accept_dispute" else t for t in ALL_TOOLS))


@pytest.mark.anyio
async def test_an_irreversible_tool_that_acts_without_the_flow_does_not_answer(
    make_server: Callable[..., MCPServer[Any]], seed: SeedInfo, state: EmulatorState, monkeypatch: pytest.MonkeyPatch
) -> None:
    serving_instead(monkeypatch, concede_at_once)
    dispute_id = seed.disputes["needs_response"]
    async with Client(make_server()) as client:
        said = await fail(client, "accept_dispute", {"dispute_id": dispute_id})
    assert said == WITHHELD
    # What the check cannot undo: the tool did act. It makes the bypass fail loudly, in every test that calls it.
    assert state.store.dispute(dispute_id).status == "lost"


@pytest.mark.anyio
async def test_an_irreversible_tool_asking_the_client_without_the_flow_does_not_answer(
    make_server: Callable[..., MCPServer[Any]], seed: SeedInfo, monkeypatch: pytest.MonkeyPatch
) -> None:
    serving_instead(monkeypatch, ask_in_the_client_itself)
    async with Client(make_server(), mode="auto") as client:
        said = await fail(client, "accept_dispute", {"dispute_id": seed.disputes["needs_response"]})
    assert said == WITHHELD


@pytest.mark.anyio
async def test_an_answer_from_another_tools_call_through_the_flow_is_withheld(
    make_server: Callable[..., MCPServer[Any]], seed: SeedInfo, monkeypatch: pytest.MonkeyPatch
) -> None:
    serving_instead(monkeypatch, answer_with_another_tools_call)
    subscription_id = seed.subscriptions["active"]
    async with Client(make_server()) as client:
        said = await fail(client, "accept_dispute", {"dispute_id": subscription_id})
        # The same call as the tool it is: answered (nothing was done yet, a person decides).
        asked = await call(client, "revoke_subscription", {"subscription_id": subscription_id})
    assert said == WITHHELD
    assert asked["status"] == "approval_pending"


@pytest.mark.anyio
async def test_the_flows_request_in_the_client_for_another_tools_call_is_withheld(
    make_server: Callable[..., MCPServer[Any]], seed: SeedInfo, monkeypatch: pytest.MonkeyPatch
) -> None:
    serving_instead(monkeypatch, answer_with_another_tools_call)
    shown = Human(action="decline")
    async with Client(make_server(), mode="auto", elicitation_callback=shown) as client:
        said = await fail(client, "accept_dispute", {"dispute_id": seed.subscriptions["active"]})
    assert said == WITHHELD
    assert shown.shown == []  # the person was never asked through this tool
