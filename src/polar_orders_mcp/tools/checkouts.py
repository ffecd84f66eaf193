"""Checkout tools: payment links a customer completes, and the client-secret calls of the payment page."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal

import mcp_types as types
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import Field

from polar_orders_mcp.approvals.flow import Done, NotDone
from polar_orders_mcp.approvals.preview import Preview
from polar_orders_mcp.polar.client import PolarClient
from polar_orders_mcp.polar.errors import BadRequestError
from polar_orders_mcp.polar.ids import EMAIL_PATTERN
from polar_orders_mcp.polar.models import Checkout, CheckoutStatusName
from polar_orders_mcp.polar.params import NULL
from polar_orders_mcp.tools import views
from polar_orders_mcp.tools.base import Tool
from polar_orders_mcp.tools.context import Api, Ctx, Now, app_state
from polar_orders_mcp.tools.irreversible import (
    ApprovalIdArg,
    GuardedResult,
    MaxAmountArg,
    MaxCurrencyArg,
    StatusReadBack,
    guarded,
)
from polar_orders_mcp.tools.params import (
    AddressInput,
    CheckoutId,
    CustomerId,
    Detail,
    Limit,
    Metadata,
    Page,
    ProductId,
)

ClientSecret = Annotated[
    str,
    Field(
        pattern=r"^polar_c_[A-Za-z0-9_-]{1,200}$",
        description="the checkout's client secret (polar_c_...): its payment page's credential",
    ),
]
Email = Annotated[str | None, Field(max_length=320, pattern=EMAIL_PATTERN)]
Name = Annotated[str | None, Field(max_length=256)]
Amount = Annotated[
    int | None,
    Field(ge=0, le=99_999_999, description="minor units, pay-what-you-want only"),
]
CheckoutStatus = CheckoutStatusName


async def create_checkout(
    products: Annotated[
        list[ProductId],
        Field(min_length=1, max_length=10, description="the customer picks one"),
    ],
    api: Api,
    ctx: Ctx,
    customer_id: CustomerId | None = None,
    customer_email: Email = None,
    customer_name: Name = None,
    amount: Amount = None,
    success_url: Annotated[
        str | None,
        Field(max_length=2048, pattern=r"^https?://"),
    ] = None,
    metadata: Metadata | None = None,
) -> views.CheckoutSummary:
    """A payment link (url) for the customer. Each call makes a new one."""
    checkout = await api.checkouts.create(
        products=list(products),
        customer_id=customer_id,
        customer_email=customer_email,
        customer_name=customer_name,
        amount=amount,
        success_url=success_url,
        metadata=metadata,
    )
    return views.checkout(checkout, with_secret=app_state(ctx).show_client_secrets)


class CheckoutList(views.Listing):
    items: list[views.CheckoutRow]
    page: int
    total_count: int
    next_page: int | None


async def list_checkouts(
    api: Api,
    now: Now,
    customer_id: CustomerId | None = None,
    product_id: ProductId | None = None,
    status: Annotated[list[CheckoutStatus] | None, Field(max_length=5)] = None,
    customer_email: Annotated[str | None, Field(max_length=320)] = None,
    page: Page = 1,
    limit: Limit = 20,
) -> CheckoutList:
    """Checkout sessions, newest first: a link sent already?"""
    result = await api.checkouts.list(
        page=page,
        limit=limit,
        customer_id=customer_id,
        product_id=product_id,
        status=list(status) if status else None,
        query=customer_email,
    )
    return CheckoutList(
        as_of=views.as_of(now),
        # Without client secrets: a listing needs none, and each is a payment page's credential.
        items=[views.checkout_row(c) for c in result.items],
        page=result.page,
        total_count=result.total_count,
        next_page=views.next_page(result),
    )


async def get_checkout(
    checkout_id: CheckoutId, api: Api, ctx: Ctx, detail: Detail = "summary"
) -> views.CheckoutSummary:
    """One checkout: status, link, expiry, products, amount, customer."""
    return views.checkout(await api.checkouts.get(checkout_id), detail, with_secret=app_state(ctx).show_client_secrets)


async def update_checkout(
    checkout_id: CheckoutId,
    api: Api,
    ctx: Ctx,
    customer_email: Email = None,
    customer_name: Name = None,
    product_id: ProductId | None = None,
    amount: Amount = None,
    success_url: Annotated[str | None, Field(max_length=2048, pattern=r"^https?://")] = None,
    metadata: Metadata | None = None,
    allow_discount_codes: Annotated[bool | None, Field(description="false: its page takes no codes")] = None,
) -> views.CheckoutSummary:
    """Change an open checkout's prefilled customer, product, amount, success URL, metadata or whether its
    page takes discount codes."""
    fields = {
        "customer_email": customer_email,
        "customer_name": customer_name,
        "product_id": product_id,
        "amount": amount,
        "success_url": success_url,
        "metadata": metadata,
        "allow_discount_codes": allow_discount_codes,
    }
    changes = {k: v for k, v in fields.items() if v is not None}
    if not changes:
        raise ToolError("Nothing to update: pass at least one field to change.")
    updated = await api.checkouts.update(checkout_id, **changes)  # type: ignore[arg-type]
    return views.checkout(updated, with_secret=app_state(ctx).show_client_secrets)


async def get_checkout_by_secret(client_secret: ClientSecret, api: Api) -> views.CheckoutSummary:
    """Get a checkout session the way its payment page sees it, from its client secret.
    Use get_checkout when you have the checkout id."""
    return views.checkout(await api.checkouts.client_get(client_secret))


async def update_checkout_by_secret(
    client_secret: ClientSecret,
    api: Api,
    customer_email: Email = None,
    customer_name: Name = None,
    customer_billing_name: Name = None,
    customer_billing_address: AddressInput | None = None,
    product_id: ProductId | None = None,
    amount: Amount = None,
    discount_code: Annotated[str | None, Field(max_length=64)] = None,
) -> views.CheckoutSummary:
    """Fill in a checkout session as its payment page would (customer details, product, discount
    code), using its client secret. Moves no money; safe to repeat."""
    fields = {
        "customer_email": customer_email,
        "customer_name": customer_name,
        "customer_billing_name": customer_billing_name,
        "product_id": product_id,
        "amount": amount,
        "discount_code": discount_code,
        "customer_billing_address": customer_billing_address.model_dump(exclude_none=True)
        if customer_billing_address
        else None,
    }
    changes = {k: v for k, v in fields.items() if v is not None}
    if not changes:
        raise ToolError("Nothing to update: pass at least one field to change.")
    return views.checkout(await api.checkouts.client_update(client_secret, **changes))  # type: ignore[arg-type]


ADDRESS_FIELDS = ("line1", "line2", "postal_code", "city", "state", "country")


class CheckoutPreview(Preview):
    """What confirming the checkout will charge, computed from Polar's data. Every fact that sets the amount
    is sent back in the confirm request itself: product and price, a pay-what-you-want amount, seats, the
    discount (by its code, or none), and the tax inputs (billing address, tax id, business purchase)."""

    checkout_id: str
    amount: int | None = Field(description="Minor units, tax included.")
    currency: str | None
    amount_display: str
    tax_display: str | None = None
    product_id: str | None
    product_price_id: str | None = None
    product: str | None
    price_amount: int | None = Field(description="The chosen amount of a pay-what-you-want price, sent back pinned.")
    seats: int | None = None
    discount: str | None
    discount_code: str | None = None
    renews: str | None = Field(default=None, description="How often a subscription product charges again.")
    billing_name: str | None = None
    billing_address: dict[str, str] | None = None
    billing_address_display: str | None = None
    tax_id: str | None = None
    business: bool = False
    business_display: str | None = None
    customer_email: str | None
    customer_name: str | None
    payment: str
    payment_token_digest: str | None = Field(
        default=None, description="Binds the approval to this exact payment token, not just its last characters."
    )

    SHOWN = (
        ("amount_display", "Amount, tax included", "amount"),
        ("renews", "Then", "warning"),
        ("tax_display", "Tax in it", "text"),
        ("product", "Product", "text"),
        ("seats", "Seats", "text"),
        ("discount", "Discount", "text"),
        ("customer_email", "Customer email", "customer"),
        ("customer_name", "Customer name", "customer"),
        ("billing_name", "Billing name", "customer"),
        ("billing_address_display", "Billing address (sets the tax)", "customer"),
        ("tax_id", "Tax id", "customer"),
        ("business_display", "Business purchase", "customer"),
        ("payment", "Payment", "text"),
    )


async def compute_checkout_preview(api: PolarClient, client_secret: str, payment_token: str | None) -> CheckoutPreview:
    checkout = await api.checkouts.client_get(client_secret)
    if checkout.status != "open":
        raise ToolError(f"Checkout {checkout.id} is {checkout.status}, not open: there is nothing to confirm.")
    needs_payment = bool(checkout.total_amount)
    if needs_payment and not payment_token:
        total = views.money(checkout.total_amount, checkout.currency)
        raise ToolError(
            f"Checkout {checkout.id} was not confirmed: it charges {total} and needs payment_token, the payment "
            "processor's confirmation token from the payment form. Without one, send the customer the "
            "checkout url to pay themselves."
        )
    refuse_what_cannot_be_pinned(checkout, needs_payment)
    product = views.clean_text(checkout.product.name if checkout.product else None)
    email = views.clean_text(checkout.customer_email)
    custom = checkout.product_price is not None and checkout.product_price.amount_type == "custom"
    discount = f"-{views.money(checkout.discount_amount, checkout.currency)}" if checkout.discount_amount else None
    address = checkout.customer_billing_address
    pinned_address = (
        {k: v for k in ADDRESS_FIELDS if isinstance(v := getattr(address, k, None), str)} if address else None
    )
    return CheckoutPreview(
        summary=f"Confirm checkout {checkout.id}: charge {views.money(checkout.total_amount, checkout.currency)} "
        f"to {email or 'the customer'} for {product or 'the selected product'}",
        checkout_id=checkout.id,
        amount=checkout.total_amount,
        currency=checkout.currency,
        amount_display=views.money(checkout.total_amount, checkout.currency),
        tax_display=views.money(checkout.tax_amount, checkout.currency) if checkout.tax_amount is not None else None,
        product_id=checkout.product_id,
        product_price_id=checkout.product_price_id,
        product=product,
        price_amount=checkout.amount if custom else None,
        seats=checkout.seats,
        discount=discount,
        discount_code=checkout.discount.code if checkout.discount else None,
        renews=views.renewal(checkout.product),
        billing_name=views.clean_text(checkout.customer_billing_name),
        billing_address=pinned_address,
        billing_address_display=views.clean_text(views.address_line(address)),
        tax_id=checkout.customer_tax_id,
        business=checkout.is_business_customer,
        business_display="yes" if checkout.is_business_customer else None,
        customer_email=email,
        customer_name=views.clean_text(checkout.customer_name),
        payment=f"payment form token …{payment_token[-4:]}" if needs_payment and payment_token else "free: none",
        payment_token_digest=hashlib.sha256(payment_token.encode()).hexdigest()[:32] if payment_token else None,
    )


def refuse_what_cannot_be_pinned(checkout: Checkout, needs_payment: bool) -> None:
    """Refuse, before anyone is asked, a checkout whose charge depends on a fact the confirm request cannot
    carry: the buyer's page could change it between the approval and the charge."""
    not_done = f"Checkout {checkout.id} was not confirmed and nothing was charged"
    if needs_payment and checkout.customer_billing_address is None:
        raise ToolError(
            f"{not_done}: it has no billing address yet, and the address sets the tax in what is charged. Fill "
            "it in first (update_checkout_by_secret with customer_billing_address), then call confirm_checkout "
            "again."
        )
    if checkout.discount is not None and checkout.discount.code is None and checkout.allow_discount_codes:
        raise ToolError(
            f"{not_done}: its discount was applied without a code, so the confirmation cannot name it, and the "
            "payment page (which takes discount codes) could remove it before the charge. Turn discount codes "
            "off for this checkout (update_checkout with allow_discount_codes false), then call again."
        )


@dataclass
class ConfirmCheckout(StatusReadBack[CheckoutPreview, Checkout]):
    """confirm_checkout: pay one open checkout as its payment page would."""

    client_secret: str
    payment_token: str | None
    checkout_id: str = ""
    tool: ClassVar[str] = "confirm_checkout"

    @property
    def target(self) -> str:
        return self.checkout_id or "checkout"

    def not_done(self) -> str:
        return f"Checkout {self.checkout_id or '(unknown)'} was not confirmed and nothing was charged"

    async def preview(self, api: PolarClient) -> CheckoutPreview:
        preview = await compute_checkout_preview(api, self.client_secret, self.payment_token)
        self.checkout_id = preview.checkout_id
        return preview

    async def act(self, api: PolarClient, approved: CheckoutPreview) -> Checkout:
        # Everything that sets the amount travels in the confirm request itself, so a change made through
        # the client secret after the approval is overwritten rather than charged. Polar applies these
        # fields, then computes the tax from the address and tax id sent here.
        pinned: dict[str, Any] = {
            "product_id": approved.product_id,
            "product_price_id": approved.product_price_id,
            "amount": approved.price_amount,
            # Explicit nulls: Polar removes a discount, and clears a tax id, that the approval did not have.
            "discount_code": approved.discount_code or NULL,
            "customer_tax_id": approved.tax_id or NULL,
        }
        # Only a tax id changes the tax. Polar clears the billing name and tax id of a purchase confirmed as not
        # a business one, so `false` is never sent: the tax id, pinned above, is what counts.
        if approved.business:  # with the billing name Polar requires of one (and clears when it is turned off)
            pinned["is_business_customer"] = True
            pinned["customer_billing_name"] = approved.billing_name
        if approved.billing_address is not None:
            pinned["customer_billing_address"] = approved.billing_address
        if approved.seats is not None:
            pinned["seats"] = approved.seats
        try:
            return await api.checkouts.client_confirm(
                self.client_secret, confirmation_token_id=self.payment_token, **pinned
            )
        except BadRequestError as exc:
            raise NotDone(f"{self.not_done()}: Polar refused the payment ({exc.code}: {exc.detail}).") from exc

    UNREADABLE = (
        "Checkout {target} may or may not have been confirmed: the confirm request failed ({why}) and reading the "
        "checkout back failed too ({error}). Do not call confirm_checkout again until get_checkout shows its status."
    )
    STILL_RUNNING = (
        "Checkout {target} is still open, but {why} and Polar may still be processing the payment. Check with "
        "get_checkout in a minute before doing anything else. Calling confirm_checkout again is safe: Polar never "
        "confirms one checkout twice."
    )
    NOT_DONE = (
        "{not_done}: {why} and the checkout is still open. It is safe to call confirm_checkout again (a person "
        "approves it again)."
    )

    async def read_target(self, api: PolarClient) -> Checkout:
        return await api.checkouts.client_get(self.client_secret)

    def done_in(self, target: Checkout) -> bool:
        return target.status != "open"

    def moved(self, outcome: Checkout) -> tuple[int, str]:
        return outcome.total_amount, outcome.currency

    def differences_from_approved(self, approved: CheckoutPreview, outcome: Checkout) -> list[str]:
        found = []
        if outcome.total_amount != approved.amount or (outcome.currency or "").lower() != (approved.currency or ""):
            found.append(
                f"approved {approved.amount_display}, "
                f"Polar charged {views.money(outcome.total_amount, outcome.currency)}"
            )
        if outcome.product_id != approved.product_id:
            found.append(f"approved product {approved.product}, Polar confirmed product {outcome.product_id}")
        return found


class ConfirmResult(GuardedResult):
    """confirm_checkout's answer: waiting for a person's approval (nothing charged yet), or confirmed."""

    status: Literal["approval_pending", "confirmation_required", "confirmed"]
    preview: CheckoutPreview
    checkout: views.CheckoutSummary | None = None

    @classmethod
    def finished(cls, done: Done[CheckoutPreview, Checkout]) -> dict[str, Any]:
        step = "Confirmed: Polar now processes the payment; get_checkout shows when it succeeded."
        if done.settled:
            step = f"Confirmed ({done.settled}). Do not retry; get_checkout shows when it succeeded."
        return {"status": "confirmed", "checkout": views.checkout(done.outcome), "next_step": step}


async def confirm_checkout(
    ctx: Ctx,
    client_secret: ClientSecret,
    payment_token: Annotated[
        str | None,
        Field(max_length=512, description="The payment processor's confirmation token from the payment form."),
    ] = None,
    max_amount: MaxAmountArg = None,
    max_currency: MaxCurrencyArg = None,
    approval_id: ApprovalIdArg | None = None,
) -> ConfirmResult | types.InputRequiredResult:
    """Confirm a checkout session as its payment page does: CHARGES the customer, cannot be undone.
    A person approves it first, maybe in this call. Never confirms one checkout twice."""
    action = ConfirmCheckout(client_secret, payment_token)
    return await guarded(ctx, action, ConfirmResult, approval_id, max_amount, max_currency)


TOOLS = (
    Tool(create_checkout, tier="write", title="Create checkout link", toolset="checkouts"),
    Tool(list_checkouts, tier="read", title="List checkouts", toolset="checkouts"),
    Tool(get_checkout, tier="read", title="Get checkout", toolset="checkouts"),
    Tool(update_checkout, tier="write", title="Update checkout", toolset="checkouts", idempotent=True),
    Tool(get_checkout_by_secret, tier="read", title="Get checkout by client secret", toolset="checkout_page"),
    Tool(update_checkout_by_secret, tier="write", title="Fill in checkout", toolset="checkout_page", idempotent=True),
    Tool(
        confirm_checkout,
        tier="irreversible",
        title="Confirm checkout (charges)",
        toolset="checkout_page",
        action=ConfirmCheckout,
    ),
)
