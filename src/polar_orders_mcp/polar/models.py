"""Tolerant response models: unknown fields are kept and unknown enum values accepted."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

# Every enum is `Literal[...] | str`: Polar adds values within an API version, and an
# unknown value must never turn into an outage.
# The values known today, for filters the tools offer; the models take any value.
OrderStatusName = Literal["draft", "pending", "paid", "refunded", "partially_refunded", "void"]
CheckoutStatusName = Literal["open", "expired", "confirmed", "succeeded", "failed"]
OrderStatus = OrderStatusName | str
OrderBillingReason = (
    Literal[
        "purchase",
        "subscription_create",
        "subscription_cycle",
        "subscription_update",
        "subscription_meter_cycle",
    ]
    | str
)
CheckoutStatus = CheckoutStatusName | str
CustomerType = Literal["individual", "team"] | str
ProductVisibility = Literal["draft", "private", "public"] | str
RecurringInterval = Literal["day", "week", "month", "year"] | str
AmountType = Literal["fixed", "custom", "free", "seat_based", "metered_unit"] | str
PaymentMethodType = Literal["card"] | str
Metadata = dict[str, Any]


class PolarModel(BaseModel):
    """Base of every response model: keeps fields this version of the client does not know."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, defer_build=True)


class Address(PolarModel):
    line1: str | None = None
    line2: str | None = None
    postal_code: str | None = None
    city: str | None = None
    state: str | None = None
    country: str


class OrderCustomer(PolarModel):
    id: str
    email: str | None = None
    name: str | None = None
    external_id: str | None = None
    type: CustomerType | None = None
    billing_name: str | None = None
    billing_address: Address | None = None
    default_payment_method_id: str | None = None
    organization_id: str | None = None
    metadata: Metadata = Field(default_factory=dict)
    created_at: datetime | None = None
    deleted_at: datetime | None = None


class OrderProduct(PolarModel):
    id: str
    name: str
    description: str | None = None
    is_recurring: bool | None = None
    is_archived: bool | None = None
    visibility: ProductVisibility | None = None
    recurring_interval: RecurringInterval | None = None
    organization_id: str | None = None
    metadata: Metadata = Field(default_factory=dict)


class OrderItem(PolarModel):
    id: str
    label: str
    amount: int
    tax_amount: int = 0
    proration: bool = False
    product_price_id: str | None = None


class Order(PolarModel):
    """An order; also what the customer portal returns (without `customer` and `metadata`)."""

    id: str
    created_at: datetime
    modified_at: datetime | None = None
    status: OrderStatus
    paid: bool = False
    subtotal_amount: int
    discount_amount: int = 0
    net_amount: int
    tax_amount: int
    total_amount: int
    applied_balance_amount: int = 0
    due_amount: int = 0
    refunded_amount: int = 0
    refunded_tax_amount: int = 0
    refundable_amount: int | None = None
    currency: str
    billing_reason: OrderBillingReason | None = None
    billing_name: str | None = None
    billing_address: Address | None = None
    invoice_number: str | None = None
    is_invoice_generated: bool = False
    receipt_number: str | None = None
    seats: int | None = None
    units: int | None = None
    customer_id: str
    product_id: str | None = None
    discount_id: str | None = None
    subscription_id: str | None = None
    checkout_id: str | None = None
    description: str | None = None
    metadata: Metadata = Field(default_factory=dict)
    custom_field_data: dict[str, Any] = Field(default_factory=dict)
    platform_fee_amount: int | None = None
    customer: OrderCustomer | None = None
    product: OrderProduct | None = None
    discount: dict[str, Any] | None = None
    subscription: dict[str, Any] | None = None
    items: list[OrderItem] = Field(default_factory=list)


class Customer(PolarModel):
    id: str
    type: CustomerType | None = None
    email: str | None = None
    email_verified: bool | None = None
    name: str | None = None
    external_id: str | None = None
    billing_name: str | None = None
    billing_address: Address | None = None
    tax_id: list[Any] | None = None
    locale: str | None = None
    organization_id: str | None = None
    default_payment_method_id: str | None = None
    metadata: Metadata = Field(default_factory=dict)
    created_at: datetime | None = None
    modified_at: datetime | None = None
    deleted_at: datetime | None = None


class PaymentMethodCardMetadata(PolarModel):
    brand: str | None = None
    last4: str | None = None
    exp_month: int | None = None
    exp_year: int | None = None
    wallet: str | None = None


class PaymentMethod(PolarModel):
    """A saved payment method: a card (with `method_metadata`) or a generic one."""

    id: str
    type: PaymentMethodType
    processor: str | None = None
    customer_id: str | None = None
    is_default: bool = False
    method_metadata: PaymentMethodCardMetadata | None = None
    created_at: datetime | None = None

    @property
    def brand(self) -> str | None:
        return self.method_metadata.brand if self.method_metadata else None

    @property
    def last4(self) -> str | None:
        return self.method_metadata.last4 if self.method_metadata else None

    @property
    def exp_month(self) -> int | None:
        return self.method_metadata.exp_month if self.method_metadata else None

    @property
    def exp_year(self) -> int | None:
        return self.method_metadata.exp_year if self.method_metadata else None


class ProductPrice(PolarModel):
    """Any kind of price; the fields present depend on `amount_type`."""

    id: str
    amount_type: AmountType
    price_currency: str | None = None
    price_amount: int | None = None  # fixed
    minimum_amount: int | None = None  # custom
    maximum_amount: int | None = None
    preset_amount: int | None = None
    is_archived: bool = False
    source: str | None = None
    type: str | None = None  # legacy recurring prices
    recurring_interval: RecurringInterval | None = None
    product_id: str | None = None


class Product(PolarModel):
    id: str
    name: str
    description: str | None = None
    visibility: ProductVisibility | None = None
    is_recurring: bool = False
    is_archived: bool = False
    recurring_interval: RecurringInterval | None = None
    recurring_interval_count: int | None = None
    organization_id: str | None = None
    metadata: Metadata = Field(default_factory=dict)
    prices: list[ProductPrice] = Field(default_factory=list)
    benefits: list[dict[str, Any]] = Field(default_factory=list)
    medias: list[dict[str, Any]] = Field(default_factory=list)
    created_at: datetime | None = None


class CheckoutDiscount(PolarModel):
    """The discount applied to a checkout; `code` is None for one applied by id, without a code."""

    id: str
    name: str | None = None
    code: str | None = None


class Checkout(PolarModel):
    """A checkout session, as the organization API or the client-secret API returns it."""

    id: str
    status: CheckoutStatus
    client_secret: str
    url: str
    expires_at: datetime
    success_url: str | None = None
    return_url: str | None = None
    amount: int
    discount_amount: int = 0
    net_amount: int
    tax_amount: int | None = None
    total_amount: int
    currency: str
    organization_id: str | None = None
    product_id: str | None = None
    product_price_id: str | None = None
    discount_id: str | None = None
    customer_id: str | None = None
    external_customer_id: str | None = None
    customer_name: str | None = None
    customer_email: str | None = None
    customer_billing_name: str | None = None
    customer_billing_address: Address | None = None
    customer_tax_id: str | None = None
    is_business_customer: bool = False
    seats: int | None = None
    allow_discount_codes: bool = True
    discount: CheckoutDiscount | None = None
    is_payment_required: bool | None = None
    is_free_product_price: bool | None = None
    metadata: Metadata = Field(default_factory=dict)
    custom_field_data: dict[str, Any] = Field(default_factory=dict)
    products: list[Product] = Field(default_factory=list)
    product: Product | None = None
    product_price: ProductPrice | None = None
    created_at: datetime | None = None
    modified_at: datetime | None = None
    # Only in a confirm response: a customer session for the buyer.
    customer_session_token: str | None = Field(default=None, repr=False)


class CustomerSession(PolarModel):
    """A customer-portal session; `token` is a credential (polar_cst_…), valid about an hour."""

    id: str
    token: str = Field(repr=False)
    expires_at: datetime
    customer_id: str
    # The portal URL carries the token in its query string.
    customer_portal_url: str | None = Field(default=None, repr=False)
    return_url: str | None = None


class Invoice(PolarModel):
    url: str


class Receipt(PolarModel):
    """A receipt; `pending` while Polar still renders the PDF (202 with an empty body)."""

    url: str | None = None
    pending: bool = False


class PaymentStatus(PolarModel):
    """The customer portal's view of an order's payment."""

    status: str
    error: str | None = None


T = TypeVar("T", bound=BaseModel)


class Page(BaseModel, Generic[T]):
    """One page of a list: the items, and where it sits among all pages."""

    items: list[T]
    total_count: int
    max_page: int
    page: int = 1
    limit: int | None = None

    @property
    def has_next(self) -> bool:
        return self.page < self.max_page


RefundStatus = Literal["pending", "succeeded", "failed", "canceled"] | str
RefundReason = (
    Literal[
        "duplicate",
        "fraudulent",
        "customer_request",
        "service_disruption",
        "satisfaction_guarantee",
        "dispute_prevention",
        "other",
    ]
    | str
)
SubscriptionStatus = (
    Literal["incomplete", "incomplete_expired", "trialing", "active", "past_due", "canceled", "unpaid", "paused"] | str
)
CancellationReason = (
    Literal[
        "customer_service",
        "low_quality",
        "missing_features",
        "switched_service",
        "too_complex",
        "too_expensive",
        "unused",
        "other",
    ]
    | str
)
DisputeStatus = Literal["prevented", "early_warning", "needs_response", "under_review", "lost", "won"] | str


class Refund(PolarModel):
    """A refund of (part of) an order; `amount` is net of tax, `tax_amount` the tax refunded with it."""

    id: str
    created_at: datetime
    modified_at: datetime | None = None
    status: RefundStatus
    reason: RefundReason
    amount: int
    tax_amount: int = 0
    currency: str
    order_id: str
    subscription_id: str | None = None
    customer_id: str
    organization_id: str | None = None
    revoke_benefits: bool = False
    metadata: Metadata = Field(default_factory=dict)
    dispute: dict[str, Any] | None = None

    @property
    def total_amount(self) -> int:
        return self.amount + self.tax_amount


class Subscription(PolarModel):
    id: str
    created_at: datetime
    modified_at: datetime | None = None
    status: SubscriptionStatus
    amount: int
    currency: str
    recurring_interval: RecurringInterval | None = None
    recurring_interval_count: int | None = None
    current_period_start: datetime | None = None
    current_period_end: datetime | None = None
    cancel_at_period_end: bool = False
    canceled_at: datetime | None = None
    started_at: datetime | None = None
    ends_at: datetime | None = None
    ended_at: datetime | None = None
    trial_end: datetime | None = None
    customer_id: str
    product_id: str | None = None
    discount_id: str | None = None
    checkout_id: str | None = None
    customer_cancellation_reason: CancellationReason | None = None
    customer_cancellation_comment: str | None = None
    metadata: Metadata = Field(default_factory=dict)
    customer: Customer | None = None
    product: Product | None = None


class Dispute(PolarModel):
    """A chargeback raised by the customer's bank on an order's payment."""

    id: str
    created_at: datetime
    modified_at: datetime | None = None
    status: DisputeStatus
    resolved: bool = False
    closed: bool = False
    amount: int
    tax_amount: int = 0
    currency: str
    reason: str | None = None
    evidence_due_by: datetime | None = None
    past_due: bool = False
    order_id: str
    payment_id: str | None = None
    customer: Customer | None = None
    case_id: str | None = None

    @property
    def total_amount(self) -> int:
        return self.amount + self.tax_amount


class OrganizationCapabilities(PolarModel):
    """What Polar lets the organization do now: set from its review status, or one by one by Polar's staff.
    None: not said (an older answer), which is no reason to refuse anything."""

    checkout_payments: bool | None = None
    subscription_renewals: bool | None = None
    payouts: bool | None = None
    refunds: bool | None = None
    api_access: bool | None = None
    dashboard_access: bool | None = None


class Organization(PolarModel):
    """The organization a token belongs to, for what Polar lets it do."""

    id: str
    name: str | None = None
    slug: str | None = None
    status: str | None = None
    feature_settings: Metadata | None = Field(default=None, description="Flags such as off_session_charges_enabled.")
    capabilities: OrganizationCapabilities | None = None
