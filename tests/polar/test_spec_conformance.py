"""Every request the client can send is one Polar's published spec accepts."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import httpx2
import pytest

from polar_orders_mcp.polar.client import PolarClient
from polar_orders_mcp.polar.errors import PolarError
from tests.polar.scripted import CUSTOMER_ID, ORDER_ID, PRODUCT_ID, Sleeps
from tests.polar.spec_check import Recorder, operation, problems

pytestmark = pytest.mark.anyio

ID2 = "11111111-2222-4333-8444-555555555555"
WHEN = datetime(2026, 10, 1, tzinfo=UTC)
ADDRESS = {"line1": "1 Main St", "city": "Paris", "postal_code": "75001", "country": "FR"}
SECRET = "polar_c_abcdefghijklmnopqrstuvwxyz"


async def _all(iterator: Any) -> list[Any]:
    return [item async for item in iterator]


CALLS: dict[str, Callable[[PolarClient], Awaitable[object]]] = {
    "orders.list": lambda p: p.orders.list(
        page=2,
        limit=50,
        organization_id=ID2,
        product_id=[PRODUCT_ID, ID2],
        product_billing_type="one_time",
        discount_id=ID2,
        customer_id=CUSTOMER_ID,
        external_customer_id=["ext_1", "ext_2"],
        checkout_id=ID2,
        subscription_id=ID2,
        status=["paid", "refunded"],
        created_after=WHEN,
        created_before="2026-11-01T00:00:00Z",
        metadata={"source": "web", "n": ["1", "2"]},
        sorting=["-created_at", "amount"],
    ),
    "orders.iterate": lambda p: _all(p.orders.iterate(customer_id=CUSTOMER_ID, status="paid", sorting=["status"])),
    "orders.get": lambda p: p.orders.get(ORDER_ID),
    "orders.create": lambda p: p.orders.create(
        customer_id=CUSTOMER_ID,
        product_id=PRODUCT_ID,
        currency="usd",
        amount=1500,
        description="Extra seat",
        metadata={"ticket": "T-1", "n": 2, "vip": True},
        custom_field_data={"po_number": "PO-9"},
    ),
    "orders.create.minimal": lambda p: p.orders.create(customer_id=CUSTOMER_ID, product_id=PRODUCT_ID),
    "orders.update": lambda p: p.orders.update(ORDER_ID, billing_name="ACME", billing_address=ADDRESS),
    "orders.finalize": lambda p: p.orders.finalize(ORDER_ID, payment_method_id=ID2),
    "orders.finalize.default": lambda p: p.orders.finalize(ORDER_ID),
    "orders.generate_invoice": lambda p: p.orders.generate_invoice(ORDER_ID),
    "orders.get_invoice": lambda p: p.orders.get_invoice(ORDER_ID),
    "orders.get_receipt": lambda p: p.orders.get_receipt(ORDER_ID),
    "orders.export": lambda p: p.orders.export_text(
        columns=["email", "net_amount", "billing_country"],
        timezone="Europe/Paris",
        organization_id=ID2,
        product_id=[PRODUCT_ID],
        status=["paid"],
        created_after=WHEN,
        created_before=WHEN,
    ),
    "checkouts.list": lambda p: p.checkouts.list(
        page=1,
        limit=100,
        organization_id=ID2,
        product_id=PRODUCT_ID,
        customer_id=[CUSTOMER_ID],
        external_customer_id="ext",
        status=["open", "expired"],
        query="ada@example.com",
        sorting=["-expires_at"],
    ),
    "checkouts.iterate": lambda p: _all(p.checkouts.iterate(status="open")),
    "checkouts.create": lambda p: p.checkouts.create(
        products=[PRODUCT_ID, ID2],
        customer_id=CUSTOMER_ID,
        external_customer_id="ext",
        customer_email="a@b.co",
        customer_name="Ada",
        customer_billing_address=ADDRESS,
        metadata={"ticket": "T-1"},
        success_url="https://example.com/ok",
        return_url="https://example.com/back",
        amount=2000,
        currency="usd",
        allow_discount_codes=False,
        require_billing_address=True,
        locale="fr",
    ),
    "checkouts.get": lambda p: p.checkouts.get(ID2),
    "checkouts.update": lambda p: p.checkouts.update(ID2, customer_email="a@b.co", metadata={"k": "v"}, amount=10),
    "checkouts.client_get": lambda p: p.checkouts.client_get(SECRET),
    "checkouts.client_update": lambda p: p.checkouts.client_update(
        SECRET, customer_name="Ada", customer_billing_address=ADDRESS, discount_code="SPRING"
    ),
    "checkouts.client_confirm": lambda p: p.checkouts.client_confirm(SECRET, confirmation_token_id="ctoken_1"),
    "customers.list": lambda p: p.customers.list(
        page=1,
        limit=10,
        organization_id=ID2,
        email="a@b.co",
        query="ada",
        active=True,
        metadata={"plan": "pro"},
        sorting=["-created_at", "email"],
    ),
    "customers.iterate": lambda p: _all(p.customers.iterate(query="ada")),
    "customers.get": lambda p: p.customers.get(CUSTOMER_ID),
    "customers.list_payment_methods": lambda p: p.customers.list_payment_methods(CUSTOMER_ID, page=1, limit=5),
    "customers.payment_methods": lambda p: p.customers.payment_methods(CUSTOMER_ID),
    "products.list": lambda p: p.products.list(
        page=1,
        limit=20,
        id=[PRODUCT_ID],
        organization_id=ID2,
        query="pro",
        is_archived=False,
        is_recurring=False,
        benefit_id=ID2,
        visibility=["public", "private"],
        metadata={"tier": "gold"},
        sorting=["name", "-price_amount"],
    ),
    "products.iterate": lambda p: _all(p.products.iterate(is_archived=False)),
    "products.get": lambda p: p.products.get(PRODUCT_ID),
    "customer_sessions.create": lambda p: p.customer_sessions.create(
        customer_id=CUSTOMER_ID, return_url="https://example.com/account"
    ),
    "customer_sessions.create.external": lambda p: p.customer_sessions.create(external_customer_id="ext_1"),
    "portal.orders.list": lambda p: p.customer_portal.orders.list(
        page=1,
        limit=10,
        product_id=PRODUCT_ID,
        product_billing_type=["one_time"],
        subscription_id=ID2,
        query="pro",
        sorting=["-amount"],
    ),
    "portal.orders.iterate": lambda p: _all(p.customer_portal.orders.iterate()),
    "portal.orders.get": lambda p: p.customer_portal.orders.get(ORDER_ID),
    "portal.orders.update": lambda p: p.customer_portal.orders.update(ORDER_ID, billing_name="Ada"),
    "portal.orders.generate_invoice": lambda p: p.customer_portal.orders.generate_invoice(ORDER_ID),
    "portal.orders.get_invoice": lambda p: p.customer_portal.orders.get_invoice(ORDER_ID),
    "portal.orders.get_receipt": lambda p: p.customer_portal.orders.get_receipt(ORDER_ID),
    "portal.orders.get_payment_status": lambda p: p.customer_portal.orders.get_payment_status(ORDER_ID),
}


@pytest.mark.parametrize("name", sorted(CALLS))
async def test_request_is_one_the_spec_accepts(spec: dict[str, Any], name: str) -> None:
    recorder = Recorder(httpx2.MockTransport(lambda request: httpx2.Response(404)))
    async with PolarClient("polar_oat_x", transport=recorder, sleep=Sleeps()) as polar:
        with contextlib.suppress(PolarError):  # only the request matters here
            await CALLS[name](polar)
    assert recorder.requests, "no request was sent"
    for request in recorder.requests:
        assert problems(spec, request) == []


def test_the_checker_catches_what_the_spec_refuses(spec: dict[str, Any]) -> None:
    def request(method: str, url: str, body: Any = None) -> httpx2.Request:
        return httpx2.Request(method, "https://api.polar.sh" + url, json=body)

    assert problems(spec, request("GET", "/v1/orders/?nope=1"))[0].endswith("'nope' is not in the spec")
    assert "not one of the spec's values" in problems(spec, request("GET", "/v1/orders/?status=disputed"))[0]
    assert "positive integer" in problems(spec, request("GET", "/v1/orders/?limit=0"))[0]
    assert "no such operation" in problems(spec, request("DELETE", "/v1/orders/x"))[0]
    assert "body" in problems(spec, request("POST", "/v1/orders/", {"customer_id": CUSTOMER_ID}))[0]


CLIENT_OPERATIONS = {
    "orders:list",
    "orders:get",
    "orders:create",
    "orders:update",
    "orders:finalize",
    "orders:generate_invoice",
    "orders:invoice",
    "orders:receipt",
    "orders:export",
    "checkouts:list",
    "checkouts:create",
    "checkouts:get",
    "checkouts:update",
    "checkouts:client_get",
    "checkouts:client_update",
    "checkouts:client_confirm",
    "customers:list",
    "customers:get",
    "customers:list_payment_methods",
    "products:list",
    "products:get",
    "customer_portal:orders:list",
    "customer_portal:orders:get",
    "customer_portal:orders:update",
    "customer_portal:orders:generate_invoice",
    "customer_portal:orders:invoice",
    "customer_portal:orders:receipt",
    "customer_portal:orders:get_payment_status",
    "customer-sessions:create",
}


async def test_the_table_covers_every_operation_the_client_offers(spec: dict[str, Any]) -> None:
    recorder = Recorder(httpx2.MockTransport(lambda request: httpx2.Response(404)))
    async with PolarClient("polar_oat_x", transport=recorder, sleep=Sleeps()) as polar:
        for call in CALLS.values():
            with contextlib.suppress(PolarError):
                await call(polar)
    seen = set()
    for request in recorder.requests:
        op = operation(spec, request.method, request.url.raw_path.decode().split("?")[0])
        assert op is not None
        seen.add(op["operationId"])
    assert seen == CLIENT_OPERATIONS
