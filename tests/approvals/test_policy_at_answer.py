"""A client's answer to a confirmation form is taken only where the policy in force when it arrives lets that
client's form approve that request: a 2026-07-28 client holds the sealed request state for as long as it is
good (ten minutes), and the server answering it (restarted, or another replica with the same request-state
keys) may by then send that request to the console (--confirm console, --approval-above)."""

from __future__ import annotations

from typing import Any

import httpx2
import mcp_types as types
import pytest
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client

from polar_orders_mcp.emulator.app import create_app
from polar_orders_mcp.emulator.seed import SeedInfo
from polar_orders_mcp.emulator.state import EmulatorState
from polar_orders_mcp.money import major_units
from polar_orders_mcp.server.app import build_server
from polar_orders_mcp.server.http import http_app
from polar_orders_mcp.settings import Settings
from tests.approvals.console_client import APPROVER_SECRET
from tests.server.conftest import HTTP_TOKEN, serve_in_thread
from tests.tools.conftest import error_text

pytestmark = pytest.mark.anyio

KEY = "k" * 40
FINALIZE = "/v1/orders/{id}/finalize"


async def never_asked(_ctx: Any, _params: types.ElicitRequestParams) -> types.ElicitResult:
    raise AssertionError("the 2026-07-28 client answers with input_responses, not mid-call")


@pytest.mark.parametrize(
    "now",
    [{"confirm": "console"}, {"approval_above": "usd=1000"}],  # the good card's draft is $15.00
    ids=["confirm-console", "approval-above"],
)
async def test_a_form_answered_after_the_policy_sent_the_request_to_the_console_approves_nothing(
    make_parts: Any, seed: SeedInfo, state: EmulatorState, now: dict[str, Any]
) -> None:
    order_id = seed.draft_orders["good_card"]
    args = {"order_id": order_id}
    typed = types.ElicitResult(
        action="accept", content={"amount": major_units(state.store.order(order_id).total_amount, "usd")}
    )
    before = make_parts(request_state_keys=KEY)
    async with Client(before.server, mode="auto", elicitation_callback=never_asked) as client:
        asked = await client.session.call_tool("finalize_order", args, allow_input_required=True)
    assert isinstance(asked, types.InputRequiredResult)
    # The operator restarts the server (or a replica is rolled) with a policy that sends this request to the
    # approval console: nothing but an approver there may approve it now.
    after = make_parts(request_state_keys=KEY, **now)
    async with Client(after.server, mode="auto", elicitation_callback=never_asked) as client:
        answered = await client.session.call_tool(
            "finalize_order",
            args,
            input_responses={"approval": typed},
            request_state=asked.request_state,
            allow_input_required=True,
        )
    assert isinstance(answered, types.CallToolResult)
    assert answered.is_error, answered.structured_content
    assert error_text(answered).startswith(f"Error executing tool finalize_order: Order {order_id} was not charged")
    assert state.faults.received("POST", FINALIZE) == []
    assert state.store.order(order_id).status == "draft"


async def test_a_script_no_longer_marked_as_a_person_client_cannot_answer_its_own_form(tmp_path: Any) -> None:
    """Over HTTP: a client the operator took out of --person-clients (it turned out to be a script) resumes the
    form it was asked before, on a replica (or a restart) that no longer counts its answers as a person's."""
    emulator = create_app(orders=20)
    state: EmulatorState = emulator.state.emulator
    order_id = state.seed_info.draft_orders["good_card"]
    args = {"order_id": order_id}
    typed = types.ElicitResult(
        action="accept", content={"amount": major_units(state.store.order(order_id).total_amount, "usd")}
    )

    def url_of(**policy: Any) -> Any:
        config = Settings(
            emulator=True,
            transport="http",
            http_token=HTTP_TOKEN,
            approver_token=APPROVER_SECRET,
            approval_wait=0,
            state_dir=tmp_path / "state",
            request_state_keys=KEY,
            **policy,
        )
        return serve_in_thread(http_app(build_server(config, transport=httpx2.ASGITransport(app=emulator)), config))

    async def call(url: str, **resume: Any) -> Any:
        http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {HTTP_TOKEN}"}, timeout=30)
        client = Client(streamable_http_client(f"{url}/mcp", http_client=http), elicitation_callback=never_asked)
        async with client:
            return await client.session.call_tool("finalize_order", args, allow_input_required=True, **resume)

    with url_of(person_clients=["default"]) as marked, url_of() as unmarked:
        asked = await call(marked)
        assert isinstance(asked, types.InputRequiredResult)
        answered = await call(unmarked, input_responses={"approval": typed}, request_state=asked.request_state)
    assert isinstance(answered, types.CallToolResult)
    assert answered.is_error, answered.structured_content
    assert state.faults.received("POST", FINALIZE) == []
    assert state.store.order(order_id).status == "draft"
