"""Thin routes for subscriptions: list, export, get, update metadata, cancel or uncancel (PATCH), revoke."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from . import bodies, render
from .export import SUBSCRIPTIONS
from .models import CANCELLATION_REASONS, SUBSCRIPTION_STATUSES, Subscription
from .params import Query, parse_body, path_id
from .routes import bearer, csv_response, emulator
from .state import EmulatorState
from .subscriptions import DEFAULT_SORTING, SORT_PROPERTIES, SubscriptionFilters

# Body keys of the `SubscriptionUpdate` shapes other than the base update, cancel and revoke.
OTHER_SHAPES = frozenset(
    {"seats", "units", "current_billing_period_end", "pause_at_period_end", "resumes_at", "resume", "pending_update"}
)


def _render(state: EmulatorState, s: Subscription) -> dict[str, object]:
    return render.subscription(s, state.store.customers[s.customer_id], state.store.products[s.product_id])


async def list_subscriptions(request: Request) -> Response:
    state = emulator(request)
    state.require_org(bearer(request), "subscriptions:read", "subscriptions:write")
    q = Query(request.query_params)
    f = SubscriptionFilters(
        organization_id=q.uuids("organization_id"),
        product_id=q.uuids("product_id"),
        customer_id=q.uuids("customer_id"),
        external_customer_id=q.strings("external_customer_id"),
        discount_id=q.uuids("discount_id"),
        active=q.boolean("active"),
        status=q.enums("status", SUBSCRIPTION_STATUSES),
        cancel_at_period_end=q.boolean("cancel_at_period_end"),
        customer_cancellation_reason=q.enums("customer_cancellation_reason", CANCELLATION_REASONS),
        canceled_at_after=q.moment("canceled_at_after"),
        canceled_at_before=q.moment("canceled_at_before"),
        started_after=q.moment("started_after"),
        started_before=q.moment("started_before"),
        metadata=q.metadata(),
    )
    page, limit = q.pagination()
    sorting = q.sorting(SORT_PROPERTIES, default=DEFAULT_SORTING)
    q.check()
    result = state.subscriptions.list_subscriptions(f, sorting=sorting, page=page, limit=limit)
    return JSONResponse(render.page(result, lambda s: _render(state, s)))


async def export_subscriptions(request: Request) -> Response:
    """Polar's `GET /v1/subscriptions/export`: every matching subscription, newest start first, as CSV."""
    state = emulator(request)
    state.require_org(bearer(request), "subscriptions:read", "subscriptions:write")
    q = Query(request.query_params)
    f = SubscriptionFilters(
        organization_id=q.uuids("organization_id"),
        product_id=q.uuids("product_id"),
        status=q.enums("status", SUBSCRIPTION_STATUSES),
        cancel_at_period_end=q.boolean("cancel_at_period_end"),
        started_after=q.moment("started_after", aware=True),
        started_before=q.moment("started_before", aware=True),
    )
    tz = q.timezone()
    columns = q.enums("columns", tuple(SUBSCRIPTIONS.headers)) or list(SUBSCRIPTIONS.defaults)
    q.check()
    store = state.store
    # The matching subscriptions are fixed when the request starts; rows are rendered as they are sent.
    rows = ((s, store.customers[s.customer_id], store.products[s.product_id]) for s in state.subscriptions.matching(f))
    return csv_response(
        SUBSCRIPTIONS.rows(rows, columns, tz), SUBSCRIPTIONS.filename(f.started_after, f.started_before, tz)
    )


async def get_subscription(request: Request) -> Response:
    state = emulator(request)
    state.require_org(bearer(request), "subscriptions:read", "subscriptions:write")
    return JSONResponse(_render(state, state.subscriptions.get(path_id(request.path_params["id"]))))


async def update_subscription(request: Request) -> Response:
    """Polar's `SubscriptionUpdate` shapes, told apart by their keys: revoke, cancel or uncancel, the ones the
    emulator refuses (seats, units, billing period, pause, resume, pending update), else the base update
    (metadata; product, discount and trial are refused)."""
    state = emulator(request)
    state.require_org(bearer(request), "subscriptions:write")
    subscription_id = path_id(request.path_params["id"])
    data = _object(await request.body())
    if "revoke" in data:
        revoke = await parse_body(request, bodies.SubscriptionRevoke)
        s = state.subscriptions.cancel(
            subscription_id,
            immediately=True,
            reason=revoke.customer_cancellation_reason,
            comment=revoke.customer_cancellation_comment,
        )
    elif "cancel_at_period_end" in data:
        cancel = await parse_body(request, bodies.SubscriptionCancel)
        if cancel.cancel_at_period_end:
            s = state.subscriptions.cancel(
                subscription_id,
                reason=cancel.customer_cancellation_reason,
                comment=cancel.customer_cancellation_comment,
            )
        else:
            s = state.subscriptions.uncancel(subscription_id)
    elif set(data) & OTHER_SHAPES:
        state.subscriptions.refuse_update(subscription_id, data)
    else:
        update = await parse_body(request, bodies.SubscriptionUpdate)
        s = state.subscriptions.update(subscription_id, update.model_dump(mode="json", exclude_unset=True))
    return JSONResponse(_render(state, s))


def _object(raw: bytes) -> dict[str, Any]:
    """The body's top-level object, to pick the shape; `parse_body` reports what is not one."""
    try:
        data = json.loads(raw) if raw.strip() else None
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


async def revoke_subscription(request: Request) -> Response:
    state = emulator(request)
    state.require_org(bearer(request), "subscriptions:write")
    s = state.subscriptions.cancel(path_id(request.path_params["id"]), immediately=True)
    return JSONResponse(_render(state, s))


ROUTES: list[BaseRoute] = [
    Route("/v1/subscriptions/", list_subscriptions, methods=["GET"]),
    Route("/v1/subscriptions/export", export_subscriptions, methods=["GET"]),
    Route("/v1/subscriptions/{id}", get_subscription, methods=["GET"]),
    Route("/v1/subscriptions/{id}", update_subscription, methods=["PATCH"]),
    Route("/v1/subscriptions/{id}", revoke_subscription, methods=["DELETE"]),
]
