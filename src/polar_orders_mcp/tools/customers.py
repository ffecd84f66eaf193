"""Customer tools: find customers and see their saved payment methods."""

from __future__ import annotations

from typing import Annotated

import anyio
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel, ConfigDict, Field

from polar_orders_mcp.polar import models
from polar_orders_mcp.polar.client import PolarClient
from polar_orders_mcp.polar.errors import PolarError
from polar_orders_mcp.tools import views
from polar_orders_mcp.tools.base import Tool
from polar_orders_mcp.tools.context import Api, Now
from polar_orders_mcp.tools.params import CustomerId, Detail, Limit, Page


class PaymentMethodView(BaseModel):
    model_config = ConfigDict(defer_build=True)
    id: str
    label: str = Field(description="Masked, e.g. visa •••• 4242 (exp 12/2030).")
    default: bool


class CustomerSummary(BaseModel):
    model_config = ConfigDict(defer_build=True)
    id: str
    external_id: str | None = None
    default_payment_method_id: str | None = Field(
        default=None, description="The saved payment method finalize_order charges unless told another."
    )
    default_payment_method: str | None = Field(
        default=None,
        description="Its label, e.g. visa •••• 4242 (exp 12/2030).",
        exclude_if=lambda value: value is None,
    )
    payment_methods: list[PaymentMethodView] | None = Field(
        default=None,
        description="Saved payment methods, masked: get_customer lists them; find_customers leaves them out.",
        exclude_if=lambda value: value is None,
    )
    created_at: str | None = None
    customer_supplied: views.CustomerSupplied
    api_object: dict[str, object] | None = Field(
        default=None,
        description="Polar's complete customer object (its text cleaned), only with detail='full'.",
        exclude_if=lambda value: value is None,
    )


def customer_view(
    c: models.Customer,
    methods: list[models.PaymentMethod] | None = None,
    detail: str = "summary",
    default_label: str | None = None,
) -> CustomerSummary:
    return CustomerSummary(
        id=c.id,
        external_id=views.clean_text(c.external_id),
        default_payment_method_id=c.default_payment_method_id,
        default_payment_method=default_label,
        payment_methods=None
        if methods is None
        else [
            PaymentMethodView(
                id=m.id,
                label=views.payment_method_label(m),
                default=m.is_default or m.id == c.default_payment_method_id,
            )
            for m in methods
        ],
        created_at=c.created_at.isoformat() if c.created_at else None,
        customer_supplied=views.CustomerSupplied(
            name=views.clean_text(c.name),
            email=views.clean_text(c.email),
            billing_name=views.clean_text(c.billing_name),
            billing_address=views.address_line(c.billing_address),
            metadata=views.clean_mapping(c.metadata),
        ),
        api_object=views.full_object(c, detail),
    )


# A row's card label costs a request to Polar (the customer's saved cards; none for a customer without a default
# card, nor for cards read in the last few minutes): at most this many per answer, read side by side.
CARD_LABELS = 10


class CustomerList(views.Listing):
    items: list[CustomerSummary]
    page: int
    total_count: int
    next_page: int | None
    unlabelled_cards: str | None = Field(
        default=None,
        description="Set when some rows' default card has no label here.",
        exclude_if=lambda value: value is None,
    )


async def default_card_labels(api: PolarClient, customers: list[models.Customer]) -> dict[str, str]:
    """The label of each customer's default card, for the first CARD_LABELS customers that have one. A read that
    fails leaves that label out: the row still has the card's id."""
    labels: dict[str, str] = {}

    async def label(customer: models.Customer) -> None:
        wanted = customer.default_payment_method_id
        try:
            methods = await api.customers.recent_payment_methods(customer.id, wanted)
        except PolarError:
            return
        method = next((m for m in methods if m.id == wanted), None)
        if method is not None:
            labels[customer.id] = views.payment_method_label(method)

    async with anyio.create_task_group() as group:
        for customer in [c for c in customers if c.default_payment_method_id][:CARD_LABELS]:
            group.start_soon(label, customer)
    return labels


async def find_customers(
    api: Api,
    now: Now,
    email: Annotated[str | None, Field(max_length=320, description="exact")] = None,
    external_id: Annotated[str | None, Field(max_length=256, description="your own id")] = None,
    text: Annotated[str | None, Field(max_length=256, description="in name, email or external id")] = None,
    page: Page = 1,
    limit: Limit = 20,
) -> CustomerList:
    """Find customers (their ids and default cards) by email, external id or text."""
    if not (email or external_id or text):
        raise ToolError("Say whom to look for: pass email, external_id or text.")
    result = await api.customers.list(page=page, limit=limit, email=email, query=text or external_id)
    items = result.items
    if external_id:
        # Polar's text search matches external ids among other fields; keep the exact ones.
        items = [c for c in items if c.external_id == external_id]
    labels = await default_card_labels(api, items)
    with_card = sum(1 for c in items if c.default_payment_method_id)
    return CustomerList(
        as_of=views.as_of(now),
        items=[customer_view(c, default_label=labels.get(c.id)) for c in items],
        page=result.page,
        total_count=result.total_count if not external_id else len(items),
        next_page=None if external_id else views.next_page(result),
        unlabelled_cards=None
        if len(labels) == with_card
        else (
            f"Only the first {CARD_LABELS} rows with a default card have its label; get_customer has the others'."
            if with_card > CARD_LABELS
            else "Some default cards could not be read; get_customer shows them."
        ),
    )


async def get_customer(customer_id: CustomerId, api: Api, detail: Detail = "summary") -> CustomerSummary:
    """One customer: billing details and saved cards (masked) for finalize_order."""
    customer = await api.customers.get(customer_id)
    methods = await api.customers.payment_methods(customer_id)
    default = next((m for m in methods if m.id == customer.default_payment_method_id), None)
    return customer_view(customer, methods, detail, views.payment_method_label(default) if default else None)


TOOLS = (
    Tool(find_customers, tier="read", title="Find customers", toolset="customers"),
    Tool(get_customer, tier="read", title="Get customer", toolset="customers"),
)
