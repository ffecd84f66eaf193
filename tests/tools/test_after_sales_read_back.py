"""A revocation or a conceded dispute whose answer is unclear is read back from Polar, never sent twice."""

from __future__ import annotations

from typing import Any

import pytest
from mcp.client import Client

from polar_orders_mcp.emulator.seed import SeedInfo
from polar_orders_mcp.emulator.state import EmulatorState
from polar_orders_mcp.server.app import ServerParts
from tests.tools.conftest import error_text

pytestmark = pytest.mark.anyio

REVOKE = ("PATCH", "/v1/subscriptions/{id}")
ACCEPT = ("POST", "/v1/disputes/{id}/accept")
DONE_BY_READING_BACK = "(the answer was lost, and reading it back from Polar showed it was done). Do not retry."

# Each fault on the act, whether Polar acted behind it, what the agent is told, and how the act is settled.
REVOKE_FAULTS = [
    pytest.param({"kind": "drop_after"}, True, f"Revoked {DONE_BY_READING_BACK}", "done", id="drop_after"),
    pytest.param({"kind": "truncate"}, True, f"Revoked {DONE_BY_READING_BACK}", "done", id="truncate"),
    pytest.param(
        {"kind": "drop_before"},
        False,
        "Subscription {id} was not revoked: the connection was lost before Polar's answer arrived, and it is still "
        "active.",
        "failed",
        id="drop_before",
    ),
    pytest.param(
        {"kind": "status", "status": 503},
        False,
        "Subscription {id} is still active, but Polar answered HTTP 503 and Polar may still be revoking it. Check "
        "with get_subscription in a minute.",
        "unknown",
        id="503",
    ),
]
ACCEPT_FAULTS = [
    pytest.param({"kind": "drop_after"}, True, f"Accepted {DONE_BY_READING_BACK}", "done", id="drop_after"),
    pytest.param({"kind": "malformed"}, True, f"Accepted {DONE_BY_READING_BACK}", "done", id="malformed"),
    pytest.param(
        {"kind": "drop_before"},
        False,
        "Dispute {id} was not accepted: the connection was lost before Polar's answer arrived, and it still needs "
        "a response.",
        "failed",
        id="drop_before",
    ),
    pytest.param(
        {"kind": "status", "status": 503},
        False,
        "Dispute {id} still needs a response, but Polar answered HTTP 503 and Polar may still be accepting it. "
        "Check with get_dispute in a minute.",
        "unknown",
        id="503",
    ),
]


async def act_once(parts: ServerParts, tool: str, args: dict[str, Any]) -> tuple[bool, str]:
    """One call, with --confirm off (the read back is the same whoever approved): (done, what the agent read)."""
    async with Client(parts.server) as client:
        result = await client.call_tool(tool, args)
    if result.is_error:
        return False, error_text(result).removeprefix(f"Error executing tool {tool}: ")
    assert result.structured_content is not None
    return True, result.structured_content["next_step"]


async def settled(parts: ServerParts, tool: str, target: str) -> list[str]:
    return [act.state for act in await (await parts.store()).acts_for(tool, target)]


@pytest.mark.parametrize(("fault", "made", "told", "act"), REVOKE_FAULTS)
async def test_a_revocation_whose_answer_is_unclear_is_read_back_and_sent_once(
    make_parts: Any, seed: SeedInfo, state: EmulatorState, fault: dict[str, Any], made: bool, told: str, act: str
) -> None:
    subscription_id = seed.subscriptions["active"]
    state.faults.add(path=REVOKE[1], method=REVOKE[0], **fault)
    parts: ServerParts = make_parts(confirm="off")
    done, said = await act_once(parts, "revoke_subscription", {"subscription_id": subscription_id})
    assert (done, said) == (made, told.format(id=subscription_id))
    assert len(state.faults.received(*REVOKE)) == 1
    assert (state.store.subscription(subscription_id).ended_at is not None) is made
    assert await settled(parts, "revoke_subscription", subscription_id) == [act]


@pytest.mark.parametrize(("fault", "made", "told", "act"), ACCEPT_FAULTS)
async def test_a_conceded_dispute_whose_answer_is_unclear_is_read_back_and_sent_once(
    make_parts: Any, seed: SeedInfo, state: EmulatorState, fault: dict[str, Any], made: bool, told: str, act: str
) -> None:
    dispute_id = seed.disputes["needs_response"]
    state.faults.add(path=ACCEPT[1], method=ACCEPT[0], **fault)
    parts: ServerParts = make_parts(confirm="off")
    done, said = await act_once(parts, "accept_dispute", {"dispute_id": dispute_id})
    assert (done, said) == (made, told.format(id=dispute_id))
    assert len(state.faults.received(*ACCEPT)) == 1
    assert state.store.dispute(dispute_id).status == ("lost" if made else "needs_response")
    assert await settled(parts, "accept_dispute", dispute_id) == [act]


async def test_a_revocation_whose_read_back_fails_too_says_to_check_before_anything_else(
    make_parts: Any, seed: SeedInfo, state: EmulatorState
) -> None:
    subscription_id = seed.subscriptions["active"]
    state.faults.add("drop_after", REVOKE[1], method=REVOKE[0])
    # The preview's read goes through; the read after the act fails (a 500: reads are not retried on it).
    state.faults.add("status", "/v1/subscriptions/{id}", method="GET", status=500, skip=1)
    parts: ServerParts = make_parts(confirm="off")
    done, said = await act_once(parts, "revoke_subscription", {"subscription_id": subscription_id})
    assert (done, said) == (
        False,
        f"Subscription {subscription_id} may or may not have been revoked: the request failed (the connection was "
        "lost before Polar's answer arrived) and reading it back failed too (HTTP error (HTTP 500) on GET "
        f"/v1/subscriptions/{subscription_id}: Internal Server Error Hint: The failure is on Polar's side, not in the "
        "request. Try again later; for a change or a charge, re-read the object first to learn whether it "
        "happened.). Check with get_subscription before anything else.",
    )
    assert state.store.subscription(subscription_id).ended_at is not None  # Polar did it: only the server cannot tell
    assert await settled(parts, "revoke_subscription", subscription_id) == ["unknown"]


async def test_a_conceded_dispute_whose_read_back_fails_too_says_to_check_before_anything_else(
    make_parts: Any, seed: SeedInfo, state: EmulatorState
) -> None:
    dispute_id = seed.disputes["needs_response"]
    state.faults.add("drop_after", ACCEPT[1], method=ACCEPT[0])
    state.faults.add("status", "/v1/disputes/{id}", method="GET", status=500, skip=1)  # as above
    parts: ServerParts = make_parts(confirm="off")
    done, said = await act_once(parts, "accept_dispute", {"dispute_id": dispute_id})
    assert (done, said) == (
        False,
        f"Dispute {dispute_id} may or may not have been accepted: the request failed (the connection was lost "
        "before Polar's answer arrived) and reading it back failed too (HTTP error (HTTP 500) on GET "
        f"/v1/disputes/{dispute_id}: Internal Server Error Hint: The failure is on Polar's side, not in the request. "
        "Try again later; for a change or a charge, re-read the object first to learn whether it happened.). Check "
        "with get_dispute before anything else.",
    )
    assert state.store.dispute(dispute_id).status == "lost"  # Polar did it: only the server cannot tell
    assert await settled(parts, "accept_dispute", dispute_id) == ["unknown"]
