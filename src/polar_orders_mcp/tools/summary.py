"""summarize_orders: sales counts and sums in exact minor units, computed here from Polar's CSV export.

Why the export and not the JSON pages: the export is ONE streamed request for any number of orders,
with a few small columns per row, where the pages are one request per 100 orders carrying whole order
objects (about 3 KB each) and count against Polar's rate limit (100k orders would be 1,000 requests,
minutes of throttling). The export's amounts are Polar's `minor / 100` written as Python floats; for
any amount under 10^13 minor units that text is exactly the decimal minor / 100, so Decimal(text) * 100
is the exact integer. A cell that is not a whole number of minor units is refused, never rounded.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import Annotated, Literal

from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel, ConfigDict, Field

from polar_orders_mcp.polar.client import PolarClient
from polar_orders_mcp.tools import views
from polar_orders_mcp.tools.base import Tool
from polar_orders_mcp.tools.context import Api, Ctx, Now, app_state
from polar_orders_mcp.tools.export import CsvRecords
from polar_orders_mcp.tools.params import OrderStatus, ProductId, Until
from polar_orders_mcp.tools.period import From, FromDay, Period, Timezone, ToDay, period

COLUMNS = ["created_at", "product", "currency", "status", "net_amount", "tax_amount", "total_amount", "refunded_amount"]
AMOUNTS = ("net_amount", "tax_amount", "total_amount", "refunded_amount")
PROGRESS_EVERY = 5_000
MAX_DAY_SPAN = timedelta(days=92)
MAX_GROUPS = 40
STATUS_ORDER = ("paid", "partially_refunded", "refunded", "pending", "draft", "void")
GroupBy = Literal["product", "status", "day"]


class Totals(BaseModel):
    model_config = ConfigDict(defer_build=True)
    orders: int
    net_amount: int = Field(description="Minor units, net of tax and discounts.")
    tax_amount: int
    total_amount: int = Field(description="Net + tax, minor units.")
    refunded_amount: int = Field(description="Refunded, net of tax, minor units.")


class CurrencyTotals(Totals):
    currency: str
    total: str = Field(description="total_amount for humans.")
    net_after_refunds: int = Field(description="net_amount - refunded_amount, minor units.")


class GroupTotals(CurrencyTotals):
    key: str = Field(description="The product name, status or day (YYYY-MM-DD in the timezone).")
    product_id: str | None = Field(
        default=None, description="By product: the product of that name now; null if none or several have it."
    )


class SalesSummary(views.Listing):
    """Counts and exact sums of the matching orders, by currency (never added across currencies)."""

    orders: int = Field(description="Orders matching the filters.")
    currencies: list[CurrencyTotals]
    group_by: GroupBy | None = None
    groups: list[GroupTotals] | None = None
    other_groups: int = Field(
        default=0,
        description=f"When there are more than {MAX_GROUPS} groups (by product or status): how many past the "
        f"first {MAX_GROUPS - 1} by total were added together into the last ones, keyed '(other)', one per "
        "currency. 0: every group is shown on its own.",
    )
    period: str = Field(description="The bounds as applied: the start inclusive, the end exclusive.")


@dataclass
class _Sums:
    orders: int = 0
    amounts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(AMOUNTS, 0))

    def add(self, amounts: dict[str, int]) -> None:
        self.orders += 1
        for name, value in amounts.items():
            self.amounts[name] += value

    def totals(self) -> dict[str, int]:
        return {"orders": self.orders, **self.amounts}


def minor_units(text: str, column: str) -> int:
    """An export amount (major units, as Polar writes `minor / 100`) as exact minor units."""
    try:
        value = Decimal(text) * 100
    except InvalidOperation:
        raise ToolError(f"Polar's export has {text!r} in {column}, which is not a number.") from None
    if value != value.to_integral_value():
        raise ToolError(f"Polar's export has {text!r} in {column}, which is not a whole number of minor units.")
    return int(value)


def _check(when: Period, group_by: GroupBy | None) -> None:
    if group_by == "day" and not (when.start and when.end and when.end - when.start <= MAX_DAY_SPAN):
        raise ToolError(
            "group_by='day' needs a start and an end (created_after/from_day, created_before/to_day) "
            "at most 92 days apart; summarize longer periods by product or status, or one quarter at "
            "a time."
        )


def _currency(currency: str, sums: _Sums) -> CurrencyTotals:
    return CurrencyTotals(
        currency=currency,
        total=views.money(sums.amounts["total_amount"], currency),
        net_after_refunds=sums.amounts["net_amount"] - sums.amounts["refunded_amount"],
        **sums.totals(),
    )


def _group(key: str, currency: str, sums: _Sums, product_id: str | None = None) -> GroupTotals:
    return GroupTotals(key=key, product_id=product_id, **_currency(currency, sums).model_dump())


async def _product_ids(api: PolarClient) -> dict[str, str | None]:
    """Each product name (as the export writes it) to its product's id; None where several products share it.
    The export names an order's product by its name when ordered, so a product renamed since has no id."""
    ids: dict[str, str | None] = {}
    async for product in api.products.iterate():
        name = views.clean_text(product.name) or ""
        ids[name] = None if name in ids else product.id
    return ids


def _groups(
    sums: dict[tuple[str, str], _Sums], group_by: GroupBy, product_ids: dict[str, str | None]
) -> tuple[list[GroupTotals], int]:
    if group_by == "day":
        keys = sorted(sums)
    elif group_by == "status":
        keys = sorted(sums, key=lambda k: (STATUS_ORDER.index(k[0]) if k[0] in STATUS_ORDER else 99, k))
    else:
        keys = sorted(sums, key=lambda k: (-sums[k].amounts["total_amount"], k))
    groups = [_group(key, currency, sums[(key, currency)], product_ids.get(key)) for key, currency in keys]
    # Days are bounded by MAX_DAY_SPAN instead, and folding some would hide them.
    if len(groups) <= MAX_GROUPS or group_by == "day":
        return groups, 0
    kept, rest = groups[: MAX_GROUPS - 1], groups[MAX_GROUPS - 1 :]
    folded: dict[str, _Sums] = {}
    for key, currency in keys[MAX_GROUPS - 1 :]:
        into, group = folded.setdefault(currency, _Sums()), sums[(key, currency)]
        into.orders += group.orders
        for name in AMOUNTS:
            into.amounts[name] += group.amounts[name]
    kept += [_group("(other)", c, s) for c, s in sorted(folded.items())]
    return kept, len(rest)


async def summarize_orders(
    api: Api,
    ctx: Ctx,
    now: Now,
    created_after: From = None,
    created_before: Until = None,
    from_day: FromDay = None,
    to_day: ToDay = None,
    status: Annotated[
        list[OrderStatus] | None, Field(max_length=6, description='sales: ["paid","partially_refunded","refunded"]')
    ] = None,
    product_id: ProductId | None = None,
    group_by: GroupBy | None = None,
    timezone: Timezone = None,
) -> SalesSummary:
    """Sales figures for a period: order counts and exact sums (net, tax, total, refunded) per currency,
    optionally by product, status or day. For calendar days ("October") pass from_day and to_day."""
    when = period(created_after, created_before, from_day, to_day, timezone or app_state(ctx).timezone)
    _check(when, group_by)
    statuses = list(status) if status else None
    after, before = when.polar_after, when.end
    expected = (
        await api.orders.list(
            limit=1, status=statuses, created_after=after, created_before=before, product_id=product_id
        )
    ).total_count
    by_currency: dict[str, _Sums] = {}
    by_group: dict[tuple[str, str], _Sums] = {}
    rows = 0
    splitter = CsvRecords()

    def count(records: Iterable[str]) -> None:
        nonlocal rows
        for cells in csv.reader(records):
            row = dict(zip(COLUMNS, cells, strict=True))
            amounts = {name: minor_units(row[name], name) for name in AMOUNTS}
            by_currency.setdefault(row["currency"], _Sums()).add(amounts)
            if group_by is not None:
                key = row["created_at"][:10] if group_by == "day" else row[group_by]
                by_group.setdefault((views.clean_text(key) or "", row["currency"]), _Sums()).add(amounts)
            rows += 1

    header = True
    stream = api.orders.export(
        columns=COLUMNS,
        timezone=when.zone,
        status=statuses,
        created_after=after,
        created_before=before,
        product_id=product_id,
    )
    async for chunk in stream:
        records = splitter.feed(chunk)
        if header and records:
            records, header = records[1:], False
        # In batches that end on each multiple of PROGRESS_EVERY, however Polar's chunks fall.
        while records:
            room = PROGRESS_EVERY - rows % PROGRESS_EVERY
            batch, records = records[:room], records[room:]
            count(batch)
            if rows % PROGRESS_EVERY == 0:
                await ctx.report_progress(rows, max(expected, rows), f"{rows} orders summed")
    count(splitter.close()[1:] if header else splitter.close())
    product_ids = await _product_ids(api) if group_by == "product" else {}
    groups, folded = _groups(by_group, group_by, product_ids) if group_by is not None else (None, 0)
    return SalesSummary(
        as_of=views.as_of(now),
        orders=rows,
        currencies=[_currency(c, s) for c, s in sorted(by_currency.items())],
        group_by=group_by,
        groups=groups,
        other_groups=folded,
        period=when.said(),
    )


TOOLS = (Tool(summarize_orders, tier="read", title="Summarize orders (sales figures)", toolset="reports"),)
