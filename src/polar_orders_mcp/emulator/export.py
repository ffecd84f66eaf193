"""The orders and subscriptions CSV exports, produced row by row as Polar's `generate_csv` does."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Generic, TypeVar

from .models import Customer, Order, Product, Subscription

R = TypeVar("R")
Cell = str | float | None
SubscriptionRow = tuple[Subscription, Customer, Product]


@dataclass(frozen=True)
class ExportTable(Generic[R]):
    """One export: its columns (key → header, in Polar's enum order), default columns and file name."""

    name: str
    headers: dict[str, str]
    defaults: tuple[str, ...]
    getters: dict[str, Callable[[R, tzinfo], Cell]]

    def rows(self, records: Iterable[R], columns: Sequence[str], tz: tzinfo) -> Iterator[str]:
        """The header line, then one line per record."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, dialect="excel")

        def line(values: Iterable[Cell]) -> str:
            writer.writerow(values)
            text = buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
            return text

        yield line(self.headers[c] for c in columns)
        getters = [self.getters[c] for c in columns]
        for record in records:
            yield line([get(record, tz) for get in getters])

    def filename(self, after: datetime | None, before: datetime | None, tz: tzinfo) -> str:
        name = f"polar-{self.name}"
        for bound in (after, before):
            if bound is not None:
                name += f"-{bound.astimezone(tz).strftime('%Y-%m-%d')}"
        return f"{name}.csv"


def _moment(value: datetime | None, tz: tzinfo) -> str | None:
    return value.astimezone(tz).isoformat() if value is not None else None


# Polar writes amounts as `minor / 100`, a float: 1250 → 12.5, 0 → 0.0.
ORDERS: ExportTable[Order] = ExportTable(
    name="orders",
    headers={
        "email": "Email",
        "created_at": "Created At",
        "product": "Product",
        "net_amount": "Net Amount",
        "currency": "Currency",
        "status": "Status",
        "invoice_number": "Invoice number",
        "customer_name": "Customer Name",
        "billing_name": "Billing Name",
        "billing_country": "Billing Country",
        "subtotal_amount": "Subtotal",
        "discount_amount": "Discount",
        "tax_amount": "Tax",
        "total_amount": "Total",
        "refunded_amount": "Refunded Amount",
        "billing_reason": "Billing Reason",
    },
    defaults=("email", "created_at", "product", "net_amount", "currency", "status", "invoice_number"),
    getters={
        "email": lambda o, tz: o.customer.email,
        "created_at": lambda o, tz: _moment(o.created_at, tz),
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
    },
)

# Polar's subscription/export.py `_row`. The emulator's subscriptions start when created, renew every single
# interval (so "Billing Interval" is the bare interval), carry no discount, seats or trial, and are charged
# tax on top, so their net amount is their amount.
SUBSCRIPTIONS: ExportTable[SubscriptionRow] = ExportTable(
    name="subscriptions",
    headers={
        "email": "Email",
        "started_at": "Started At",
        "product": "Product",
        "amount": "Amount",
        "currency": "Currency",
        "status": "Status",
        "recurring_interval": "Billing Interval",
        "customer_name": "Customer Name",
        "billing_name": "Billing Name",
        "billing_country": "Billing Country",
        "net_amount": "Net Amount",
        "discount": "Discount",
        "seats": "Seats",
        "current_period_start": "Current Period Start",
        "current_period_end": "Current Period End",
        "cancel_at_period_end": "Cancels At Period End",
        "canceled_at": "Canceled At",
        "ends_at": "Ends At",
        "ended_at": "Ended At",
        "cancellation_reason": "Cancellation Reason",
        "trial_start": "Trial Start",
        "trial_end": "Trial End",
    },
    defaults=("email", "started_at", "product", "amount", "currency", "status", "recurring_interval"),
    getters={
        "email": lambda r, tz: r[1].email,
        "started_at": lambda r, tz: _moment(r[0].created_at, tz),
        "product": lambda r, tz: r[2].name,
        "amount": lambda r, tz: r[0].amount / 100,
        "currency": lambda r, tz: r[0].currency,
        "status": lambda r, tz: r[0].status,
        "recurring_interval": lambda r, tz: r[0].recurring_interval,
        "customer_name": lambda r, tz: r[1].name,
        "billing_name": lambda r, tz: r[1].billing_name,
        "billing_country": lambda r, tz: r[1].billing_address.get("country") if r[1].billing_address else None,
        "net_amount": lambda r, tz: r[0].amount / 100,
        "discount": lambda r, tz: None,
        "seats": lambda r, tz: None,
        "current_period_start": lambda r, tz: _moment(r[0].current_period_start, tz),
        "current_period_end": lambda r, tz: _moment(r[0].current_period_end, tz),
        "cancel_at_period_end": lambda r, tz: "true" if r[0].cancel_at_period_end else "false",
        "canceled_at": lambda r, tz: _moment(r[0].canceled_at, tz),
        "ends_at": lambda r, tz: _moment(r[0].ends_at, tz),
        "ended_at": lambda r, tz: _moment(r[0].ended_at, tz),
        "cancellation_reason": lambda r, tz: r[0].customer_cancellation_reason,
        "trial_start": lambda r, tz: None,
        "trial_end": lambda r, tz: None,
    },
)


def csv_rows(orders: Iterable[Order], columns: Sequence[str], tz: tzinfo) -> Iterator[str]:
    """The orders export's lines."""
    return ORDERS.rows(orders, columns, tz)
