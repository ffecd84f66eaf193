"""Thin routes for disputes: list, get, and accept (concede) one."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from . import render
from .disputes import DISPUTE_SORT_KEYS, DisputeFilters
from .models import DISPUTE_STATUSES
from .params import Query, path_id
from .routes import bearer, emulator


async def list_disputes(request: Request) -> Response:
    state = emulator(request)
    state.require_org(bearer(request), "disputes:read", "disputes:write")
    q = Query(request.query_params)
    f = DisputeFilters(
        organization_id=q.uuids("organization_id"),
        order_id=q.uuids("order_id"),
        status=q.enums("status", DISPUTE_STATUSES),
    )
    page, limit = q.pagination()
    sorting = q.sorting(tuple(DISPUTE_SORT_KEYS))
    q.check()
    return JSONResponse(
        render.page(state.disputes.list_disputes(f, sorting=sorting, page=page, limit=limit), render.dispute)
    )


async def get_dispute(request: Request) -> Response:
    state = emulator(request)
    state.require_org(bearer(request), "disputes:read", "disputes:write")
    return JSONResponse(render.dispute(state.disputes.get(path_id(request.path_params["id"]))))


async def accept_dispute(request: Request) -> Response:
    state = emulator(request)
    state.require_org(bearer(request), "disputes:write")
    return JSONResponse(render.dispute(state.disputes.accept(path_id(request.path_params["id"]))))


ROUTES: list[BaseRoute] = [
    Route("/v1/disputes/", list_disputes, methods=["GET"]),
    Route("/v1/disputes/{id}", get_dispute, methods=["GET"]),
    Route("/v1/disputes/{id}/accept", accept_dispute, methods=["POST"]),
]
