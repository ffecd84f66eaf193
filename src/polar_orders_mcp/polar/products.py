"""Products and their prices (read only)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import TypedDict

from typing_extensions import Unpack

from polar_orders_mcp.polar.models import Page, Product
from polar_orders_mcp.polar.pagination import MAX_LIMIT, fetch_page, iterate_pages
from polar_orders_mcp.polar.params import IdFilter, MetadataFilter, build_query
from polar_orders_mcp.polar.recent import Recent
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
    """`/v1/products/`: needs `products:read`.

    Products read in the last few minutes (by `list` or `get`) are remembered: `recent` answers from
    that memory, for facts shown to a person beside ones read fresh (a charge preview's list price),
    never for what a request carries."""

    def __init__(self, api: Requester) -> None:
        self._api = api
        self._seen: Recent[Product] = Recent()

    async def list(self, *, page: int = 1, limit: int = 10, **filters: Unpack[ProductFilters]) -> Page[Product]:
        found = await fetch_page(self._api, PATH, Product, build_query(filters), page=page, limit=limit)
        for product in found.items:
            self._seen.put(product.id, product)
        return found

    def iterate(self, *, limit: int = MAX_LIMIT, **filters: Unpack[ProductFilters]) -> AsyncIterator[Product]:
        query = build_query(filters)
        return iterate_pages(lambda n: fetch_page(self._api, PATH, Product, query, page=n, limit=limit))

    async def get(self, product_id: str) -> Product:
        product = await self._api.model(Product, "GET", f"{PATH}{segment(product_id)}")
        self._seen.put(product.id, product)
        return product

    async def recent(self, product_id: str) -> Product:
        """The product as read in the last few minutes, or read now."""
        return self._seen.get(product_id) or await self.get(product_id)
