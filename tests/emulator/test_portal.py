"""The customer portal's orders, scoped to the session's customer, and its deprecated alias."""

from __future__ import annotations

import httpx2
import pytest

from polar_orders_mcp.emulator.seed import SeedInfo

pytestmark = pytest.mark.anyio
PREFIXES = ["/v1/customer-portal/orders", "/v1/users/orders"]


async def session_headers(client: httpx2.AsyncClient, customer_id: str) -> dict[str, str]:
    response = await client.post("/v1/customer-sessions/", json={"customer_id": customer_id})
    assert response.status_code == 201
    return {"Authorization": f"Bearer {response.json()['token']}"}


async def test_session_by_external_id_and_unknown_customer(client: httpx2.AsyncClient, info: SeedInfo) -> None:
    session = (await client.post("/v1/customer-sessions/", json={"external_customer_id": "emu_good_card"})).json()
    assert session["customer_id"] == info.customers["good_card"] and session["customer"]["type"] == "individual"
    missing = await client.post("/v1/customer-sessions/", json={"customer_id": "0b6a7f5e-3f0e-4c2b-9a53-8f7b2b9d1c11"})
    assert missing.status_code == 422 and missing.json()["detail"][0]["msg"] == "Customer does not exist."


@pytest.mark.parametrize("prefix", PREFIXES)
async def test_lists_only_the_sessions_customer(
    client: httpx2.AsyncClient, anonymous: httpx2.AsyncClient, info: SeedInfo, prefix: str
) -> None:
    headers = await session_headers(client, info.customers["sca_card"])
    body = (await anonymous.get(f"{prefix}/", params={"limit": 100}, headers=headers)).json()
    assert body["items"] and {o["customer_id"] for o in body["items"]} == {info.customers["sca_card"]}
    assert "customer" not in body["items"][0] and "organization" in body["items"][0]["product"]
    mine = await anonymous.get(f"{prefix}/{info.draft_orders['sca_card']}", headers=headers)
    assert mine.status_code == 200
    theirs = await anonymous.get(f"{prefix}/{info.paid_order_id}", headers=headers)
    assert theirs.status_code == 404 and theirs.json()["error"] == "ResourceNotFound"
    for method, suffix in (("PATCH", ""), ("POST", "/invoice"), ("GET", "/invoice"), ("GET", "/receipt")):
        response = await anonymous.request(
            method, f"{prefix}/{info.paid_order_id}{suffix}", headers=headers, json={} if method == "PATCH" else None
        )
        assert response.status_code == 404, (method, suffix)


@pytest.mark.parametrize("prefix", PREFIXES)
async def test_billing_details_invoice_and_receipt(
    client: httpx2.AsyncClient, anonymous: httpx2.AsyncClient, info: SeedInfo, prefix: str
) -> None:
    headers = await session_headers(client, info.customers["good_card"])
    order_url = f"{prefix}/{info.paid_order_id}"
    patched = await anonymous.patch(order_url, headers=headers, json={"billing_name": "Ada Good Ltd"})
    assert patched.status_code == 200 and patched.json()["billing_name"] == "Ada Good Ltd"
    assert (await anonymous.get(f"{order_url}/invoice", headers=headers)).json()["error"] == "InvoiceDoesNotExist"
    assert (await anonymous.post(f"{order_url}/invoice", headers=headers)).status_code == 202
    invoice = await anonymous.get(f"{order_url}/invoice", headers=headers)
    assert invoice.json()["url"].startswith("http://polar.test/_emulator/files/invoices/")
    assert (await anonymous.get(f"{order_url}/receipt", headers=headers)).status_code == 200
    org_view = (await client.get(f"/v1/orders/{info.paid_order_id}")).json()
    assert org_view["billing_name"] == "Ada Good Ltd" and org_view["is_invoice_generated"]


async def test_alias_answers_exactly_like_the_portal(
    client: httpx2.AsyncClient, anonymous: httpx2.AsyncClient, info: SeedInfo
) -> None:
    headers = await session_headers(client, info.customers["good_card"])
    for suffix in ("/", f"/{info.paid_order_id}", "/?sorting=-amount&limit=3"):
        portal = await anonymous.get(f"/v1/customer-portal/orders{suffix}", headers=headers)
        alias = await anonymous.get(f"/v1/users/orders{suffix}", headers=headers)
        assert (portal.status_code, portal.json()) == (alias.status_code, alias.json())


@pytest.mark.parametrize("prefix", PREFIXES)
async def test_payment_status_follows_the_latest_payment(
    client: httpx2.AsyncClient, anonymous: httpx2.AsyncClient, info: SeedInfo, prefix: str
) -> None:
    headers = await session_headers(client, info.customers["declining_card"])
    draft = info.draft_orders["declining_card"]
    status = f"{prefix}/{draft}/payment-status"
    assert (await anonymous.get(status, headers=headers)).json() == {"status": "no_payment", "error": None}
    await client.post(f"/v1/orders/{draft}/finalize")
    assert (await anonymous.get(status, headers=headers)).json() == {
        "status": "failed",
        "error": "The bank did not return any further details with this decline.",
    }
    good = await session_headers(client, info.customers["good_card"])
    paid = await anonymous.get(f"{prefix}/{info.paid_order_id}/payment-status", headers=good)
    assert paid.json() == {"status": "succeeded", "error": None}
    theirs = await anonymous.get(f"{prefix}/{info.paid_order_id}/payment-status", headers=headers)
    assert theirs.status_code == 404 and theirs.json() == {"error": "ResourceNotFound", "detail": "Not found"}


@pytest.mark.parametrize("prefix", PREFIXES)
async def test_no_order_is_eligible_for_a_payment_retry(
    client: httpx2.AsyncClient, anonymous: httpx2.AsyncClient, info: SeedInfo, prefix: str
) -> None:
    headers = await session_headers(client, info.customers["good_card"])
    order_id = info.orders_by_status["pending"]
    url = f"{prefix}/{order_id}/confirm-payment"
    retry = await anonymous.post(url, headers=headers, json={"confirmation_token_id": "tok_visa"})
    assert retry.status_code == 422
    assert retry.json() == {
        "error": "OrderNotEligibleForRetry",
        "detail": f"Order {order_id} is not eligible for payment retry.",
    }
    neither = await anonymous.post(url, headers=headers, json={})
    assert neither.status_code == 422 and neither.json()["error"] == "RequestValidationError"
    assert neither.json()["detail"][0]["msg"] == (
        "Value error, Either confirmation_token_id or payment_method_id must be provided"
    )
