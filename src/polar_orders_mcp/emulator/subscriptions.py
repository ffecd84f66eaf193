"""Subscriptions: listing, reading, metadata updates, cancel at period end, uncancel and revoke, with Polar's rules."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NoReturn

from .backend import Backend
from .errors import AlreadyCanceledSubscription, BadRequest, RequestValidationError, ResourceUnavailable
from .models import Subscription
from .orders import metadata_matches
from .store import Page, Store, among, paginate, since, sort_records, until

DEFAULT_SORTING = ("-started_at",)
SORT_PROPERTIES = (
    "customer",
    "status",
    "started_at",
    "current_period_end",
    "ended_at",
    "ends_at",
    "amount",
    "product",
    "discount",
)
ACTIVE = frozenset({"trialing", "active"})
REVOKED = frozenset({"canceled", "unpaid"})
# The updates of Polar's `SubscriptionUpdate` the emulator does not apply, by body field, and why. Each is a
# 422 value_error naming the field; the subscription is left unchanged.
_NO_PRODUCT_CHANGE = (
    "changing a subscription's product is not served by the emulator: Polar prorates the change "
    "and may invoice and charge it, which the emulator does not model"
)
_NO_PAUSE = "pausing and resuming subscriptions is not served by the emulator: it models no paused period"
UNSERVED_UPDATES: dict[str, str] = {
    "product_id": _NO_PRODUCT_CHANGE,
    "discount_id": (
        "applying a discount to a subscription is not served by the emulator: its discounts exist only "
        "on seeded orders; discount_id null, which removes the discount, is served"
    ),
    "trial_end": "trials are not served by the emulator: no subscription or price has a trial period",
    "seats": "seat updates are not served by the emulator: no price is seat-based",
    "units": "unit updates are not served by the emulator: no price is unit-based",
    "current_billing_period_end": (
        "moving the billing period's end is not served by the emulator: it does not run "
        "Polar's renewal (a new period, order and charge)"
    ),
    "pause_at_period_end": _NO_PAUSE,
    "resumes_at": _NO_PAUSE,
    "resume": _NO_PAUSE,
    "pending_update": (
        "clearing a pending update is not served by the emulator: no subscription ever has one "
        "(product, seat and unit changes are not served)"
    ),
}


def sort_keys(store: Store) -> dict[str, Callable[[Subscription], Any]]:
    return {
        "customer": lambda s: store.customers[s.customer_id].email,
        "status": lambda s: s.status,
        "started_at": lambda s: s.created_at,
        "current_period_end": lambda s: s.current_period_end,
        "ended_at": lambda s: s.ended_at,
        "ends_at": lambda s: s.ends_at,
        "amount": lambda s: s.amount,
        "product": lambda s: store.products[s.product_id].name,
        # Seeded subscriptions carry no discount.
        "discount": lambda s: None,
    }


@dataclass
class SubscriptionFilters:
    """The filters of `GET /v1/subscriptions/`; `None` means no filter."""

    organization_id: list[str] | None = None
    product_id: list[str] | None = None
    customer_id: list[str] | None = None
    external_customer_id: list[str] | None = None
    discount_id: list[str] | None = None
    active: bool | None = None
    status: list[str] | None = None
    cancel_at_period_end: bool | None = None
    customer_cancellation_reason: list[str] | None = None
    canceled_at_after: datetime | None = None
    canceled_at_before: datetime | None = None
    started_after: datetime | None = None
    started_before: datetime | None = None
    metadata: dict[str, list[str]] | None = None

    def matches(self, s: Subscription, store: Store) -> bool:
        customer = store.customers[s.customer_id]
        # Seeded subscriptions carry no discount: a discount filter matches none.
        return self.discount_id is None and all(
            (
                among(customer.organization_id, self.organization_id),
                among(s.product_id, self.product_id),
                among(s.customer_id, self.customer_id),
                among(customer.external_id, self.external_customer_id),
                among(s.status, self._active_statuses()),
                among(s.status, self.status),
                among(
                    s.cancel_at_period_end, None if self.cancel_at_period_end is None else {self.cancel_at_period_end}
                ),
                among(s.customer_cancellation_reason, self.customer_cancellation_reason),
                since(s.canceled_at, self.canceled_at_after),
                until(s.canceled_at, self.canceled_at_before),
                since(s.created_at, self.started_after, strict=True),
                until(s.created_at, self.started_before, strict=True),
                not self.metadata or metadata_matches(s.metadata, self.metadata),
            )
        )

    def _active_statuses(self) -> frozenset[str] | None:
        """The deprecated `active` filter's statuses: Polar's active ones for true, its revoked ones for false."""
        if self.active is None:
            return None
        return ACTIVE if self.active else REVOKED


class SubscriptionService:
    def __init__(self, backend: Backend) -> None:
        self._backend = backend

    @property
    def _store(self) -> Store:
        return self._backend.store

    def list_subscriptions(
        self, f: SubscriptionFilters, *, sorting: Sequence[str], page: int, limit: int
    ) -> Page[Subscription]:
        return paginate(self.matching(f, sorting), page, limit)

    def matching(self, f: SubscriptionFilters, sorting: Sequence[str] = DEFAULT_SORTING) -> list[Subscription]:
        """Every subscription `f` matches, sorted: a list's pages, or an export's rows (Polar: all on one page)."""
        store = self._store
        return sort_records([s for s in store.subscriptions.values() if f.matches(s, store)], sorting, sort_keys(store))

    def get(self, subscription_id: str) -> Subscription:
        return self._store.subscription(subscription_id)

    def update(self, subscription_id: str, changes: Mapping[str, Any]) -> Subscription:
        """Polar's `update` for a SubscriptionUpdateBase body: `{}` (or only nulls and `proration_behavior`) changes
        nothing; `metadata` replaces the metadata; `discount_id: null` removes a discount there is none of."""
        s = self.get(subscription_id)
        refused = [name for name in ("product_id", "discount_id", "trial_end") if changes.get(name) is not None]
        if refused:
            raise unserved_update(refused, changes)
        if "discount_id" in changes or "metadata" in changes:
            # Polar writes the column even when the value is the same, so `modified_at` moves.
            s.metadata = dict(changes.get("metadata", s.metadata))
            s.modified_at = self._backend.now()
        return s

    def refuse_update(self, subscription_id: str, body: Mapping[str, Any]) -> NoReturn:
        """An update of a shape the emulator does not apply: 404 for an unknown subscription, as Polar, else 422."""
        self.get(subscription_id)
        raise unserved_update([name for name in body if name in UNSERVED_UPDATES], body)

    def cancel(
        self, subscription_id: str, *, immediately: bool = False, reason: str | None = None, comment: str | None = None
    ) -> Subscription:
        """Polar's `_perform_cancellation`: at the period's end, or now (a revoke)."""
        s = self.get(subscription_id)
        if not s.can_cancel(immediately):
            raise AlreadyCanceledSubscription()
        now = self._backend.now()
        s.canceled_at = now
        if reason:
            s.customer_cancellation_reason = reason
        if comment:
            s.customer_cancellation_comment = comment
        if immediately:
            s.ends_at = s.ended_at = now
            s.status = "canceled"
        else:
            s.cancel_at_period_end = True
            s.ends_at = s.current_period_end
        s.modified_at = now
        return s

    def uncancel(self, subscription_id: str) -> Subscription:
        """Polar's `uncancel`: 410 once ended, a bare 400 when nothing is scheduled."""
        s = self.get(subscription_id)
        if s.ended_at:
            raise ResourceUnavailable()
        if not s.can_uncancel():
            raise BadRequest()
        s.cancel_at_period_end = False
        s.ends_at = s.canceled_at = None
        s.customer_cancellation_reason = s.customer_cancellation_comment = None
        s.modified_at = self._backend.now()
        return s


def unserved_update(fields: Sequence[str], body: Mapping[str, Any]) -> RequestValidationError:
    return RequestValidationError(
        [
            {"type": "value_error", "loc": ["body", name], "msg": UNSERVED_UPDATES[name], "input": body[name]}
            for name in fields
        ]
    )
