"""Thin routes for the customer portal's orders, scoped to the session's customer."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from . import bodies, render
from .orders import OrderFilters
from .params import Query, changes, parse_body, path_id
from .routes import base_url, bearer, emulator

PORTAL_SORTING = ("created_at", "amount", "net_amount", "product", "subscription")
# `/v1/users/orders/` is the portal's deprecated former home; Polar still serves it identically.
PREFIXES = ("/v1/customer-portal/orders", "/v1/users/orders")


async def list_orders(request: Request) -> Response:
    state = emulator(request)
    customer = state.require_customer(bearer(request)).customer
    q = Query(request.query_params)
    f = OrderFilters(
        product_id=q.uuids("product_id"),
        product_billing_type=q.enums("product_billing_type", ("one_time", "recurring")),
        subscription_id=q.uuids("subscription_id"),
        query=q.string("query"),
    )
    page, limit = q.pagination()
    sorting = q.sorting(PORTAL_SORTING)
    q.check()
    org = state.store.organization
    result = state.orders.list_orders(f, sorting=sorting, page=page, limit=limit, customer=customer)
    return JSONResponse(render.page(result, lambda o: render.customer_order(o, org)))


async def get_order(request: Request) -> Response:
    state = emulator(request)
    customer = state.require_customer(bearer(request)).customer
    order = state.orders.get(path_id(request.path_params["id"]), customer)
    return JSONResponse(render.customer_order(order, state.store.organization))


async def update_order(request: Request) -> Response:
    state = emulator(request)
    customer = state.require_customer(bearer(request)).customer
    order_id = path_id(request.path_params["id"])
    body = await parse_body(request, bodies.OrderUpdate)
    order = state.orders.update(order_id, changes(body), customer)
    return JSONResponse(render.customer_order(order, state.store.organization))


async def generate_invoice(request: Request) -> Response:
    state = emulator(request)
    customer = state.require_customer(bearer(request)).customer
    state.orders.generate_invoice(path_id(request.path_params["id"]), customer)
    return JSONResponse(None, 202)


async def get_invoice(request: Request) -> Response:
    state = emulator(request)
    customer = state.require_customer(bearer(request)).customer
    url = state.orders.invoice_url(path_id(request.path_params["id"]), customer)
    return JSONResponse({"url": base_url(request) + url})


async def get_receipt(request: Request) -> Response:
    state = emulator(request)
    customer = state.require_customer(bearer(request)).customer
    url = state.orders.receipt_url(path_id(request.path_params["id"]), customer)
    if url is None:
        return Response(status_code=202)
    return JSONResponse({"url": base_url(request) + url})


async def get_payment_status(request: Request) -> Response:
    state = emulator(request)
    customer = state.require_customer(bearer(request)).customer
    status, error = state.orders.payment_status(path_id(request.path_params["id"]), customer)
    return JSONResponse({"status": status, "error": error})


async def confirm_retry_payment(request: Request) -> Response:
    state = emulator(request)
    customer = state.require_customer(bearer(request)).customer
    order_id = path_id(request.path_params["id"])
    await parse_body(request, bodies.CustomerOrderConfirmPayment)
    state.orders.retry_payment(order_id, customer)


ROUTES: list[BaseRoute] = [
    route
    for prefix in PREFIXES
    for route in (
        Route(f"{prefix}/", list_orders, methods=["GET"]),
        Route(f"{prefix}/{{id}}", get_order, methods=["GET"]),
        Route(f"{prefix}/{{id}}", update_order, methods=["PATCH"]),
        Route(f"{prefix}/{{id}}/invoice", generate_invoice, methods=["POST"]),
        Route(f"{prefix}/{{id}}/invoice", get_invoice, methods=["GET"]),
        Route(f"{prefix}/{{id}}/receipt", get_receipt, methods=["GET"]),
        Route(f"{prefix}/{{id}}/payment-status", get_payment_status, methods=["GET"]),
        Route(f"{prefix}/{{id}}/confirm-payment", confirm_retry_payment, methods=["POST"]),
    )
]
