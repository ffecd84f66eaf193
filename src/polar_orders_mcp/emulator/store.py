"""The in-memory tables, their indexes, id minting and the list helpers every resource shares."""

from __future__ import annotations

import bisect
import hashlib
import math
import random
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

from .errors import ResourceNotFound
from .models import (
    Checkout,
    Customer,
    CustomerSession,
    Discount,
    Dispute,
    Order,
    Organization,
    OrgPrincipal,
    PaymentMethod,
    Product,
    Refund,
    Subscription,
)

T = TypeVar("T")
MAX_LIMIT = 100
# Version 4 and the RFC 4122 variant, as uuid.UUID(int=…, version=4) sets them.
_UUID4_CLEAR = ~((0xF000 << 64) | (0xC000 << 48)) & ((1 << 128) - 1)
_UUID4_SET = (0x4000 << 64) | (0x8000 << 48)
SECRET_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


@dataclass(slots=True)
class Page(Generic[T]):
    items: list[T]
    total_count: int
    max_page: int


def paginate(items: Sequence[T], page: int, limit: int) -> Page[T]:
    """Slice one page; Polar silently clamps `limit` to 100."""
    limit = min(limit, MAX_LIMIT)
    start = (page - 1) * limit
    return Page(list(items[start : start + limit]), len(items), math.ceil(len(items) / limit))


def sort_records(records: list[T], sorting: Sequence[str], keys: dict[str, Callable[[T], Any]]) -> list[T]:
    """Sort in place by `[-]property` criteria; NULLs last ascending and first descending, as in Postgres."""
    for criterion in reversed(sorting):
        key = keys[criterion.lstrip("-")]
        # (is None, value): two NULLs compare equal, so None is never ordered against a value.
        records.sort(key=_nulls_last(key), reverse=criterion.startswith("-"))
    return records


def _nulls_last(key: Callable[[T], Any]) -> Callable[[T], tuple[bool, Any]]:
    def wrapped(record: T) -> tuple[bool, Any]:
        value = key(record)
        return value is None, value

    return wrapped


# A list's filters, as Polar's SQL applies them: an unset filter (`None`) lets everything through.


def among(value: object, allowed: Collection[object] | None) -> bool:
    """`value IN (…)`."""
    return allowed is None or value in allowed


def since(moment: datetime | None, bound: datetime | None, *, strict: bool = False) -> bool:
    """`moment >= bound` (`>` when strict); a NULL moment passes no bound."""
    if bound is None:
        return True
    return moment is not None and (moment > bound if strict else moment >= bound)


def until(moment: datetime | None, bound: datetime | None, *, strict: bool = False) -> bool:
    """`moment <= bound` (`<` when strict); a NULL moment passes no bound."""
    if bound is None:
        return True
    return moment is not None and (moment < bound if strict else moment <= bound)


@dataclass
class Store:
    """Every table, kept small per record and indexed once; orders stay sorted by `created_at`."""

    rng: random.Random
    organization: Organization
    tokens: dict[str, OrgPrincipal] = field(default_factory=dict)
    products: dict[str, Product] = field(default_factory=dict)
    discounts: dict[str, Discount] = field(default_factory=dict)
    customers: dict[str, Customer] = field(default_factory=dict)
    payment_methods: dict[str, PaymentMethod] = field(default_factory=dict)
    subscriptions: dict[str, Subscription] = field(default_factory=dict)
    orders: list[Order] = field(default_factory=list)
    orders_by_id: dict[str, Order] = field(default_factory=dict)
    checkouts: dict[str, Checkout] = field(default_factory=dict)
    checkouts_by_secret: dict[str, Checkout] = field(default_factory=dict)
    sessions: dict[str, CustomerSession] = field(default_factory=dict)
    refunds: list[Refund] = field(default_factory=list)
    disputes: dict[str, Dispute] = field(default_factory=dict)

    def new_id(self) -> str:
        """A random UUID4 drawn from the seeded generator, so ids are reproducible."""
        h = f"{self.rng.getrandbits(128) & _UUID4_CLEAR | _UUID4_SET:032x}"
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    @staticmethod
    def derived_id(*parts: str) -> str:
        """A UUID4-shaped id hashed from `parts`: reproducible without drawing from the generator."""
        value = int.from_bytes(hashlib.sha256("/".join(parts).encode()).digest()[:16], "big")
        h = f"{value & _UUID4_CLEAR | _UUID4_SET:032x}"
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    def new_secret(self, prefix: str) -> str:
        return prefix + "".join(self.rng.choices(SECRET_ALPHABET, k=40))

    def add_order(self, order: Order) -> None:
        # Appending is the common case (new orders are the newest); insort keeps the invariant anyway.
        if not self.orders or self.orders[-1].created_at <= order.created_at:
            self.orders.append(order)
        else:
            bisect.insort(self.orders, order, key=lambda o: o.created_at)
        self.orders_by_id[order.id] = order
        order.product.referenced = True

    def add_customer(self, customer: Customer) -> None:
        self.customers[customer.id] = customer
        for method in customer.payment_methods:
            self.payment_methods[method.id] = method

    def add_checkout(self, checkout: Checkout) -> None:
        self.checkouts[checkout.id] = checkout
        self.checkouts_by_secret[checkout.client_secret] = checkout

    def order(self, order_id: str) -> Order:
        try:
            return self.orders_by_id[order_id]
        except KeyError:
            raise ResourceNotFound() from None

    def product(self, product_id: str) -> Product:
        try:
            return self.products[product_id]
        except KeyError:
            raise ResourceNotFound() from None

    def customer(self, customer_id: str) -> Customer:
        try:
            return self.customers[customer_id]
        except KeyError:
            raise ResourceNotFound() from None

    def checkout(self, checkout_id: str) -> Checkout:
        try:
            return self.checkouts[checkout_id]
        except KeyError:
            raise ResourceNotFound() from None

    def subscription(self, subscription_id: str) -> Subscription:
        try:
            return self.subscriptions[subscription_id]
        except KeyError:
            raise ResourceNotFound() from None

    def dispute(self, dispute_id: str) -> Dispute:
        try:
            return self.disputes[dispute_id]
        except KeyError:
            raise ResourceNotFound() from None

    def add_refund(self, refund: Refund) -> None:
        if not self.refunds or self.refunds[-1].created_at <= refund.created_at:
            self.refunds.append(refund)
        else:
            bisect.insort(self.refunds, refund, key=lambda r: r.created_at)

    def customer_by_external_id(self, external_id: str) -> Customer | None:
        return next((c for c in self.customers.values() if c.external_id == external_id), None)
