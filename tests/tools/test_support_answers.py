"""What support agents need from order, invoice, receipt and dispute answers: renewals told from purchases,
amounts said before tax, drafts said not charged, invoices waited for, links that expire said so."""

from __future__ import annotations

from typing import Any

import httpx2
import pytest
from mcp.client import Client
from mcp.server.mcpserver import MCPServer

from polar_orders_mcp.emulator.models import Dispute
from polar_orders_mcp.emulator.seed import SeedInfo
from polar_orders_mcp.emulator.state import EmulatorState
from polar_orders_mcp.server.app import build_server
from polar_orders_mcp.settings import Settings
from tests.tools.conftest import call, fail

pytestmark = pytest.mark.anyio


async def listed_tools(client: Client) -> dict[str, Any]:
    return {t.name: t for t in (await client.list_tools()).tools}


# 27.10: list_orders rows


async def test_a_row_tells_a_renewal_from_a_purchase_and_names_its_subscription(
    server: MCPServer[Any], state: EmulatorState
) -> None:
    renewal = next(o for o in state.store.orders if o.billing_reason == "subscription_cycle")
    purchase = next(o for o in state.store.orders if o.billing_reason == "purchase" and o.status == "paid")
    async with Client(server) as client:
        rows = {r["id"]: r for r in (await call(client, "list_orders", {"limit": 100}))["items"]}
    assert rows[renewal.id]["billing_reason"] == "subscription_cycle"
    assert rows[renewal.id]["subscription_id"] == renewal.subscription.id  # type: ignore[union-attr]
    assert "billing_reason" not in rows[purchase.id] and "subscription_id" not in rows[purchase.id]


async def test_a_draft_row_says_not_charged(server: MCPServer[Any], seed: SeedInfo) -> None:
    async with Client(server) as client:
        rows = {r["id"]: r for r in (await call(client, "list_orders", {"limit": 100}))["items"]}
    assert rows[seed.draft_orders["good_card"]]["charged"] == "not charged"
    assert "charged" not in rows[seed.paid_order_id]


async def test_fields_refunds_adds_what_can_still_be_refunded_before_tax(
    server: MCPServer[Any], state: EmulatorState, seed: SeedInfo
) -> None:
    order = state.store.order(seed.orders_by_status["partially_refunded"])
    async with Client(server) as client:
        found = await call(client, "list_orders", {"status": ["partially_refunded"], "fields": ["refunds"]})
    row = next(r for r in found["items"] if r["id"] == order.id)
    assert row["refunded_amount"] == order.refunded_amount
    assert row["refundable_amount"] == order.refundable_amount
    assert order.refundable_amount < order.total_amount - order.refunded_amount - order.refunded_tax_amount + 1


async def test_list_orders_says_what_fields_add_what_paid_leaves_out_and_where_an_email_goes(
    server: MCPServer[Any],
) -> None:
    async with Client(server) as client:
        tool = (await listed_tools(client))["list_orders"]
    arguments = tool.input_schema["properties"]
    assert "refundable" in arguments["fields"]["description"]
    assert "before tax" in arguments["fields"]["description"]
    assert "partially_refunded" in arguments["status"]["description"]
    assert "find_customers" in (tool.description or "")


# 27.11: disputes by customer


async def test_disputes_are_listed_by_customer_through_the_customers_orders(
    server: MCPServer[Any], state: EmulatorState, seed: SeedInfo
) -> None:
    theirs = next(o for o in state.store.orders if o.customer.id == seed.customers["declining_card"] and o.paid)
    extra = Dispute(
        state.store.new_id(),
        theirs.created_at,
        theirs,
        "needs_response",
        theirs.net_amount,
        theirs.tax_amount,
        state.store.derived_id("payment", theirs.id),
        reason="fraudulent",
    )
    state.store.disputes[extra.id] = extra
    async with Client(server) as client:
        declining = await call(client, "list_disputes", {"customer_id": seed.customers["declining_card"]})
        good = await call(client, "list_disputes", {"customer_id": seed.customers["good_card"]})
        none = await call(client, "list_disputes", {"customer_id": seed.customers["no_billing_address"]})
    assert [d["id"] for d in declining["items"]] == [extra.id]
    assert good["total_count"] == len(seed.disputes) and extra.id not in {d["id"] for d in good["items"]}
    assert none["items"] == [] and none["total_count"] == 0


# 27.13: invoices are made in the background


async def test_generate_invoice_waits_for_polars_job_and_returns_the_link(
    server: MCPServer[Any], state: EmulatorState, seed: SeedInfo
) -> None:
    state.settings.invoice_render_polls = 2  # Polar's job runs after a couple of reads
    async with Client(server) as client:
        done = await call(client, "generate_invoice", {"order_id": seed.paid_order_id, "wait_seconds": 10})
    assert done["status"] == "ready"
    assert done["url"].startswith("http")
    assert done["invoice_number"] == state.store.order(seed.paid_order_id).invoice_number
    assert "10 minutes" in done["link_expires"]


async def test_an_invoice_not_ready_in_time_says_what_to_call_next(
    server: MCPServer[Any], state: EmulatorState, seed: SeedInfo
) -> None:
    state.settings.invoice_render_polls = 1000
    async with Client(server) as client:
        done = await call(client, "generate_invoice", {"order_id": seed.paid_order_id, "wait_seconds": 1})
        too_long = await fail(client, "generate_invoice", {"order_id": seed.paid_order_id, "wait_seconds": 31})
    assert done["status"] == "requested" and "url" not in done
    assert "Not ready after 1 s" in done["next_step"]
    assert "get_invoice" in done["next_step"] and "InvoiceDoesNotExist" in done["next_step"]
    assert "wait_seconds" in too_long


async def test_a_remade_invoice_keeps_its_number_and_the_tools_say_so(
    server: MCPServer[Any], state: EmulatorState, seed: SeedInfo
) -> None:
    order_id = seed.paid_order_id
    async with Client(server) as client:
        first = await call(client, "generate_invoice", {"order_id": order_id})
        await call(client, "update_order", {"order_id": order_id, "billing_name": "Ada Lovelace Ltd"})
        again = await call(client, "generate_invoice", {"order_id": order_id})
        tools = await listed_tools(client)
    assert first["invoice_number"] == again["invoice_number"] == state.store.order(order_id).invoice_number
    assert "same number" in (tools["generate_invoice"].description or "")
    assert "InvoiceDoesNotExist" in (tools["get_invoice"].description or "")


async def test_request_my_invoice_waits_too(emulator: Any, state: EmulatorState, seed: SeedInfo) -> None:
    state.settings.invoice_render_polls = 1
    token = state.catalog.create_session(customer_id=seed.customers["good_card"]).token
    server = build_server(Settings(emulator=True, customer_session=token), transport=httpx2.ASGITransport(app=emulator))
    async with Client(server) as client:
        done = await call(client, "request_my_invoice", {"order_id": seed.paid_order_id, "wait_seconds": 5})
    assert done["status"] == "ready" and done["url"].startswith("http")


# 27.14: update_order's address


async def test_an_address_without_country_or_state_keeps_the_orders_own(
    server: MCPServer[Any], state: EmulatorState, seed: SeedInfo
) -> None:
    order = next(
        o for o in state.store.orders if o.status == "paid" and o.billing_address and o.billing_address.get("state")
    )
    country, region = order.billing_address["country"], order.billing_address["state"]  # type: ignore[index]
    async with Client(server) as client:
        new = {"line1": "9 New Street", "city": "Oakland"}
        updated = await call(client, "update_order", {"order_id": order.id, "billing_address": new})
    assert updated["customer_supplied"]["billing_address"].startswith("9 New Street")
    assert order.billing_address is not None
    assert {k: v for k, v in order.billing_address.items() if v is not None} == {
        "line1": "9 New Street",
        "city": "Oakland",
        "state": region,
        "country": country,
    }


async def test_an_order_without_an_address_needs_a_country(server: MCPServer[Any], state: EmulatorState) -> None:
    order = next(o for o in state.store.orders if o.status == "paid")
    order.billing_address = None
    async with Client(server) as client:
        message = await fail(client, "update_order", {"order_id": order.id, "billing_address": {"line1": "1 Road"}})
    assert "Nothing was updated" in message and "country" in message


async def test_update_order_says_a_left_out_address_stays(server: MCPServer[Any]) -> None:
    async with Client(server) as client:
        tool = (await listed_tools(client))["update_order"]
    address = tool.input_schema["properties"]["billing_address"]
    assert "Left out: the address stays" in address["description"]
    assert "country" not in address.get("required", [])


# 27.16: links that expire


async def test_a_receipt_link_says_it_expires_and_what_to_send_instead(server: MCPServer[Any], seed: SeedInfo) -> None:
    async with Client(server) as client:
        receipt = await call(client, "get_receipt", {"order_id": seed.paid_order_id})
    said = receipt["link_expires"]
    assert "about 10 minutes" in said and "do not email it" in said
    assert "/portal" in said and "signs in with their email" in said


# 29.4: stray drafts


async def test_a_declined_charge_says_the_draft_cannot_be_voided_and_should_be_reused(
    make_server: Any, seed: SeedInfo, state: EmulatorState
) -> None:
    order_id = seed.draft_orders["declining_card"]
    async with Client(make_server(confirm="off")) as client:
        message = await fail(client, "finalize_order", {"order_id": order_id})
        tools = await listed_tools(client)
    assert "cannot void or delete a draft" in message and "reuse it" in message
    assert "do not create another draft" in message
    assert state.store.order(order_id).status == "draft"
    assert "cannot be voided" in (tools["create_order"].description or "")


async def test_a_denied_charge_says_the_draft_is_harmless(make_server: Any, seed: SeedInfo, person: Any) -> None:
    order_id = seed.draft_orders["good_card"]
    async with Client(make_server()) as client:
        asked = await call(client, "finalize_order", {"order_id": order_id})
        await person.deny(asked["approval"]["approval_id"])
        message = await fail(
            client, "finalize_order", {"order_id": order_id, "approval_id": asked["approval"]["approval_id"]}
        )
    assert "denied" in message and "cannot void or delete a draft" in message
