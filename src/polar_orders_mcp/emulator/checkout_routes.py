"""Thin routes for checkouts: the organization's side and the client-secret side."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from . import bodies, render
from .checkouts import CheckoutFilters
from .models import CHECKOUT_STATUSES
from .params import Query, changes, parse_body, path_id
from .routes import base_url, bearer, emulator


async def list_checkouts(request: Request) -> Response:
    state = emulator(request)
    state.require_org(bearer(request), "checkouts:read", "checkouts:write")
    q = Query(request.query_params)
    f = CheckoutFilters(
        organization_id=q.uuids("organization_id"),
        product_id=q.uuids("product_id"),
        customer_id=q.uuids("customer_id"),
        external_customer_id=q.strings("external_customer_id"),
        status=q.enums("status", CHECKOUT_STATUSES),
        query=q.string("query"),
    )
    page, limit = q.pagination()
    sorting = q.sorting(("created_at", "expires_at", "status"))
    q.check()
    base = base_url(request)
    result = state.checkouts.list_checkouts(f, sorting=sorting, page=page, limit=limit)
    return JSONResponse(render.page(result, lambda c: render.checkout(c, base)))


async def create_checkout(request: Request) -> Response:
    state = emulator(request)
    state.require_org(bearer(request), "checkouts:write")
    body = await parse_body(request, bodies.CheckoutCreate)
    fields = changes(body)
    for name in ("products", "customer_id", "amount", "external_customer_id"):
        fields.pop(name, None)
    checkout = state.checkouts.create(
        products=[str(p) for p in body.products],
        customer_id=str(body.customer_id) if body.customer_id else None,
        amount=body.amount,
        external_customer_id=body.external_customer_id,
        fields=fields,
    )
    return JSONResponse(render.checkout(checkout, base_url(request)), 201)


async def get_checkout(request: Request) -> Response:
    state = emulator(request)
    state.require_org(bearer(request), "checkouts:read", "checkouts:write")
    checkout = state.checkouts.get(path_id(request.path_params["id"]))
    return JSONResponse(render.checkout(checkout, base_url(request)))


async def update_checkout(request: Request) -> Response:
    state = emulator(request)
    state.require_org(bearer(request), "checkouts:write")
    checkout_id = path_id(request.path_params["id"])
    body = await parse_body(request, bodies.CheckoutUpdate)
    return JSONResponse(render.checkout(state.checkouts.update(checkout_id, changes(body)), base_url(request)))


# The client secret is the credential on /client/ paths: no bearer is needed, but Polar's
# middleware still rejects a bearer that is present and invalid.


async def client_get_checkout(request: Request) -> Response:
    state = emulator(request)
    state.authenticate(bearer(request))
    checkout = state.checkouts.client_get(request.path_params["client_secret"])
    return JSONResponse(render.checkout_public(checkout, state.store.organization, base_url(request)))


async def client_update_checkout(request: Request) -> Response:
    state = emulator(request)
    state.authenticate(bearer(request))
    body = await parse_body(request, bodies.CheckoutUpdatePublic)
    checkout = state.checkouts.client_update(request.path_params["client_secret"], changes(body))
    return JSONResponse(render.checkout_public(checkout, state.store.organization, base_url(request)))


async def client_confirm_checkout(request: Request) -> Response:
    state = emulator(request)
    state.authenticate(bearer(request))
    body = await parse_body(request, bodies.CheckoutConfirm)
    checkout, token = state.checkouts.confirm(request.path_params["client_secret"], changes(body))
    return JSONResponse(render.checkout_confirmed(checkout, state.store.organization, base_url(request), token))


ROUTES: list[BaseRoute] = [
    Route("/v1/checkouts/", list_checkouts, methods=["GET"]),
    Route("/v1/checkouts/", create_checkout, methods=["POST"]),
    Route("/v1/checkouts/client/{client_secret}", client_get_checkout, methods=["GET"]),
    Route("/v1/checkouts/client/{client_secret}", client_update_checkout, methods=["PATCH"]),
    Route("/v1/checkouts/client/{client_secret}/confirm", client_confirm_checkout, methods=["POST"]),
    Route("/v1/checkouts/{id}", get_checkout, methods=["GET"]),
    Route("/v1/checkouts/{id}", update_checkout, methods=["PATCH"]),
]
