"""The emulator's records: compact dataclasses the state holds and the renderer turns into JSON."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

Metadata = dict[str, str | int | float | bool]
Address = dict[str, str | None]
# (billing name, a copy of the address): the inputs of an invoice that the emulator models.
InvoiceDetails = tuple[str | None, Address | None]
ChargeOutcome = Literal["succeeds", "declines", "requires_action"]

ORDER_STATUSES = ("draft", "pending", "paid", "refunded", "partially_refunded", "void")
SUBSCRIPTION_STATUSES = (
    "incomplete",
    "incomplete_expired",
    "trialing",
    "active",
    "past_due",
    "canceled",
    "unpaid",
    "paused",
)
BILLABLE_SUBSCRIPTION_STATUSES = frozenset({"trialing", "active", "past_due"})
CANCELLATION_REASONS = (
    "customer_service",
    "low_quality",
    "missing_features",
    "switched_service",
    "too_complex",
    "too_expensive",
    "unused",
    "other",
)
DISPUTE_STATUSES = ("prevented", "early_warning", "needs_response", "under_review", "lost", "won")
# Stripe refuses to refund a charge with a dispute open or lost (`charge_disputed`); an early warning
# (a ChargebackStop alert) is not a dispute at Stripe yet, and a won one is settled.
REFUND_BLOCKING_DISPUTE_STATUSES = frozenset({"needs_response", "under_review", "lost"})
CHECKOUT_STATUSES = ("open", "expired", "confirmed", "succeeded", "failed")
# Orders that carry a succeeded payment, hence a receipt.
RECEIPT_STATUSES = frozenset({"paid", "refunded", "partially_refunded"})

# A deterministic stand-in for tax: 20% in the EU and the UK, nothing elsewhere.
TAXED_COUNTRIES = frozenset(
    "AT BE BG CY CZ DE DK EE ES FI FR GB GR HR HU IE IT LT LU LV MT NL PL PT RO SE SI SK".split()
)
TAX_BASIS_POINTS = 2000
# Polar's bounds for a USD amount (kit/currency.py): Stripe's minimum charge, and the maximum.
MINIMUM_AMOUNT = 50
MAXIMUM_AMOUNT = 999_999_99


def format_usd(amount: int) -> str:
    """Minor units as Polar's format_currency writes USD for en_US: 50 → "$0.50"."""
    return f"${amount / 100:,.2f}"


def tax_for(amount: int, address: Address | None) -> int:
    if address is None or address.get("country") not in TAXED_COUNTRIES:
        return 0
    return round(amount * TAX_BASIS_POINTS / 10_000)


@dataclass(slots=True)
class Organization:
    id: str
    created_at: datetime
    name: str
    slug: str
    invoice_prefix: str
    off_session_charges_enabled: bool = True
    payments_ready: bool = True
    next_invoice: int = 1
    next_receipt: int = 1
    # Polar's `refunds` capability of the organization: without it every refund is RefundsBlocked.
    can_refund: bool = True

    def allocate_invoice_number(self) -> str:
        number = f"{self.invoice_prefix}-{self.next_invoice:05d}"
        self.next_invoice += 1
        return number

    def allocate_receipt_number(self) -> str:
        number = f"{self.invoice_prefix}-R{self.next_receipt:05d}"
        self.next_receipt += 1
        return number


@dataclass(slots=True)
class Price:
    id: str
    product_id: str
    created_at: datetime
    amount_type: Literal["fixed", "custom"]
    price_amount: int = 0
    minimum_amount: int = 0
    maximum_amount: int | None = None
    preset_amount: int | None = None
    currency: str = "usd"

    def default_amount(self) -> int:
        if self.amount_type == "fixed":
            return self.price_amount
        return self.preset_amount if self.preset_amount is not None else self.minimum_amount


@dataclass(slots=True)
class Product:
    id: str
    organization_id: str
    created_at: datetime
    name: str
    description: str | None
    prices: list[Price]
    recurring_interval: str | None = None
    metadata: Metadata = field(default_factory=dict)
    visibility: str = "public"
    is_archived: bool = False
    # Set once an order (or the subscription an order starts) refers to the product.
    referenced: bool = False

    @property
    def is_deletable(self) -> bool:
        # Polar: products referenced by an order, subscription, trial or discount cannot be deleted.
        return not self.referenced

    @property
    def is_recurring(self) -> bool:
        return self.recurring_interval is not None

    @property
    def billing_type(self) -> str:
        return "recurring" if self.is_recurring else "one_time"


@dataclass(slots=True)
class Discount:
    id: str
    organization_id: str
    created_at: datetime
    name: str
    code: str | None
    basis_points: int


@dataclass(slots=True)
class PaymentMethod:
    id: str
    customer_id: str
    created_at: datetime
    brand: str
    last4: str
    exp_month: int
    exp_year: int
    outcome: ChargeOutcome


@dataclass(slots=True)
class Customer:
    id: str
    organization_id: str
    created_at: datetime
    email: str
    name: str | None
    billing_address: Address | None
    external_id: str | None = None
    metadata: Metadata = field(default_factory=dict)
    payment_methods: list[PaymentMethod] = field(default_factory=list)
    default_payment_method_id: str | None = None

    @property
    def billing_name(self) -> str | None:
        return self.name if self.billing_address is not None else None


@dataclass(slots=True)
class Subscription:
    id: str
    created_at: datetime
    customer_id: str
    product_id: str
    amount: int
    recurring_interval: str
    current_period_start: datetime
    current_period_end: datetime
    currency: str = "usd"
    status: str = "active"
    cancel_at_period_end: bool = False
    canceled_at: datetime | None = None
    ends_at: datetime | None = None
    ended_at: datetime | None = None
    customer_cancellation_reason: str | None = None
    customer_cancellation_comment: str | None = None
    metadata: Metadata = field(default_factory=dict)
    modified_at: datetime | None = None

    @property
    def billable(self) -> bool:
        return self.status in BILLABLE_SUBSCRIPTION_STATUSES

    def can_cancel(self, immediately: bool = False) -> bool:
        """Polar's `Subscription.can_cancel`: a paused one can still be revoked at once."""
        if immediately and self.status == "paused":
            return self.ended_at is None
        if not self.billable or self.ended_at:
            return False
        return immediately or not (self.cancel_at_period_end or self.ends_at)

    def can_uncancel(self) -> bool:
        return self.cancel_at_period_end and self.billable


@dataclass(slots=True)
class Order:
    id: str
    created_at: datetime
    status: str
    customer: Customer
    product: Product
    price: Price
    subtotal_amount: int
    tax_amount: int
    description: str
    billing_name: str | None
    billing_address: Address | None
    metadata: Metadata
    discount: Discount | None = None
    discount_amount: int = 0
    billing_reason: str = "purchase"
    subscription: Subscription | None = None
    checkout_id: str | None = None
    invoice_number: str | None = None
    receipt_number: str | None = None
    # Units bought of a unit-based price; the seeded catalog has none, so this stays None.
    units: int | None = None
    # The billing name and address the generated invoice shows; None until an invoice exists.
    invoice: InvoiceDetails | None = None
    refunded_amount: int = 0
    refunded_tax_amount: int = 0
    currency: str = "usd"
    modified_at: datetime | None = None
    custom_field_data: dict[str, Any] = field(default_factory=dict)
    # The latest payment when it is not simply "succeeded if paid": `no_payment` (paid under the
    # currency minimum, nothing charged) or `failed` with the processor's decline message.
    payment_status: str | None = None
    payment_error: str | None = None
    # Emulator bookkeeping, never rendered.
    receipt_polls_left: int = 0
    # An invoice requested but not made yet (Polar's queued job), and the reads of it before the job runs.
    queued_invoice: InvoiceDetails | None = None
    invoice_polls_left: int = 0
    applied_balance_amount: int = 0
    # Polar's `refunds_blocked_at`, set by its staff on an order: not in the API's Order schema.
    refunds_blocked: bool = False

    @property
    def is_invoice_generated(self) -> bool:
        return self.invoice is not None

    @property
    def billing_details(self) -> InvoiceDetails:
        """What Polar's invoice checksum covers (of what the emulator models): name and address."""
        address = self.billing_address
        return self.billing_name, dict(address) if address is not None else None

    @property
    def net_amount(self) -> int:
        return self.subtotal_amount - self.discount_amount

    @property
    def total_amount(self) -> int:
        return self.net_amount + self.tax_amount

    @property
    def due_amount(self) -> int:
        # No customer balance is applied in the emulator.
        return self.total_amount

    @property
    def paid(self) -> bool:
        return self.status in RECEIPT_STATUSES

    @property
    def platform_fee_amount(self) -> int:
        # Polar's 4% + 40¢, only once money has moved.
        return round(self.total_amount * 0.04) + 40 if self.paid and self.total_amount else 0

    # Refund arithmetic, as Polar's models/order.py has it (Python floats and round(), like Polar).

    @property
    def refundable_amount(self) -> int:
        return max(0, self.net_amount + self.applied_balance_amount - self.refunded_amount)

    @property
    def refundable_tax_amount(self) -> int:
        return max(0, self.tax_amount - self.refunded_tax_amount)

    @property
    def has_succeeded_payment(self) -> bool:
        # A free order is paid without any payment to refund.
        return self.paid and self.total_amount > 0

    def refund_tax_from_subtotal(self, amount: int) -> int:
        """The tax refunded with `amount` (net of tax); the caller checked it is at most refundable."""
        if amount == self.refundable_amount:
            return self.refundable_tax_amount
        if self.tax_amount <= 0:
            return 0
        ratio = self.tax_amount / self.net_amount
        return min(round(amount * ratio), self.refundable_tax_amount)

    def refund_split_from_total(self, total: int) -> tuple[int, int]:
        """(amount, tax) Polar records for a refund of `total` at Stripe: the tax is reverse engineered."""
        if total == self.refundable_amount + self.refundable_tax_amount:
            return self.refundable_amount, self.refundable_tax_amount
        if self.tax_amount <= 0:
            return total, 0
        tax = min(abs(round(self.tax_amount * total / self.total_amount)), self.refundable_tax_amount)
        return total - tax, tax

    def update_refunds(self, amount: int, tax_amount: int) -> None:
        refunded = self.refunded_amount + amount
        if refunded == 0:
            self.status = "paid"
        elif refunded >= self.net_amount + self.applied_balance_amount:
            self.status = "refunded"
        else:
            self.status = "partially_refunded"
        self.refunded_amount = refunded
        self.refunded_tax_amount += tax_amount


@dataclass(slots=True)
class Checkout:
    id: str
    created_at: datetime
    client_secret: str
    expires_at: datetime
    organization_id: str
    products: list[Product]
    product: Product
    price: Price
    amount: int
    success_url: str | None  # None: Polar's default page, as an update with null leaves it
    status: str = "open"
    customer: Customer | None = None
    external_customer_id: str | None = None
    customer_name: str | None = None
    customer_email: str | None = None
    customer_billing_name: str | None = None
    customer_billing_address: Address | None = None
    customer_tax_id: str | None = None
    customer_ip_address: str | None = None
    is_business_customer: bool = False
    require_billing_address: bool = False
    allow_discount_codes: bool = True
    allow_trial: bool = True
    # Polar pins "en" unless the organization enabled checkout localization.
    locale: str | None = "en"
    return_url: str | None = None
    embed_origin: str | None = None
    metadata: Metadata = field(default_factory=dict)
    customer_metadata: Metadata = field(default_factory=dict)
    custom_field_data: dict[str, Any] = field(default_factory=dict)
    currency: str = "usd"
    modified_at: datetime | None = None
    order_id: str | None = None

    @property
    def is_payment_required(self) -> bool:
        return self.amount > 0

    @property
    def is_payment_setup_required(self) -> bool:
        return self.product.is_recurring

    @property
    def is_payment_form_required(self) -> bool:
        return self.is_payment_required or self.is_payment_setup_required

    @property
    def is_billing_address_required(self) -> bool:
        return self.require_billing_address or self.is_business_customer

    def billing_address_modes(self) -> dict[str, str]:
        """Polar's `billing_address_fields`: which address fields the form asks for."""
        address = self.customer_billing_address
        country = address.get("country") if address else None
        full = self.is_billing_address_required or country == "US"
        rest = "required" if full else "disabled"
        return {
            "country": "required",
            "state": "required" if country in ("US", "CA") else ("optional" if full else "disabled"),
            "line1": rest,
            "line2": "optional" if full else "disabled",
            "city": rest,
            "postal_code": rest,
        }

    def required_confirm_fields(self) -> list[tuple[str, ...]]:
        """What a confirmation must have (Polar's `_get_required_confirm_fields`), in a stable order."""
        paths: list[tuple[str, ...]] = []
        if self.customer is None:
            paths.append(("customer_email",))
        if self.is_payment_form_required or self.is_business_customer:
            paths.append(("customer_billing_address",))
        if self.is_payment_form_required:
            paths.extend(
                ("customer_billing_address", name)
                for name, mode in self.billing_address_modes().items()
                if mode == "required"
            )
        if self.is_business_customer:
            paths.append(("customer_billing_name",))
        return paths

    @property
    def tax_amount(self) -> int | None:
        # Polar leaves tax unknown (null) until it knows the buyer's country.
        if self.customer_billing_address is None:
            return None
        return tax_for(self.amount, self.customer_billing_address)


@dataclass(slots=True)
class CustomerSession:
    id: str
    token: str
    customer: Customer
    created_at: datetime
    expires_at: datetime
    return_url: str | None = None


@dataclass(slots=True)
class Settings:
    """Knobs the control plane turns; a fault-injection layer would live beside these."""

    receipt_render_polls: int = 1
    # Polar generates an invoice in a queued job: until it has run, its GET answers 404 (or the previous
    # invoice, when regenerating). The job runs after this many reads of the invoice; 0: at once.
    invoice_render_polls: int = 0
    # Seconds a finalize's charge takes; widens the window concurrent finalizes race in.
    charge_seconds: float = 0.0
    # What a new refund's status is: Stripe answers `succeeded` for most card refunds, `pending` for some.
    refund_status: str = "succeeded"


@dataclass(frozen=True, slots=True)
class OrgPrincipal:
    organization_id: str
    scopes: frozenset[str]


@dataclass(frozen=True, slots=True)
class CustomerPrincipal:
    customer: Customer
    session_id: str


Principal = OrgPrincipal | CustomerPrincipal


@dataclass(slots=True)
class Refund:
    id: str
    created_at: datetime
    order: Order
    status: str
    reason: str
    amount: int
    tax_amount: int
    comment: str | None = None
    revoke_benefits: bool = False
    metadata: Metadata = field(default_factory=dict)
    modified_at: datetime | None = None

    @property
    def succeeded(self) -> bool:
        return self.status == "succeeded"


@dataclass(slots=True)
class Dispute:
    id: str
    created_at: datetime
    order: Order
    status: str
    amount: int
    tax_amount: int
    payment_id: str
    reason: str | None = None
    evidence_due_by: datetime | None = None
    past_due: bool = False
    modified_at: datetime | None = None

    @property
    def resolved(self) -> bool:
        return self.status in ("lost", "won")

    @property
    def closed(self) -> bool:
        return self.status in ("prevented", "lost", "won")
