"""Order tools: find, inspect and charge orders, and fetch their receipts."""

from __future__ import annotations

import logging
from typing import Annotated, Literal

from mcp.server.mcpserver import ElicitationResult, Resolve
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel, Field

from polar_orders_mcp.polar.client import PolarClient
from polar_orders_mcp.polar.errors import (
    OUTCOME_UNKNOWN,
    PaymentRequiredError,
    PolarError,
    PreconditionFailedError,
    may_still_be_running,
    outcome_unknown,
    what_failed,
)
from polar_orders_mcp.tools import views
from polar_orders_mcp.tools.base import Tool
from polar_orders_mcp.tools.context import Api, Ctx, GuardDep, polar_errors_as_tool_errors
from polar_orders_mcp.tools.guard import Approval, AwaitingApproval, Preview, confirm
from polar_orders_mcp.tools.params import (
    BillingAddress,
    BillingName,
    CheckoutId,
    ConfirmationToken,
    CustomerId,
    Detail,
    DiscountId,
    Metadata,
    OrderId,
    PaymentMethodId,
    ProductId,
    billing_changes,
)

log = logging.getLogger(__name__)

OrderSort = Literal[
    "created_at", "-created_at", "status", "-status", "invoice_number", "-invoice_number",
    "amount", "-amount", "net_amount", "-net_amount", "customer", "-customer",
    "product", "-product", "discount", "-discount", "subscription", "-subscription",
]  # fmt: skip


async def list_orders(
    api: Api,
    customer_id: CustomerId | None = None,
    external_customer_id: Annotated[
        str | None, Field(max_length=256, description="Your own id for the customer, as set in Polar.")
    ] = None,
    product_id: ProductId | None = None,
    product_billing_type: Annotated[
        Literal["one_time", "recurring"] | None,
        Field(description="one_time purchases, or recurring (subscription) orders."),
    ] = None,
    discount_id: DiscountId | None = None,
    checkout_id: CheckoutId | None = None,
    metadata: Metadata | None = None,
    sorting: Annotated[
        list[OrderSort] | None,
        Field(max_length=4, description="Sort keys, '-' for descending. Default: newest first."),
    ] = None,
    page: Annotated[int, Field(ge=1, description="Page number, from 1.")] = 1,
    limit: Annotated[int, Field(ge=1, le=100, description="Orders per page, at most 100.")] = 20,
    detail: Detail = "summary",
) -> views.OrderList:
    """List orders, newest first, filtered by customer, product, discount, checkout or metadata.
    Returns one page with total_count and next_page; use find filters rather than walking every page.
    Use get_order for one order you already know the id of."""
    result = await api.orders.list(
        page=page,
        limit=limit,
        customer_id=customer_id,
        external_customer_id=external_customer_id,
        product_id=product_id,
        product_billing_type=product_billing_type,
        discount_id=discount_id,
        checkout_id=checkout_id,
        metadata=metadata,
        sorting=list(sorting) if sorting else None,
    )
    return views.order_list(result, detail)


async def get_order(order_id: OrderId, api: Api, detail: Detail = "summary") -> views.OrderSummary:
    """Get one order: status, customer, product, amounts, billing details, invoice and receipt state.
    Use list_orders to find an order id from a customer or product."""
    return views.order(await api.orders.get(order_id), detail)


async def create_order(
    customer_id: CustomerId,
    product_id: ProductId,
    api: Api,
    amount: Annotated[
        int | None,
        Field(ge=0, le=99_999_999, description="Minor units; only for pay-what-you-want prices."),
    ] = None,
    currency: Annotated[
        str | None, Field(pattern=r"^[a-z]{3}$", description="ISO currency, lower case, e.g. usd.")
    ] = None,
    description: Annotated[
        str | None, Field(max_length=500, description="Shown on the invoice and receipt.")
    ] = None,
    metadata: Metadata | None = None,
) -> views.OrderSummary:
    """Create a DRAFT order for an off-session charge of a customer's saved card; charges nothing.
    Charge it afterwards with finalize_order. Each call creates a new draft: after an unclear
    failure, look with list_orders(customer_id=...) before calling again."""
    order = await api.orders.create(
        customer_id=customer_id,
        product_id=product_id,
        amount=amount,
        currency=currency,
        description=description,
        metadata=metadata,
    )
    return views.order(order)


async def update_order(
    order_id: OrderId,
    api: Api,
    billing_name: BillingName = None,
    billing_address: BillingAddress = None,
) -> views.OrderSummary:
    """Fix an order's billing name or address before its invoice is generated (invoices are
    permanent, so do this first). Country and state cannot be changed. Safe to repeat."""
    order = await api.orders.update(order_id, **billing_changes(billing_name, billing_address))
    return views.order(order)


class ChargePreview(Preview):
    """Exactly what finalizing the order will charge, computed by the server from Polar's data."""

    order_id: str
    amount: int = Field(description="Minor units (cents).")
    currency: str
    amount_display: str
    customer_id: str
    customer_email: str | None
    customer_name: str | None
    product: str | None
    description: str | None
    payment_method_id: str
    payment_method: str


async def compute_charge_preview(api: PolarClient, order_id: str, payment_method_id: str | None) -> ChargePreview:
    """Read the order and the customer's saved methods; refuse early what cannot be charged."""
    order = await api.orders.get(order_id)
    if order.status != "draft":
        raise ToolError(
            f"Order {order_id} is {order.status}, not a draft: there is nothing to charge. "
            "Only draft orders (made with create_order) can be finalized."
        )
    methods = await api.customers.payment_methods(order.customer_id)
    wanted = payment_method_id or (order.customer.default_payment_method_id if order.customer else None)
    method = next((m for m in methods if m.id == wanted), None) if wanted else None
    if method is None:
        if payment_method_id:
            raise ToolError(
                f"Order {order_id} was not charged: payment method {payment_method_id} is not one of "
                "this customer's saved methods. Use get_order and the customer's saved methods to pick one."
            )
        raise ToolError(
            f"Order {order_id} was not charged: the customer has no default saved payment method. "
            "Pass payment_method_id, or send the customer a checkout link with create_checkout."
        )
    customer = order.customer
    return ChargePreview(
        summary=f"Charge {views.money(order.total_amount, order.currency)} to "
        f"{views.clean_text(customer.email if customer else None) or order.customer_id} for order {order_id}",
        order_id=order_id,
        amount=order.total_amount,
        currency=order.currency,
        amount_display=views.money(order.total_amount, order.currency),
        customer_id=order.customer_id,
        customer_email=views.clean_text(customer.email if customer else None),
        customer_name=views.clean_text(customer.name if customer else None),
        product=views.clean_text(order.product.name if order.product else None),
        description=views.clean_text(order.description),
        payment_method_id=method.id,
        payment_method=views.payment_method_label(method),
    )


@polar_errors_as_tool_errors
async def charge_preview(order_id: str, payment_method_id: str | None, api: Api, guard: GuardDep) -> ChargePreview:
    preview = await compute_charge_preview(api, order_id, payment_method_id)
    guard.check_limit(preview.amount, preview.amount_display, f"Order {order_id} was not charged")
    return preview


async def confirm_charge(
    preview: Annotated[ChargePreview, Resolve(charge_preview)], guard: GuardDep, ctx: Ctx
) -> object:
    return guard.ask(ctx, preview)


class ChargeResult(BaseModel):
    """The outcome of finalize_order: a preview awaiting approval, or the charged order."""

    status: Literal["confirmation_required", "charged"]
    preview: ChargePreview
    confirmation_token: str | None = Field(
        default=None, description="Pass back to finalize_order once a human approved the preview."
    )
    token_expires_at: str | None = None
    order: views.OrderSummary | None = None
    next_step: str


async def finalize_order(
    order_id: OrderId,
    api: Api,
    guard: GuardDep,
    preview: Annotated[ChargePreview, Resolve(charge_preview)],
    approval: Annotated[ElicitationResult[Approval], Resolve(confirm_charge)],
    payment_method_id: PaymentMethodId | None = None,
    confirmation_token: ConfirmationToken | None = None,
) -> ChargeResult:
    """Charge a draft order to the customer's saved card (off-session). MOVES MONEY, cannot be undone.
    The first call charges nothing: it returns a preview (amount, customer, product, card) and a
    confirmation_token; show the preview to a human and, only if they approve, call again with the
    token. Some clients ask the human directly instead. A repeated call never charges twice."""
    not_done = f"Order {order_id} was not charged"
    outcome = await confirm(
        guard, approval, tool="finalize_order", target=order_id, preview=preview,
        confirmation_token=confirmation_token, not_done=not_done,
        reread=lambda: compute_charge_preview(api, order_id, payment_method_id),
    )  # fmt: skip
    if isinstance(outcome, AwaitingApproval):
        return ChargeResult(
            status="confirmation_required",
            preview=preview,
            confirmation_token=outcome.token,
            token_expires_at=outcome.expires_at,
            next_step=outcome.next_step("finalize_order", "order_id"),
        )
    fresh = outcome  # re-read just now, and identical to what was approved
    try:
        paid = await api.orders.finalize(order_id, payment_method_id=fresh.payment_method_id)
    except PaymentRequiredError as exc:
        raise ToolError(_payment_refused(not_done, exc)) from exc
    except PreconditionFailedError as exc:
        raise ToolError(
            f"Order {order_id} was not charged by this call: Polar says it is no longer a draft "
            f"({exc.code}). Another call may have finalized it; check with get_order."
        ) from exc
    except OUTCOME_UNKNOWN as exc:
        if not outcome_unknown(exc):
            raise ToolError(f"{not_done}: Polar could not be reached ({exc}). It is safe to retry.") from exc
        return await _settle_ambiguous(api, order_id, fresh, exc)
    log.info("order %s finalized: %s", order_id, paid.status)
    return ChargeResult(
        status="charged",
        preview=fresh,
        order=views.order(paid),
        next_step="Charged. Use get_receipt for the receipt.",
    )


def _payment_refused(not_done: str, exc: PaymentRequiredError) -> str:
    detail = exc.detail if isinstance(exc.detail, str) else exc.code
    if exc.code == "PaymentActionRequired":
        # Polar's own detail already says why (authentication, which an off-session charge cannot do).
        why = exc.detail.strip() if isinstance(exc.detail, str) and exc.detail.strip() else (
            "the customer's bank requires the customer to authenticate this payment (3-D Secure), which "
            "cannot happen off-session."
        )  # fmt: skip
        return (
            f"{not_done}: {why.rstrip('.')}. The order is still a draft. Only the customer can authenticate "
            "the payment: send them a checkout link (create_checkout) to pay there."
        )
    return (
        f"{not_done}: the payment was declined ({exc.code}: {detail}). The order is still a draft. "
        "Ask the customer to update their payment method or pay through a checkout link "
        "(create_checkout); retrying the same card will likely fail again."
    )


async def _settle_ambiguous(
    api: PolarClient, order_id: str, previewed: ChargePreview, failure: PolarError
) -> ChargeResult:
    """The charge request reached Polar but no usable answer came back: learn from Polar what happened."""
    why = what_failed(failure)
    try:
        order = await api.orders.get(order_id)
    except PolarError as exc:
        raise ToolError(
            f"Order {order_id} may or may not have been charged: the charge request failed ({why}) and reading "
            f"the order back failed too ({exc}). Do not call finalize_order again until get_order shows the "
            "order's status (paid means it was charged)."
        ) from exc
    if order.status == "draft" and may_still_be_running(failure):
        # A slow charge can land after this read: say what is known, not more.
        raise ToolError(
            f"Order {order_id} is still a draft, but {why} and Polar may still be processing the charge. "
            "Check with get_order in a minute before doing anything else. Calling finalize_order again is "
            "safe: Polar never charges one order twice."
        )
    if order.status == "draft":
        raise ToolError(
            f"Order {order_id} was not charged: {why} and the order is still a draft. It is safe to call "
            "finalize_order again for a fresh preview."
        )
    return ChargeResult(
        status="charged",
        preview=previewed,
        order=views.order(order),
        next_step=f"The charge went through although {why}: the order is now {order.status}. "
        "Do not retry; use get_receipt for the receipt.",
    )


TOOLS = (
    Tool(list_orders, tier="read", title="List orders", toolset="orders"),
    Tool(get_order, tier="read", title="Get order", toolset="orders"),
    Tool(create_order, tier="write", title="Create draft order", toolset="orders"),
    Tool(update_order, tier="write", title="Update order billing details", toolset="orders", idempotent=True),
    Tool(finalize_order, tier="irreversible", title="Finalize (charge) a draft order", toolset="orders"),
)
