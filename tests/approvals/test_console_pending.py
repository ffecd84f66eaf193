"""The console's list of waiting requests: every one reachable page by page, and those an earlier run asked for
marked (the agent that asked may be gone)."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

import pytest
from mcp.client import Client

from polar_orders_mcp.approvals import console
from polar_orders_mcp.emulator.seed import SeedInfo
from polar_orders_mcp.server.app import ServerParts
from tests.approvals.console_client import Person
from tests.store.test_sql_store import request
from tests.tools.conftest import call

pytestmark = pytest.mark.anyio

EARLIER = "Asked by an earlier run of this server at "


async def ask(parts: ServerParts, order_id: str) -> str:
    async with Client(parts.server) as client:
        return str((await call(client, "finalize_order", {"order_id": order_id}))["approval"]["approval_id"])


def cards(html: str) -> list[str]:
    """The ids of the requests a page shows as cards, in order."""
    return re.findall(r'<div class="meta">Requested by .*? · request (apr_[\w-]+)</div>', html)


async def test_a_request_an_earlier_run_asked_for_is_marked(make_parts: Any, seed: SeedInfo) -> None:
    """The finding: after the stdio server restarted, its console showed the earlier run's request like any other,
    though the agent waiting for it had gone with that run."""
    before: ServerParts = make_parts()
    asked_before = await ask(before, seed.draft_orders["good_card"])
    after: ServerParts = make_parts()  # a restart: the same store
    asked_after = await ask(after, seed.draft_orders["declining_card"])
    async with Person(after.console) as person:
        await person.sign_in()
        index = (await person.http.get("/approvals")).text
        old_page = (await person.http.get(f"/approvals/{asked_before}")).text
        new_page = (await person.http.get(f"/approvals/{asked_after}")).text
    old_card, new_card = index.split(f"request {asked_after}")[0], index.split(f"request {asked_after}")[1]
    assert EARLIER in old_card and "the agent that asked may be gone." in old_card
    assert EARLIER not in new_card
    assert EARLIER in old_page and EARLIER not in new_page


async def test_every_waiting_request_is_reachable_through_the_pages(parts: ServerParts, monkeypatch: Any) -> None:
    """The finding: the list showed at most the 500 longest waiting; the others were nowhere to be seen. Here a
    page of 10 (the module's page size is a constant, made small for the test) and 25 waiting."""
    monkeypatch.setattr(console, "PENDING_SHOWN", 10)
    store = await parts.store()
    made = [(await store.create_approval(replace(request(f"order-{n}"), client="desk"))).id for n in range(25)]
    seen: list[str] = []
    async with Person(parts.console) as person:
        await person.sign_in()
        at = "/approvals"
        while at:
            page = await person.http.get(at)
            assert page.status_code == 200
            seen += cards(page.text)
            following = re.search(r'<a href="(/approvals\?page=\d+)">More waiting', page.text)
            at = following.group(1) if following else ""
        last = await person.http.get("/approvals?page=3")
        beyond = await person.http.get("/approvals?page=99")
        junk = await person.http.get("/approvals?page=-1%27")
    assert sorted(seen) == sorted(made) and len(seen) == len(set(seen)) == 25
    assert '<a href="/approvals?page=2">← Waiting longer</a>' in last.text
    assert "Nothing more is waiting." in beyond.text and cards(junk.text) == seen[:10]
