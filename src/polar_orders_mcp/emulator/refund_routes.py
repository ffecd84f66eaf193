"""Thin routes for refunds: list and create. Polar has no route that reads one refund by id."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from . import bodies, render
from .params import Query, parse_body
from .refunds import REFUND_SORT_KEYS, RefundFilters
from .routes import bearer, emulator


async def list_refunds(request: Request) -> Response:
    state = emulator(request)
    state.require_org(bearer(request), "refunds:read", "refunds:write")
    q = Query(request.query_params)
    f = RefundFilters(
        id=q.uuids("id"),
        organization_id=q.uuids("organization_id"),
        order_id=q.uuids("order_id"),
        subscription_id=q.uuids("subscription_id"),
        customer_id=q.uuids("customer_id"),
        external_customer_id=q.strings("external_customer_id"),
        succeeded=q.boolean("succeeded"),
    )
    page, limit = q.pagination()
    sorting = q.sorting(tuple(REFUND_SORT_KEYS))
    q.check()
    return JSONResponse(
        render.page(state.refunds.list_refunds(f, sorting=sorting, page=page, limit=limit), render.refund)
    )


async def create_refund(request: Request) -> Response:
    state = emulator(request)
    state.require_org(bearer(request), "refunds:write")
    body = await parse_body(request, bodies.RefundCreate)
    refund = state.refunds.create(
        order_id=str(body.order_id),
        reason=body.reason,
        amount=body.amount,
        comment=body.comment,
        revoke_benefits=body.revoke_benefits,
        metadata=body.metadata,
    )
    return JSONResponse(render.refund(refund), 201)


ROUTES: list[BaseRoute] = [
    Route("/v1/refunds/", list_refunds, methods=["GET"]),
    Route("/v1/refunds/", create_refund, methods=["POST"]),
]
