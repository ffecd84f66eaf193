"""Subscriptions: list and read them, cancel at the period's end or take that back, revoke now."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import TypedDict

from typing_extensions import Unpack

from polar_orders_mcp.polar.models import Page, Subscription
from polar_orders_mcp.polar.pagination import MAX_LIMIT, fetch_page, iterate_pages
from polar_orders_mcp.polar.params import IdFilter, MetadataFilter, build_body, build_query
from polar_orders_mcp.polar.requester import Requester
from polar_orders_mcp.polar.segments import segment

PATH = "/v1/subscriptions/"


class SubscriptionFilters(TypedDict, total=False):
    """The filters `GET /v1/subscriptions/` offers (the deprecated `active` left out: use `status`)."""

    organization_id: IdFilter
    product_id: IdFilter
    customer_id: IdFilter
    external_customer_id: IdFilter
    discount_id: IdFilter
    status: str | Sequence[str] | None
    cancel_at_period_end: bool | None
    customer_cancellation_reason: str | Sequence[str] | None
    canceled_at_after: datetime | str | None
    canceled_at_before: datetime | str | None
    started_after: datetime | str | None
    started_before: datetime | str | None
    metadata: MetadataFilter | None
    sorting: Sequence[str] | None


class Subscriptions:
    """`/v1/subscriptions/`: needs `subscriptions:read`, and `subscriptions:write` to change one."""

    def __init__(self, api: Requester) -> None:
        self._api = api

    async def list(
        self, *, page: int = 1, limit: int = 10, **filters: Unpack[SubscriptionFilters]
    ) -> Page[Subscription]:
        """One page, most recently started first unless `sorting` says otherwise."""
        return await fetch_page(self._api, PATH, Subscription, build_query(filters), page=page, limit=limit)

    def iterate(self, *, limit: int = MAX_LIMIT, **filters: Unpack[SubscriptionFilters]) -> AsyncIterator[Subscription]:
        query = build_query(filters)
        return iterate_pages(lambda n: fetch_page(self._api, PATH, Subscription, query, page=n, limit=limit))

    async def get(self, subscription_id: str) -> Subscription:
        return await self._api.model(Subscription, "GET", f"{PATH}{segment(subscription_id)}")

    async def cancel_at_period_end(
        self, subscription_id: str, *, reason: str | None = None, comment: str | None = None
    ) -> Subscription:
        """Cancel when the current period ends; access lasts until then and it can be taken back.

        `reason` and `comment` are the customer's (Polar shows them to the customer), not notes.
        403 `AlreadyCanceledSubscription` if it is already canceled or scheduled to be.
        """
        body = build_body(
            {
                "cancel_at_period_end": True,
                "customer_cancellation_reason": reason,
                "customer_cancellation_comment": comment,
            }
        )
        return await self._api.model(Subscription, "PATCH", f"{PATH}{segment(subscription_id)}", json_body=body)

    async def uncancel(self, subscription_id: str) -> Subscription:
        """Take back a cancellation scheduled for the period's end (400, or 409 `SubscriptionNotScheduledToCancel`,
        if none; 410 once it ended)."""
        body = {"cancel_at_period_end": False}
        return await self._api.model(Subscription, "PATCH", f"{PATH}{segment(subscription_id)}", json_body=body)

    async def revoke(
        self, subscription_id: str, *, reason: str | None = None, comment: str | None = None
    ) -> Subscription:
        """End the subscription NOW: access and benefits go at once; nothing is refunded by this.

        Sent as `PATCH {"revoke": true}` (what `DELETE` does, plus the customer's reason and comment).
        Never retried. 403 `AlreadyCanceledSubscription` once it is revoked.
        """
        body = build_body(
            {"revoke": True, "customer_cancellation_reason": reason, "customer_cancellation_comment": comment}
        )
        return await self._api.model(Subscription, "PATCH", f"{PATH}{segment(subscription_id)}", json_body=body)
