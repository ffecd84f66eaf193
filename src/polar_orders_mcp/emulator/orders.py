"""Orders: filtering, sorting, the draft → paid state machine, invoices and receipts."""

from __future__ import annotations

import asyncio
import bisect
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NoReturn

from .backend import Backend
from .errors import (
    InvoiceDoesNotExist,
    MissingInvoiceBillingDetails,
    OffSessionChargesNotEnabled,
    OrderNotDraft,
    OrderNotEligibleForInvoice,
    OrderNotEligibleForRetry,
    OrganizationNotReadyForPayments,
    PaymentActionRequired,
    PaymentFailed,
    PolarRequestValidationError,
    ReceiptNotAllocated,
    ResourceNotFound,
    invalid,
)
from .models import (
    MAXIMUM_AMOUNT,
    MINIMUM_AMOUNT,
    Address,
    Customer,
    Metadata,
    Order,
    PaymentMethod,
    format_usd,
    tax_for,
)
from .store import Page, Store, paginate, sort_records

# Polar ranks statuses with a CASE; draft and void fall out of it as NULL.
STATUS_RANK = {"pending": 1, "paid": 2, "refunded": 3, "partially_refunded": 4}
ORDER_SORT_KEYS: dict[str, Callable[[Order], Any]] = {
    "created_at": lambda o: o.created_at,
    "status": lambda o: STATUS_RANK.get(o.status),
    "invoice_number": lambda o: o.invoice_number,
    "amount": lambda o: o.net_amount,
    "net_amount": lambda o: o.net_amount,
    "customer": lambda o: o.customer.email,
    "product": lambda o: o.product.name,
    "discount": lambda o: o.discount.name if o.discount else None,
    "subscription": lambda o: o.subscription.id if o.subscription else None,
}
DEFAULT_SORTING = ("-created_at",)
# Stripe's seller message for a generic decline (test card 4000 0000 0000 0002), which Polar keeps
# as the payment's decline message.
GENERIC_DECLINE = "The bank did not return any further details with this decline."


@dataclass
class OrderFilters:
    """Every filter of `GET /v1/orders/` (and the portal's `query`); `None` means no filter."""

    organization_id: list[str] | None = None
    product_id: list[str] | None = None
    product_billing_type: list[str] | None = None
    discount_id: list[str] | None = None
    customer_id: list[str] | None = None
    external_customer_id: list[str] | None = None
    checkout_id: list[str] | None = None
    subscription_id: list[str] | None = None
    status: list[str] | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    metadata: dict[str, list[str]] | None = None
    query: str | None = None


def metadata_matches(metadata: Metadata, wanted: dict[str, list[str]]) -> bool:
    """`metadata[k]=v` filters: keys AND, repeated values OR, compared as JSON text."""
    for key, values in wanted.items():
        value = metadata.get(key)
        if value is None:
            return False
        text = ("true" if value else "false") if isinstance(value, bool) else str(value)
        if text not in values:
            return False
    return True


def _predicates(f: OrderFilters) -> list[Callable[[Order], bool]]:
    checks: list[Callable[[Order], bool]] = []

    def among(values: list[str] | None, attr: Callable[[Order], Any]) -> None:
        if values is not None:
            wanted = set(values)
            checks.append(lambda o: attr(o) in wanted)

    among(f.organization_id, lambda o: o.customer.organization_id)
    among(f.product_id, lambda o: o.product.id)
    among(f.product_billing_type, lambda o: o.product.billing_type)
    among(f.discount_id, lambda o: o.discount.id if o.discount else None)
    among(f.customer_id, lambda o: o.customer.id)
    among(f.external_customer_id, lambda o: o.customer.external_id)
    among(f.checkout_id, lambda o: o.checkout_id)
    among(f.subscription_id, lambda o: o.subscription.id if o.subscription else None)
    among(f.status, lambda o: o.status)
    if f.metadata:
        wanted = f.metadata
        checks.append(lambda o: metadata_matches(o.metadata, wanted))
    if f.query:
        needle = f.query.lower()
        checks.append(lambda o: needle in o.product.name.lower() or needle in o.description.lower())
    return checks


def document_url(kind: str, order_id: str) -> str:
    """A path that looks presigned; the control plane serves it."""
    signature = hashlib.sha256(f"{kind}:{order_id}".encode()).hexdigest()
    return f"/_emulator/files/{kind}/{order_id}.pdf?X-Amz-Expires=600&X-Amz-Signature={signature}"


class OrderService:
    def __init__(self, backend: Backend) -> None:
        self._backend = backend

    @property
    def _store(self) -> Store:
        return self._backend.store

    def matching(self, f: OrderFilters, customer: Customer | None = None) -> list[Order]:
        """Orders passing the filters, oldest first."""
        orders = self._store.orders
        lo, hi = 0, len(orders)
        if f.created_after is not None:
            lo = bisect.bisect_right(orders, f.created_after, key=lambda o: o.created_at)
        if f.created_before is not None:
            hi = bisect.bisect_left(orders, f.created_before, key=lambda o: o.created_at)
        window = orders[lo:hi] if (lo, hi) != (0, len(orders)) else orders
        checks = _predicates(f)
        if customer is not None:
            checks.insert(0, lambda o: o.customer is customer)
        if not checks:
            return list(window)
        if len(checks) == 1:
            check = checks[0]
            return [o for o in window if check(o)]
        return [o for o in window if all(c(o) for c in checks)]

    def list_orders(
        self,
        f: OrderFilters,
        *,
        sorting: Sequence[str] = DEFAULT_SORTING,
        page: int = 1,
        limit: int = 10,
        customer: Customer | None = None,
    ) -> Page[Order]:
        return paginate(self.sorted(self.matching(f, customer), sorting), page, limit)

    @staticmethod
    def sorted(orders: list[Order], sorting: Sequence[str]) -> list[Order]:
        if list(sorting) == ["-created_at"]:
            orders.reverse()
            return orders
        return sort_records(orders, sorting, ORDER_SORT_KEYS)

    def get(self, order_id: str, customer: Customer | None = None) -> Order:
        order = self._store.order(order_id)
        if customer is not None and order.customer is not customer:
            raise ResourceNotFound()
        return order

    def create(
        self,
        *,
        customer_id: str,
        product_id: str,
        organization_id: str | None = None,
        currency: str | None = None,
        amount: int | None = None,
        description: str | None = None,
        metadata: Metadata | None = None,
        custom_field_data: dict[str, Any] | None = None,
    ) -> Order:
        """A draft for an off-session charge, with tax frozen now. The checks run in Polar's order."""
        store, org = self._store, self._store.organization
        if organization_id is not None:
            # Every token the emulator knows is an organization token.
            raise invalid(
                ("body", "organization_id"),
                "Setting organization_id is disallowed when using an organization token.",
                organization_id,
                kind="organization_token",
            )
        if not org.off_session_charges_enabled:
            raise OffSessionChargesNotEnabled(org.id)
        product = store.products.get(product_id)
        if product is None:
            raise invalid(("body", "product_id"), "Product does not exist.", product_id)
        if product.is_recurring:
            raise invalid(
                ("body", "product_id"),
                "Subscription products are not supported by the off-session charge API. Use a one-time product.",
                product_id,
            )
        if any(price.amount_type != "fixed" for price in product.prices):
            raise invalid(("body", "product_id"), "Off-session charges only support fixed-price products.", product_id)
        customer = store.customers.get(customer_id)
        if customer is None:
            raise invalid(("body", "customer_id"), "Customer does not exist.", customer_id)
        price = product.prices[0]
        if currency is not None and currency.lower() != price.currency:
            raise invalid(("body", "currency"), f"Product has no price in currency '{currency.lower()}'.", currency)
        if amount is not None and 0 < amount < MINIMUM_AMOUNT:
            raise invalid(
                ("body", "amount"),
                f"Amount must be at least {format_usd(MINIMUM_AMOUNT)}.",
                amount,
                kind="greater_than_equal",
            )
        if amount is not None and amount > MAXIMUM_AMOUNT:
            raise invalid(
                ("body", "amount"),
                f"Amount must be at most {format_usd(MAXIMUM_AMOUNT)}.",
                amount,
                kind="less_than_equal",
            )
        if customer.billing_address is None:
            raise invalid(
                ("body", "customer_id"),
                "Tax could not be calculated for this order. The customer needs "
                "a complete, valid billing address before an off-session charge can be created.",
                customer_id,
            )
        subtotal = price.default_amount() if amount is None else amount
        order = Order(
            store.new_id(),
            self._backend.now(),
            "draft",
            customer,
            product,
            price,
            subtotal,
            tax_for(subtotal, customer.billing_address),
            description or product.name,
            customer.billing_name,
            dict(customer.billing_address),
            dict(metadata or {}),
            custom_field_data=dict(custom_field_data or {}),
        )
        store.add_order(order)
        return order

    def update(self, order_id: str, changes: dict[str, Any], customer: Customer | None = None) -> Order:
        """PATCH billing details; `changes` holds only the fields the request set. As in Polar, they can
        change at any time, invoice or not; only country and state of an existing address are fixed,
        and `billing_address: null` removes the address."""
        order = self.get(order_id, customer)
        new: Address | None = changes.get("billing_address")
        old = order.billing_address
        if new is not None and old is not None:
            errors = [
                {
                    "type": "value_error",
                    "loc": ["body", "billing_address", field],
                    "msg": f"{field.capitalize()} cannot be changed",
                    "input": new.get(field),
                }
                for field in ("country", "state")
                if new.get(field) != old.get(field)
            ]
            if errors:
                raise PolarRequestValidationError(errors)
        if "billing_address" in changes:
            order.billing_address = new
        if "billing_name" in changes:
            order.billing_name = changes["billing_name"]
        order.modified_at = self._backend.now()
        return order

    async def finalize(self, order_id: str, payment_method_id: str | None = None) -> Order:
        """Charge a draft. It is claimed (draft → pending) before the first await, so a concurrent
        second finalize sees a non-draft and gets 412, and only one charge ever happens."""
        order, method = self._claim(order_id, payment_method_id)
        try:
            await asyncio.sleep(self._backend.settings.charge_seconds)
        except BaseException:
            order.status = "draft"
            raise
        # Polar: under the currency's minimum nothing is charged and the order is simply paid.
        charged = order.due_amount >= MINIMUM_AMOUNT
        outcome = method.outcome if charged else "succeeds"
        if outcome != "succeeds":
            order.status = "draft"
            if outcome == "declines":
                order.payment_status, order.payment_error = "failed", GENERIC_DECLINE
                raise PaymentFailed("card_error")
            raise PaymentActionRequired(order.id)
        org = self._store.organization
        order.status = "paid"
        order.payment_status = None if charged else "no_payment"
        order.payment_error = None
        order.invoice_number = order.invoice_number or org.allocate_invoice_number()
        order.receipt_number = org.allocate_receipt_number()
        # Polar renders the receipt PDF after the charge; until then the receipt endpoint says 202.
        order.receipt_polls_left = self._backend.settings.receipt_render_polls
        order.modified_at = self._backend.now()
        return order

    def _claim(self, order_id: str, payment_method_id: str | None) -> tuple[Order, PaymentMethod]:
        order = self.get(order_id)
        if order.status != "draft":
            raise OrderNotDraft(order.id, order.status)
        org = self._store.organization
        if not org.off_session_charges_enabled:
            raise OffSessionChargesNotEnabled(org.id)
        if not org.payments_ready:
            raise OrganizationNotReadyForPayments(org.id)
        # Polar resolves the method before anything else, whatever the amount: an unknown one,
        # another customer's, or none at all is a failed payment.
        customer = order.customer
        method: PaymentMethod | None
        if payment_method_id is not None:
            method = self._store.payment_methods.get(payment_method_id)
            if method is not None and method.customer_id != customer.id:
                method = None
        elif customer.default_payment_method_id is not None:
            method = self._store.payment_methods.get(customer.default_payment_method_id)
        else:
            method = customer.payment_methods[0] if customer.payment_methods else None
        if method is None:
            raise PaymentFailed("missing_payment_method")
        order.status = "pending"
        return order, method

    def generate_invoice(self, order_id: str, customer: Customer | None = None) -> None:
        """Make the invoice, or make it again when the billing details changed since (Polar compares a
        checksum of them); the invoice number stays. Polar queues this job: it runs after
        `invoice_render_polls` reads of the invoice (0: at once)."""
        order = self.get(order_id, customer)
        if order.status in ("draft", "void"):
            raise OrderNotEligibleForInvoice(order.id, order.status)
        if order.billing_name is None or order.billing_address is None:
            raise MissingInvoiceBillingDetails()
        if order.invoice == (order.billing_name, order.billing_address):
            return
        order.invoice_number = order.invoice_number or self._store.organization.allocate_invoice_number()
        order.queued_invoice = order.billing_details
        order.invoice_polls_left = self._backend.settings.invoice_render_polls
        self._run_invoice_job(order)

    def _run_invoice_job(self, order: Order) -> None:
        """The queued invoice job, when its time has come: the invoice then shows the queued details."""
        if order.queued_invoice is None:
            return
        if order.invoice_polls_left > 0:
            order.invoice_polls_left -= 1
            return
        order.invoice, order.queued_invoice = order.queued_invoice, None
        order.modified_at = self._backend.now()

    def invoice_url(self, order_id: str, customer: Customer | None = None) -> str:
        order = self.get(order_id, customer)
        self._run_invoice_job(order)
        if not order.is_invoice_generated:
            raise InvoiceDoesNotExist(order.id)
        return document_url("invoices", order.id)

    def receipt_url(self, order_id: str, customer: Customer | None = None) -> str | None:
        """The receipt's URL, or None while it is still rendering."""
        order = self.get(order_id, customer)
        if not order.paid or order.receipt_number is None:
            raise ReceiptNotAllocated(order.id)
        if order.receipt_polls_left > 0:
            order.receipt_polls_left -= 1
            return None
        return document_url("receipts", order.id)

    def payment_status(self, order_id: str, customer: Customer | None = None) -> tuple[str, str | None]:
        """The latest payment's status and decline message, as the customer portal reports them."""
        order = self.get(order_id, customer)
        if order.payment_status is not None:
            return order.payment_status, order.payment_error
        return ("succeeded" if order.paid else "no_payment"), None

    def retry_payment(self, order_id: str, customer: Customer | None = None) -> NoReturn:
        """The portal's payment retry. Polar only retries a pending subscription order that is in
        dunning (a next payment attempt is scheduled); the emulator schedules none, so no order is
        eligible."""
        order = self.get(order_id, customer)
        raise OrderNotEligibleForRetry(order.id)

    def document_text(self, kind: str, order_id: str) -> str | None:
        """The one line the emulator's PDF shows, or None when that document does not exist. An
        invoice shows the billing details it was generated with, so a regeneration is visible."""
        order = self._store.orders_by_id.get(order_id)
        if order is None:
            return None
        if kind == "invoices" and order.invoice is not None:
            name, address = order.invoice
            country = address.get("country") if address else None
            return f"Invoice {order.invoice_number} for order {order.id}: {name}, {country}"
        if kind == "receipts" and order.paid and order.receipt_polls_left == 0:
            return f"Receipt {order.receipt_number} for order {order.id}"
        return None
