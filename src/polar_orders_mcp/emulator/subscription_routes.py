"""Thin routes for subscriptions: list, get, cancel at period end or uncancel (PATCH), revoke (PATCH or DELETE)."""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from . import bodies, render
from .errors import RequestValidationError
from .models import CANCELLATION_REASONS, SUBSCRIPTION_STATUSES, Subscription
from .params import Query, parse_body, path_id
from .routes import bearer, emulator
from .state import EmulatorState
from .subscriptions import DEFAULT_SORTING, SORT_PROPERTIES, SubscriptionFilters


def _render(state: EmulatorState, s: Subscription) -> dict[str, object]:
    return render.subscription(s, state.store.customers[s.customer_id], state.store.products[s.product_id])


async def list_subscriptions(request: Request) -> Response:
    state = emulator(request)
    state.require_org(bearer(request), "subscriptions:read", "subscriptions:write")
    q = Query(request.query_params)
    f = SubscriptionFilters(
        organization_id=q.uuids("organization_id"), product_id=q.uuids("product_id"),
        customer_id=q.uuids("customer_id"), external_customer_id=q.strings("external_customer_id"),
        discount_id=q.uuids("discount_id"), active=q.boolean("active"), status=q.enums("status", SUBSCRIPTION_STATUSES),
        cancel_at_period_end=q.boolean("cancel_at_period_end"),
        customer_cancellation_reason=q.enums("customer_cancellation_reason", CANCELLATION_REASONS),
        canceled_at_after=q.moment("canceled_at_after"), canceled_at_before=q.moment("canceled_at_before"),
        started_after=q.moment("started_after"), started_before=q.moment("started_before"), metadata=q.metadata(),
    )
    page, limit = q.pagination()
    sorting = q.sorting(SORT_PROPERTIES, default=DEFAULT_SORTING)
    q.check()
    result = state.subscriptions.list_subscriptions(f, sorting=sorting, page=page, limit=limit)
    return JSONResponse(render.page(result, lambda s: _render(state, s)))


async def get_subscription(request: Request) -> Response:
    state = emulator(request)
    state.require_org(bearer(request), "subscriptions:read", "subscriptions:write")
    return JSONResponse(_render(state, state.subscriptions.get(path_id(request.path_params["id"]))))


async def update_subscription(request: Request) -> Response:
    """The two shapes of `SubscriptionUpdate` the emulator serves; the others (product, seats, discount,
    trial, pause…) are refused with a 422 saying so."""
    state = emulator(request)
    state.require_org(bearer(request), "subscriptions:write")
    subscription_id = path_id(request.path_params["id"])
    keys = _keys(await request.body())
    if "revoke" in keys:
        revoke = await parse_body(request, bodies.SubscriptionRevoke)
        s = state.subscriptions.cancel(subscription_id, immediately=True, reason=revoke.customer_cancellation_reason,
                                       comment=revoke.customer_cancellation_comment)
    elif "cancel_at_period_end" in keys or not keys:
        cancel = await parse_body(request, bodies.SubscriptionCancel)
        if cancel.cancel_at_period_end:
            s = state.subscriptions.cancel(subscription_id, reason=cancel.customer_cancellation_reason,
                                           comment=cancel.customer_cancellation_comment)
        else:
            s = state.subscriptions.uncancel(subscription_id)
    else:
        raise RequestValidationError([{"type": "value_error", "loc": ["body"], "input": sorted(keys),
                                       "msg": "The emulator only serves cancel_at_period_end and revoke updates."}])
    return JSONResponse(_render(state, s))


def _keys(raw: bytes) -> set[str]:
    try:
        data = json.loads(raw) if raw.strip() else None
    except ValueError:
        return set()
    return set(data) if isinstance(data, dict) else set()


async def revoke_subscription(request: Request) -> Response:
    state = emulator(request)
    state.require_org(bearer(request), "subscriptions:write")
    s = state.subscriptions.cancel(path_id(request.path_params["id"]), immediately=True)
    return JSONResponse(_render(state, s))


ROUTES: list[BaseRoute] = [
    Route("/v1/subscriptions/", list_subscriptions, methods=["GET"]),
    Route("/v1/subscriptions/{id}", get_subscription, methods=["GET"]),
    Route("/v1/subscriptions/{id}", update_subscription, methods=["PATCH"]),
    Route("/v1/subscriptions/{id}", revoke_subscription, methods=["DELETE"]),
]
