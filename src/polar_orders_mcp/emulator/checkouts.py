"""Checkout sessions: create, update, the client-secret side, confirmation and expiry."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from .backend import Backend
from .catalog import CatalogService
from .errors import (
    ExpiredCheckoutError,
    NotNullViolation,
    NotOpenCheckout,
    PaymentError,
    PaymentNotReady,
    PolarRequestValidationError,
    ResourceNotFound,
    invalid,
)
from .models import (
    MAXIMUM_AMOUNT,
    MINIMUM_AMOUNT,
    Address,
    Checkout,
    Customer,
    Order,
    Product,
    Subscription,
    format_usd,
    tax_for,
)
from .store import Page, Store, paginate, sort_records

CHECKOUT_TTL = timedelta(hours=1)
CHECKOUT_SORT_KEYS: dict[str, Callable[[Checkout], Any]] = {
    "created_at": lambda c: c.created_at,
    "expires_at": lambda c: c.expires_at,
    "status": lambda c: c.status,
}
# Fields a customer may change with the client secret (CheckoutUpdatePublic).
CUSTOMER_FIELDS = (
    "customer_name",
    "customer_email",
    "customer_billing_name",
    "customer_billing_address",
    "customer_tax_id",
    "is_business_customer",
    "locale",
    "custom_field_data",
)
# Further fields only the organization may change (CheckoutUpdate).
ORGANIZATION_FIELDS = (
    "metadata",
    "customer_metadata",
    "success_url",
    "return_url",
    "embed_origin",
    "require_billing_address",
    "allow_discount_codes",
    "allow_trial",
    "customer_ip_address",
)
# Fields the update bodies accept as null although Polar's checkout table holds them NOT NULL.
NOT_NULL_FIELDS = ("allow_discount_codes", "require_billing_address", "is_business_customer", "customer_metadata")
_CHECKOUT_FIELDS = tuple(f.name for f in dataclasses.fields(Checkout))


def _commit(staged: Checkout, checkout: Checkout) -> None:
    for name in _CHECKOUT_FIELDS:
        setattr(checkout, name, getattr(staged, name))


def _lookup(checkout: Checkout, path: tuple[str, ...]) -> Any:
    """`customer_email` or `customer_billing_address.country`, None where any step is missing."""
    value: Any = getattr(checkout, path[0])
    for key in path[1:]:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def has_address(address: Address) -> bool:
    """Polar's Address.has_address: a street, city or postal code beyond the country."""
    return any(address.get(k) is not None for k in ("line1", "line2", "city", "postal_code"))


@dataclass
class CheckoutFilters:
    organization_id: list[str] | None = None
    product_id: list[str] | None = None
    customer_id: list[str] | None = None
    external_customer_id: list[str] | None = None
    status: list[str] | None = None
    query: str | None = None

    def matches(self, c: Checkout) -> bool:
        needle = self.query.lower() if self.query else None
        return (
            (self.organization_id is None or c.organization_id in self.organization_id)
            and (self.product_id is None or c.product.id in self.product_id)
            and (self.customer_id is None or (c.customer is not None and c.customer.id in self.customer_id))
            and (self.external_customer_id is None or c.external_customer_id in self.external_customer_id)
            and (self.status is None or c.status in self.status)
            and (
                needle is None
                or needle in (c.customer_email or "").lower()
                or needle in (c.customer_name or "").lower()
            )
        )


def card_outcome(token: str, known: Mapping[str, str]) -> str:
    """How a confirmation token's card behaves: a seeded payment method id behaves as that card;
    otherwise Stripe-like test names (`tok_chargeDeclined`, `tok_threeDSecure…`) pick the outcome."""
    if token in known:
        return known[token]
    lowered = token.lower()
    if "declin" in lowered:
        return "declines"
    return "requires_action" if "3ds" in lowered or "threedsecure" in lowered else "succeeds"


class CheckoutService:
    def __init__(self, backend: Backend, catalog: CatalogService) -> None:
        self._backend = backend
        self._catalog = catalog  # a checkout's customer session is the catalog's

    @property
    def _store(self) -> Store:
        return self._backend.store

    def _refresh(self, checkout: Checkout) -> Checkout:
        """Apply the transitions time and payment make: open past its expiry → expired,
        confirmed with its order recorded → succeeded (the next read after confirm)."""
        if checkout.status == "open" and checkout.expires_at <= self._backend.now():
            checkout.status = "expired"
        elif checkout.status == "confirmed" and checkout.order_id is not None:
            checkout.status = "succeeded"
        return checkout

    def list_checkouts(self, f: CheckoutFilters, *, sorting: Sequence[str], page: int, limit: int) -> Page[Checkout]:
        found = [c for c in map(self._refresh, self._store.checkouts.values()) if f.matches(c)]
        return paginate(sort_records(found, sorting, CHECKOUT_SORT_KEYS), page, limit)

    def get(self, checkout_id: str) -> Checkout:
        return self._refresh(self._store.checkout(checkout_id))

    def create(
        self,
        *,
        products: list[str],
        customer_id: str | None = None,
        amount: int | None = None,
        external_customer_id: str | None = None,
        fields: dict[str, Any],
    ) -> Checkout:
        store = self._store
        chosen: list[Product] = []
        for i, product_id in enumerate(products):
            if product_id not in store.products:
                raise invalid(("body", "products", i), "Product does not exist.", product_id)
            chosen.append(store.products[product_id])
        customer: Customer | None = None
        if customer_id is not None:
            customer = store.customers.get(customer_id)
            if customer is None:
                raise invalid(("body", "customer_id"), "Customer does not exist.", customer_id)
        elif external_customer_id is not None:
            customer = store.customer_by_external_id(external_customer_id)
        now, product = self._backend.now(), chosen[0]
        secret = store.new_secret("polar_c_")
        checkout = Checkout(
            store.new_id(),
            now,
            secret,
            now + CHECKOUT_TTL,
            store.organization.id,
            chosen,
            product,
            product.prices[0],
            product.prices[0].default_amount(),
            None,
            customer=customer,
            external_customer_id=external_customer_id or (customer.external_id if customer else None),
        )
        if customer is not None:
            checkout.customer_email, checkout.customer_name = customer.email, customer.name
            checkout.customer_billing_name = customer.billing_name
            checkout.customer_billing_address = customer.billing_address
        for name in CUSTOMER_FIELDS + ORGANIZATION_FIELDS:
            if fields.get(name) is not None:
                setattr(checkout, name, fields[name])
        checkout.locale = "en"
        if amount is not None:
            self._set_amount(checkout, amount)
        preset: Address | None = fields.get("customer_billing_address")
        if preset is not None and (
            has_address(preset) or (preset.get("state") is not None and preset.get("country") not in ("US", "CA"))
        ):
            # Polar: presetting more of an address than its country makes the full address required.
            checkout.require_billing_address = True
        store.add_checkout(checkout)
        return checkout

    def update(self, checkout_id: str, changes: dict[str, Any]) -> Checkout:
        checkout = self.get(checkout_id)
        if checkout.status != "open":
            raise NotOpenCheckout(checkout.id, checkout.status)
        return self._change(checkout, changes, CUSTOMER_FIELDS + ORGANIZATION_FIELDS)

    def client_get(self, client_secret: str) -> Checkout:
        checkout = self._store.checkouts_by_secret.get(client_secret)
        if checkout is None:
            raise ResourceNotFound()
        if self._refresh(checkout).status == "expired":
            raise ExpiredCheckoutError()
        return checkout

    def client_update(self, client_secret: str, changes: dict[str, Any]) -> Checkout:
        checkout = self._open(client_secret)
        return self._change(checkout, changes, CUSTOMER_FIELDS)

    def confirm(self, client_secret: str, changes: dict[str, Any]) -> tuple[Checkout, str]:
        """Pay: on success the checkout is `confirmed` (next read: `succeeded`) and a paid order exists.
        Returns the checkout and a customer session token for the buyer. As in Polar, a confirmation
        that fails changes nothing: the request's fields are applied to a copy first."""
        checkout = self._open(client_secret)
        token = changes.pop("confirmation_token_id", None)
        staged = self._change(copy.copy(checkout), changes, CUSTOMER_FIELDS)
        if not self._store.organization.payments_ready and staged.is_payment_form_required:
            raise PaymentNotReady()
        errors: list[dict[str, Any]] = [
            {"type": "missing", "loc": ["body", *path], "msg": "Field is required.", "input": None}
            for path in staged.required_confirm_fields()
            if _lookup(staged, path) is None
        ]
        address = staged.customer_billing_address
        if staged.is_billing_address_required and (address is None or not has_address(address)):
            errors.append(
                {
                    "type": "value_error",
                    "loc": ["body", "customer_billing_address"],
                    "msg": "Full billing address is required.",
                    "input": address,
                }
            )
        if staged.is_payment_form_required and token is None:
            errors.append(
                {
                    "type": "missing",
                    "loc": ["body", "confirmation_token_id"],
                    "msg": "Confirmation token is required.",
                    "input": None,
                }
            )
        if errors:
            raise PolarRequestValidationError(errors)
        if staged.is_payment_form_required:
            known = {pm.id: pm.outcome for pm in self._store.payment_methods.values()}
            # On-session, the buyer completes 3-D Secure in the browser, so only a decline fails here.
            if card_outcome(str(token), known) == "declines":
                raise PaymentError("Your card was declined.")
        _commit(staged, checkout)
        customer = self._buyer(checkout)
        order = self._order(checkout, customer)
        checkout.status, checkout.order_id, checkout.customer = "confirmed", order.id, customer
        session = self._catalog.create_session(customer_id=customer.id)
        return checkout, session.token

    def _open(self, client_secret: str) -> Checkout:
        checkout = self.client_get(client_secret)
        if checkout.status != "open":
            raise NotOpenCheckout(checkout.id, checkout.status)
        return checkout

    def _change(self, checkout: Checkout, changes: dict[str, Any], allowed: tuple[str, ...]) -> Checkout:
        """Apply an update as Polar's `_update_checkout` does; nothing changes if any check fails."""
        staged = copy.copy(checkout)
        if changes.get("product_id") is not None:
            product = next((p for p in staged.products if p.id == changes["product_id"]), None)
            if product is None:
                raise invalid(
                    ("body", "product_id"), "Product is not available in this checkout.", changes["product_id"]
                )
            price_id = changes.get("product_price_id")
            # Each product has one price here; Polar only reads product_price_id along with product_id.
            if price_id is not None and price_id != product.prices[0].id:
                raise invalid(("body", "product_price_id"), "Price is not available in this checkout.", price_id)
            staged.product, staged.price = product, product.prices[0]
            staged.amount = staged.price.default_amount()
        if changes.get("amount") is not None:
            self._set_amount(staged, changes["amount"])
        if changes.get("discount_code") is not None and staged.allow_discount_codes:
            # Polar's quirk: this error's input is the (absent) discount_id.
            raise invalid(("body", "discount_code"), "Discount does not exist.", None)
        updates = {k: v for k, v in changes.items() if k in allowed}
        # Polar ignores a null address, and the customer's email once the checkout has a customer.
        if updates.get("customer_billing_address", ...) is None:
            del updates["customer_billing_address"]
        if staged.customer is not None:
            updates.pop("customer_email", None)
        nulls = [name for name in NOT_NULL_FIELDS if name in updates and updates[name] is None]
        if nulls:
            # Polar's code sets these columns to NULL, which its database refuses: a bare 500.
            raise NotNullViolation(nulls[0])
        for name, value in updates.items():
            setattr(staged, name, value)
        if staged.is_business_customer is False and "is_business_customer" in updates:
            staged.customer_tax_id = staged.customer_billing_name = None
        # Polar pins the locale to "en" for organizations without checkout localization.
        staged.locale = "en"
        staged.modified_at = self._backend.now()
        _commit(staged, checkout)
        return checkout

    @staticmethod
    def _set_amount(checkout: Checkout, amount: int) -> None:
        """Polar's validate_custom_price_amount; only pay-what-you-want prices take an amount."""
        price = checkout.price
        if price.amount_type != "custom":
            return
        if amount < price.minimum_amount:
            raise invalid(("body", "amount"), "Amount is below minimum.", amount, kind="greater_than_equal")
        if 0 < amount < MINIMUM_AMOUNT:
            raise invalid(
                ("body", "amount"),
                f"Amount must be 0 or at least {format_usd(MINIMUM_AMOUNT)}.",
                amount,
                kind="invalid_amount",
            )
        if price.maximum_amount is not None and amount > price.maximum_amount:
            raise invalid(("body", "amount"), "Amount is above maximum.", amount, kind="less_than_equal")
        if amount > MAXIMUM_AMOUNT:
            raise invalid(
                ("body", "amount"),
                f"Amount must be at most {format_usd(MAXIMUM_AMOUNT)}.",
                amount,
                kind="less_than_equal",
            )
        checkout.amount = amount

    def _buyer(self, checkout: Checkout) -> Customer:
        store = self._store
        email = checkout.customer_email or ""
        customer = checkout.customer or next(
            (c for c in store.customers.values() if c.email.lower() == email.lower()), None
        )
        if customer is None:
            customer = Customer(
                store.new_id(),
                store.organization.id,
                self._backend.now(),
                email,
                checkout.customer_name,
                checkout.customer_billing_address,
                external_id=checkout.external_customer_id,
                metadata=dict(checkout.customer_metadata),
            )
            store.add_customer(customer)
        elif customer.billing_address is None:
            customer.billing_address = checkout.customer_billing_address
        return customer

    def _order(self, checkout: Checkout, customer: Customer) -> Order:
        store, now, product = self._store, self._backend.now(), checkout.product
        order = Order(
            store.new_id(),
            now,
            "paid",
            customer,
            product,
            checkout.price,
            checkout.amount,
            tax_for(checkout.amount, checkout.customer_billing_address),
            product.name,
            checkout.customer_billing_name or customer.name,
            checkout.customer_billing_address,
            dict(checkout.metadata),
            checkout_id=checkout.id,
            custom_field_data=dict(checkout.custom_field_data),
        )
        if product.is_recurring:
            period = timedelta(days=30 if product.recurring_interval == "month" else 365)
            subscription = Subscription(
                store.new_id(),
                now,
                customer.id,
                product.id,
                checkout.amount,
                product.recurring_interval or "month",
                now,
                now + period,
            )
            store.subscriptions[subscription.id] = subscription
            order.subscription, order.billing_reason = subscription, "subscription_create"
        order.invoice_number = store.organization.allocate_invoice_number()
        order.receipt_number = store.organization.allocate_receipt_number()
        order.receipt_polls_left = self._backend.settings.receipt_render_polls
        store.add_order(order)
        return order
