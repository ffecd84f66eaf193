"""Removing a passkey stops every approval it made that is not yet used: also one whose act is under way, when
the removal lands between the flow's check of the stored proof and the redeem that starts the act."""

from __future__ import annotations

from typing import Any

import pytest
from mcp.client import Client

from polar_orders_mcp.emulator.seed import SeedInfo
from polar_orders_mcp.emulator.state import EmulatorState
from polar_orders_mcp.server.app import ServerParts
from tests.approvals.authenticator import SoftPasskey
from tests.approvals.console_client import Person
from tests.approvals.test_passkeys import approve_with, ask, key, not_charged, parts, person  # noqa: F401
from tests.tools.conftest import error_text

pytestmark = pytest.mark.anyio


async def test_a_passkey_removed_while_the_act_starts_charges_nothing(
    parts: ServerParts,  # noqa: F811
    person: Person,  # noqa: F811
    key: SoftPasskey,  # noqa: F811
    seed: SeedInfo,
    state: EmulatorState,
) -> None:
    order_id = seed.draft_orders["good_card"]
    store = await parts.store()
    checked = store.get_passkey

    async def approver_removes_it_right_after_the_check(credential_id: str) -> Any:
        found = await checked(credential_id)
        # The approver (their laptop was stolen) presses Remove on their Passkeys page at this moment.
        assert await store.remove_passkey(credential_id, approver="approver")
        return found

    async with Client(parts.server) as client:
        approval_id = await ask(client, order_id)
        assert (await approve_with(person, key, approval_id)).status_code == 303
        store.get_passkey = approver_removes_it_right_after_the_check  # type: ignore[method-assign]
        result = await client.call_tool("finalize_order", {"order_id": order_id, "approval_id": approval_id})
        store.get_passkey = checked  # type: ignore[method-assign]
    assert (await store.get_passkey(key.id)).removed_at is not None  # type: ignore[union-attr]
    assert result.is_error, result.structured_content
    told = error_text(result)
    assert told.startswith(not_charged(order_id, approval_id))
    assert state.faults.received("POST", "/v1/orders/{id}/finalize") == []
    assert state.store.order(order_id).status == "draft"
