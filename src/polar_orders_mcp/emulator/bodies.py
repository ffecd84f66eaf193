"""Request bodies as pydantic models, mirroring the spec's OrderCreate, CheckoutCreate and friends."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import UUID4, AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, model_validator

MetadataValue = Annotated[str, StringConstraints(min_length=1, max_length=500)] | int | float | bool
MetadataInput = Annotated[
    dict[Annotated[str, StringConstraints(min_length=1, max_length=40)], MetadataValue], Field(max_length=50)
]
Url = Annotated[str, StringConstraints(min_length=1, max_length=2083)]
Email = Annotated[str, StringConstraints(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]


class Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class AddressInput(Body):
    line1: str | None = None
    line2: str | None = None
    postal_code: str | None = None
    city: str | None = None
    state: str | None = None
    country: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]


class OrderCreate(Body):
    customer_id: UUID4
    product_id: UUID4
    organization_id: UUID4 | None = None
    currency: str | None = None
    amount: Annotated[int, Field(ge=0)] | None = None
    description: Annotated[str, StringConstraints(max_length=500)] | None = None
    metadata: MetadataInput = {}
    custom_field_data: dict[str, Any] = {}


class OrderUpdate(Body):
    billing_name: str | None = None
    billing_address: AddressInput | None = None


class OrderFinalize(Body):
    payment_method_id: UUID4 | None = None


class CustomerOrderConfirmPayment(Body):
    """The portal's retry of a failed payment: a new card's token or a saved method, not both."""

    confirmation_token_id: str | None = None
    payment_method_id: UUID4 | None = None
    payment_processor: Literal["stripe"] = "stripe"

    @model_validator(mode="after")
    def _one_way_to_pay(self) -> CustomerOrderConfirmPayment:
        if self.confirmation_token_id is None and self.payment_method_id is None:
            raise ValueError("Either confirmation_token_id or payment_method_id must be provided")
        if self.confirmation_token_id is not None and self.payment_method_id is not None:
            raise ValueError("Only one of confirmation_token_id or payment_method_id can be provided")
        return self


class CheckoutCustomerFields(Body):
    """What the buyer may set with the client secret (CheckoutUpdatePublic)."""

    product_id: UUID4 | None = None
    product_price_id: UUID4 | None = None
    amount: Annotated[int, Field(ge=0)] | None = None
    seats: Annotated[int, Field(ge=1, le=10_000)] | None = None
    is_business_customer: bool | None = None
    customer_name: Annotated[str, StringConstraints(max_length=256)] | None = None
    customer_email: Email | None = None
    customer_billing_name: str | None = None
    customer_billing_address: AddressInput | None = None
    customer_tax_id: str | None = None
    locale: str | None = None
    custom_field_data: dict[str, Any] | None = None


class CheckoutUpdatePublic(CheckoutCustomerFields):
    payment_method_type: str | None = None
    discount_code: str | None = None
    allow_trial: bool | None = None


class CheckoutConfirm(CheckoutUpdatePublic):
    confirmation_token_id: str | None = None


class CheckoutUpdate(CheckoutCustomerFields):
    # Polar's fields are dicts with a default: absent keeps the metadata, null is a 422 ("dict_type").
    metadata: MetadataInput = Field(default=None)  # type: ignore[arg-type]
    customer_metadata: MetadataInput | None = None
    discount_id: UUID4 | None = None
    allow_discount_codes: bool | None = None
    require_billing_address: bool | None = None
    allow_trial: bool | None = None
    customer_ip_address: str | None = None
    success_url: Url | None = None
    return_url: Url | None = None
    embed_origin: str | None = None


class CheckoutCreate(Body):
    products: Annotated[list[UUID4], Field(min_length=1)]
    customer_id: UUID4 | None = None
    external_customer_id: str | None = None
    amount: Annotated[int, Field(ge=0)] | None = None
    customer_name: Annotated[str, StringConstraints(max_length=256)] | None = None
    customer_email: Email | None = None
    customer_billing_name: str | None = None
    customer_billing_address: AddressInput | None = None
    customer_tax_id: str | None = None
    customer_ip_address: str | None = None
    is_business_customer: bool = False
    require_billing_address: bool = False
    allow_discount_codes: bool = True
    allow_trial: bool = True
    locale: str | None = None
    metadata: MetadataInput = {}
    customer_metadata: MetadataInput = {}
    custom_field_data: dict[str, Any] = {}
    success_url: Url | None = None
    return_url: Url | None = None
    embed_origin: str | None = None
    discount_id: UUID4 | None = None
    currency: str | None = None


class CustomerSessionCreate(Body):
    """Either shape of the spec's CustomerSession…Create: by id or by external id."""

    customer_id: UUID4 | None = None
    external_customer_id: str | None = None
    return_url: Url | None = None


class RefundCreate(Body):
    order_id: UUID4
    reason: Literal[
        "duplicate", "fraudulent", "customer_request", "service_disruption", "satisfaction_guarantee", "other"
    ]
    amount: Annotated[int, Field(gt=0)]
    comment: str | None = None
    revoke_benefits: bool = False
    metadata: MetadataInput = {}


CancellationReason = Literal[
    "customer_service",
    "low_quality",
    "missing_features",
    "switched_service",
    "too_complex",
    "too_expensive",
    "unused",
    "other",
]


class SubscriptionCancel(Body):
    """`cancel_at_period_end`: true cancels when the period ends, false takes that back."""

    model_config = ConfigDict(extra="forbid")

    cancel_at_period_end: bool
    customer_cancellation_reason: CancellationReason | None = None
    customer_cancellation_comment: str | None = None


class SubscriptionRevoke(Body):
    """`revoke: true`: cancel now, as `DELETE` does."""

    model_config = ConfigDict(extra="forbid")

    revoke: Literal[True]
    customer_cancellation_reason: CancellationReason | None = None
    customer_cancellation_comment: str | None = None


class SubscriptionUpdate(Body):
    """Polar's SubscriptionUpdateBase: product, discount, trial and metadata; `{}` is valid and changes nothing."""

    model_config = ConfigDict(extra="forbid")

    product_id: UUID4 | None = None
    proration_behavior: Literal["invoice", "prorate", "next_period", "reset"] | None = None
    discount_id: UUID4 | None = None
    # Polar's is a FutureDatetime; the emulator refuses any trial, so a past one is refused the same way.
    trial_end: AwareDatetime | Literal["now"] | None = None
    metadata: MetadataInput = {}
