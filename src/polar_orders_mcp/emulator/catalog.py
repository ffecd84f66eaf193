"""Products, customers, their payment methods and customer sessions."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from .backend import Backend
from .errors import invalid
from .models import Customer, CustomerSession, PaymentMethod, Product
from .orders import metadata_matches
from .store import Page, Store, paginate, sort_records

CUSTOMER_SESSION_TTL = timedelta(hours=1)
PRODUCT_SORT_KEYS: dict[str, Callable[[Product], Any]] = {
    "created_at": lambda p: p.created_at,
    "name": lambda p: p.name,
    "price_amount_type": lambda p: p.prices[0].amount_type,
    "price_amount": lambda p: p.prices[0].default_amount(),
}
CUSTOMER_SORT_KEYS: dict[str, Callable[[Customer], Any]] = {
    "created_at": lambda c: c.created_at,
    "email": lambda c: c.email,
    "name": lambda c: c.name,
}


@dataclass
class ProductFilters:
    id: list[str] | None = None
    organization_id: list[str] | None = None
    query: str | None = None
    is_archived: bool | None = None
    is_recurring: bool | None = None
    benefit_id: list[str] | None = None
    visibility: list[str] | None = None
    metadata: dict[str, list[str]] | None = None

    def matches(self, p: Product) -> bool:
        return (
            (self.id is None or p.id in self.id)
            and (self.organization_id is None or p.organization_id in self.organization_id)
            and (self.query is None or self.query.lower() in p.name.lower())
            and (self.is_archived is None or p.is_archived == self.is_archived)
            and (self.is_recurring is None or p.is_recurring == self.is_recurring)
            # Seeded products carry no benefits, so a benefit filter matches nothing.
            and self.benefit_id is None
            and (self.visibility is None or p.visibility in self.visibility)
            and (not self.metadata or metadata_matches(p.metadata, self.metadata))
        )


@dataclass
class CustomerFilters:
    organization_id: list[str] | None = None
    email: str | None = None
    query: str | None = None
    active: bool | None = None
    metadata: dict[str, list[str]] | None = None

    def matches(self, c: Customer) -> bool:
        needle = self.query.lower() if self.query else None
        return (
            (self.organization_id is None or c.organization_id in self.organization_id)
            and (self.email is None or c.email.lower() == self.email.lower())
            and (
                needle is None
                or needle in c.email.lower()
                or needle in (c.name or "").lower()
                or needle in (c.external_id or "").lower()
            )
            # Customers are never deleted here: all are active.
            and self.active is not False
            and (not self.metadata or metadata_matches(c.metadata, self.metadata))
        )


class CatalogService:
    def __init__(self, backend: Backend) -> None:
        self._backend = backend

    @property
    def _store(self) -> Store:
        return self._backend.store

    def list_products(self, f: ProductFilters, *, sorting: Sequence[str], page: int, limit: int) -> Page[Product]:
        found = [p for p in self._store.products.values() if f.matches(p)]
        return paginate(sort_records(found, sorting, PRODUCT_SORT_KEYS), page, limit)

    def get_product(self, product_id: str) -> Product:
        return self._store.product(product_id)

    def list_customers(self, f: CustomerFilters, *, sorting: Sequence[str], page: int, limit: int) -> Page[Customer]:
        found = [c for c in self._store.customers.values() if f.matches(c)]
        return paginate(sort_records(found, sorting, CUSTOMER_SORT_KEYS), page, limit)

    def get_customer(self, customer_id: str) -> Customer:
        return self._store.customer(customer_id)

    def list_payment_methods(self, customer_id: str, *, page: int, limit: int) -> Page[PaymentMethod]:
        return paginate(self._store.customer(customer_id).payment_methods, page, limit)

    def create_session(
        self, *, customer_id: str | None = None, external_customer_id: str | None = None, return_url: str | None = None
    ) -> CustomerSession:
        """Mint a `polar_cst_` token good for one hour on the customer portal."""
        value: str | None
        if customer_id is not None:
            customer = self._store.customers.get(customer_id)
            loc, value = ("body", "customer_id"), customer_id
        else:
            customer = self._store.customer_by_external_id(external_customer_id or "")
            loc, value = ("body", "external_customer_id"), external_customer_id
        if customer is None:
            raise invalid(loc, "Customer does not exist.", value)
        now = self._backend.now()
        session = CustomerSession(
            self._store.new_id(),
            self._store.new_secret("polar_cst_"),
            customer,
            now,
            now + CUSTOMER_SESSION_TTL,
            return_url,
        )
        self._store.sessions[session.token] = session
        return session
