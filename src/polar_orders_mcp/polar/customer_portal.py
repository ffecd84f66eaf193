"""The customer portal: a customer's own orders, authenticated by a customer session (polar_cst_…)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any, TypedDict

from typing_extensions import Unpack

from polar_orders_mcp.polar.models import Address, Invoice, Order, Page, PaymentStatus, Receipt
from polar_orders_mcp.polar.orders import receipt_from
from polar_orders_mcp.polar.pagination import MAX_LIMIT, fetch_page, iterate_pages
from polar_orders_mcp.polar.params import IdFilter, build_body, build_query
from polar_orders_mcp.polar.requester import Requester
from polar_orders_mcp.polar.segments import segment

PATH = "/v1/customer-portal/orders/"


class PortalOrderFilters(TypedDict, total=False):
    """The filters `GET /v1/customer-portal/orders/` offers; `query` matches the product name."""

    product_id: IdFilter
    product_billing_type: str | Sequence[str] | None
    subscription_id: IdFilter
    query: str | None
    sorting: Sequence[str] | None


class CustomerPortalOrders:
    """The signed-in customer's orders; each call sends the customer session, not the org token."""

    def __init__(self, api: Requester, session: str | None) -> None:
        self._api = api
        self._session = session  # None: the client's own token is the customer session

    async def list(self, *, page: int = 1, limit: int = 10, **filters: Unpack[PortalOrderFilters]) -> Page[Order]:
        return await fetch_page(
            self._api, PATH, Order, build_query(filters), page=page, limit=limit, token=self._session
        )

    def iterate(self, *, limit: int = MAX_LIMIT, **filters: Unpack[PortalOrderFilters]) -> AsyncIterator[Order]:
        query = build_query(filters)
        return iterate_pages(
            lambda n: fetch_page(self._api, PATH, Order, query, page=n, limit=limit, token=self._session)
        )

    async def get(self, order_id: str) -> Order:
        return await self._api.model(Order, "GET", f"{PATH}{segment(order_id)}", token=self._session)

    async def update(
        self,
        order_id: str,
        *,
        billing_name: str | None = None,
        billing_address: Address | dict[str, Any] | None = None,
    ) -> Order:
        if isinstance(billing_address, dict):
            billing_address = Address.model_validate(billing_address)
        body = build_body({"billing_name": billing_name, "billing_address": billing_address})
        return await self._api.model(Order, "PATCH", f"{PATH}{segment(order_id)}", json_body=body, token=self._session)

    async def generate_invoice(self, order_id: str) -> None:
        await self._api.send("POST", f"{PATH}{segment(order_id)}/invoice", token=self._session)

    async def get_invoice(self, order_id: str) -> Invoice:
        return await self._api.model(Invoice, "GET", f"{PATH}{segment(order_id)}/invoice", token=self._session)

    async def get_receipt(self, order_id: str) -> Receipt:
        return receipt_from(await self._api.send("GET", f"{PATH}{segment(order_id)}/receipt", token=self._session))

    async def get_payment_status(self, order_id: str) -> PaymentStatus:
        return await self._api.model(
            PaymentStatus, "GET", f"{PATH}{segment(order_id)}/payment-status", token=self._session
        )


class CustomerPortal:
    """`/v1/customer-portal/`: what a customer sees of their own purchases."""

    def __init__(self, api: Requester, session: str | None) -> None:
        self.orders = CustomerPortalOrders(api, session)
