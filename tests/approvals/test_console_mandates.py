"""Standing approvals in the console over HTTP: made through the form, the terms in full and Sign; refused for
every bad field, over --max-charge, without the session's CSRF token or sign-in; listed, used and revoked."""

from __future__ import annotations

import html
import re
from typing import Any, get_args

import httpx2
import pytest
from mcp.client import Client

from polar_orders_mcp.approvals.mandate_form import REASONS
from polar_orders_mcp.emulator.seed import SeedInfo
from polar_orders_mcp.server.app import Built
from polar_orders_mcp.store.mandates import MandateStore
from polar_orders_mcp.store.records import Mandate
from polar_orders_mcp.store.sql import SqlStore
from polar_orders_mcp.tools.refunds import RefundReason
from tests.approvals.console_client import Person
from tests.tools.conftest import call

pytestmark = pytest.mark.anyio

ORIGIN = "http://127.0.0.1:8765"
TERMS = {"tools": "create_refund", "currency": "usd", "max_per_act": "20.00", "daily_budget": "100.00", "hours": "24"}


def hidden(page: str) -> list[tuple[str, str]]:
    """The hidden fields of a page's last form, in order (repeated names included)."""
    form = page.rpartition("<form")[2]
    return [(n, html.unescape(v)) for n, v in re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', form)]


async def csrf_of(person: Person, path: str = "/approvals/mandates/new") -> str:
    page = await person.http.get(path)
    assert page.status_code == 200, page.text[:300]
    found = re.search(r'name="csrf" value="([^"]*)"', page.text)
    assert found
    return found.group(1)


async def review(person: Person, fields: dict[str, Any], *, csrf: str | None = None) -> httpx2.Response:
    """Fill in and post the form: the terms in full with Sign, or the form again saying what was wrong."""
    token = csrf if csrf is not None else await csrf_of(person)
    data = {**({"csrf": token} if token else {}), **fields}
    return await person.http.post("/approvals/mandates/new", data=data, headers={"Origin": ORIGIN})


async def sign(person: Person, confirm: httpx2.Response, **changed: str) -> httpx2.Response:
    assert confirm.status_code == 200, confirm.text[:500]
    fields = [(n, changed.get(n, v)) for n, v in hidden(confirm.text)]
    body = httpx2.QueryParams(fields)
    return await person.http.post(
        "/approvals/mandates/sign", content=str(body).encode(),
        headers={"Origin": ORIGIN, "Content-Type": "application/x-www-form-urlencoded"},
    )  # fmt: skip


async def make(person: Person, **fields: Any) -> Mandate:
    signed = await sign(person, await review(person, {**TERMS, **fields}))
    assert signed.status_code == 303, signed.text[:500]
    mandate_id = signed.headers["location"].rpartition("#")[2]
    found = await mandates(person.parts).get(mandate_id)  # type: ignore[attr-defined]
    assert found is not None
    return found


def mandates(parts: Built) -> Any:
    class Lazy:
        async def get(self, mandate_id: str) -> Mandate | None:
            store = await parts.store()
            assert isinstance(store, SqlStore)
            return await MandateStore(store).get(mandate_id)

        async def listed(self, *, ended: bool = False) -> Any:
            store = await parts.store()
            assert isinstance(store, SqlStore)
            return await MandateStore(store).listed(ended=ended)

    return Lazy()


@pytest.fixture
async def desk(parts: Built) -> Any:
    async with Person(parts.console) as someone:
        someone.parts = parts  # type: ignore[attr-defined]
        await someone.sign_in()
        yield someone


async def refund(parts: Built, seed: SeedInfo, total: int) -> dict[str, Any]:
    async with Client(parts.server) as client:
        return await call(client, "create_refund", {"order_id": seed.paid_order_id, "total": total})


async def test_a_signed_mandate_grants_a_refund_that_fits_without_asking(
    parts: Built, desk: Person, seed: SeedInfo
) -> None:
    confirm = await review(desk, TERMS)
    assert "create_refund up to $20.00 each; $100.00 a day" in confirm.text and "Sign</button>" in confirm.text
    mandate = await make(desk)
    done = await refund(parts, seed, 1500)
    assert done["status"] == "refunded", done
    assert mandate.id in done["decided"] and "approver" in done["decided"]
    records = [r.entry for r in await (await parts.store()).audit_tail(10)]
    created = next(e for e in records if e.get("event") == "mandate_created")
    assert created["mandate_id"] == mandate.id and created["by"] == "approver"
    assert created["terms"]["max_per_act"] == 2000 and created["terms"]["daily_budget"] == 10_000
