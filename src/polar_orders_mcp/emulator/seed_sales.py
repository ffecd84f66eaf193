"""The seed's after-sales part: refund records, subscriptions in each state, disputes in each state."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from .models import Customer, Dispute, Order, Product, Refund, Subscription, tax_for
from .store import Store

DISPUTED = ("needs_response", "under_review", "won", "lost")
SUBSCRIBED = ("active", "canceled_at_period_end", "revoked")
# Orders this part adds to the seed; the caller leaves room for them in the total.
ORDER_COUNT = len(DISPUTED) + 1 + len(SUBSCRIBED)
MONTH = timedelta(days=30)


@dataclass(frozen=True)
class SalesSeed:
    disputes: dict[str, str]
    disputed_orders: dict[str, str]
    refunds_blocked_order_id: str
    subscriptions: dict[str, str]
    subscription_orders: dict[str, str]


def refund_records(store: Store) -> None:
    """One succeeded refund for each order the seed marked (partially) refunded, a day after the order."""
    made = [
        Refund(
            store.derived_id("refund", o.id),
            o.created_at + timedelta(days=1),
            o,
            "succeeded",
            "customer_request",
            o.refunded_amount,
            o.refunded_tax_amount,
        )
        for o in store.orders
        if o.refunded_amount > 0
    ]
    made.sort(key=lambda r: r.created_at)
    store.refunds.extend(made)


def settle_generated(store: Store, epoch: datetime) -> None:
    """A generated subscription whose last period ended a week before the epoch was not renewed: canceled."""
    for s in store.subscriptions.values():
        if s.current_period_end < epoch - timedelta(days=7):
            s.status = "canceled"
            s.canceled_at = s.ends_at = s.ended_at = s.current_period_end


def _paid(store: Store, created: datetime, customer: Customer, product: Product, kind: str) -> Order:
    price = product.prices[0]
    order = Order(
        store.new_id(),
        created,
        "paid",
        customer,
        product,
        price,
        price.price_amount,
        tax_for(price.price_amount, customer.billing_address),
        product.name,
        customer.billing_name,
        customer.billing_address,
        {"kind": kind},
    )
    org = store.organization
    order.invoice_number = org.allocate_invoice_number()
    order.receipt_number = org.allocate_receipt_number()
    store.add_order(order)
    return order


def sales(store: Store, products: dict[str, Product], customers: dict[str, Customer], epoch: datetime) -> SalesSeed:
    """Disputed orders (one per dispute status), an order whose refunds are blocked, and one subscription
    per state with its first order. All are dated before the special orders, so those stay the newest."""
    good, fixed = customers["good_card"], products["one_time_fixed"]
    disputes: dict[str, str] = {}
    disputed_orders: dict[str, str] = {}
    for i, status in enumerate(DISPUTED):
        order = _paid(store, epoch - timedelta(hours=3, minutes=-i), good, fixed, f"disputed_{status}")
        opened = order.created_at + timedelta(minutes=30)
        dispute = Dispute(
            store.new_id(),
            opened,
            order,
            status,
            order.net_amount,
            order.tax_amount,
            store.derived_id("payment", order.id),
            reason="fraudulent",
            evidence_due_by=opened + timedelta(days=7) if status == "needs_response" else None,
        )
        store.disputes[dispute.id] = dispute
        disputes[status], disputed_orders[status] = dispute.id, order.id
    blocked = _paid(store, epoch - timedelta(hours=2, minutes=50), good, fixed, "refunds_blocked")
    blocked.refunds_blocked = True
    subscriptions: dict[str, str] = {}
    subscription_orders: dict[str, str] = {}
    monthly = products["recurring"]
    owners = (good, customers["sca_card"], customers["no_payment_method"])
    for state, customer in zip(SUBSCRIBED, owners, strict=True):
        start = epoch - timedelta(days=10)
        order = _paid(store, start, customer, monthly, f"subscription_{state}")
        order.billing_reason = "subscription_create"
        subscription = Subscription(
            store.new_id(),
            start,
            customer.id,
            monthly.id,
            order.subtotal_amount,
            "month",
            start,
            start + MONTH,
            metadata={"kind": state},
        )
        if state == "canceled_at_period_end":
            subscription.cancel_at_period_end = True
            subscription.canceled_at = start + timedelta(days=5)
            subscription.ends_at = subscription.current_period_end
            subscription.customer_cancellation_reason = "too_expensive"
        elif state == "revoked":
            subscription.status = "canceled"
            subscription.canceled_at = subscription.ends_at = subscription.ended_at = start + timedelta(days=2)
        order.subscription = store.subscriptions[subscription.id] = subscription
        subscriptions[state], subscription_orders[state] = subscription.id, order.id
    return SalesSeed(disputes, disputed_orders, blocked.id, subscriptions, subscription_orders)
