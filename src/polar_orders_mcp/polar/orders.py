"""Orders: list, read, create drafts, fix billing details, finalize (charge), invoices, receipts, export."""

from __future__ import annotations

import builtins
import csv
import io
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any, TypedDict

import httpx2
from typing_extensions import Unpack

from polar_orders_mcp.polar.models import Address, Invoice, Order, Page, Receipt
from polar_orders_mcp.polar.pagination import MAX_LIMIT, fetch_page, iterate_pages
from polar_orders_mcp.polar.params import IdFilter, MetadataFilter, build_body, build_query
from polar_orders_mcp.polar.recent import Recent
from polar_orders_mcp.polar.requester import Requester, decode_json, malformed, parse_model
from polar_orders_mcp.polar.segments import segment

PATH = "/v1/orders/"


class OrderFilters(TypedDict, total=False):
    """The filters `GET /v1/orders/` offers; every id filter takes one id or a list."""

    organization_id: IdFilter
    product_id: IdFilter
    product_billing_type: str | Sequence[str] | None
    discount_id: IdFilter
    customer_id: IdFilter
    external_customer_id: IdFilter
    checkout_id: IdFilter
    subscription_id: IdFilter
    status: str | Sequence[str] | None
    created_after: datetime | str | None
    created_before: datetime | str | None
    metadata: MetadataFilter | None
    sorting: Sequence[str] | None


def receipt_from(response: httpx2.Response) -> Receipt:
    """A receipt response: 200 `{url}`, or 202 with an empty body while the PDF renders."""
    # Polar answers 202 with an empty body while the PDF renders: poll again later.
    if response.status_code == 202:
        return Receipt(pending=True)
    receipt = parse_model(Receipt, decode_json(response), response)
    if not receipt.url:
        raise malformed(response, "the receipt has no url")
    return receipt


class Orders:
    """`/v1/orders/`: needs `orders:read`, and `orders:write` for create, update and finalize."""

    def __init__(self, api: Requester) -> None:
        self._api = api
        self._seen: Recent[Order] = Recent()

    async def list(
        self,
        *,
        page: int = 1,
        limit: int = 10,
        organization_id: IdFilter = None,
        product_id: IdFilter = None,
        product_billing_type: str | Sequence[str] | None = None,
        discount_id: IdFilter = None,
        customer_id: IdFilter = None,
        external_customer_id: IdFilter = None,
        checkout_id: IdFilter = None,
        subscription_id: IdFilter = None,
        status: str | Sequence[str] | None = None,
        created_after: datetime | str | None = None,
        created_before: datetime | str | None = None,
        metadata: MetadataFilter | None = None,
        sorting: Sequence[str] | None = None,
    ) -> Page[Order]:
        """One page of orders, newest first unless `sorting` says otherwise (e.g. `["-amount"]`)."""
        filters = OrderFilters(
            organization_id=organization_id,
            product_id=product_id,
            product_billing_type=product_billing_type,
            discount_id=discount_id,
            customer_id=customer_id,
            external_customer_id=external_customer_id,
            checkout_id=checkout_id,
            subscription_id=subscription_id,
            status=status,
            created_after=created_after,
            created_before=created_before,
            metadata=metadata,
            sorting=sorting,
        )
        return await fetch_page(self._api, PATH, Order, build_query(filters), page=page, limit=limit)

    def iterate(self, *, limit: int = MAX_LIMIT, **filters: Unpack[OrderFilters]) -> AsyncIterator[Order]:
        """Every order matching the filters, across all pages."""
        query = build_query(filters)
        return iterate_pages(lambda n: fetch_page(self._api, PATH, Order, query, page=n, limit=limit))

    async def get(self, order_id: str) -> Order:
        return await self._api.model(Order, "GET", f"{PATH}{segment(order_id)}")

    def remembered(self, order_id: str) -> Order | None:
        """The order as this client made, changed or charged it in the last few minutes (Polar's answer),
        if it did. For a preview that is read again before anything is done, never for what a request
        carries."""
        return self._seen.get(order_id)

    def _remember(self, order: Order) -> Order:
        self._seen.put(order.id, order)
        return order

    async def create(
        self,
        *,
        customer_id: str,
        product_id: str,
        currency: str | None = None,
        amount: int | None = None,
        description: str | None = None,
        metadata: dict[str, Any] | None = None,
        custom_field_data: dict[str, Any] | None = None,
    ) -> Order:
        """Create a draft order (nothing is charged). Never retried: a repeat would make a second draft."""
        body = build_body(
            {
                "customer_id": customer_id,
                "product_id": product_id,
                "currency": currency,
                "amount": amount,
                "description": description,
                "metadata": metadata,
                "custom_field_data": custom_field_data,
            }
        )
        return self._remember(await self._api.model(Order, "POST", PATH, json_body=body))

    async def update(
        self,
        order_id: str,
        *,
        billing_name: str | None = None,
        billing_address: Address | dict[str, Any] | None = None,
    ) -> Order:
        """Set the billing name and address; the next invoice request regenerates the invoice with them."""
        if isinstance(billing_address, dict):
            billing_address = Address.model_validate(billing_address)
        body = build_body({"billing_name": billing_name, "billing_address": billing_address})
        return self._remember(await self._api.model(Order, "PATCH", f"{PATH}{segment(order_id)}", json_body=body))

    async def finalize(self, order_id: str, *, payment_method_id: str | None = None) -> Order:
        """Charge a draft order (the customer's default method unless one is given).

        Never retried. After a `PolarConnectionError` with `request_sent=True` the charge may
        have happened: re-read the order before doing anything else.
        """
        body = build_body({"payment_method_id": payment_method_id})
        try:
            order = await self._api.model(Order, "POST", f"{PATH}{segment(order_id)}/finalize", json_body=body)
        except BaseException:
            self._seen.forget(order_id)  # whatever it is now, it may not be what was remembered
            raise
        return self._remember(order)

    async def generate_invoice(self, order_id: str) -> None:
        """Ask Polar to generate the invoice (202, body null); it renders in the background."""
        await self._api.send("POST", f"{PATH}{segment(order_id)}/invoice")

    async def get_invoice(self, order_id: str) -> Invoice:
        """The invoice's URL; `NotFoundError` with code `InvoiceDoesNotExist` before it exists."""
        return await self._api.model(Invoice, "GET", f"{PATH}{segment(order_id)}/invoice")

    async def get_receipt(self, order_id: str) -> Receipt:
        """The receipt's URL, or `Receipt(pending=True)` while Polar still renders it."""
        return receipt_from(await self._api.send("GET", f"{PATH}{segment(order_id)}/receipt"))

    def export(
        self,
        *,
        columns: Sequence[str] | None = None,
        timezone: str | None = None,
        organization_id: IdFilter = None,
        product_id: IdFilter = None,
        status: str | Sequence[str] | None = None,
        created_after: datetime | str | None = None,
        created_before: datetime | str | None = None,
    ) -> AsyncIterator[str]:
        """The matching orders as CSV text, streamed in chunks; amounts are in MAJOR units."""
        query = build_query(
            {
                "organization_id": organization_id,
                "product_id": product_id,
                "status": status,
                "created_after": created_after,
                "created_before": created_before,
                "timezone": timezone,
                "columns": columns,
            }
        )
        return self._api.stream_text("GET", f"{PATH}export", params=query)

    async def export_text(self, **kwargs: Any) -> str:
        """The whole export as one string (same arguments as `export`)."""
        return "".join([chunk async for chunk in self.export(**kwargs)])

    async def export_rows(self, **kwargs: Any) -> builtins.list[dict[str, str]]:
        """The whole export parsed as CSV rows keyed by column header."""
        return list(csv.DictReader(io.StringIO(await self.export_text(**kwargs))))
