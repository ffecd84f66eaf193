"""Disputes (chargebacks): list and read them, and accept one, which concedes it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import TypedDict

from typing_extensions import Unpack

from polar_orders_mcp.polar.models import Dispute, Page
from polar_orders_mcp.polar.pagination import MAX_LIMIT, fetch_page, iterate_pages
from polar_orders_mcp.polar.params import IdFilter, build_query
from polar_orders_mcp.polar.requester import Requester
from polar_orders_mcp.polar.segments import segment

PATH = "/v1/disputes/"


class DisputeFilters(TypedDict, total=False):
    organization_id: IdFilter
    order_id: IdFilter
    status: str | Sequence[str] | None
    sorting: Sequence[str] | None


class Disputes:
    """`/v1/disputes/`: needs `disputes:read`, and `disputes:write` to accept one."""

    def __init__(self, api: Requester) -> None:
        self._api = api

    async def list(self, *, page: int = 1, limit: int = 10, **filters: Unpack[DisputeFilters]) -> Page[Dispute]:
        return await fetch_page(self._api, PATH, Dispute, build_query(filters), page=page, limit=limit)

    def iterate(self, *, limit: int = MAX_LIMIT, **filters: Unpack[DisputeFilters]) -> AsyncIterator[Dispute]:
        query = build_query(filters)
        return iterate_pages(lambda n: fetch_page(self._api, PATH, Dispute, query, page=n, limit=limit))

    async def get(self, dispute_id: str) -> Dispute:
        return await self._api.model(Dispute, "GET", f"{PATH}{segment(dispute_id)}")

    async def accept(self, dispute_id: str) -> Dispute:
        """Concede the chargeback: Polar closes the dispute as lost. Only while it is `needs_response`
        (else 409 `DisputeNotOpenError`). Never retried."""
        return await self._api.model(Dispute, "POST", f"{PATH}{segment(dispute_id)}/accept")
