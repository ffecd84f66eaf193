"""Receipts (202 while rendering, then a URL), invoices and the billing-detail rules before them."""

from __future__ import annotations

import httpx2
import pytest

from polar_orders_mcp.emulator.seed import SeedInfo

pytestmark = pytest.mark.anyio


async def test_receipt_renders_for_the_configured_number_of_polls(client: httpx2.AsyncClient, info: SeedInfo) -> None:
    await client.patch("/_emulator/settings", json={"receipt_render_polls": 2})
    order_id = info.draft_orders["good_card"]
    await client.post(f"/v1/orders/{order_id}/finalize")
    polls = [await client.get(f"/v1/orders/{order_id}/receipt") for _ in range(3)]
    assert [p.status_code for p in polls] == [202, 202, 200]
    assert polls[0].content == b"" and polls[1].content == b""
    url = polls[2].json()["url"]
    assert url.startswith(f"http://polar.test/_emulator/files/receipts/{order_id}.pdf?")
    pdf = await client.get(url)
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF-") and pdf.content.rstrip().endswith(b"%%EOF")


async def test_seeded_paid_orders_have_their_receipt_ready(client: httpx2.AsyncClient, info: SeedInfo) -> None:
    for status in ("paid", "refunded", "partially_refunded"):
        response = await client.get(f"/v1/orders/{info.orders_by_status[status]}/receipt")
        assert response.status_code == 200, status


@pytest.mark.parametrize("status", ["draft", "pending", "void"])
async def test_no_receipt_without_a_succeeded_payment(client: httpx2.AsyncClient, info: SeedInfo,
                                                      status: str) -> None:
    order_id = info.orders_by_status[status]
    response = await client.get(f"/v1/orders/{order_id}/receipt")
    assert response.status_code == 404
    assert response.json() == {"error": "ReceiptNotAllocated",
                               "detail": f"No receipt is allocated for order {order_id}: it has no succeeded payment."}


async def test_invoice_lifecycle(client: httpx2.AsyncClient, info: SeedInfo) -> None:
    order_id = info.paid_order_id
    before = await client.get(f"/v1/orders/{order_id}/invoice")
    assert before.status_code == 404
    assert before.json() == {"error": "InvoiceDoesNotExist", "detail": f"No invoice exists for order {order_id}."}
    made = await client.post(f"/v1/orders/{order_id}/invoice")
    assert made.status_code == 202 and made.json() is None
    order = (await client.get(f"/v1/orders/{order_id}")).json()
    assert order["is_invoice_generated"] is True and order["invoice_number"]
    url = (await client.get(f"/v1/orders/{order_id}/invoice")).json()["url"]
    assert (await client.get(url)).status_code == 200
    assert (await client.post(f"/v1/orders/{order_id}/invoice")).status_code == 202


@pytest.mark.parametrize("status", ["draft", "void"])
async def test_invoice_needs_an_eligible_status(client: httpx2.AsyncClient, info: SeedInfo, status: str) -> None:
    order_id = info.orders_by_status[status]
    response = await client.post(f"/v1/orders/{order_id}/invoice")
    assert response.status_code == 409
    assert response.json() == {"error": "OrderNotEligibleForInvoice", "detail": (
        f"Order {order_id} is not eligible for invoice generation: its status is {status}.")}


async def test_missing_billing_details_then_fixed_with_patch(client: httpx2.AsyncClient, info: SeedInfo) -> None:
    order_id = info.draft_orders["no_billing_address"]
    await client.post(f"/v1/orders/{order_id}/finalize")
    refused = await client.post(f"/v1/orders/{order_id}/invoice")
    assert refused.status_code == 422
    assert refused.json() == {"error": "MissingInvoiceBillingDetails", "detail": (
        "Billing name and address are required to generate an invoice for this order.")}
    patched = await client.patch(f"/v1/orders/{order_id}", json={
        "billing_name": "Omar Noaddress GmbH", "billing_address": {"country": "DE", "city": "Berlin"}})
    assert patched.status_code == 200
    assert patched.json()["billing_address"] == {"line1": None, "line2": None, "postal_code": None, "city": "Berlin",
                                                 "state": None, "country": "DE"}
    assert (await client.post(f"/v1/orders/{order_id}/invoice")).status_code == 202


async def test_country_and_state_cannot_change(client: httpx2.AsyncClient, info: SeedInfo) -> None:
    order_id = info.draft_orders["declining_card"]  # billed in California
    moved = await client.patch(f"/v1/orders/{order_id}", json={"billing_address": {"country": "GB"}})
    assert moved.status_code == 422
    assert moved.json()["detail"] == [{"type": "value_error", "loc": ["body", "billing_address", "country"],
                                       "msg": "Country cannot be updated.", "input": "GB"}]
    state = await client.patch(f"/v1/orders/{order_id}", json={"billing_address": {"country": "US", "state": "US-NY"}})
    assert state.status_code == 422 and state.json()["detail"][0]["msg"] == "State cannot be updated."
    fine = await client.patch(f"/v1/orders/{order_id}", json={"billing_address": {
        "country": "US", "state": "US-CA", "line1": "2 Mission St", "city": "San Francisco"}, "billing_name": "Dan D."})
    assert fine.status_code == 200 and fine.json()["billing_name"] == "Dan D."


async def test_billing_details_are_permanent_once_invoiced(client: httpx2.AsyncClient, info: SeedInfo) -> None:
    order_id = info.paid_order_id
    await client.post(f"/v1/orders/{order_id}/invoice")
    response = await client.patch(f"/v1/orders/{order_id}", json={"billing_name": "Someone Else"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "invoice_already_generated"


async def test_file_route_serves_only_existing_documents(client: httpx2.AsyncClient, info: SeedInfo) -> None:
    assert (await client.get(f"/_emulator/files/invoices/{info.paid_order_id}.pdf")).status_code == 404
    assert (await client.get(f"/_emulator/files/receipts/{info.paid_order_id}.pdf")).status_code == 200
    assert (await client.get(f"/_emulator/files/other/{info.paid_order_id}.pdf")).status_code == 404
