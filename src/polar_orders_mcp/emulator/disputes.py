"""Disputes: listing, reading, and accepting one (conceding the chargeback) while it awaits a response."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .backend import Backend
from .errors import DisputeNotOpenError
from .models import Dispute
from .store import Page, Store, paginate, sort_records
from .subscriptions import SubscriptionService

DISPUTE_SORT_KEYS: dict[str, Callable[[Dispute], Any]] = {
    "created_at": lambda d: d.created_at,
    "amount": lambda d: d.amount,
}


@dataclass
class DisputeFilters:
    organization_id: list[str] | None = None
    order_id: list[str] | None = None
    status: list[str] | None = None

    def matches(self, d: Dispute) -> bool:
        return (
            (self.organization_id is None or d.order.customer.organization_id in self.organization_id)
            and (self.order_id is None or d.order.id in self.order_id)
            and (self.status is None or d.status in self.status)
        )


class DisputeService:
    def __init__(self, backend: Backend, subscriptions: SubscriptionService) -> None:
        self._backend = backend
        self._subscriptions = subscriptions  # an accepted dispute revokes its order's subscription

    @property
    def _store(self) -> Store:
        return self._backend.store

    def list_disputes(self, f: DisputeFilters, *, sorting: Sequence[str], page: int, limit: int) -> Page[Dispute]:
        found = [d for d in self._store.disputes.values() if f.matches(d)]
        return paginate(sort_records(found, sorting, DISPUTE_SORT_KEYS), page, limit)

    def get(self, dispute_id: str) -> Dispute:
        return self._store.dispute(dispute_id)

    def accept(self, dispute_id: str) -> Dispute:
        """Close the dispute at the processor, which settles it as lost; a resolved dispute's order loses
        its subscription at once, as Polar's `_revoke` does."""
        dispute = self.get(dispute_id)
        if dispute.status != "needs_response":
            raise DisputeNotOpenError(dispute.id)
        dispute.status = "lost"
        dispute.modified_at = self._backend.now()
        subscription = dispute.order.subscription
        if subscription is not None and subscription.can_cancel(immediately=True):
            self._subscriptions.cancel(subscription.id, immediately=True)
        return dispute
