"""The CSV export of orders, returned as an embedded resource with a size cap."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC
from typing import Annotated, Literal

import mcp_types as types
from pydantic import Field

from polar_orders_mcp.tools import views
from polar_orders_mcp.tools.base import Tool
from polar_orders_mcp.tools.context import Api, Ctx, Now, app_state
from polar_orders_mcp.tools.params import OrderStatus, ProductId, Until
from polar_orders_mcp.tools.period import From, FromDay, Timezone, ToDay, period

# About 25k tokens: what MCP clients accept in one tool result before they cut it themselves.
MAX_CSV_BYTES = 100_000
PROGRESS_EVERY = 5_000
CSV_CELL_LIMIT = 500
# A cell starting with one of these is run as a formula by spreadsheets (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[-+]?\d+(\.\d+)?")

ExportColumn = Literal[
    "email",
    "created_at",
    "product",
    "net_amount",
    "currency",
    "status",
    "invoice_number",
    "customer_name",
    "billing_name",
    "billing_country",
    "subtotal_amount",
    "discount_amount",
    "tax_amount",
    "total_amount",
    "refunded_amount",
    "billing_reason",
]


class ExportResult(views.Listing):
    """What the export held. The CSV itself is the embedded resource beside this summary."""

    row_count: int = Field(description="Orders matching the filters.")
    rows_included: int = Field(description="Rows in the attached CSV (fewer than row_count when truncated).")
    truncated: bool
    csv_bytes: int
    amounts: str = "Amounts in the CSV are in MAJOR units (12.50), unlike the other tools."
    cells: str = (
        "Text cells are cleaned like every customer-supplied text (invisible characters removed, one line, at "
        f"most {CSV_CELL_LIMIT} characters); one starting with = + - or @ has a ' put before it, so that a "
        "spreadsheet does not run it as a formula."
    )
    period: str = Field(description="The bounds as applied: the start inclusive, the end exclusive.")
    note: str | None = None


def clean_cell(cell: str) -> str:
    """One CSV cell as safe to read and to open in a spreadsheet: cleaned text, never a formula."""
    text = views.clean_text(cell, CSV_CELL_LIMIT) or ""
    if text.startswith(_FORMULA_START) and not _NUMBER.fullmatch(text):
        return "'" + text
    return text


def clean_record(record: str) -> str:
    """A whole CSV record (quoted fields may hold line breaks) with every cell cleaned, written back."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n" if record.endswith("\r\n") else "\n")
    for row in csv.reader(io.StringIO(record)):
        writer.writerow([clean_cell(cell) for cell in row])
    return out.getvalue()


def _record_ends(text: str) -> list[int]:
    """The offset just past each record-ending newline of `text`, which starts a record."""
    ends: list[int] = []
    offset = 0
    for index, part in enumerate(text.split('"')):
        if index % 2 == 0:  # outside quotes: an even number of quotes before it
            start = part.find("\n")
            while start >= 0:
                ends.append(offset + start + 1)
                start = part.find("\n", start + 1)
        offset += len(part) + 1
    return ends


class CsvRecords:
    """Splits streamed CSV text into whole records; a quoted field may hold a newline.

    A newline outside quotes ends a record (an escaped quote "" toggles twice). The scan looks at the text
    between quotes, not at each character, so `skip` counts the records of a chunk at the speed of
    str.count and keeps only the unfinished record's text."""

    def __init__(self) -> None:
        self._partial = ""  # the text of the record not yet ended, from its start (outside quotes)

    def feed(self, chunk: str) -> list[str]:
        """The records `chunk` ends, whole."""
        text = self._partial + chunk
        ends = _record_ends(text)
        starts = [0, *ends]
        self._partial = text[starts[-1] :]
        return [text[start:end] for start, end in zip(starts, ends, strict=False)]

    def skip(self, chunk: str) -> int:
        """How many records `chunk` ends, without making them."""
        text = self._partial + chunk
        parts = text.split('"')
        count = sum(part.count("\n") for part in parts[::2])
        self._partial = text
        for index in reversed(range(0, len(parts), 2)) if count else ():
            if "\n" in parts[index]:  # the last record ends in this part: keep what follows
                tail = parts[index][parts[index].rindex("\n") + 1 :]
                self._partial = '"'.join([tail, *parts[index + 1 :]])
                break
        return count

    def close(self) -> list[str]:
        rest, self._partial = self._partial, ""
        return [rest + "\n"] if rest.strip() else []


class Cut:
    """The records that fit in MAX_CSV_BYTES once cleaned, and how many records there were in all."""

    def __init__(self) -> None:
        self.kept: list[str] = []
        self.size = 0
        self.records = 0  # the header included
        self.truncated = False

    def take(self, records: list[str]) -> None:
        """Clean and keep records while they fit; past the first that does not, only count them."""
        for record in records:
            self.records += 1
            if self.truncated:
                continue
            cleaned = clean_record(record)
            size = len(cleaned.encode())
            if self.size + size <= MAX_CSV_BYTES:
                self.kept.append(cleaned)
                self.size += size
            else:
                self.truncated = True

    @property
    def rows(self) -> int:
        """Orders: the records but the header."""
        return max(self.records - 1, 0)


async def export_orders(
    api: Api,
    ctx: Ctx,
    now: Now,
    status: Annotated[list[OrderStatus] | None, Field(max_length=6)] = None,
    created_after: From = None,
    created_before: Until = None,
    from_day: FromDay = None,
    to_day: ToDay = None,
    product_id: ProductId | None = None,
    columns: Annotated[list[ExportColumn] | None, Field(max_length=16, description="default: all")] = None,
    timezone: Timezone = None,
) -> Annotated[types.CallToolResult, ExportResult]:
    """Orders as CSV (major units), attached, cut at about 100 KB. For totals use summarize_orders."""
    when = period(created_after, created_before, from_day, to_day, timezone or app_state(ctx).timezone)
    cut = Cut()
    stream = api.orders.export(
        status=list(status) if status else None,
        created_after=when.polar_after,
        created_before=when.end,
        product_id=product_id,
        columns=list(columns) if columns else None,
        timezone=when.zone,
    )
    splitter = CsvRecords()
    async for chunk in stream:
        before = cut.rows
        if cut.truncated:  # only counted from here on: nothing past the cut is made or cleaned
            cut.records += splitter.skip(chunk)
        else:
            cut.take(splitter.feed(chunk))
        for done in range(before - before % PROGRESS_EVERY + PROGRESS_EVERY, cut.rows + 1, PROGRESS_EVERY):
            await ctx.report_progress(done, None, f"{done} orders exported")
    cut.take(splitter.close())
    kept, size, truncated, rows = cut.kept, cut.size, cut.truncated, cut.rows
    included = max(len(kept) - 1, 0)
    result = ExportResult(
        as_of=views.as_of(now),
        period=when.said(),
        row_count=rows,
        rows_included=included,
        truncated=truncated,
        csv_bytes=size,
        note=(
            f"Only the first {included} of {rows} rows fit in {MAX_CSV_BYTES // 1000} KB. Narrow "
            "the period, filter by status or product, or choose fewer columns."
        )
        if truncated
        else None,
    )
    stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    resource = types.EmbeddedResource(
        type="resource",
        resource=types.TextResourceContents(
            uri=f"polar://exports/orders-{stamp}.csv", mime_type="text/csv", text="".join(kept)
        ),
    )
    summary = types.TextContent(type="text", text=result.model_dump_json(exclude_none=True))
    return types.CallToolResult(content=[summary, resource], structured_content=result.model_dump(mode="json"))


TOOLS = (Tool(export_orders, tier="read", title="Export orders (CSV)", toolset="reports"),)
