"""Checkout sessions: creation, updates, the client-secret side, confirmation and expiry."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx2
import pytest

from polar_orders_mcp.emulator.seed import SeedInfo
from polar_orders_mcp.emulator.state import EmulatorState

pytestmark = pytest.mark.anyio


async def create(client: httpx2.AsyncClient, info: SeedInfo, **extra: Any) -> dict[str, Any]:
    response = await client.post("/v1/checkouts/", json={"products": [info.products["one_time_fixed"]], **extra})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_create_sets_secret_url_expiry_and_prefills_the_customer(
    client: httpx2.AsyncClient, info: SeedInfo, state: EmulatorState
) -> None:
    checkout = await create(
        client,
        info,
        customer_id=info.customers["sca_card"],
        metadata={"order_ref": "A-7"},
        success_url="https://shop.example/thanks",
    )
    assert checkout["status"] == "open" and checkout["client_secret"].startswith("polar_c_")
    assert checkout["url"] == f"http://polar.test/_emulator/checkouts/{checkout['client_secret']}"
    expires = datetime.fromisoformat(checkout["expires_at"])
    assert timedelta(minutes=59) < expires - state.now() <= timedelta(hours=1)
    assert checkout["customer_email"] == "sca-card@example.com" and checkout["metadata"] == {"order_ref": "A-7"}
    # Billed in Germany: 20% tax once the country is known.
    assert (checkout["amount"], checkout["tax_amount"], checkout["total_amount"]) == (1250, 250, 1500)
    assert checkout["success_url"] == "https://shop.example/thanks"


async def test_custom_price_amount_and_unknown_products(client: httpx2.AsyncClient, info: SeedInfo) -> None:
    checkout = (
        await client.post("/v1/checkouts/", json={"products": [info.products["one_time_custom"]], "amount": 2500})
    ).json()
    assert checkout["amount"] == 2500 and checkout["tax_amount"] is None
    too_low = await client.patch(f"/v1/checkouts/{checkout['id']}", json={"amount": 100})
    assert too_low.status_code == 422
    assert too_low.json()["detail"] == [
        {"type": "greater_than_equal", "loc": ["body", "amount"], "msg": "Amount is below minimum.", "input": 100}
    ]
    unknown = await client.post("/v1/checkouts/", json={"products": ["0b6a7f5e-3f0e-4c2b-9a53-8f7b2b9d1c11"]})
    assert unknown.status_code == 422 and unknown.json()["detail"][0]["loc"] == ["body", "products", 0]


async def test_update_and_switch_product(client: httpx2.AsyncClient, info: SeedInfo) -> None:
    checkout = await create(client, info, products=[info.products["one_time_fixed"], info.products["team_license"]])
    updated = await client.patch(
        f"/v1/checkouts/{checkout['id']}",
        json={"product_id": info.products["team_license"], "customer_name": "Zoe", "metadata": {"step": 2}},
    )
    assert updated.status_code == 200
    body = updated.json()
    assert (body["product_id"], body["amount"], body["customer_name"], body["metadata"]) == (
        info.products["team_license"],
        9900,
        "Zoe",
        {"step": 2},
    )
    foreign = await client.patch(f"/v1/checkouts/{checkout['id']}", json={"product_id": info.products["recurring"]})
    assert foreign.status_code == 422


async def test_client_side_get_update_and_confirm(
    client: httpx2.AsyncClient, anonymous: httpx2.AsyncClient, info: SeedInfo
) -> None:
    checkout = await create(client, info)
    url = f"/v1/checkouts/client/{checkout['client_secret']}"
    public = (await anonymous.get(url)).json()
    assert public["organization"]["slug"] == "emulator-labs" and "metadata" not in public
    await anonymous.patch(
        url, json={"customer_email": "zoe@example.com", "customer_billing_address": {"country": "NL"}}
    )
    declined = await anonymous.post(f"{url}/confirm", json={"confirmation_token_id": "tok_chargeDeclined"})
    assert declined.status_code == 400
    assert declined.json() == {
        "error": "PaymentError",
        "detail": ("The payment failed: Your card was declined. Please try again with a different payment method."),
    }
    assert (await anonymous.get(url)).json()["status"] == "open"
    confirmed = await anonymous.post(f"{url}/confirm", json={"confirmation_token_id": "tok_visa"})
    assert confirmed.status_code == 200
    assert confirmed.json()["status"] == "confirmed"
    assert confirmed.json()["customer_session_token"].startswith("polar_cst_")
    # The payment settles: the next read shows the checkout succeeded and a paid order for it.
    assert (await client.get(f"/v1/checkouts/{checkout['id']}")).json()["status"] == "succeeded"
    orders = (await client.get("/v1/orders/", params={"checkout_id": checkout["id"]})).json()["items"]
    assert len(orders) == 1
    order = orders[0]
    assert (order["status"], order["customer"]["email"], order["total_amount"]) == ("paid", "zoe@example.com", 1500)
    again = await anonymous.post(f"{url}/confirm", json={})
    assert again.status_code == 403
    assert again.json() == {"error": "NotOpenCheckout", "detail": f"Checkout {checkout['id']} is not open: succeeded"}


async def test_confirm_with_a_seeded_card_and_missing_fields(
    anonymous: httpx2.AsyncClient, client: httpx2.AsyncClient, info: SeedInfo
) -> None:
    checkout = await create(client, info)
    url = f"/v1/checkouts/client/{checkout['client_secret']}/confirm"
    missing = await anonymous.post(url, json={})
    assert missing.status_code == 422
    assert missing.json() == {
        "error": "PolarRequestValidationError",
        "detail": [
            {"type": "missing", "loc": ["body", "customer_email"], "msg": "Field is required.", "input": None},
            {
                "type": "missing",
                "loc": ["body", "customer_billing_address"],
                "msg": "Field is required.",
                "input": None,
            },
            {
                "type": "missing",
                "loc": ["body", "customer_billing_address", "country"],
                "msg": "Field is required.",
                "input": None,
            },
            {
                "type": "missing",
                "loc": ["body", "confirmation_token_id"],
                "msg": "Confirmation token is required.",
                "input": None,
            },
        ],
    }
    # A US address needs its state and street: Polar asks for the full address there.
    us = await anonymous.post(
        url,
        json={
            "customer_email": "d@example.com",
            "customer_billing_address": {"country": "US"},
            "confirmation_token_id": "tok_visa",
        },
    )
    assert us.status_code == 422
    assert [e["loc"][-1] for e in us.json()["detail"]] == ["state", "line1", "city", "postal_code"]
    # A failed confirmation changed nothing.
    assert (await client.get(f"/v1/checkouts/{checkout['id']}")).json()["customer_email"] is None
    declining = await anonymous.post(
        url,
        json={
            "customer_email": "d@example.com",
            "customer_billing_address": {
                "country": "US",
                "state": "US-NY",
                "line1": "1 Main St",
                "city": "New York",
                "postal_code": "10001",
            },
            "confirmation_token_id": info.payment_methods["declining_card"],
        },
    )
    assert declining.status_code == 400 and declining.json()["error"] == "PaymentError"


async def test_a_business_purchase_needs_the_full_billing_address(
    anonymous: httpx2.AsyncClient, client: httpx2.AsyncClient, info: SeedInfo
) -> None:
    checkout = await create(
        client,
        info,
        customer_email="b@example.com",
        is_business_customer=True,
        customer_billing_address={"country": "FR"},
    )
    response = await anonymous.post(
        f"/v1/checkouts/client/{checkout['client_secret']}/confirm", json={"confirmation_token_id": "tok_visa"}
    )
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert {
        "type": "missing",
        "loc": ["body", "customer_billing_name"],
        "msg": "Field is required.",
        "input": None,
    } in detail
    address = {"line1": None, "line2": None, "postal_code": None, "city": None, "state": None, "country": "FR"}
    assert {
        "type": "value_error",
        "loc": ["body", "customer_billing_address"],
        "msg": "Full billing address is required.",
        "input": address,
    } in detail


async def test_confirm_needs_an_organization_ready_for_payments(
    anonymous: httpx2.AsyncClient, client: httpx2.AsyncClient, info: SeedInfo
) -> None:
    checkout = await create(client, info)
    await client.patch("/_emulator/organization", json={"payments_ready": False})
    response = await anonymous.post(f"/v1/checkouts/client/{checkout['client_secret']}/confirm", json={})
    assert response.status_code == 403
    assert response.json() == {"error": "PaymentNotReady", "detail": "Organization is not ready to accept payments"}


@pytest.mark.parametrize("field", ["allow_discount_codes", "require_billing_address", "is_business_customer"])
async def test_null_for_a_not_null_boolean_fails_as_in_polar_and_changes_nothing(
    client: httpx2.AsyncClient, info: SeedInfo, field: str
) -> None:
    checkout = await create(client, info)
    response = await client.patch(f"/v1/checkouts/{checkout['id']}", json={field: None, "customer_name": "Zoe"})
    # Polar's code writes the NULL and its database refuses it: Starlette's bare 500.
    assert response.status_code == 500 and response.text == "Internal Server Error"
    after = (await client.get(f"/v1/checkouts/{checkout['id']}")).json()
    assert (after[field], after["customer_name"]) == (checkout[field], None)


async def test_expired_checkouts_are_410_on_the_client_side(
    anonymous: httpx2.AsyncClient, client: httpx2.AsyncClient, info: SeedInfo, state: EmulatorState
) -> None:
    url = f"/v1/checkouts/client/{info.expired_checkout_client_secret}"
    for method in ("GET", "PATCH"):
        response = await anonymous.request(method, url, json={} if method == "PATCH" else None)
        assert response.status_code == 410
        assert response.json() == {"error": "ExpiredCheckoutError", "detail": "This checkout session has expired."}
    org_side = await client.patch(f"/v1/checkouts/{info.expired_checkout_id}", json={})
    assert org_side.status_code == 403 and org_side.json()["error"] == "NotOpenCheckout"
    fresh = await create(client, info)
    later = state.now() + timedelta(hours=1, minutes=1)
    state.clock = lambda: later
    assert (await anonymous.get(f"/v1/checkouts/client/{fresh['client_secret']}")).status_code == 410
    assert (await client.get(f"/v1/checkouts/{fresh['id']}")).json()["status"] == "expired"


async def test_unknown_client_secret_is_404(anonymous: httpx2.AsyncClient) -> None:
    response = await anonymous.get("/v1/checkouts/client/polar_c_nope")
    assert response.status_code == 404 and response.json() == {"error": "ResourceNotFound", "detail": "Not found"}


async def test_a_null_success_url_falls_back_to_polars_own_page(client: httpx2.AsyncClient, info: SeedInfo) -> None:
    """Polar stores the null and shows its default confirmation page (checkout/service.py)."""
    checkout = await create(client, info, success_url="https://shop.example/thanks")
    response = await client.patch(f"/v1/checkouts/{checkout['id']}", json={"success_url": None})
    assert response.status_code == 200, response.text
    default = f"http://polar.test/_emulator/checkouts/{checkout['client_secret']}/confirmation"
    assert response.json()["success_url"] == default
    assert (await client.get(f"/v1/checkouts/{checkout['id']}")).json()["success_url"] == default


async def test_a_success_url_names_its_checkout_where_it_says_checkout_id(
    client: httpx2.AsyncClient, info: SeedInfo
) -> None:
    """Polar's Checkout.success_url puts the checkout's id in place of {CHECKOUT_ID} on every read."""
    checkout = await create(client, info, success_url="https://shop.example/thanks?checkout_id={CHECKOUT_ID}")
    expected = f"https://shop.example/thanks?checkout_id={checkout['id']}"
    assert checkout["success_url"] == expected
    assert (await client.get(f"/v1/checkouts/{checkout['id']}")).json()["success_url"] == expected


async def test_null_metadata_is_refused_as_polar_refuses_it(client: httpx2.AsyncClient, info: SeedInfo) -> None:
    checkout = await create(client, info, metadata={"order_ref": "A-7"})
    response = await client.patch(f"/v1/checkouts/{checkout['id']}", json={"metadata": None})
    assert response.status_code == 422, response.text
    error = response.json()
    assert error["error"] == "RequestValidationError"
    assert [(e["loc"], e["type"]) for e in error["detail"]] == [(["body", "metadata"], "dict_type")]
    assert (await client.get(f"/v1/checkouts/{checkout['id']}")).json()["metadata"] == {"order_ref": "A-7"}


async def test_null_customer_metadata_fails_as_in_polar_and_changes_nothing(
    client: httpx2.AsyncClient, info: SeedInfo
) -> None:
    checkout = await create(client, info, customer_metadata={"tier": "gold"})
    response = await client.patch(f"/v1/checkouts/{checkout['id']}", json={"customer_metadata": None})
    # Polar writes the NULL into a NOT NULL column: its database refuses it, a bare 500.
    assert response.status_code == 500 and response.text == "Internal Server Error"
    assert (await client.get(f"/v1/checkouts/{checkout['id']}")).json()["customer_metadata"] == {"tier": "gold"}
