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
async def test_no_receipt_without_a_succeeded_payment(client: httpx2.AsyncClient, info: SeedInfo, status: str) -> None:
    order_id = info.orders_by_status[status]
    response = await client.get(f"/v1/orders/{order_id}/receipt")
    assert response.status_code == 404
    assert response.json() == {"error": "ReceiptNotAllocated", "detail": f"No receipt allocated for order {order_id}."}


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
    assert response.json() == {
        "error": "OrderNotEligibleForInvoice",
        "detail": (f"Order {order_id} is not eligible for invoice generation (current status: {status})."),
    }


async def test_missing_billing_details_then_fixed_with_patch(client: httpx2.AsyncClient, info: SeedInfo) -> None:
    order_id = info.draft_orders["no_billing_address"]
    await client.post(f"/v1/orders/{order_id}/finalize")
    refused = await client.post(f"/v1/orders/{order_id}/invoice")
    assert refused.status_code == 422
    assert refused.json() == {
        "error": "MissingInvoiceBillingDetails",
        "detail": ("Billing name and address are required to generate an invoice for this order."),
    }
    patched = await client.patch(
        f"/v1/orders/{order_id}",
        json={"billing_name": "Omar Noaddress GmbH", "billing_address": {"country": "DE", "city": "Berlin"}},
    )
    assert patched.status_code == 200
    assert patched.json()["billing_address"] == {
        "line1": None,
        "line2": None,
        "postal_code": None,
        "city": "Berlin",
        "state": None,
        "country": "DE",
    }
    assert (await client.post(f"/v1/orders/{order_id}/invoice")).status_code == 202


async def test_country_and_state_cannot_change(client: httpx2.AsyncClient, info: SeedInfo) -> None:
    order_id = info.draft_orders["declining_card"]  # billed in California
    moved = await client.patch(f"/v1/orders/{order_id}", json={"billing_address": {"country": "GB"}})
    assert moved.status_code == 422
    # Polar checks both and reports both: the state (US-CA) went too.
    assert moved.json() == {
        "error": "PolarRequestValidationError",
        "detail": [
            {
                "type": "value_error",
                "loc": ["body", "billing_address", "country"],
                "msg": "Country cannot be changed",
                "input": "GB",
            },
            {
                "type": "value_error",
                "loc": ["body", "billing_address", "state"],
                "msg": "State cannot be changed",
                "input": None,
            },
        ],
    }
    state = await client.patch(f"/v1/orders/{order_id}", json={"billing_address": {"country": "US", "state": "US-NY"}})
    assert state.status_code == 422 and [e["msg"] for e in state.json()["detail"]] == ["State cannot be changed"]
    fine = await client.patch(
        f"/v1/orders/{order_id}",
        json={
            "billing_address": {"country": "US", "state": "US-CA", "line1": "2 Mission St", "city": "San Francisco"},
            "billing_name": "Dan D.",
        },
    )
    assert fine.status_code == 200 and fine.json()["billing_name"] == "Dan D."


async def test_billing_address_null_removes_it_and_a_new_one_can_have_any_country(
    client: httpx2.AsyncClient, info: SeedInfo
) -> None:
    order_id = info.paid_order_id  # billed in GB
    cleared = await client.patch(f"/v1/orders/{order_id}", json={"billing_address": None})
    assert cleared.status_code == 200 and cleared.json()["billing_address"] is None
    # With no address on the order, there is nothing to keep: Polar compares only two addresses.
    moved = await client.patch(f"/v1/orders/{order_id}", json={"billing_address": {"country": "FR", "city": "Paris"}})
    assert moved.status_code == 200 and moved.json()["billing_address"]["country"] == "FR"
    # No address, no invoice.
    await client.patch(f"/v1/orders/{order_id}", json={"billing_address": None})
    refused = await client.post(f"/v1/orders/{order_id}/invoice")
    assert refused.status_code == 422 and refused.json()["error"] == "MissingInvoiceBillingDetails"


async def invoice_pdf(client: httpx2.AsyncClient, order_id: str) -> bytes:
    url = (await client.get(f"/v1/orders/{order_id}/invoice")).json()["url"]
    return (await client.get(url)).content


async def test_billing_details_change_after_the_invoice_and_the_next_request_regenerates_it(
    client: httpx2.AsyncClient, info: SeedInfo
) -> None:
    order_id = info.paid_order_id
    await client.post(f"/v1/orders/{order_id}/invoice")
    first = (await client.get(f"/v1/orders/{order_id}")).json()
    number = first["invoice_number"]
    assert f"Invoice {number} for order {order_id}: Ada Good, GB".encode() in await invoice_pdf(client, order_id)
    changed = await client.patch(f"/v1/orders/{order_id}", json={"billing_name": "Ada Good Ltd"})
    assert changed.status_code == 200 and changed.json()["is_invoice_generated"] is True
    # The invoice that exists is the one generated before the change...
    assert b"Ada Good, GB" in await invoice_pdf(client, order_id)
    # ...until the next request, whose checksum differs: regenerated, same number.
    assert (await client.post(f"/v1/orders/{order_id}/invoice")).status_code == 202
    after = (await client.get(f"/v1/orders/{order_id}")).json()
    assert after["invoice_number"] == number and after["modified_at"] >= first["modified_at"]
    assert f"Invoice {number} for order {order_id}: Ada Good Ltd, GB".encode() in await invoice_pdf(client, order_id)


async def test_an_unchanged_invoice_is_not_regenerated(client: httpx2.AsyncClient, info: SeedInfo) -> None:
    order_id = info.paid_order_id
    await client.post(f"/v1/orders/{order_id}/invoice")
    before = (await client.get(f"/v1/orders/{order_id}")).json()
    # Setting the same name again leaves the checksum as it was: the request is a no-op.
    await client.patch(f"/v1/orders/{order_id}", json={"billing_name": before["billing_name"]})
    touched = (await client.get(f"/v1/orders/{order_id}")).json()["modified_at"]
    assert (await client.post(f"/v1/orders/{order_id}/invoice")).status_code == 202
    assert (await client.get(f"/v1/orders/{order_id}")).json()["modified_at"] == touched


async def test_file_route_serves_only_existing_documents(client: httpx2.AsyncClient, info: SeedInfo) -> None:
    assert (await client.get(f"/_emulator/files/invoices/{info.paid_order_id}.pdf")).status_code == 404
    assert (await client.get(f"/_emulator/files/receipts/{info.paid_order_id}.pdf")).status_code == 200
    assert (await client.get(f"/_emulator/files/other/{info.paid_order_id}.pdf")).status_code == 404
