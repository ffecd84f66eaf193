"""Checkout sessions: the organization API, and the client-secret API a buyer's page uses."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any, TypedDict

from typing_extensions import Unpack

from polar_orders_mcp.polar.models import Address, Checkout, Page
from polar_orders_mcp.polar.pagination import MAX_LIMIT, fetch_page, iterate_pages
from polar_orders_mcp.polar.params import IdFilter, Nullable, build_body, build_query
from polar_orders_mcp.polar.requester import Requester
from polar_orders_mcp.polar.segments import segment

PATH = "/v1/checkouts/"
# The client secret (polar_c_…) is itself the credential of these routes: no token is sent.
CLIENT_PATH = "/v1/checkouts/client/"
NO_TOKEN = ""


class CheckoutFilters(TypedDict, total=False):
    """The filters `GET /v1/checkouts/` offers; `query` matches the customer email."""

    organization_id: IdFilter
    product_id: IdFilter
    customer_id: IdFilter
    external_customer_id: IdFilter
    status: str | Sequence[str] | None
    query: str | None
    sorting: Sequence[str] | None


class _SharedFields(TypedDict, total=False):
    """Fields both `CheckoutUpdatePublic` and `CheckoutUpdate` accept."""

    custom_field_data: dict[str, Any] | None
    product_id: str | None
    product_price_id: str | None
    amount: int | None
    seats: int | None
    is_business_customer: bool | None
    customer_name: str | None
    customer_email: str | None
    customer_billing_name: str | None
    customer_billing_address: Address | dict[str, Any] | None
    customer_tax_id: str | Nullable | None
    locale: str | None


class PublicFields(_SharedFields, total=False):
    """What the buyer may change through the client secret (`CheckoutUpdatePublic`)."""

    payment_method_type: str | None
    discount_code: str | Nullable | None


class ConfirmFields(PublicFields, total=False):
    """`CheckoutConfirmStripe`: the public fields plus the payment processor's token."""

    confirmation_token_id: str | None


class UpdateFields(_SharedFields, total=False):
    """What the organization may change on a checkout (`CheckoutUpdate`)."""

    metadata: dict[str, Any] | None
    currency: str | None
    discount_id: str | None
    allow_discount_codes: bool | None
    require_billing_address: bool | None
    allow_trial: bool | None
    customer_ip_address: str | None
    customer_metadata: dict[str, Any] | None
    success_url: str | None
    return_url: str | None
    embed_origin: str | None
    trial_interval: str | None
    trial_interval_count: int | None


class CreateFields(TypedDict, total=False):
    """`CheckoutProductsCreate` beyond `products`."""

    customer_id: str | None
    external_customer_id: str | None
    customer_email: str | None
    customer_name: str | None
    customer_billing_name: str | None
    customer_billing_address: Address | dict[str, Any] | None
    customer_tax_id: str | None
    customer_ip_address: str | None
    customer_metadata: dict[str, Any] | None
    is_business_customer: bool | None
    metadata: dict[str, Any] | None
    custom_field_data: dict[str, Any] | None
    success_url: str | None
    return_url: str | None
    embed_origin: str | None
    amount: int | None
    currency: str | None
    discount_id: str | None
    allow_discount_codes: bool | None
    require_billing_address: bool | None
    allow_trial: bool | None
    trial_interval: str | None
    trial_interval_count: int | None
    seats: int | None
    min_seats: int | None
    max_seats: int | None
    subscription_id: str | None
    locale: str | None
    prices: dict[str, Any] | None


def _body(fields: Any) -> dict[str, Any]:
    values = dict(fields)
    for key in ("customer_billing_address",):
        if isinstance(values.get(key), dict):
            values[key] = Address.model_validate(values[key])
    return build_body(values)


class Checkouts:
    """`/v1/checkouts/`: needs `checkouts:read`, and `checkouts:write` for create and update."""

    def __init__(self, api: Requester) -> None:
        self._api = api

    async def list(self, *, page: int = 1, limit: int = 10, **filters: Unpack[CheckoutFilters]) -> Page[Checkout]:
        """One page of checkout sessions, newest first unless `sorting` says otherwise."""
        return await fetch_page(self._api, PATH, Checkout, build_query(filters), page=page, limit=limit)

    def iterate(self, *, limit: int = MAX_LIMIT, **filters: Unpack[CheckoutFilters]) -> AsyncIterator[Checkout]:
        """Every checkout session matching the filters, across all pages."""
        query = build_query(filters)
        return iterate_pages(lambda n: fetch_page(self._api, PATH, Checkout, query, page=n, limit=limit))

    async def create(self, *, products: Sequence[str], **fields: Unpack[CreateFields]) -> Checkout:
        """Create a checkout session (a payment link). Never retried: a repeat makes a second one."""
        body = _body({"products": list(products), **fields})
        return await self._api.model(Checkout, "POST", PATH, json_body=body)

    async def get(self, checkout_id: str) -> Checkout:
        return await self._api.model(Checkout, "GET", f"{PATH}{segment(checkout_id)}")

    async def update(self, checkout_id: str, **fields: Unpack[UpdateFields]) -> Checkout:
        return await self._api.model(Checkout, "PATCH", f"{PATH}{segment(checkout_id)}", json_body=_body(fields))

    async def client_get(self, client_secret: str) -> Checkout:
        """The checkout as its buyer sees it; `GoneError` (`ExpiredCheckoutError`) once expired."""
        return await self._api.model(Checkout, "GET", f"{CLIENT_PATH}{segment(client_secret)}", token=NO_TOKEN)

    async def client_update(self, client_secret: str, **fields: Unpack[PublicFields]) -> Checkout:
        return await self._api.model(
            Checkout,
            "PATCH",
            f"{CLIENT_PATH}{segment(client_secret)}",
            json_body=_body(fields),
            token=NO_TOKEN,
        )

    async def client_confirm(self, client_secret: str, **fields: Unpack[ConfirmFields]) -> Checkout:
        """Confirm and pay the checkout as its buyer. Never retried; `BadRequestError` (`PaymentError`)."""
        return await self._api.model(
            Checkout,
            "POST",
            f"{CLIENT_PATH}{segment(client_secret)}/confirm",
            json_body=_body(fields),
            token=NO_TOKEN,
        )
