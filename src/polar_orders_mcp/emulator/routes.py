"""Thin routes for the organization API: products, customers, customer sessions and orders."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from . import bodies, render
from .catalog import CustomerFilters, ProductFilters
from .errors import RequestValidationError
from .export import ORDERS
from .models import ORDER_STATUSES
from .orders import DEFAULT_SORTING, ORDER_SORT_KEYS, OrderFilters
from .params import Query, changes, parse_body, path_id
from .state import EmulatorState

EXPORT_CHUNK_ROWS = 500


def emulator(request: Request) -> EmulatorState:
    state: EmulatorState = request.app.state.emulator
    return state


def bearer(request: Request) -> str | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    value = value.strip()
    if scheme.lower() != "bearer" or not value or not value.isascii():
        return None
    return value


def base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def order_filters(q: Query) -> OrderFilters:
    return OrderFilters(
        organization_id=q.uuids("organization_id"),
        product_id=q.uuids("product_id"),
        product_billing_type=q.enums("product_billing_type", ("one_time", "recurring")),
        discount_id=q.uuids("discount_id"),
        customer_id=q.uuids("customer_id"),
        external_customer_id=q.strings("external_customer_id"),
        checkout_id=q.uuids("checkout_id"),
        subscription_id=q.uuids("subscription_id"),
        status=q.enums("status", ORDER_STATUSES),
        created_after=q.moment("created_after"),
        created_before=q.moment("created_before"),
        metadata=q.metadata(),
    )


async def list_products(request: Request) -> Response:
    state = emulator(request)
    state.require_org(bearer(request), "products:read", "products:write")
    q = Query(request.query_params)
    f = ProductFilters(
        id=q.uuids("id"),
        organization_id=q.uuids("organization_id"),
        query=q.string("query"),
        is_archived=q.boolean("is_archived"),
        is_recurring=q.boolean("is_recurring"),
        benefit_id=q.uuids("benefit_id"),
        metadata=q.metadata(),
        visibility=q.enums("visibility", ("draft", "private", "public")),
    )
    page, limit = q.pagination()
    sorting = q.sorting(("created_at", "name", "price_amount_type", "price_amount"))
    q.check()
    return JSONResponse(
        render.page(state.catalog.list_products(f, sorting=sorting, page=page, limit=limit), render.product)
    )


async def get_product(request: Request) -> Response:
    state = emulator(request)
    state.require_org(bearer(request), "products:read", "products:write")
    return JSONResponse(render.product(state.catalog.get_product(path_id(request.path_params["id"]))))


async def list_customers(request: Request) -> Response:
    state = emulator(request)
    state.require_org(bearer(request), "customers:read", "customers:write")
    q = Query(request.query_params)
    f = CustomerFilters(
        organization_id=q.uuids("organization_id"),
        email=q.string("email"),
        query=q.string("query"),
        active=q.boolean("active"),
        metadata=q.metadata(),
    )
    page, limit = q.pagination()
    sorting = q.sorting(("created_at", "email", "name"))
    q.check()
    return JSONResponse(
        render.page(state.catalog.list_customers(f, sorting=sorting, page=page, limit=limit), render.customer)
    )


async def get_customer(request: Request) -> Response:
    state = emulator(request)
    state.require_org(bearer(request), "customers:read", "customers:write")
    return JSONResponse(render.customer(state.catalog.get_customer(path_id(request.path_params["id"]))))


async def list_payment_methods(request: Request) -> Response:
    state = emulator(request)
    state.require_org(bearer(request), "customers:read", "customers:write")
    customer_id = path_id(request.path_params["id"])
    q = Query(request.query_params)
    page, limit = q.pagination()
    q.check()
    customer = state.catalog.get_customer(customer_id)
    result = state.catalog.list_payment_methods(customer_id, page=page, limit=limit)
    return JSONResponse(render.page(result, lambda pm: render.payment_method(pm, customer.default_payment_method_id)))


async def create_customer_session(request: Request) -> Response:
    state = emulator(request)
    state.require_org(bearer(request), "customer_sessions:write")
    body = await parse_body(request, bodies.CustomerSessionCreate)
    if body.customer_id is None and body.external_customer_id is None:
        raise RequestValidationError(
            [
                {
                    "type": "missing",
                    "loc": ["body", "customer_id"],
                    "msg": "Field required",
                    "input": body.model_dump(mode="json", exclude_unset=True),
                }
            ]
        )
    session = state.catalog.create_session(
        customer_id=str(body.customer_id) if body.customer_id else None,
        external_customer_id=body.external_customer_id,
        return_url=body.return_url,
    )
    return JSONResponse(render.customer_session(session, state.store.organization, base_url(request)), 201)


async def list_orders(request: Request) -> Response:
    state = emulator(request)
    state.require_org(bearer(request), "orders:read")
    q = Query(request.query_params)
    f = order_filters(q)
    page, limit = q.pagination()
    sorting = q.sorting(tuple(ORDER_SORT_KEYS))
    q.check()
    return JSONResponse(render.page(state.orders.list_orders(f, sorting=sorting, page=page, limit=limit), render.order))


async def create_order(request: Request) -> Response:
    state = emulator(request)
    state.require_org(bearer(request), "orders:write")
    body = await parse_body(request, bodies.OrderCreate)
    order = state.orders.create(
        customer_id=str(body.customer_id),
        product_id=str(body.product_id),
        organization_id=str(body.organization_id) if body.organization_id else None,
        currency=body.currency,
        amount=body.amount,
        description=body.description,
        metadata=body.metadata,
        custom_field_data=body.custom_field_data,
    )
    return JSONResponse(render.order(order), 201)


async def export_orders(request: Request) -> Response:
    state = emulator(request)
    state.require_org(bearer(request), "orders:read")
    q = Query(request.query_params)
    f = OrderFilters(
        organization_id=q.uuids("organization_id"),
        product_id=q.uuids("product_id"),
        status=q.enums("status", ORDER_STATUSES),
        created_after=q.moment("created_after", aware=True),
        created_before=q.moment("created_before", aware=True),
    )
    tz = q.timezone()
    columns = q.enums("columns", tuple(ORDERS.headers)) or list(ORDERS.defaults)
    q.check()
    # The matching orders are fixed when the request starts; rows are rendered as they are sent.
    orders = state.orders.sorted(state.orders.matching(f), DEFAULT_SORTING)
    return csv_response(ORDERS.rows(orders, columns, tz), ORDERS.filename(f.created_after, f.created_before, tz))


def csv_response(rows: Iterator[str], filename: str) -> StreamingResponse:
    """Polar's CSVStreamingResponse: text/csv, streamed, as an attachment named `filename` (ASCII here)."""
    return StreamingResponse(
        _chunks(rows), media_type="text/csv", headers={"Content-Disposition": f'attachment; filename="{filename}"'}
    )


async def _chunks(rows: Iterator[str]) -> AsyncIterator[str]:
    """Group rows so 100k records are not 100k ASGI sends."""
    batch: list[str] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= EXPORT_CHUNK_ROWS:
            yield "".join(batch)
            batch.clear()
    if batch:
        yield "".join(batch)


async def get_order(request: Request) -> Response:
    state = emulator(request)
    state.require_org(bearer(request), "orders:read")
    return JSONResponse(render.order(state.orders.get(path_id(request.path_params["id"]))))


async def update_order(request: Request) -> Response:
    state = emulator(request)
    state.require_org(bearer(request), "orders:write")
    order_id = path_id(request.path_params["id"])
    body = await parse_body(request, bodies.OrderUpdate)
    return JSONResponse(render.order(state.orders.update(order_id, changes(body))))


async def finalize_order(request: Request) -> Response:
    state = emulator(request)
    state.require_org(bearer(request), "orders:write")
    order_id = path_id(request.path_params["id"])
    body = await parse_body(request, bodies.OrderFinalize, optional=True)
    method = str(body.payment_method_id) if body.payment_method_id else None
    return JSONResponse(render.order(await state.orders.finalize(order_id, method)))


async def generate_invoice(request: Request) -> Response:
    state = emulator(request)
    # Polar's quirk: generating an invoice only needs `orders:read`.
    state.require_org(bearer(request), "orders:read")
    state.orders.generate_invoice(path_id(request.path_params["id"]))
    return JSONResponse(None, 202)


async def get_invoice(request: Request) -> Response:
    state = emulator(request)
    state.require_org(bearer(request), "orders:read")
    url = state.orders.invoice_url(path_id(request.path_params["id"]))
    return JSONResponse({"url": base_url(request) + url})


async def get_receipt(request: Request) -> Response:
    state = emulator(request)
    state.require_org(bearer(request), "orders:read")
    url = state.orders.receipt_url(path_id(request.path_params["id"]))
    if url is None:
        # Polar: 202 with an empty body while the receipt PDF renders; poll again.
        return Response(status_code=202)
    return JSONResponse({"url": base_url(request) + url})


ROUTES: list[BaseRoute] = [
    Route("/v1/products/", list_products, methods=["GET"]),
    Route("/v1/products/{id}", get_product, methods=["GET"]),
    Route("/v1/customers/", list_customers, methods=["GET"]),
    Route("/v1/customers/{id}", get_customer, methods=["GET"]),
    Route("/v1/customers/{id}/payment-methods", list_payment_methods, methods=["GET"]),
    Route("/v1/customer-sessions/", create_customer_session, methods=["POST"]),
    Route("/v1/orders/", list_orders, methods=["GET"]),
    Route("/v1/orders/", create_order, methods=["POST"]),
    Route("/v1/orders/export", export_orders, methods=["GET"]),
    Route("/v1/orders/{id}", get_order, methods=["GET"]),
    Route("/v1/orders/{id}", update_order, methods=["PATCH"]),
    Route("/v1/orders/{id}/finalize", finalize_order, methods=["POST"]),
    Route("/v1/orders/{id}/invoice", generate_invoice, methods=["POST"]),
    Route("/v1/orders/{id}/invoice", get_invoice, methods=["GET"]),
    Route("/v1/orders/{id}/receipt", get_receipt, methods=["GET"]),
]
