"""Standing approvals in the console over HTTP: made through the form, the terms in full and Sign; refused for
every bad field, over --max-charge, without the session's CSRF token or sign-in; listed, used and revoked."""

from __future__ import annotations

import html
import re
from typing import Any, get_args
from urllib.parse import urlencode

import httpx2
import pytest
from mcp.client import Client

from polar_orders_mcp.approvals.mandate_form import REASONS
from polar_orders_mcp.emulator.seed import SeedInfo
from polar_orders_mcp.server.app import ServerParts
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
    return await person.http.post("/approvals/mandates/new", data=data, headers={"Origin": person.origin})


async def sign(person: Person, confirm: httpx2.Response, **changed: str) -> httpx2.Response:
    assert confirm.status_code == 200, confirm.text[:500]
    fields = [(n, changed.get(n, v)) for n, v in hidden(confirm.text)]
    return await person.http.post(
        "/approvals/mandates/sign",
        content=urlencode(fields).encode(),
        headers={"Origin": person.origin, "Content-Type": "application/x-www-form-urlencoded"},
    )


async def mandate_store(parts: ServerParts) -> MandateStore:
    store = await parts.store()
    assert isinstance(store, SqlStore)
    return MandateStore(store)


async def make(parts: ServerParts, person: Person, **fields: Any) -> Mandate:
    signed = await sign(person, await review(person, {**TERMS, **fields}))
    assert signed.status_code == 303, signed.text[:500]
    found = await (await mandate_store(parts)).get(signed.headers["location"].rpartition("#")[2])
    assert found is not None
    return found


@pytest.fixture
async def desk(parts: ServerParts) -> Any:
    """A person signed in to the console."""
    async with Person(parts.console) as someone:
        await someone.sign_in()
        yield someone


async def refund(parts: ServerParts, seed: SeedInfo, total: int) -> dict[str, Any]:
    async with Client(parts.server) as client:
        return await call(client, "create_refund", {"order_id": seed.paid_order_id, "total": total})


async def test_a_signed_mandate_grants_a_refund_that_fits_without_asking(
    parts: ServerParts, desk: Person, seed: SeedInfo
) -> None:
    confirm = await review(desk, TERMS)
    assert "create_refund up to $20.00 each; $100.00 a day" in confirm.text and "Sign</button>" in confirm.text
    mandate = await make(parts, desk)
    done = await refund(parts, seed, 1500)
    assert done["status"] == "refunded", done
    assert mandate.id in done["decided"] and "approver" in done["decided"]
    records = [r.entry for r in await (await parts.store()).audit_tail(10)]
    created = next(e for e in records if e.get("event") == "mandate_created")
    assert created["mandate_id"] == mandate.id and created["by"] == "approver"
    assert created["terms"]["max_per_act"] == 2000 and created["terms"]["daily_budget"] == 10_000


async def audit_events(parts: ServerParts) -> list[dict[str, Any]]:
    return [r.entry for r in await (await parts.store()).audit_tail(20) if "event" in r.entry]


REFUSALS = [
    ({"tools": []}, "tools", "Tick at least one tool this standing approval allows."),
    ({"tools": "create_order"}, "tools", "This server does not serve create_order as a tool that moves money."),
    ({"currency": "dollars"}, "currency", "Write the currency as its three-letter code, like USD or EUR."),
    ({"max_per_act": ""}, "max_per_act", "Give an amount, like 20.00."),
    ({"max_per_act": "twenty"}, "max_per_act", "“twenty” is not an amount: write it like 20.00."),
    ({"max_per_act": "-5"}, "max_per_act", "“-5” is not an amount: write it like 20.00."),
    ({"max_per_act": "0.00"}, "max_per_act", "Give an amount above zero."),
    ({"max_per_act": "20.005"}, "max_per_act", "“20.005” has too many decimals: USD takes at most 2 decimals."),
    (
        {"currency": "jpy", "max_per_act": "20.5", "daily_budget": ""},
        "max_per_act",
        "“20.5” has too many decimals: JPY takes no decimals.",
    ),
    ({"daily_budget": "1e9"}, "daily_budget", "“1e9” is not an amount: write it like 20.00."),
    ({"total_budget": "9999999999999"}, "total_budget", "“9999999999999” is too large."),
    ({"max_acts": "0"}, "max_acts", "Give a whole number of acts, from 1 to 100,000."),
    ({"daily_acts": "0"}, "daily_acts", "Give a whole number of acts, from 1 to 100,000."),
    ({"max_acts": "2.5"}, "max_acts", "Give a whole number of acts, from 1 to 100,000."),
    ({"max_order_age_days": "99999"}, "max_order_age_days", "Give a whole number of days, from 1 to 3,650."),
    ({"products": "prod_1"}, "products", "“prod_1” is not a product id (a UUID)."),
    ({"customers": "bob@"}, "customers", "“bob@” is not an email address."),
    ({"customers": "cus_1"}, "customers", "“cus_1” is not a customer id (a UUID) nor an email."),
    ({"reasons": "because"}, "reasons", "because is not one of Polar's refund reasons."),
    (
        {"tools": "finalize_order", "reasons": "duplicate"},
        "reasons",
        "Refund reasons limit refunds only: tick create_refund, or tick no reason.",
    ),
    ({"for_client": "x" * 201}, "for_client", "Keep it under 200 characters."),
    ({"note": "n" * 501}, "note", "Keep it under 500 characters."),
    ({"hours": "0"}, "hours", "Give a whole number of hours, from 1 to 2,160."),
    ({"hours": "2161"}, "hours", "Give a whole number of hours, from 1 to 2,160."),
    ({"hours": ""}, "hours", "Give a whole number of hours, from 1 to 2,160."),
]


@pytest.mark.parametrize(
    ("changed", "name", "message"), REFUSALS, ids=[f"{n}-{i}" for i, (_, n, _) in enumerate(REFUSALS)]
)
async def test_each_bad_field_is_shown_again_with_what_is_wrong(
    parts: ServerParts, desk: Person, changed: dict[str, Any], name: str, message: str
) -> None:
    answer = await review(desk, {**TERMS, **changed})
    assert answer.status_code == 400
    assert "Nothing was made: correct what is marked below." in answer.text
    errors = [html.unescape(e) for e in re.findall(r'<div class="field-error">([^<]*)</div>', answer.text)]
    assert errors == [message]
    assert "/mandates/sign" not in answer.text
    assert await (await mandate_store(parts)).listed(ended=True) == []


async def test_the_form_keeps_what_was_typed_escaped(desk: Person) -> None:
    answer = await review(
        desk, {**TERMS, "max_per_act": "", "note": '<script>alert("x")</script>', "for_person": '"><img src=x>'}
    )
    assert answer.status_code == 400 and "<script>alert" not in answer.text and "<img src=x>" not in answer.text
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;</textarea>" in answer.text
    assert 'value="&quot;&gt;&lt;img src=x&gt;"' in answer.text


async def test_a_maximum_per_act_over_the_servers_max_charge_is_refused(make_parts: Any) -> None:
    parts = make_parts(max_charge="usd=1000")
    async with Person(parts.console) as person:
        await person.sign_in()
        form = await person.http.get("/approvals/mandates/new")
        over = await review(person, TERMS)
        other = await review(person, {**TERMS, "currency": "eur", "max_per_act": "5.00"})
        within = await review(person, {**TERMS, "max_per_act": "10.00"})
    assert "this server&#x27;s maximum per charge: $10.00" in form.text
    assert over.status_code == 400 and html.unescape(re.findall(r'field-error">([^<]*)<', over.text)[0]) == (
        "$20.00 is over this server's maximum per charge of $10.00 in USD (--max-charge): no act above it is done, "
        "standing approval or not."
    )
    assert other.status_code == 400 and (
        "This server moves no money in EUR: its --max-charge names no amount for it." in other.text
    )
    assert within.status_code == 200 and "Sign</button>" in within.text


async def test_the_tools_offered_are_the_irreversible_ones_served(make_parts: Any) -> None:
    parts = make_parts(tools=["create_refund", "list_orders"], toolsets=[])
    async with Person(parts.console) as person:
        await person.sign_in()
        form = await person.http.get("/approvals/mandates/new")
        refused = await review(person, {**TERMS, "tools": "finalize_order"})
    assert re.findall(r'name="tools" value="(\w+)"', form.text) == ["create_refund"]
    assert 'value="create_refund" checked' in form.text
    assert "This server does not serve finalize_order as a tool that moves money." in refused.text


async def test_making_or_revoking_one_needs_the_sessions_csrf_token(parts: ServerParts, desk: Person) -> None:
    no_token = await review(desk, TERMS, csrf="")
    forged = await review(desk, TERMS, csrf="forged")
    confirm = await review(desk, TERMS)
    unsigned = await sign(desk, confirm, csrf="forged")
    mandate = await make(parts, desk)
    revoke = await desk.http.post(
        "/approvals/mandates/revoke", data={"mandate_id": mandate.id}, headers={"Origin": ORIGIN}
    )
    for answer in (no_token, forged, unsigned, revoke):
        assert answer.status_code == 403 and "This form is out of date" in answer.text
    assert [m.id for m, _ in await (await mandate_store(parts)).listed()] == [mandate.id]


async def test_nothing_is_made_shown_or_revoked_without_signing_in(parts: ServerParts, desk: Person) -> None:
    confirm = await review(desk, TERMS)
    mandate = await make(parts, desk)
    async with Person(parts.console) as stranger:
        listing = await stranger.http.get("/approvals/mandates")
        form = await stranger.http.get("/approvals/mandates/new")
        posted = await stranger.http.post(
            "/approvals/mandates/new", data={**TERMS, "csrf": "x"}, headers={"Origin": ORIGIN}
        )
        signed = await stranger.http.post(
            "/approvals/mandates/sign", data=dict(hidden(confirm.text)), headers={"Origin": ORIGIN}
        )
        revoked = await stranger.http.post(
            "/approvals/mandates/revoke", data={"csrf": "x", "mandate_id": mandate.id}, headers={"Origin": ORIGIN}
        )
    assert listing.status_code == 303 and listing.headers["location"] == "/approvals/login?next=/approvals/mandates"
    assert form.headers["location"] == "/approvals/login?next=/approvals/mandates/new"
    for answer in (posted, signed, revoked):
        assert answer.status_code == 303 and answer.headers["location"].startswith("/approvals/login")
    assert [m.id for m, _ in await (await mandate_store(parts)).listed()] == [mandate.id]


async def test_a_form_posted_from_another_site_is_refused(parts: ServerParts, desk: Person) -> None:
    mandate = await make(parts, desk)
    csrf = await csrf_of(desk, "/approvals/mandates")
    for origin in ("https://evil.example", "null"):
        refused = await desk.http.post(
            "/approvals/mandates/revoke", data={"csrf": csrf, "mandate_id": mandate.id}, headers={"Origin": origin}
        )
        assert refused.status_code == 403
    kept = await (await mandate_store(parts)).get(mandate.id)
    assert kept is not None and kept.revoked_at is None


async def test_a_sign_page_signs_once_and_only_the_terms_it_showed(parts: ServerParts, desk: Person) -> None:
    confirm = await review(desk, TERMS)
    first = await sign(desk, confirm)
    again = await sign(desk, confirm)
    other = await review(desk, TERMS)
    widened = await sign(desk, other, max_per_act="2000.00")
    longer = await sign(desk, await review(desk, TERMS), hours="2000")
    assert first.status_code == 303
    for answer in (again, widened, longer):
        assert answer.status_code == 403 and "signed already or is out of date: nothing was made" in answer.text
    listed = await (await mandate_store(parts)).listed()
    assert [m.terms.max_per_act for m, _ in listed] == [2000]


async def test_the_page_lists_active_ones_with_their_use_and_revoking_moves_one_to_the_history(
    parts: ServerParts, desk: Person, seed: SeedInfo
) -> None:
    mandate = await make(parts, desk, max_acts="10", daily_acts="4", note="for the support desk")
    assert (await refund(parts, seed, 500))["status"] == "refunded"
    listing = (await desk.http.get("/approvals/mandates")).text
    card = listing[listing.index(f'id="{mandate.id}"') :]
    assert mandate.terms.daily_acts == 4
    assert "create_refund up to $20.00 each; $100.00 a day; at most 4 acts a day; at most 10 acts" in card
    assert "Signed by <strong>approver</strong> at" in card and "expires" in card
    assert "Used: 1 acts, $5.00 in all, $5.00 today · left: 3 acts today, 9 acts, $95.00 today" in card
    assert "for the support desk" in card and 'class="deny revoke"' in card
    csrf = await csrf_of(desk, "/approvals/mandates")
    revoked = await desk.http.post(
        "/approvals/mandates/revoke", data={"csrf": csrf, "mandate_id": mandate.id}, headers={"Origin": ORIGIN}
    )
    twice = await desk.http.post(
        "/approvals/mandates/revoke", data={"csrf": csrf, "mandate_id": mandate.id}, headers={"Origin": ORIGIN}
    )
    after = (await desk.http.get(revoked.headers["location"])).text
    assert revoked.status_code == 303 and "It was revoked." in after
    assert "No standing approval is active." in after and "Revoked: revoked by approver at" in after
    assert twice.status_code == 404 and "no active standing approval with this id" in twice.text
    events = [e for e in await audit_events(parts) if e["event"].startswith("mandate_")]
    assert [(e["event"], e["mandate_id"], e["by"]) for e in events] == [
        ("mandate_created", mandate.id, "approver"),
        ("mandate_revoked", mandate.id, "approver"),
    ]
    asked = await refund(parts, seed, 1000)
    assert asked["status"] == "approval_pending"


async def test_a_request_granted_under_one_says_so_on_its_page(
    parts: ServerParts, desk: Person, seed: SeedInfo
) -> None:
    mandate = await make(parts, desk)
    assert (await refund(parts, seed, 1500))["status"] == "refunded"
    [granted] = await (await parts.store()).list_approvals(states=["used"], limit=5)
    index = (await desk.http.get("/approvals")).text
    page = (await desk.http.get(f"/approvals/{granted.id}")).text
    said = f"Granted under standing approval {mandate.id} (signed by approver) at"
    assert granted.channel == "mandate" and said in index and said in page
    assert "Waiting for a decision" not in page and 'name="decision"' not in page


def test_the_form_offers_polars_refund_reasons() -> None:
    assert get_args(RefundReason) == REASONS
