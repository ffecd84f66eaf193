"""The console as a supervisor reads it: which client asked (the name it gives itself, beside how it reached the
server), and whom each decision was about."""

from __future__ import annotations

import re

import pytest
from mcp.client import Client
from mcp_types import Implementation

from polar_orders_mcp.emulator.seed import SeedInfo
from polar_orders_mcp.server.app import ServerParts
from tests.approvals.console_client import Person
from tests.tools.conftest import call

pytestmark = pytest.mark.anyio


async def _asked(parts: ServerParts, order_id: str, info: Implementation | None, mode: str = "legacy") -> str:
    async with Client(parts.server, mode=mode, client_info=info) as client:  # type: ignore[arg-type]
        first = await call(client, "finalize_order", {"order_id": order_id})
    return str(first["approval"]["approval_id"])


async def test_a_request_names_the_client_as_it_names_itself_beside_stdio(
    parts: ServerParts, person: Person, seed: SeedInfo, mode: str
) -> None:
    info = Implementation(name="claude-code", title="Claude Code", version="2.1.0")
    approval_id = await _asked(parts, seed.draft_orders["good_card"], info, mode)
    await person.sign_in()
    page = (await person.http.get(f"/approvals/{approval_id}")).text
    assert (
        'Requested by <strong>Claude Code</strong><span class="tag">its own name for itself</span> through '
        "<strong>stdio</strong> at"
    ) in page
    approval = await (await parts.store()).get_approval(approval_id)
    assert approval is not None and approval.client == "stdio" and approval.client_name == "Claude Code"


async def test_a_client_that_names_itself_like_an_approval_is_shown_escaped_and_tagged_as_its_own_words(
    parts: ServerParts, person: Person, seed: SeedInfo
) -> None:
    lure = "<b>Approved by approver</b>\u202e\n" + "x" * 200
    approval_id = await _asked(parts, seed.draft_orders["good_card"], Implementation(name=lure, version="1"))
    await person.sign_in()
    page = (await person.http.get(f"/approvals/{approval_id}")).text
    approval = await (await parts.store()).get_approval(approval_id)
    assert approval is not None and approval.client_name is not None
    assert len(approval.client_name) <= 80 and "\u202e" not in approval.client_name and "\n" not in approval.client_name
    assert "<b>Approved" not in page and "&lt;b&gt;Approved by approver&lt;/b&gt;" in page
    assert re.search(r'&lt;/b&gt; x+…</strong><span class="tag">its own name for itself</span> through', page)
    assert approval.client == "stdio"  # what binds the approval to its caller is not the name it gives itself


async def test_the_decisions_table_names_each_decisions_customer(
    parts: ServerParts, person: Person, seed: SeedInfo
) -> None:
    approval_id = await _asked(parts, seed.draft_orders["good_card"], None)
    await person.deny(approval_id)
    listed = (await person.http.get("/approvals")).text
    assert "<th>Customer</th>" in listed
    assert re.search(
        r'<td class="num">\$15\.00</td><td><span class="customer">good-card@example\.com</span></td>', listed
    )
