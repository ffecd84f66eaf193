"""Order tools: find, inspect and charge orders, and fetch their receipts."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal

import mcp_types as types
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import Field

from polar_orders_mcp.approvals.flow import Done, NotDone
from polar_orders_mcp.approvals.preview import Preview
from polar_orders_mcp.polar import models
from polar_orders_mcp.polar.client import PolarClient
from polar_orders_mcp.polar.errors import PaymentRequiredError, PreconditionFailedError
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
from polar_orders_mcp.tools.organization import charges_refused, refused_by_organization
from polar_orders_mcp.tools.params import (
    BillingAddress,
    BillingName,
    CheckoutId,
    CustomerId,
    Detail,
    Limit,
    Metadata,
    OrderId,
    OrderStatus,
    Page,
    PaymentMethodId,
    ProductId,
    Since,
    SubscriptionId,
    Until,
    address_needs_order,
    billing_changes,
    sort_keys,
)

log = logging.getLogger(__name__)

# Polar's API has no way to void or delete a draft (order/endpoints.py: list, export, get, create, update,
# finalize, invoice, receipt; its service voids only pending orders, for dunning and its staff).
STRAY_DRAFT = (
    "The draft stays, never charged, and is harmless: Polar's API cannot void or delete a draft. To charge "
    "this again, reuse it with finalize_order; do not create another draft."
)

OrderSort = Literal[
    "created_at",
    "-created_at",
    "status",
    "-status",
    "invoice_number",
    "-invoice_number",
    "amount",
    "-amount",
    "net_amount",
    "-net_amount",
    "customer",
    "-customer",
    "product",
    "-product",
    "discount",
    "-discount",
    "subscription",
    "-subscription",
]
# The keys an agent sorts by; the others Polar offers (net_amount, discount, subscription) are accepted too.
ORDER_SORT_SCHEMA = sort_keys("created_at", "amount", "status", "invoice_number", "customer", "product")


async def list_orders(
    api: Api,
    now: Now,
    customer_id: CustomerId | None = None,
    product_id: ProductId | None = None,
    checkout_id: CheckoutId | None = None,
    subscription_id: SubscriptionId | None = None,
    status: Annotated[
        list[OrderStatus] | None,
        Field(max_length=6, description="paid excludes partially_refunded"),
    ] = None,
    created_after: Since = None,
    created_before: Until = None,
    metadata: Metadata | None = None,
    sorting: Annotated[list[OrderSort] | None, Field(max_length=4), ORDER_SORT_SCHEMA] = None,
    page: Page = 1,
    limit: Limit = 20,
    fields: Annotated[list[views.OrderField] | None, Field(max_length=8, description=views.ORDER_FIELDS_HELP)] = None,
    detail: Detail = "summary",
) -> views.OrderList:
    """Orders, newest first, as short rows. Filter rather than page through; get_order has the rest.
    For an email, find_customers gives customer_id."""
    if created_after and created_before and created_after >= created_before:
        raise ToolError("created_after must be before created_before.")
    result = await api.orders.list(
        page=page,
        limit=limit,
        customer_id=customer_id,
        product_id=product_id,
        checkout_id=checkout_id,
        subscription_id=subscription_id,
        status=list(status) if status else None,
        created_after=created_after,
        created_before=created_before,
        metadata=metadata,
        sorting=list(sorting) if sorting else None,
    )
    return views.order_list(result, now, detail, fields)


# What get_order's answer says of an order a subscription charged: where its period and its other charges are.
SUBSCRIPTION_SERVED = (
    "get_subscription reads its subscription (period, price, whether it ends); "
    "list_orders(subscription_id={id!r}) lists its charges."
)
SUBSCRIPTION_OPT_IN = (
    "list_orders(subscription_id={id!r}) lists its subscription's charges. get_subscription (period, price) is in "
    "the subscriptions toolset, which this server does not serve: the operator adds it with "
    "--toolsets default,subscriptions."
)


async def get_order(order_id: OrderId, api: Api, ctx: Ctx, detail: Detail = "summary") -> views.OrderSummary:
    """One order: status, customer, product, amounts, billing details, invoice and receipt."""
    order = views.order(await api.orders.get(order_id), detail)
    if order.subscription_id is None:
        return order
    said = SUBSCRIPTION_SERVED if app_state(ctx).subscription_tools else SUBSCRIPTION_OPT_IN
    return order.model_copy(update={"subscription_note": said.format(id=order.subscription_id)})


async def create_order(
    customer_id: CustomerId,
    product_id: ProductId,
    api: Api,
    ctx: Ctx,
    amount: Annotated[
        int | None,
        Field(
            ge=0,
            le=99_999_999,
            description="changes what the customer pays (before tax): only on the merchant's explicit "
            "instruction; off unless the operator enabled it",
        ),
    ] = None,
    currency: Annotated[str | None, Field(pattern=r"^[a-z]{3}$")] = None,
    description: Annotated[str | None, Field(max_length=500, description="on the invoice and receipt")] = None,
    metadata: Metadata | None = None,
) -> views.OrderRow:
    """A DRAFT order for finalize_order to charge; it charges nothing. Polar computes tax only here: a draft
    is how to learn the total with tax. Drafts cannot be voided: reuse one (finalize_order charges it). Each
    call makes one: after an unclear failure, check list_orders."""
    if amount is not None and not app_state(ctx).allow_price_override:
        raise ToolError(
            "No draft was created: amount overrides the product's fixed price, and this server does not allow "
            "price overrides (the operator can turn them on with --allow-price-override). Omit amount to "
            "charge the product's own price."
        )
    order = await api.orders.create(
        customer_id=customer_id,
        product_id=product_id,
        amount=amount,
        currency=currency,
        description=description,
        metadata=metadata,
    )
    return views.order_row(order, fields=("tax",))  # the draft as a row: finalize_order previews the rest


async def update_order(
    order_id: OrderId,
    api: Api,
    billing_name: BillingName = None,
    billing_address: BillingAddress = None,
) -> views.OrderSummary:
    """Fix an order's billing name or address (its country and state stay); generate_invoice then remakes
    the invoice."""
    current = (await api.orders.get(order_id)).billing_address if address_needs_order(billing_address) else None
    order = await api.orders.update(order_id, **billing_changes(billing_name, billing_address, current))
    return views.order(order)


class ChargePreview(Preview):
    """Exactly what finalizing the order will charge, computed by the server from Polar's data."""

    order_id: str
    amount: int = Field(description="Minor units (cents), tax included.")
    currency: str
    amount_display: str
    tax_display: str
    list_price: int | None = Field(
        description="The product's own price before tax, minor units: only when this order's price overrides it. "
        "Never what is charged: that is amount."
    )
    list_price_display: str | None = Field(
        description="The product's own price before tax, when this order's price overrides it."
    )
    price_override: str | None = Field(description="Set when this order's price overrides the product's price.")
    customer_id: str
    customer_email: str | None
    customer_name: str | None
    product: str | None
    description: str | None
    payment_method_id: str
    payment_method: str

    SHOWN = (
        ("amount_display", "Amount, tax included", "amount"),
        ("tax_display", "Of which tax", "text"),
        ("price_override", "Price override", "warning"),
        ("list_price_display", "Product's list price, before tax", "text"),
        ("product", "Product", "text"),
        ("customer_email", "Customer email", "customer"),
        ("customer_name", "Customer name", "customer"),
        ("payment_method", "Payment method", "text"),
        ("own_description", "Description on the order", "agent"),
    )

    @property
    def own_description(self) -> str | None:
        """The description when it says more than the product's name (Polar's default): create_order's words."""
        return self.description if self.description != self.product else None


def list_price(product: models.Product | None, order: models.Order) -> int | None:
    """The product's own fixed price in the order's currency, for the price the order charges."""
    if product is None:
        return None
    wanted = {item.product_price_id for item in order.items if item.product_price_id}
    prices = [p for p in product.prices if p.amount_type == "fixed" and p.price_amount is not None]
    exact = [p for p in prices if p.id in wanted]
    same_currency = [p for p in prices if (p.price_currency or order.currency).lower() == order.currency.lower()]
    chosen = exact or same_currency
    return chosen[0].price_amount if chosen else None


async def compute_charge_preview(api: PolarClient, order_id: str, payment_method_id: str | None) -> ChargePreview:
    """Read the order, what Polar lets its organization do, its product and the customer's saved methods;
    refuse early what cannot be charged.

    Each may come from what this server read in the last few minutes (the order from create_order's answer,
    the organization from an earlier preview when it allowed the charge, the cards from get_customer, the
    product from list_products). The cards and
    the product only label what is shown (the charge names the card itself); a preview whose order came
    from memory is marked remembered, and the order is read again right before the charge anyway."""
    remembered = api.orders.remembered(order_id)
    if remembered is not None and remembered.status != "draft":
        remembered = None  # a refusal is said on a fresh read
    order = remembered or await api.orders.get(order_id)
    if order.status != "draft":
        raise ToolError(
            f"Order {order_id} is {order.status}, not a draft: there is nothing to charge. "
            "Only draft orders (made with create_order) can be finalized."
        )
    # What Polar's finalize checks first: the organization may charge off-session and accept payments.
    organization_id = order.customer.organization_id if order.customer else None
    if (why := await refused_by_organization(api, organization_id, charges_refused)) is not None:
        raise ToolError(f"Order {order_id} was not charged: {why}")
    wanted = payment_method_id or (order.customer.default_payment_method_id if order.customer else None)
    # The card's label is for the person; the charge request names the card itself, and Polar refuses one
    # that is not the customer's. So the saved cards read in the last few minutes (get_customer) serve.
    methods = await api.customers.recent_payment_methods(order.customer_id, wanted)
    method = next((m for m in methods if m.id == wanted), None) if wanted else None
    if method is None:
        if payment_method_id:
            raise ToolError(
                f"Order {order_id} was not charged: payment method {payment_method_id} is not one of "
                "this customer's saved methods. Use get_customer to see the saved methods and pick one."
            )
        raise ToolError(
            f"Order {order_id} was not charged: the customer has no default saved payment method. "
            "Pass payment_method_id, or send the customer a checkout link with create_checkout."
        )
    # The list price is shown beside the order's own amount (read fresh) so that a person sees an override:
    # a product read in the last few minutes (list_products before create_order) serves for it.
    listed = list_price(await api.products.recent(order.product_id), order) if order.product_id else None
    preview = charge_preview_of(order, method.id, views.payment_method_label(method), listed)
    return preview.from_memory() if remembered else preview


def charge_preview_of(order: models.Order, method_id: str, method_label: str, listed: int | None) -> ChargePreview:
    override = None
    if listed is not None and listed != order.subtotal_amount:
        difference = order.subtotal_amount - listed
        override = (
            f"this order's price {views.money(order.subtotal_amount, order.currency)} (before tax) replaces the "
            f"product's {views.money(listed, order.currency)}: {'+' if difference > 0 else ''}"
            f"{views.money(difference, order.currency)}"
        )
    customer = order.customer
    email = views.clean_text(customer.email if customer else None)
    return ChargePreview(
        summary=f"Charge {views.money(order.total_amount, order.currency)} to {email or order.customer_id} "
        f"for order {order.id}",
        order_id=order.id,
        amount=order.total_amount,
        currency=order.currency,
        amount_display=views.money(order.total_amount, order.currency),
        tax_display=views.money(order.tax_amount, order.currency),
        list_price=listed,
        list_price_display=views.money(listed, order.currency) if override else None,
        price_override=override,
        customer_id=order.customer_id,
        customer_email=email,
        customer_name=views.clean_text(customer.name if customer else None),
        product=views.clean_text(order.product.name if order.product else None),
        description=views.clean_text(order.description),
        payment_method_id=method_id,
        payment_method=method_label,
    )


@dataclass
class FinalizeOrder(StatusReadBack[ChargePreview, models.Order]):
    """finalize_order: charge one draft order to one saved payment method."""

    order_id: str
    payment_method_id: str | None
    tool: ClassVar[str] = "finalize_order"
    preview_model: ClassVar[type[Preview] | None] = ChargePreview

    @property
    def target(self) -> str:
        return self.order_id

    def not_done(self) -> str:
        return f"Order {self.order_id} was not charged"

    async def preview(self, api: PolarClient) -> ChargePreview:
        return await compute_charge_preview(api, self.order_id, self.payment_method_id)

    async def read_again_before_acting(self, api: PolarClient, approved: ChargePreview) -> ChargePreview:
        # One read, right before the charge: the order's status and amounts (what Polar will charge; its
        # finalize takes no amount, so this read is what keeps a changed order from being charged unseen).
        # It is never skipped: not after a person's approval, nor after a preview built from memory.
        # The card is pinned in the charge request, and the list price is only for the person.
        order = await api.orders.get(self.order_id)
        if order.status != "draft":
            raise ToolError(f"Order {self.order_id} was not charged: it is {order.status} now, not a draft.")
        return charge_preview_of(order, approved.payment_method_id, approved.payment_method, approved.list_price)

    async def act(self, api: PolarClient, approved: ChargePreview) -> models.Order:
        # The approved card, not whatever the customer's default is by now.
        try:
            return await api.orders.finalize(self.order_id, payment_method_id=approved.payment_method_id)
        except PaymentRequiredError as exc:
            raise NotDone(_payment_refused(self.not_done(), exc)) from exc
        except PreconditionFailedError as exc:
            raise NotDone(
                f"Order {self.order_id} was not charged by this call: Polar says it is no longer a draft "
                f"({exc.code}). Another call may have finalized it; check with get_order."
            ) from exc

    UNREADABLE = (
        "Order {target} may or may not have been charged: the charge request failed ({why}) and reading the order "
        "back failed too ({error}). Do not call finalize_order again until get_order shows the order's status "
        "(paid means it was charged)."
    )
    STILL_RUNNING = (
        "Order {target} is still a draft, but {why} and Polar may still be processing the charge. Check with "
        "get_order in a minute before doing anything else. Calling finalize_order again is safe: Polar never "
        "charges one order twice."
    )
    NOT_DONE = (
        "{not_done}: {why} and the order is still a draft. It is safe to call finalize_order again (a person "
        "approves it again)."
    )

    async def read_target(self, api: PolarClient) -> models.Order:
        return await api.orders.get(self.order_id)

    def done_in(self, target: models.Order) -> bool:
        return target.status != "draft"

    def moved(self, outcome: models.Order) -> tuple[int, str]:
        return outcome.total_amount, outcome.currency

    def differences_from_approved(self, approved: ChargePreview, outcome: models.Order) -> list[str]:
        found = []
        if outcome.total_amount != approved.amount or outcome.currency.lower() != approved.currency.lower():
            found.append(
                f"approved {approved.amount_display}, "
                f"Polar charged {views.money(outcome.total_amount, outcome.currency)}"
            )
        if outcome.customer_id != approved.customer_id:
            found.append(f"approved for customer {approved.customer_id}, Polar charged {outcome.customer_id}")
        if outcome.status == "draft":
            found.append("Polar answered the charge but the order is still a draft")
        return found


class ChargeResult(GuardedResult):
    """finalize_order's answer: waiting for a person's approval (nothing charged yet), or charged."""

    status: Literal["approval_pending", "confirmation_required", "charged"]
    preview: ChargePreview
    order: views.OrderRow | None = Field(
        default=None, description="The paid order, as a row with its documents' numbers; get_order has the rest."
    )

    def left_out(self) -> dict[str, Any]:
        """The list price is a fact (the person sees an override against it), but in an answer without an
        override it is only a pre-tax number beside the total charged, easily read as a mismatch."""
        return {"preview": {"list_price"}} if self.preview.price_override is None else {}

    @classmethod
    def finished(cls, done: Done[ChargePreview, models.Order]) -> dict[str, Any]:
        paid = done.outcome
        log.info("order %s finalized: %s", paid.id, paid.status)
        step = "Charged. Use get_receipt for the receipt."
        if done.settled:
            step = f"Charged ({done.settled}): the order is now {paid.status}. Do not retry."
        return {"status": "charged", "order": views.order_row(paid, fields=("documents",)), "next_step": step}


async def finalize_order(
    ctx: Ctx,
    order_id: OrderId,
    payment_method_id: PaymentMethodId | None = None,
    max_amount: MaxAmountArg = None,
    max_currency: MaxCurrencyArg = None,
    approval_id: ApprovalIdArg | None = None,
) -> ChargeResult | types.InputRequiredResult:
    """Charge a draft order to a saved card (default: the customer's). MOVES MONEY: a person approves
    each charge first, maybe in this call."""
    action = FinalizeOrder(order_id, payment_method_id)
    try:
        return await guarded(ctx, action, ChargeResult, approval_id, max_amount, max_currency)
    except NotDone as exc:
        # Said once the flow has recorded the refusal (its code is kept with the act): only the words change.
        raise NotDone(f"{exc} {STRAY_DRAFT}") from exc


def _payment_refused(not_done: str, exc: PaymentRequiredError) -> str:
    detail = exc.detail if isinstance(exc.detail, str) else exc.code
    if exc.code == "PaymentActionRequired":
        # Polar's own detail already says why (authentication, which an off-session charge cannot do).
        why = (
            exc.detail.strip()
            if isinstance(exc.detail, str) and exc.detail.strip()
            else (
                "the customer's bank requires the customer to authenticate this payment (3-D Secure), which "
                "cannot happen off-session."
            )
        )
        return (
            f"{not_done}: {why.rstrip('.')}. The order is still a draft. Only the customer can authenticate "
            "the payment: send them a checkout link (create_checkout) to pay there."
        )
    return (
        f"{not_done}: the payment was declined ({exc.code}: {detail}). The order is still a draft. "
        "Ask the customer to update their payment method or pay through a checkout link "
        "(create_checkout); retrying the same card will likely fail again."
    )


TOOLS = (
    Tool(list_orders, tier="read", title="List orders", toolset="orders"),
    Tool(get_order, tier="read", title="Get order", toolset="orders"),
    Tool(create_order, tier="write", title="Create draft order", toolset="charges"),
    Tool(update_order, tier="write", title="Update order billing details", toolset="orders", idempotent=True),
    Tool(
        finalize_order,
        tier="irreversible",
        title="Finalize (charge) a draft order",
        toolset="charges",
        action=FinalizeOrder,
    ),
)
