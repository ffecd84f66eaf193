"""Refunds: list them, read one, and create one (never retried: a repeat is a second refund)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any, TypedDict

from typing_extensions import Unpack

from polar_orders_mcp.polar.errors import NotFoundError
from polar_orders_mcp.polar.hints import CODE_HINTS
from polar_orders_mcp.polar.models import Page, Refund
from polar_orders_mcp.polar.pagination import MAX_LIMIT, fetch_page, iterate_pages
from polar_orders_mcp.polar.params import IdFilter, build_body, build_query
from polar_orders_mcp.polar.requester import Requester

PATH = "/v1/refunds/"


class RefundFilters(TypedDict, total=False):
    """The filters `GET /v1/refunds/` offers; `succeeded` false means pending, failed or canceled."""

    id: IdFilter
    organization_id: IdFilter
    order_id: IdFilter
    subscription_id: IdFilter
    customer_id: IdFilter
    external_customer_id: IdFilter
    succeeded: bool | None
    sorting: Sequence[str] | None


class Refunds:
    """`/v1/refunds/`: needs `refunds:read`, and `refunds:write` to create."""

    def __init__(self, api: Requester) -> None:
        self._api = api

    async def list(self, *, page: int = 1, limit: int = 10, **filters: Unpack[RefundFilters]) -> Page[Refund]:
        """One page of refunds, newest first unless `sorting` says otherwise (`amount`, `-amount`…)."""
        return await fetch_page(self._api, PATH, Refund, build_query(filters), page=page, limit=limit)

    def iterate(self, *, limit: int = MAX_LIMIT, **filters: Unpack[RefundFilters]) -> AsyncIterator[Refund]:
        query = build_query(filters)
        return iterate_pages(lambda n: fetch_page(self._api, PATH, Refund, query, page=n, limit=limit))

    async def get(self, refund_id: str) -> Refund:
        """One refund. Polar has no route for a single refund: this is the list filtered by id."""
        page = await self.list(id=refund_id, limit=1)
        if not page.items:
            raise NotFoundError(
                404,
                code="ResourceNotFound",
                detail=f"No refund {refund_id} in this organization.",
                method="GET",
                path=PATH,
                hint=CODE_HINTS["ResourceNotFound"],
            )
        return page.items[0]

    async def create(
        self,
        *,
        order_id: str,
        reason: str,
        amount: int,
        comment: str | None = None,
        revoke_benefits: bool = False,
        metadata: dict[str, Any] | None = None,
    ) -> Refund:
        """Refund `amount` minor units of the order, net of tax (Polar adds the prorated tax).

        Never retried, whatever the failure: Polar sends Stripe no idempotency key, so a repeated
        request is a second refund. After a `PolarConnectionError` with `request_sent=True`, a 5xx or
        an unreadable answer, list the order's refunds to learn whether it was made.
        """
        body = build_body(
            {
                "order_id": order_id,
                "reason": reason,
                "amount": amount,
                "comment": comment,
                "revoke_benefits": revoke_benefits,
                "metadata": metadata,
            }
        )
        return await self._api.model(Refund, "POST", PATH, json_body=body)
