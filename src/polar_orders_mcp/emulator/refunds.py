"""Refunds: listing, and creation with Polar's checks, tax proration and order status updates."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .backend import Backend
from .errors import (
    RefundDisputedPayment,
    RefundedAlready,
    RefundsBlocked,
    RefundUnknownPayment,
    RevokeSubscriptionBenefitsProhibited,
    invalid,
)
from .models import REFUND_BLOCKING_DISPUTE_STATUSES, Metadata, Refund
from .store import Page, Store, paginate, sort_records

REFUND_SORT_KEYS: dict[str, Callable[[Refund], Any]] = {
    "created_at": lambda r: r.created_at,
    "amount": lambda r: r.amount,
}


@dataclass
class RefundFilters:
    """The filters of `GET /v1/refunds/`; `None` means no filter."""

    id: list[str] | None = None
    organization_id: list[str] | None = None
    order_id: list[str] | None = None
    subscription_id: list[str] | None = None
    customer_id: list[str] | None = None
    external_customer_id: list[str] | None = None
    succeeded: bool | None = None

    def matches(self, r: Refund) -> bool:
        order = r.order
        subscription_id = order.subscription.id if order.subscription else None
        return (
            (self.id is None or r.id in self.id)
            and (self.organization_id is None or order.customer.organization_id in self.organization_id)
            and (self.order_id is None or order.id in self.order_id)
            and (self.subscription_id is None or subscription_id in self.subscription_id)
            and (self.customer_id is None or order.customer.id in self.customer_id)
            and (self.external_customer_id is None or order.customer.external_id in self.external_customer_id)
            and (self.succeeded is None or r.succeeded == self.succeeded)
        )


class RefundService:
    def __init__(self, backend: Backend) -> None:
        self._backend = backend

    @property
    def _store(self) -> Store:
        return self._backend.store

    def list_refunds(self, f: RefundFilters, *, sorting: Sequence[str], page: int, limit: int) -> Page[Refund]:
        found = [r for r in self._store.refunds if f.matches(r)]
        return paginate(sort_records(found, sorting, REFUND_SORT_KEYS), page, limit)

    def create(
        self,
        *,
        order_id: str,
        reason: str,
        amount: int,
        comment: str | None = None,
        revoke_benefits: bool = False,
        metadata: Metadata | None = None,
    ) -> Refund:
        """Polar's `RefundService.create`, its checks in its order; Stripe's refusals come last."""
        order = self._store.orders_by_id.get(order_id)
        if order is None:
            raise invalid(("body", "order_id"), "Order not found", order_id)
        if order.refunds_blocked or not self._store.organization.can_refund:
            raise RefundsBlocked(order.id)
        if order.status == "refunded":
            raise RefundedAlready(order.id)
        if revoke_benefits and order.subscription is not None:
            raise RevokeSubscriptionBenefitsProhibited()
        if amount > order.refundable_amount:
            raise invalid(("body", "amount"), "Refund amount exceeds refundable amount", amount)
        tax = order.refund_tax_from_subtotal(amount)
        if not order.has_succeeded_payment:
            raise RefundUnknownPayment(order.id)
        if any(
            d.order is order and d.status in REFUND_BLOCKING_DISPUTE_STATUSES for d in self._store.disputes.values()
        ):
            raise RefundDisputedPayment(order.id)
        # Polar asks Stripe for amount + tax, then splits Stripe's total back into amount and tax.
        recorded_amount, recorded_tax = order.refund_split_from_total(amount + tax)
        now = self._backend.now()
        refund = Refund(
            self._store.new_id(),
            now,
            order,
            self._backend.settings.refund_status,
            reason,
            recorded_amount,
            recorded_tax,
            comment=comment,
            revoke_benefits=revoke_benefits,
            metadata=dict(metadata or {}),
        )
        self._store.add_refund(refund)
        if refund.succeeded:
            order.update_refunds(recorded_amount, recorded_tax)
            order.modified_at = now
        return refund
