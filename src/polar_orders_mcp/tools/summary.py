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
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from mcp.server.mcpserver.exceptions import ToolError
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from polar_orders_mcp.tools import views
from polar_orders_mcp.tools.base import Tool
from polar_orders_mcp.tools.context import Api, Ctx
from polar_orders_mcp.tools.export import CsvRecords
from polar_orders_mcp.tools.params import OrderStatus, ProductId, Since, Until

COLUMNS = ["created_at", "product", "currency", "status", "net_amount", "tax_amount", "total_amount",
           "refunded_amount"]  # fmt: skip
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


class GroupTotals(Totals):
    key: str = Field(description="The product name, status or day (YYYY-MM-DD in the timezone).")
    currency: str


class SalesSummary(BaseModel):
    """Counts and exact sums of the matching orders, by currency (never added across currencies)."""

    model_config = ConfigDict(defer_build=True)

    orders: int = Field(description="Orders matching the filters.")
    currencies: list[CurrencyTotals]
    group_by: GroupBy | None = None
    groups: list[GroupTotals] | None = None
    other_groups: int = Field(
        default=0, description="Products past the first 39 by total, folded into the last group, '(other)'."
    )
    period: str = Field(description="The bounds as applied: both exclusive, compared in UTC.")


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


def _check(created_after: AwareDatetime | None, created_before: AwareDatetime | None, group_by: GroupBy | None,
           timezone: str | None) -> None:
    if timezone is not None:
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ToolError(f"Unknown timezone {timezone!r}: use an IANA name such as UTC or Europe/Paris.") from exc
    if created_after and created_before and created_after >= created_before:
        raise ToolError("created_after must be before created_before.")
    if group_by == "day" and not (created_after and created_before and
                                  created_before - created_after <= MAX_DAY_SPAN):
        raise ToolError("group_by='day' needs created_after and created_before at most 92 days apart; "
                        "summarize longer periods by product or status, or one quarter at a time.")


def _groups(sums: dict[tuple[str, str], _Sums], group_by: GroupBy) -> tuple[list[GroupTotals], int]:
    if group_by == "day":
        keys = sorted(sums)
    elif group_by == "status":
        keys = sorted(sums, key=lambda k: (STATUS_ORDER.index(k[0]) if k[0] in STATUS_ORDER else 99, k))
    else:
        keys = sorted(sums, key=lambda k: (-sums[k].amounts["total_amount"], k))
    groups = [GroupTotals(key=key, currency=currency, **sums[(key, currency)].totals()) for key, currency in keys]
    # Days are bounded by MAX_DAY_SPAN instead, and folding some would hide them.
    if len(groups) <= MAX_GROUPS or group_by == "day":
        return groups, 0
    kept, rest = groups[: MAX_GROUPS - 1], groups[MAX_GROUPS - 1 :]
    folded: dict[str, _Sums] = {}
    for group in rest:
        into = folded.setdefault(group.currency, _Sums())
        into.orders += group.orders
        for name in AMOUNTS:
            into.amounts[name] += getattr(group, name)
    kept += [GroupTotals(key="(other)", currency=c, **s.totals()) for c, s in sorted(folded.items())]
    return kept, len(rest)


async def summarize_orders(
    api: Api,
    ctx: Ctx,
    created_after: Since = None,
    created_before: Until = None,
    status: Annotated[
        list[OrderStatus] | None, Field(max_length=6, description='sales: ["paid","partially_refunded","refunded"]')
    ] = None,
    product_id: ProductId | None = None,
    group_by: GroupBy | None = None,
    timezone: Annotated[str | None, Field(max_length=64, description="IANA, for the days of group_by=day")] = None,
) -> SalesSummary:
    """Sales figures for a period: order counts and exact sums (net, tax, total, refunded) per currency,
    optionally by product, status or day."""
    _check(created_after, created_before, group_by, timezone)
    statuses = list(status) if status else None
    expected = (await api.orders.list(limit=1, status=statuses, created_after=created_after,
                                      created_before=created_before, product_id=product_id)).total_count
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
    stream = api.orders.export(columns=COLUMNS, timezone=timezone, status=statuses, created_after=created_after,
                               created_before=created_before, product_id=product_id)
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
    groups, folded = _groups(by_group, group_by) if group_by is not None else (None, 0)
    return SalesSummary(
        orders=rows,
        currencies=[CurrencyTotals(currency=c, total=views.money(s.amounts["total_amount"], c),
                                   net_after_refunds=s.amounts["net_amount"] - s.amounts["refunded_amount"],
                                   **s.totals()) for c, s in sorted(by_currency.items())],
        group_by=group_by,
        groups=groups,
        other_groups=folded,
        period=f"created after {created_after.isoformat() if created_after else 'the first order'}, before "
        f"{created_before.isoformat() if created_before else 'now'} (both exclusive, compared in UTC)",
    )


TOOLS = (Tool(summarize_orders, tier="read", title="Summarize orders (sales figures)", toolset="reports"),)
