"""Tolerant models: new fields and new enum values from Polar never break parsing."""

from __future__ import annotations

import httpx2
import pytest

from polar_orders_mcp.polar.models import Checkout, Customer, CustomerSession, Order, PaymentMethod, Product
from tests.polar.scripted import ORDER_ID, Script, client_for, json_response, order_json

pytestmark = pytest.mark.anyio


async def test_unknown_fields_and_status_are_kept() -> None:
    body = order_json(
        status="disputed", billing_reason="subscription_pause", dispute={"id": "dp_1"}, brand_new_amount=5
    )
    async with client_for(Script(json_response(200, body))) as polar:
        order = await polar.orders.get(ORDER_ID)
    assert order.status == "disputed"
    assert order.billing_reason == "subscription_pause"
    assert order.model_extra == {"dispute": {"id": "dp_1"}, "brand_new_amount": 5}
    assert order.model_dump()["dispute"] == {"id": "dp_1"}


async def test_list_items_tolerate_new_values() -> None:
    body = {"items": [order_json(status="disputed")], "pagination": {"total_count": 1, "max_page": 1}, "cursor": "new"}
    async with client_for(Script(json_response(200, body))) as polar:
        page = await polar.orders.list()
    assert page.items[0].status == "disputed"


def test_known_enum_values_still_parse() -> None:
    assert Order.model_validate(order_json(status="partially_refunded")).status == "partially_refunded"


def test_checkout_with_unknown_status() -> None:
    checkout = Checkout.model_validate(
        {
            "id": "c1",
            "status": "abandoned",
            "client_secret": "polar_c_x",
            "url": "https://x",
            "expires_at": "2026-10-01T00:00:00Z",
            "amount": 100,
            "net_amount": 100,
            "total_amount": 100,
            "currency": "usd",
            "payment_processor": "adyen",
        }
    )
    assert checkout.status == "abandoned"
    assert checkout.model_extra == {"payment_processor": "adyen"}


def test_customer_of_an_unknown_type_without_email() -> None:
    customer = Customer.model_validate({"id": "cu", "type": "household", "email": None})
    assert customer.type == "household"


def test_card_and_generic_payment_methods() -> None:
    card = PaymentMethod.model_validate(
        {
            "id": "pm1",
            "type": "card",
            "processor": "stripe",
            "customer_id": "cu",
            "is_default": True,
            "method_metadata": {"brand": "visa", "last4": "4242", "exp_month": 12, "exp_year": 2030},
        }
    )
    assert (card.brand, card.last4, card.exp_month, card.exp_year) == ("visa", "4242", 12, 2030)
    generic = PaymentMethod.model_validate({"id": "pm2", "type": "sepa_debit", "is_default": False})
    assert generic.type == "sepa_debit" and generic.last4 is None


def test_product_with_unknown_price_type() -> None:
    product = Product.model_validate(
        {
            "id": "p",
            "name": "Pro",
            "prices": [{"id": "pr", "amount_type": "tiered", "price_currency": "usd"}],
        }
    )
    assert product.prices[0].amount_type == "tiered"


def test_confirm_session_token_is_not_in_repr() -> None:
    checkout = Checkout.model_validate(
        {
            "id": "c1",
            "status": "confirmed",
            "client_secret": "polar_c_x",
            "url": "https://x",
            "expires_at": "2026-10-01T00:00:00Z",
            "amount": 1,
            "net_amount": 1,
            "total_amount": 1,
            "currency": "usd",
            "customer_session_token": "polar_cst_secret",
        }
    )
    assert checkout.customer_session_token == "polar_cst_secret"
    assert "polar_cst_secret" not in repr(checkout)


async def test_receipt_pending_on_202_with_empty_body() -> None:
    async with client_for(Script(httpx2.Response(202))) as polar:
        receipt = await polar.orders.get_receipt(ORDER_ID)
    assert (receipt.pending, receipt.url) == (True, None)


async def test_receipt_ready() -> None:
    async with client_for(Script(json_response(200, {"url": "https://files/r.pdf"}))) as polar:
        receipt = await polar.orders.get_receipt(ORDER_ID)
    assert (receipt.pending, receipt.url) == (False, "https://files/r.pdf")


async def test_portal_payment_status() -> None:
    script = Script(json_response(200, {"status": "succeeded", "error": None, "next_action": "none"}))
    async with client_for(script, customer_session="polar_cst_x") as polar:
        status = await polar.customer_portal.orders.get_payment_status(ORDER_ID)
    assert (status.status, status.error) == ("succeeded", None)
    assert script.requests[0].url.path == f"/v1/customer-portal/orders/{ORDER_ID}/payment-status"


def test_customer_session_token_is_not_in_repr() -> None:
    session = CustomerSession.model_validate(
        {
            "id": "s",
            "token": "polar_cst_SECRET",
            "expires_at": "2026-10-01T01:00:00Z",
            "customer_id": "cu",
            "customer_portal_url": "https://polar.sh/acme/portal?customer_session_token=polar_cst_SECRET",
        }
    )
    assert session.token == "polar_cst_SECRET"
    assert "polar_cst_SECRET" not in repr(session) and "polar_cst_SECRET" not in str(session)
