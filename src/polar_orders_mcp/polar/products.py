"""Products and their prices (read only)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import TypedDict

from typing_extensions import Unpack

from polar_orders_mcp.polar.models import Page, Product
from polar_orders_mcp.polar.pagination import MAX_LIMIT, fetch_page, iterate_pages
from polar_orders_mcp.polar.params import IdFilter, MetadataFilter, build_query
from polar_orders_mcp.polar.requester import Requester
from polar_orders_mcp.polar.segments import segment

PATH = "/v1/products/"


class ProductFilters(TypedDict, total=False):
    """The filters `GET /v1/products/` offers. `query` matches the product name."""

    id: IdFilter
    organization_id: IdFilter
    query: str | None
    is_archived: bool | None
    is_recurring: bool | None
    benefit_id: IdFilter
    visibility: Sequence[str] | None
    metadata: MetadataFilter | None
    sorting: Sequence[str] | None


class Products:
    """`/v1/products/`: needs `products:read`."""

    def __init__(self, api: Requester) -> None:
        self._api = api

    async def list(self, *, page: int = 1, limit: int = 10, **filters: Unpack[ProductFilters]) -> Page[Product]:
        return await fetch_page(self._api, PATH, Product, build_query(filters), page=page, limit=limit)

    def iterate(self, *, limit: int = MAX_LIMIT, **filters: Unpack[ProductFilters]) -> AsyncIterator[Product]:
        query = build_query(filters)
        return iterate_pages(lambda n: fetch_page(self._api, PATH, Product, query, page=n, limit=limit))

    async def get(self, product_id: str) -> Product:
        return await self._api.model(Product, "GET", f"{PATH}{segment(product_id)}")
