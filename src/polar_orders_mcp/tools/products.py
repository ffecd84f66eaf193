"""Product tools: the catalogue that orders and checkouts are made from."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from polar_orders_mcp.polar import models
from polar_orders_mcp.tools import views
from polar_orders_mcp.tools.base import Tool
from polar_orders_mcp.tools.context import Api, Now
from polar_orders_mcp.tools.params import Limit, Page


class PriceView(BaseModel):
    model_config = ConfigDict(defer_build=True)
    id: str
    type: str = Field(description="fixed, custom (pay what you want), free, or another Polar type.")
    amount: int | None = Field(description="Minor units, before tax, for fixed prices; the minimum for custom ones.")
    display: str


class ProductSummary(BaseModel):
    model_config = ConfigDict(defer_build=True)
    id: str
    name: views.CustomerText = None
    recurring: bool
    interval: str | None = None
    archived: bool
    prices: list[PriceView]


class ProductList(views.Listing):
    items: list[ProductSummary]
    page: int
    total_count: int
    next_page: int | None


def product_view(p: models.Product) -> ProductSummary:
    prices = []
    for price in p.prices:
        amount = price.price_amount if price.price_amount is not None else price.minimum_amount
        prices.append(
            PriceView(
                id=price.id,
                type=str(price.amount_type),
                amount=amount,
                display=views.money(amount, price.price_currency) if amount is not None else str(price.amount_type),
            )
        )
    return ProductSummary(
        id=p.id,
        name=views.clean_text(p.name),
        recurring=p.is_recurring,
        interval=str(p.recurring_interval) if p.recurring_interval else None,
        archived=p.is_archived,
        prices=prices,
    )


async def list_products(
    api: Api,
    now: Now,
    text: Annotated[str | None, Field(max_length=256, description="matches names")] = None,
    kind: Literal["one_time", "recurring"] | None = None,
    include_archived: bool = False,
    page: Page = 1,
    limit: Limit = 20,
) -> ProductList:
    """Products and their prices, before tax (create_order takes one-time fixed prices only)."""
    result = await api.products.list(
        page=page,
        limit=limit,
        query=text,
        is_recurring=None if kind is None else kind == "recurring",
        is_archived=None if include_archived else False,
    )
    return ProductList(
        as_of=views.as_of(now),
        items=[product_view(p) for p in result.items],
        page=result.page,
        total_count=result.total_count,
        next_page=views.next_page(result),
    )


TOOLS = (Tool(list_products, tier="read", title="List products", toolset="customers"),)
