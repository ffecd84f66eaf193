"""Every kind of response the emulator sends validates against Polar's spec for its path and status.

Where Polar sends something its spec does not list (401/403 auth bodies, the 404s
`InvoiceDoesNotExist` and `ReceiptNotAllocated`, the empty 202 receipt, an unknown
Polar-Version, 403 on order creation), the exact shape is asserted instead.
"""

from __future__ import annotations

from typing import Any

import httpx2
import pytest
from starlette.applications import Starlette
from starlette.routing import Route

from polar_orders_mcp.emulator.seed import READ_ONLY_TOKEN, SeedInfo
from polar_orders_mcp.emulator.state import EmulatorState

from .conftest import SpecChecker
from .sdk_schema import sdk_additions

pytestmark = pytest.mark.anyio
UNKNOWN = "0b6a7f5e-3f0e-4c2b-9a53-8f7b2b9d1c11"


def exact(response: httpx2.Response, status: int, body: Any) -> None:
    assert response.status_code == status, response.text
    assert response.json() == body


def polar_error(response: httpx2.Response, status: int, error: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "detail"} and body["error"] == error and isinstance(body["detail"], str)


async def test_products(client: httpx2.AsyncClient, conform: SpecChecker, info: SeedInfo) -> None:
    products = "/v1/products/"
    conform.check(await client.get(products, params={"is_recurring": "false"}), "GET", products)
    conform.check(await client.get(products, params={"limit": 0}), "GET", products)
    one = "/v1/products/{id}"
    for product_id in info.products.values():
        conform.check(await client.get(f"/v1/products/{product_id}"), "GET", one)
    conform.check(await client.get(f"/v1/products/{UNKNOWN}"), "GET", one)
    conform.check(await client.get("/v1/products/not-a-uuid"), "GET", one)
    assert {s for _, _, s in conform.checked} == {200, 404, 422}


async def test_customers(client: httpx2.AsyncClient, conform: SpecChecker, info: SeedInfo) -> None:
    conform.check(await client.get("/v1/customers/", params={"limit": 100}), "GET", "/v1/customers/")
    conform.check(await client.get("/v1/customers/", params={"page": "x"}), "GET", "/v1/customers/")
    for customer_id in info.customers.values():
        conform.check(await client.get(f"/v1/customers/{customer_id}"), "GET", "/v1/customers/{id}")
        conform.check(
            await client.get(f"/v1/customers/{customer_id}/payment-methods"),
            "GET",
            "/v1/customers/{id}/payment-methods",
        )
    for bad in (UNKNOWN, "nope"):
        conform.check(await client.get(f"/v1/customers/{bad}"), "GET", "/v1/customers/{id}")
        conform.check(
            await client.get(f"/v1/customers/{bad}/payment-methods"), "GET", "/v1/customers/{id}/payment-methods"
        )
    sessions = "/v1/customer-sessions/"
    conform.check(await client.post(sessions, json={"customer_id": info.customers["good_card"]}), "POST", sessions)
    conform.check(await client.post(sessions, json={"external_customer_id": "emu_sca_card"}), "POST", sessions)
    conform.check(await client.post(sessions, json={"customer_id": UNKNOWN}), "POST", sessions)
    conform.check(await client.post(sessions, json={}), "POST", sessions)


async def test_order_reads(client: httpx2.AsyncClient, conform: SpecChecker, info: SeedInfo) -> None:
    orders = "/v1/orders/"
    conform.check(await client.get(orders, params={"limit": 100}), "GET", orders)
    conform.check(await client.get(orders, params={"product_billing_type": "recurring", "limit": 100}), "GET", orders)
    conform.check(await client.get(orders, params={"discount_id": info.discount_id}), "GET", orders)
    conform.check(await client.get(orders, params={"status": "bogus"}), "GET", orders)
    conform.check(await client.get(orders, params={"customer_id": "x", "limit": -1}), "GET", orders)
    for order_id in info.orders_by_status.values():
        conform.check(await client.get(f"/v1/orders/{order_id}"), "GET", "/v1/orders/{id}")
    conform.check(await client.get(f"/v1/orders/{UNKNOWN}"), "GET", "/v1/orders/{id}")
    conform.check(await client.get("/v1/orders/123"), "GET", "/v1/orders/{id}")
    export = "/v1/orders/export"
    conform.check(await client.get(export, params={"columns": ["email", "total_amount"]}), "GET", export)
    conform.check(await client.get(export, params={"timezone": "Mars/Olympus"}), "GET", export)
    conform.check(await client.get(export, params={"created_after": "2026-01-01T00:00:00"}), "GET", export)


async def test_order_writes(
    client: httpx2.AsyncClient, conform: SpecChecker, info: SeedInfo, state: EmulatorState
) -> None:
    orders, one = "/v1/orders/", "/v1/orders/{id}"
    fixed = info.products["one_time_fixed"]
    conform.check(
        await client.post(orders, json={"customer_id": info.customers["good_card"], "product_id": fixed}),
        "POST",
        orders,
    )
    for body in (
        {},
        {"customer_id": info.customers["good_card"], "product_id": info.products["recurring"]},
        {"customer_id": info.customers["no_billing_address"], "product_id": fixed},
    ):
        conform.check(await client.post(orders, json=body), "POST", orders)
    draft = info.draft_orders["no_billing_address"]
    conform.check(
        await client.patch(
            f"/v1/orders/{draft}",
            json={
                "billing_name": "Omar N.",
                "billing_address": {"country": "IT", "line1": "Via Roma 1", "city": "Roma"},
            },
        ),
        "PATCH",
        one,
    )
    conform.check(
        await client.patch(f"/v1/orders/{info.paid_order_id}", json={"billing_address": {"country": "US"}}),
        "PATCH",
        one,
    )
    conform.check(await client.patch(f"/v1/orders/{UNKNOWN}", json={"billing_name": "x"}), "PATCH", one)
    # Polar does not list 403 for order creation, but sends OffSessionChargesNotEnabled.
    state.set_organization(off_session_charges_enabled=False)
    polar_error(
        await client.post(orders, json={"customer_id": info.customers["good_card"], "product_id": fixed}),
        403,
        "OffSessionChargesNotEnabled",
    )


async def test_finalize(client: httpx2.AsyncClient, conform: SpecChecker, info: SeedInfo, state: EmulatorState) -> None:
    finalize = "/v1/orders/{id}/finalize"

    def url(kind: str) -> str:
        return f"/v1/orders/{info.draft_orders[kind]}/finalize"

    for kind, error in (
        ("declining_card", "PaymentFailed"),
        ("sca_card", "PaymentActionRequired"),
        ("no_payment_method", "PaymentFailed"),
    ):
        body = conform.check(await client.post(url(kind)), "POST", finalize)
        assert body["error"] == error, kind
    conform.check(
        await client.post(url("good_card"), json={"payment_method_id": info.payment_methods["sca_card"]}),
        "POST",
        finalize,
    )
    conform.check(await client.post(url("good_card"), json={"payment_method_id": 5}), "POST", finalize)
    conform.check(await client.post(url("good_card")), "POST", finalize)
    conform.check(await client.post(url("good_card")), "POST", finalize)
    conform.check(await client.post(f"/v1/orders/{UNKNOWN}/finalize"), "POST", finalize)
    state.set_organization(payments_ready=False)
    conform.check(await client.post(url("sca_card")), "POST", finalize)
    state.set_organization(off_session_charges_enabled=False)
    conform.check(await client.post(url("sca_card")), "POST", finalize)
    statuses = {s for _, _, s in conform.checked}
    assert statuses == {200, 402, 403, 404, 412, 422}


async def test_invoices_and_receipts(client: httpx2.AsyncClient, conform: SpecChecker, info: SeedInfo) -> None:
    invoice, receipt = "/v1/orders/{id}/invoice", "/v1/orders/{id}/receipt"
    paid, draft = info.paid_order_id, info.draft_orders["good_card"]
    # Not in the spec: Polar's 404 before the invoice exists is InvoiceDoesNotExist.
    polar_error(await client.get(f"/v1/orders/{paid}/invoice"), 404, "InvoiceDoesNotExist")
    response = await client.post(f"/v1/orders/{paid}/invoice")
    conform.check(response, "POST", invoice)
    assert response.content == b"null"
    conform.check(await client.get(f"/v1/orders/{paid}/invoice"), "GET", invoice)
    conform.check(await client.post(f"/v1/orders/{draft}/invoice"), "POST", invoice)
    await client.post(f"/v1/orders/{info.draft_orders['no_billing_address']}/finalize")
    conform.check(await client.post(f"/v1/orders/{info.draft_orders['no_billing_address']}/invoice"), "POST", invoice)
    for method in ("POST", "GET"):
        conform.check(await client.request(method, f"/v1/orders/{UNKNOWN}/invoice"), method, invoice)
    conform.check(await client.get("/v1/orders/zzz/invoice"), "GET", invoice)

    conform.check(await client.get(f"/v1/orders/{paid}/receipt"), "GET", receipt)
    # Not in the spec: a receipt without a succeeded payment is 404 ReceiptNotAllocated.
    polar_error(await client.get(f"/v1/orders/{draft}/receipt"), 404, "ReceiptNotAllocated")
    await client.post(f"/v1/orders/{draft}/finalize")
    conform.check(await client.get(f"/v1/orders/{draft}/receipt"), "GET", receipt)  # 202, empty body
    conform.check(await client.get(f"/v1/orders/{draft}/receipt"), "GET", receipt)
    conform.check(await client.get(f"/v1/orders/{UNKNOWN}/receipt"), "GET", receipt)
    conform.check(await client.get("/v1/orders/zzz/receipt"), "GET", receipt)
    assert {(m, s) for m, _, s in conform.checked} >= {
        ("GET", 200),
        ("GET", 202),
        ("POST", 202),
        ("POST", 409),
        ("POST", 422),
        ("GET", 404),
        ("POST", 404),
        ("GET", 422),
    }


async def test_checkouts(
    client: httpx2.AsyncClient, anonymous: httpx2.AsyncClient, conform: SpecChecker, info: SeedInfo
) -> None:
    many, one = "/v1/checkouts/", "/v1/checkouts/{id}"
    conform.check(await client.get(many, params={"limit": 100}), "GET", many)
    conform.check(await client.get(many, params={"status": "nope"}), "GET", many)
    products = [info.products["one_time_custom"], info.products["one_time_fixed"]]
    body = {
        "products": products,
        "amount": 2000,
        "customer_billing_address": {"country": "FR"},
        "metadata": {"ref": "abc"},
    }
    created = conform.check(await client.post(many, json=body), "POST", many)
    conform.check(await client.post(many, json={"products": []}), "POST", many)
    conform.check(await client.get(f"/v1/checkouts/{created['id']}"), "GET", one)
    conform.check(await client.get(f"/v1/checkouts/{UNKNOWN}"), "GET", one)
    conform.check(await client.get("/v1/checkouts/1"), "GET", one)
    conform.check(await client.patch(f"/v1/checkouts/{created['id']}", json={"amount": 3000}), "PATCH", one)
    conform.check(await client.patch(f"/v1/checkouts/{info.expired_checkout_id}", json={}), "PATCH", one)
    conform.check(await client.patch(f"/v1/checkouts/{UNKNOWN}", json={}), "PATCH", one)
    conform.check(await client.patch(f"/v1/checkouts/{created['id']}", json={"amount": -1}), "PATCH", one)

    get, confirm = "/v1/checkouts/client/{client_secret}", "/v1/checkouts/client/{client_secret}/confirm"
    secret, expired = created["client_secret"], info.expired_checkout_client_secret
    for method, body in (("GET", None), ("PATCH", {"customer_name": "Zoe"})):
        for s in (secret, expired, "polar_c_unknown"):
            conform.check(await anonymous.request(method, f"/v1/checkouts/client/{s}", json=body), method, get)
    conform.check(await anonymous.patch(f"/v1/checkouts/client/{secret}", json={"customer_email": "bad"}), "PATCH", get)
    for s in (expired, "polar_c_unknown"):
        conform.check(await anonymous.post(f"/v1/checkouts/client/{s}/confirm", json={}), "POST", confirm)
    url = f"/v1/checkouts/client/{secret}/confirm"
    conform.check(await anonymous.post(url, json={}), "POST", confirm)
    conform.check(
        await anonymous.post(
            url, json={"customer_email": "zoe@example.com", "confirmation_token_id": "tok_chargeDeclined"}
        ),
        "POST",
        confirm,
    )
    conform.check(
        await anonymous.post(url, json={"customer_email": "zoe@example.com", "confirmation_token_id": "tok_visa"}),
        "POST",
        confirm,
    )
    conform.check(await anonymous.post(url, json={}), "POST", confirm)  # now 403: no longer open
    conform.check(await anonymous.patch(f"/v1/checkouts/client/{secret}", json={}), "PATCH", get)
    assert {s for m, t, s in conform.checked if t == confirm} == {200, 400, 403, 404, 410, 422}
    assert {s for m, t, s in conform.checked if t == get} == {200, 403, 404, 410, 422}


async def test_customer_portal(
    client: httpx2.AsyncClient, anonymous: httpx2.AsyncClient, conform: SpecChecker, info: SeedInfo
) -> None:
    session = (await client.post("/v1/customer-sessions/", json={"customer_id": info.customers["good_card"]})).json()
    headers = {"Authorization": f"Bearer {session['token']}"}
    other = info.draft_orders["declining_card"]
    # The deprecated /v1/users/orders/ alias is not in the spec: it answers as the portal does.
    template = "/v1/customer-portal/orders"
    for prefix in ("/v1/customer-portal/orders", "/v1/users/orders"):

        async def call(method: str, path: str, suffix: str, body: Any = None, prefix: str = prefix) -> None:
            response = await anonymous.request(method, f"{prefix}{path}", headers=headers, json=body)
            conform.check(response, method, f"{template}{suffix}")

        await call("GET", "/?limit=100", "/")
        await call("GET", "/?sorting=bogus", "/")
        await call("GET", f"/{info.paid_order_id}", "/{id}")
        await call("GET", f"/{other}", "/{id}")
        await call("GET", "/nope", "/{id}")
        await call("PATCH", f"/{info.paid_order_id}", "/{id}", {"billing_name": "Ada G."})
        await call("PATCH", f"/{other}", "/{id}", {"billing_name": "x"})
        await call("PATCH", f"/{info.paid_order_id}", "/{id}", {"billing_address": {"country": "US"}})
        await call("GET", f"/{info.paid_order_id}/receipt", "/{id}/receipt")
        await call("GET", f"/{other}/receipt", "/{id}/receipt")
        await call("POST", f"/{info.draft_orders['good_card']}/invoice", "/{id}/invoice")
        await call("POST", f"/{info.paid_order_id}/invoice", "/{id}/invoice")
        await call("GET", f"/{info.paid_order_id}/invoice", "/{id}/invoice")
        await call("GET", f"/{other}/invoice", "/{id}/invoice")
        await call("GET", f"/{info.paid_order_id}/payment-status", "/{id}/payment-status")
        await call("GET", f"/{other}/payment-status", "/{id}/payment-status")
        await call("GET", "/nope/payment-status", "/{id}/payment-status")
        retry = "/{id}/confirm-payment"
        await call("POST", f"/{info.paid_order_id}/confirm-payment", retry, {"confirmation_token_id": "tok_visa"})
        await call("POST", f"/{other}/confirm-payment", retry, {"confirmation_token_id": "tok_visa"})
        # Not in the spec, which lists only OrderNotEligibleForRetry as the 422: FastAPI's own for the body.
        exact(
            await anonymous.post(f"{prefix}/{info.paid_order_id}/confirm-payment", headers=headers, json={}),
            422,
            {
                "error": "RequestValidationError",
                "detail": [
                    {
                        "type": "value_error",
                        "loc": ["body"],
                        "input": {},
                        "ctx": {"error": {}},
                        "msg": "Value error, Either confirmation_token_id or payment_method_id must be provided",
                    }
                ],
            },
        )
    assert {s for _, _, s in conform.checked} == {200, 202, 404, 409, 422}


async def test_auth_and_version_errors(anonymous: httpx2.AsyncClient, info: SeedInfo) -> None:
    # None of these bodies is in the spec: they are Polar's auth and routing layers.
    exact(await anonymous.get("/v1/orders/"), 401, {"error": "Unauthorized", "detail": "Unauthorized"})
    response = await anonymous.get("/v1/orders/", headers={"Authorization": "Bearer polar_oat_nope"})
    assert response.status_code == 401
    assert set(response.json()) == {"error", "error_description"} and response.json()["error"] == "invalid_token"
    assert response.headers["www-authenticate"].startswith('Bearer realm="polar", error="invalid_token"')
    response = await anonymous.post("/v1/orders/", json={}, headers={"Authorization": f"Bearer {READ_ONLY_TOKEN}"})
    assert response.status_code == 403
    assert response.json()["error"] == "insufficient_scope" and set(response.json()) == {"error", "error_description"}
    exact(await anonymous.get("/v1/orders/", headers={"Polar-Version": "2024-01"}), 404, {"detail": "Not Found"})
    exact(await anonymous.get("/v1/nothing-here"), 404, {"detail": "Not Found"})


def test_the_checks_cover_the_fields_newer_than_the_spec(spec: dict[str, Any]) -> None:
    # Were the SDK's models renamed or moved, the extension above would silently add nothing.
    required = {
        name: sorted(f for f, (_, needed) in fields.items() if needed) for name, fields in sdk_additions(spec).items()
    }
    assert required["Order"] == required["CustomerOrder"] == ["units"]
    assert required["OrderSubscription"] == required["CustomerOrderSubscription"] == ["units"]
    for name in ("Checkout", "CheckoutPublic", "CheckoutPublicConfirmed"):
        assert required[name] == ["max_units", "min_units", "units"]
    assert required["OrderItemSchema"] == ["end_timestamp", "start_timestamp"]
    assert required["Product"] == ["is_deletable"]
    assert sdk_additions(spec)["Order"]["units"][0] == {"anyOf": [{"type": "integer"}, {"type": "null"}]}


# Operations of the subset spec the emulator does not serve: they answer as any unknown route does
# (405 where the path exists for other methods, else 404). The emulator README lists them.
NOT_SERVED = {
    ("POST", "/v1/products/"),
    ("PATCH", "/v1/products/{id}"),
    ("POST", "/v1/customers/"),
    ("PATCH", "/v1/customers/{id}"),
    ("DELETE", "/v1/customers/{id}"),
}


def served(app: Starlette) -> set[tuple[str, str]]:
    return {
        (method, route.path)
        for route in app.routes
        if isinstance(route, Route) and route.path.startswith("/v1/")
        for method in (route.methods or ())
        if method != "HEAD"
    }


def test_every_operation_of_the_spec_is_served_or_listed_as_not(spec: dict[str, Any], app: Starlette) -> None:
    operations = {
        (method.upper(), path)
        for path, ops in spec["paths"].items()
        for method in ops
        if method in ("get", "post", "patch", "put", "delete")
    }
    assert operations - served(app) == NOT_SERVED
    # Served beyond the subset: the portal's deprecated alias, the after-sales paths of Polar's full spec
    # (checked against it in test_conformance_sales.py) and the token's organization (test_organizations.py).
    assert {path.split("/")[2] for _, path in served(app) - operations} == {
        "users",
        "subscriptions",
        "disputes",
        "organizations",
    }


async def test_what_is_not_served_answers_as_an_unknown_route(client: httpx2.AsyncClient) -> None:
    for method, template in sorted(NOT_SERVED):
        response = await client.request(method, template.replace("{id}", UNKNOWN), json={})
        assert response.status_code in (404, 405), (method, template)
        assert response.json() in ({"detail": "Not Found"}, {"detail": "Method Not Allowed"})
