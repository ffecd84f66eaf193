"""Subscriptions: listing, reading, cancel at period end, uncancel and revoke, with Polar's rules."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .errors import AlreadyCanceledSubscription, BadRequest, ResourceUnavailable
from .models import Subscription
from .orders import metadata_matches
from .store import Page, Store, paginate, sort_records

if TYPE_CHECKING:
    from .state import EmulatorState

DEFAULT_SORTING = ("-started_at",)
SORT_PROPERTIES = ("customer", "status", "started_at", "current_period_end", "ended_at", "ends_at", "amount",
                   "product", "discount")
# The deprecated `active` filter: true is Polar's active statuses, false its revoked ones.
ACTIVE = frozenset({"trialing", "active"})
REVOKED = frozenset({"canceled", "unpaid"})


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
        canceled = s.canceled_at
        return ((self.organization_id is None or customer.organization_id in self.organization_id)
                and (self.product_id is None or s.product_id in self.product_id)
                and (self.customer_id is None or s.customer_id in self.customer_id)
                and (self.external_customer_id is None or customer.external_id in self.external_customer_id)
                and self.discount_id is None
                and (self.active is None or s.status in (ACTIVE if self.active else REVOKED))
                and (self.status is None or s.status in self.status)
                and (self.cancel_at_period_end is None or s.cancel_at_period_end == self.cancel_at_period_end)
                and (self.customer_cancellation_reason is None
                     or s.customer_cancellation_reason in self.customer_cancellation_reason)
                and (self.canceled_at_after is None or (canceled is not None and canceled >= self.canceled_at_after))
                and (self.canceled_at_before is None or (canceled is not None and canceled <= self.canceled_at_before))
                and (self.started_after is None or s.created_at > self.started_after)
                and (self.started_before is None or s.created_at < self.started_before)
                and (not self.metadata or metadata_matches(s.metadata, self.metadata)))


class SubscriptionService:
    def __init__(self, state: EmulatorState) -> None:
        self._state = state

    @property
    def _store(self) -> Store:
        return self._state.store

    def list_subscriptions(self, f: SubscriptionFilters, *, sorting: Sequence[str], page: int,
                           limit: int) -> Page[Subscription]:
        store = self._store
        found = [s for s in store.subscriptions.values() if f.matches(s, store)]
        return paginate(sort_records(found, sorting, sort_keys(store)), page, limit)

    def get(self, subscription_id: str) -> Subscription:
        return self._store.subscription(subscription_id)

    def cancel(self, subscription_id: str, *, immediately: bool = False, reason: str | None = None,
               comment: str | None = None) -> Subscription:
        """Polar's `_perform_cancellation`: at the period's end, or now (a revoke)."""
        s = self.get(subscription_id)
        if not s.can_cancel(immediately):
            raise AlreadyCanceledSubscription()
        now = self._state.now()
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
        s.modified_at = self._state.now()
        return s
