"""The orders CSV export, produced row by row as Polar's `generate_csv` does."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime, tzinfo

from .models import Order

EXPORT_HEADERS: dict[str, str] = {
    "email": "Email", "created_at": "Created At", "product": "Product", "net_amount": "Net Amount",
    "currency": "Currency", "status": "Status", "invoice_number": "Invoice number",
    "customer_name": "Customer Name", "billing_name": "Billing Name", "billing_country": "Billing Country",
    "subtotal_amount": "Subtotal", "discount_amount": "Discount", "tax_amount": "Tax", "total_amount": "Total",
    "refunded_amount": "Refunded Amount", "billing_reason": "Billing Reason",
}
DEFAULT_COLUMNS = ("email", "created_at", "product", "net_amount", "currency", "status", "invoice_number")

Cell = str | float | None
# Polar writes amounts as `minor / 100`, a float: 1250 → 12.5, 0 → 0.0.
_GETTERS: dict[str, Callable[[Order, tzinfo], Cell]] = {
    "email": lambda o, tz: o.customer.email,
    "created_at": lambda o, tz: o.created_at.astimezone(tz).isoformat(),
    "product": lambda o, tz: o.description,
    "net_amount": lambda o, tz: o.net_amount / 100,
    "currency": lambda o, tz: o.currency,
    "status": lambda o, tz: o.status,
    "invoice_number": lambda o, tz: o.invoice_number,
    "customer_name": lambda o, tz: o.customer.name,
    "billing_name": lambda o, tz: o.billing_name,
    "billing_country": lambda o, tz: o.billing_address.get("country") if o.billing_address else None,
    "subtotal_amount": lambda o, tz: o.subtotal_amount / 100,
    "discount_amount": lambda o, tz: o.discount_amount / 100,
    "tax_amount": lambda o, tz: o.tax_amount / 100,
    "total_amount": lambda o, tz: o.total_amount / 100,
    "refunded_amount": lambda o, tz: o.refunded_amount / 100,
    "billing_reason": lambda o, tz: o.billing_reason,
}


def csv_rows(orders: Iterable[Order], columns: Sequence[str], tz: tzinfo) -> Iterator[str]:
    """The header line, then one line per order."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, dialect="excel")

    def line(values: Iterable[Cell]) -> str:
        writer.writerow(values)
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    yield line(EXPORT_HEADERS[c] for c in columns)
    getters = [_GETTERS[c] for c in columns]
    for order in orders:
        yield line([get(order, tz) for get in getters])


def export_filename(created_after: datetime | None, created_before: datetime | None, tz: tzinfo) -> str:
    name = "polar-orders"
    for bound in (created_after, created_before):
        if bound is not None:
            name += f"-{bound.astimezone(tz).strftime('%Y-%m-%d')}"
    return f"{name}.csv"
