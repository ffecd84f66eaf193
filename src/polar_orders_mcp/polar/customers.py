"""Customers: find them, read them, and list their saved payment methods."""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator, Sequence
from typing import TypedDict

from typing_extensions import Unpack

from polar_orders_mcp.polar.models import Customer, Page, PaymentMethod
from polar_orders_mcp.polar.pagination import MAX_LIMIT, fetch_page, iterate_pages
from polar_orders_mcp.polar.params import IdFilter, MetadataFilter, build_query
from polar_orders_mcp.polar.recent import Recent
from polar_orders_mcp.polar.requester import Requester
from polar_orders_mcp.polar.segments import segment

PATH = "/v1/customers/"


class CustomerFilters(TypedDict, total=False):
    """The filters `GET /v1/customers/` offers. `query` matches name, email or external id."""

    organization_id: IdFilter
    email: str | None
    query: str | None
    active: bool | None
    metadata: MetadataFilter | None
    sorting: Sequence[str] | None


class Customers:
    """`/v1/customers/`: needs `customers:read`.

    A customer's saved payment methods read in the last few minutes are remembered for
    `recent_payment_methods` (a charge preview's card label; the charge itself names the card)."""

    def __init__(self, api: Requester) -> None:
        self._api = api
        self._methods: Recent[builtins.list[PaymentMethod]] = Recent()

    async def list(self, *, page: int = 1, limit: int = 10, **filters: Unpack[CustomerFilters]) -> Page[Customer]:
        return await fetch_page(self._api, PATH, Customer, build_query(filters), page=page, limit=limit)

    def iterate(self, *, limit: int = MAX_LIMIT, **filters: Unpack[CustomerFilters]) -> AsyncIterator[Customer]:
        query = build_query(filters)
        return iterate_pages(lambda n: fetch_page(self._api, PATH, Customer, query, page=n, limit=limit))

    async def get(self, customer_id: str) -> Customer:
        return await self._api.model(Customer, "GET", f"{PATH}{segment(customer_id)}")

    async def list_payment_methods(self, customer_id: str, *, page: int = 1, limit: int = 10) -> Page[PaymentMethod]:
        """One page of the customer's saved payment methods."""
        path = f"{PATH}{segment(customer_id)}/payment-methods"
        return await fetch_page(self._api, path, PaymentMethod, [], page=page, limit=limit)

    async def payment_methods(self, customer_id: str) -> builtins.list[PaymentMethod]:
        """All of the customer's saved payment methods (the default one has `is_default`)."""
        path = f"{PATH}{segment(customer_id)}/payment-methods"
        pages = iterate_pages(lambda n: fetch_page(self._api, path, PaymentMethod, [], page=n, limit=MAX_LIMIT))
        methods = [method async for method in pages]
        self._methods.put(customer_id, methods)
        return methods

    async def recent_payment_methods(self, customer_id: str, wanted: str | None) -> builtins.list[PaymentMethod]:
        """The saved methods as read in the last few minutes when they hold `wanted`, else read now."""
        seen = self._methods.get(customer_id)
        if seen is not None and wanted is not None and any(method.id == wanted for method in seen):
            return seen
        return await self.payment_methods(customer_id)
