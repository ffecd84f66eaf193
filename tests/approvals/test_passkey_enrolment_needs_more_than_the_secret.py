"""A passkey proves more than the approver's secret only if the secret alone cannot add one: whoever holds the
secret (phished, read from a client's config file) signs in from their own browser, adds a passkey of their
own beside the approver's, and approves with it a request this server needs the approver's passkey for."""

from __future__ import annotations

import pytest
from mcp.client import Client

from polar_orders_mcp.emulator.seed import SeedInfo
from polar_orders_mcp.emulator.state import EmulatorState
from polar_orders_mcp.server.app import ServerParts
from tests.approvals.authenticator import SoftPasskey
from tests.approvals.console_client import APPROVER_SECRET, Person
from tests.approvals.test_passkey_enrolment import HAS_ONE, enrol_anyway, page_error
from tests.approvals.test_passkeys import ORIGIN, approve_with, ask, key, parts, person  # noqa: F401

pytestmark = pytest.mark.anyio


async def test_the_secret_alone_adds_no_passkey_that_approves(
    parts: ServerParts,  # noqa: F811
    person: Person,  # noqa: F811
    key: SoftPasskey,  # noqa: F811  the approver's own passkey, added before
    seed: SeedInfo,
    state: EmulatorState,
) -> None:
    order_id = seed.draft_orders["good_card"]
    async with Person(parts.console, base_url=ORIGIN, secret=APPROVER_SECRET) as intruder:
        assert (await intruder.sign_in()).status_code == 303
        theirs = SoftPasskey()
        added = await enrol_anyway(intruder, theirs)
        async with Client(parts.server) as client:
            approval_id = await ask(client, order_id)
            approved = await approve_with(intruder, theirs, approval_id)
            result = await client.call_tool("finalize_order", {"order_id": order_id, "approval_id": approval_id})
    assert state.store.order(order_id).status == "draft", result.structured_content
    # The intruder's passkey approved nothing: the request still waits for the approver's own passkey.
    assert not result.is_error and result.structured_content is not None
    assert result.structured_content["status"] == "approval_pending"
    assert approved.status_code == 403
    assert added.status_code != 303, "a passkey was added with nothing but the approver's secret"
    assert (added.status_code, page_error(added)) == (403, HAS_ONE.format(name="approver"))
