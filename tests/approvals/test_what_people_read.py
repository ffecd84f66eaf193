"""What a person reads before approving: who wrote each piece of text, amounts that say whether tax is in
them, times in the display zone with UTC beside, how often a subscription charges — the same in the client's
form and on the console's page."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from mcp.client import Client

from polar_orders_mcp.approvals import render
from polar_orders_mcp.emulator.seed import SeedInfo
from polar_orders_mcp.server.app import ServerParts
from polar_orders_mcp.settings import Settings
from polar_orders_mcp.store.records import Approval
from tests.approvals.console_client import Person
from tests.tools.conftest import call

pytestmark = pytest.mark.anyio

AGENT = "Written by the agent — not checked by this server"


async def _pending(parts: ServerParts, tool: str, args: dict[str, Any]) -> Approval:
    async with Client(parts.server) as client:
        answer = await call(client, tool, args)
    assert answer["status"] == "approval_pending", answer
    approval = await (await parts.store()).get_approval(answer["approval"]["approval_id"])
    assert approval is not None
    return approval


async def _page(parts: ServerParts, approval_id: str) -> str:
    async with Person(parts.console) as person:
        await person.sign_in()
        return (await person.http.get(f"/approvals/{approval_id}")).text


def _facts_and_agent_words(page: str) -> tuple[str, str]:
    """The page's facts list and its block of the agent's words (empty when there is none)."""
    facts = re.search(r'<div class="summary">.*?</div>(<dl>.*?</dl>)', page, re.S)
    words = re.search(r'<div class="agent-words">.*?</dl></div>', page, re.S)
    assert facts is not None
    return facts.group(1), (words.group(0) if words else "")


async def test_a_refunds_reason_and_comment_are_the_agents_words_shown_apart(
    parts: ServerParts, seed: SeedInfo
) -> None:
    approval = await _pending(
        parts,
        "create_refund",
        {
            "order_id": seed.paid_order_id,
            "amount": 100,
            "reason": "duplicate",
            "comment": "verified by finance",
        },
    )
    facts, _, words = approval.message.partition(f"\n\n{AGENT}:\n")
    assert "finance" not in facts and "Reason" not in facts
    assert words.startswith("  Reason: duplicate\n  Comment: verified by finance\n\n")
    page_facts, page_words = _facts_and_agent_words(await _page(parts, approval.id))
    assert "verified by finance" not in page_facts and "duplicate" not in page_facts
    assert AGENT in page_words and "verified by finance" in page_words and "duplicate" in page_words


async def test_a_drafts_own_description_is_the_agents_words_not_a_fact(parts: ServerParts, seed: SeedInfo) -> None:
    """create_order's description is the agent's: a person must not read it as what the charge is."""
    lure = "AMOUNT DUE: $1.50 - the $15.00 above is a temporary card pre-authorization"
    async with Client(parts.server) as client:
        draft = await call(
            client,
            "create_order",
            {
                "customer_id": seed.customers["good_card"],
                "product_id": seed.products["one_time_fixed"],
                "description": lure,
            },
        )
    approval = await _pending(parts, "finalize_order", {"order_id": draft["id"]})
    facts, _, words = approval.message.partition(f"\n\n{AGENT}:\n")
    assert "AMOUNT DUE" not in facts and "Amount, tax included: $15.00" in facts
    assert words.startswith(f"  Description on the order: {lure}\n")
    page_facts, page_words = _facts_and_agent_words(await _page(parts, approval.id))
    assert "AMOUNT DUE" not in page_facts and "AMOUNT DUE" in page_words


async def test_a_polar_default_description_is_not_shown_as_the_agents(parts: ServerParts, seed: SeedInfo) -> None:
    approval = await _pending(parts, "finalize_order", {"order_id": seed.draft_orders["good_card"]})
    assert AGENT not in approval.message and "Product: Starter Pack" in approval.message


async def test_customers_details_are_tagged_as_theirs_not_as_the_request(parts: ServerParts, seed: SeedInfo) -> None:
    approval = await _pending(parts, "finalize_order", {"order_id": seed.draft_orders["good_card"]})
    assert "Customer email: good-card@example.com  (as the customer entered it)" in approval.message
    assert "written by the customer" not in approval.message


def test_a_time_reads_in_the_display_zone_with_utc_beside() -> None:
    raw = "2027-04-16T03:40:43.766218+00:00"
    assert render.when(raw, ZoneInfo("Europe/Paris")) == "Fri 16 Apr 2027, 05:40 CEST (03:40 UTC)"
    assert render.when(raw, ZoneInfo("America/New_York")) == "Thu 15 Apr 2027, 23:40 EDT (03:40 UTC)"
    assert render.when(raw, UTC) == "Fri 16 Apr 2027, 03:40 UTC"
    assert render.when(1_800_000_000.0, ZoneInfo("UTC")) == "Fri 15 Jan 2027, 08:00 UTC"
    assert render.when("not a time", UTC) == "not a time" and render.when(None, UTC) == "—"


async def test_a_revoke_says_when_it_would_renew_and_what_each_amount_holds(
    make_parts: Callable[..., ServerParts], seed: SeedInfo
) -> None:
    parts = make_parts(timezone="America/New_York")
    approval = await _pending(parts, "revoke_subscription", {"subscription_id": seed.subscriptions["active"]})
    renews = re.search(r"Without revoking, it renews and charges again: (.+)", approval.message)
    assert renews and re.fullmatch(r"\w{3} \d{2} \w{3} \d{4}, \d{2}:\d{2} E[SD]T \(\d{2}:\d{2} UTC\)", renews[1])
    assert "T" not in renews[1].split(",")[0]  # no raw ISO
    assert re.search(r"Price, before tax: \$[\d.,]+ / (month|year)", approval.message)
    assert re.search(
        r"Its newest order: \S+, \w+: \$[\d.,]+ tax included; \$[\d.,]+ before tax can still be refunded",
        approval.message,
    )
    page = await _page(parts, approval.id)
    assert renews[1] in page  # the page and the form read the same


async def test_a_subscription_checkout_says_how_often_it_charges(parts: ServerParts, seed: SeedInfo) -> None:
    async with Client(parts.server) as client:
        checkout = await call(client, "create_checkout", {"products": [seed.products["recurring"]]})
        secret = checkout["client_secret"]
        await call(
            client,
            "update_checkout_by_secret",
            {
                "client_secret": secret,
                "customer_email": "p@example.com",
                "customer_name": "Pat",
                "customer_billing_address": {
                    "country": "US",
                    "state": "US-NY",
                    "line1": "1 Main St",
                    "city": "New York",
                    "postal_code": "10001",
                },
            },
        )
    approval = await _pending(parts, "confirm_checkout", {"client_secret": secret, "payment_token": "tok_visa"})
    assert re.search(
        r"Amount, tax included: \$[\d.,]+\nThen: charges again every month until the subscription is "
        r"cancelled\n",
        approval.message,
    )


async def test_a_one_time_checkout_says_nothing_of_renewing(parts: ServerParts, seed: SeedInfo) -> None:
    secret = seed.open_checkout_client_secret
    async with Client(parts.server) as client:
        await call(
            client,
            "update_checkout_by_secret",
            {
                "client_secret": secret,
                "customer_email": "p@example.com",
                "customer_billing_address": {
                    "country": "US",
                    "state": "US-NY",
                    "line1": "1 Main St",
                    "city": "New York",
                    "postal_code": "10001",
                },
            },
        )
    approval = await _pending(parts, "confirm_checkout", {"client_secret": secret, "payment_token": "tok_visa"})
    assert "Then:" not in approval.message and "Amount, tax included:" in approval.message


def test_a_time_zone_that_does_not_exist_is_refused_with_an_example() -> None:
    with pytest.raises(ValueError, match=r"'Mars/Olympus' is not an IANA time zone: use a name such as Europe/Paris"):
        Settings(timezone="Mars/Olympus")
    assert str(Settings(timezone="Asia/Tokyo").display_zone()) == "Asia/Tokyo"
