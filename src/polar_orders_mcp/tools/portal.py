"""Customer-portal tools: act for one signed-in customer, and mint sessions for customers."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Annotated, ParamSpec, TypeVar

from mcp.server.mcpserver import ElicitationResult, Resolve
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel, Field

from polar_orders_mcp.polar.client import PolarClient
from polar_orders_mcp.polar.errors import AuthenticationError
from polar_orders_mcp.tools import views
from polar_orders_mcp.tools.base import Tool
from polar_orders_mcp.tools.context import Api, Ctx, GuardDep, polar_errors_as_tool_errors
from polar_orders_mcp.tools.documents import (
    InvoicePreview,
    InvoiceResult,
    InvoiceView,
    invoice_preview_of,
    send_invoice_request,
    wait_for_receipt,
)
from polar_orders_mcp.tools.guard import Approval, AwaitingApproval, confirm
from polar_orders_mcp.tools.params import (
    BillingAddress,
    BillingName,
    ConfirmationToken,
    CustomerId,
    OrderId,
    billing_changes,
)

P = ParamSpec("P")
R = TypeVar("R")

EXPIRED = (
    "The customer session has expired or is not valid: create a new one "
    "(create_customer_session in organization mode, or your app's sign-in flow), then try again."
)


def session_errors(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """A 401 on the portal means the customer's one-hour session ended: say so plainly."""

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await fn(*args, **kwargs)
        except AuthenticationError as exc:
            raise ToolError(EXPIRED) from exc

    return wrapper


@session_errors
async def list_my_orders(
    api: Api,
    product_name: Annotated[str | None, Field(max_length=256, description="Match product names.")] = None,
    page: Annotated[int, Field(ge=1)] = 1,
    limit: Annotated[int, Field(ge=1, le=100)] = 20,
) -> views.OrderList:
    """List the signed-in customer's own orders, newest first. Only this customer's orders exist
    here; use get_my_order for one of them."""
    result = await api.customer_portal.orders.list(page=page, limit=limit, query=product_name)
    return views.order_list(result)


@session_errors
async def get_my_order(order_id: OrderId, api: Api) -> views.OrderSummary:
    """Get one of the signed-in customer's orders: status, product, amounts, billing details,
    invoice state."""
    return views.order(await api.customer_portal.orders.get(order_id))


@session_errors
async def update_my_billing_details(
    order_id: OrderId,
    api: Api,
    billing_name: BillingName = None,
    billing_address: BillingAddress = None,
) -> views.OrderSummary:
    """Fix the billing name or address on one of the customer's orders before its invoice is
    made (the invoice is permanent). Country and state cannot change. Safe to repeat."""
    order = await api.customer_portal.orders.update(order_id, **billing_changes(billing_name, billing_address))
    return views.order(order)


async def compute_my_invoice_preview(api: PolarClient, order_id: str) -> InvoicePreview:
    return invoice_preview_of(await api.customer_portal.orders.get(order_id))


# session_errors inside: polar_errors_as_tool_errors would otherwise turn the 401 into a ToolError first.
@polar_errors_as_tool_errors
@session_errors
async def my_invoice_preview(order_id: str, api: Api) -> InvoicePreview:
    return await compute_my_invoice_preview(api, order_id)


async def confirm_my_invoice(
    preview: Annotated[InvoicePreview, Resolve(my_invoice_preview)], guard: GuardDep, ctx: Ctx
) -> object:
    return guard.ask(ctx, preview)


@session_errors
async def request_my_invoice(
    order_id: OrderId,
    api: Api,
    guard: GuardDep,
    preview: Annotated[InvoicePreview, Resolve(my_invoice_preview)],
    approval: Annotated[ElicitationResult[Approval], Resolve(confirm_my_invoice)],
    confirmation_token: ConfirmationToken | None = None,
) -> InvoiceResult:
    """Request the permanent invoice for one of the customer's orders. Its billing details can never
    change afterwards: check them first. The first call returns a preview and a confirmation_token;
    call again with the token only after the customer approved the preview."""
    outcome = await confirm(
        guard, approval, tool="request_my_invoice", target=order_id, preview=preview,
        confirmation_token=confirmation_token, not_done=f"No invoice was generated for order {order_id}",
        reread=lambda: compute_my_invoice_preview(api, order_id),
    )  # fmt: skip
    if isinstance(outcome, AwaitingApproval):
        return InvoiceResult.awaiting(preview, outcome, "request_my_invoice")
    return await send_invoice_request(
        order_id,
        outcome,
        send=lambda: api.customer_portal.orders.generate_invoice(order_id),
        read_back=lambda: api.customer_portal.orders.get(order_id),
        tool="request_my_invoice",
        get_tool="get_my_invoice",
    )


@session_errors
async def get_my_invoice(order_id: OrderId, api: Api) -> InvoiceView:
    """Get the link to the invoice of one of the customer's orders, once it exists; the link works for
    about 10 minutes."""
    invoice = await api.customer_portal.orders.get_invoice(order_id)
    return InvoiceView(order_id=order_id, url=invoice.url)


@session_errors
async def get_my_receipt(order_id: OrderId, api: Api) -> views.ReceiptView:
    """Get the link to the receipt of one of the customer's paid orders (valid about 10 minutes)."""
    return await wait_for_receipt(order_id, lambda: api.customer_portal.orders.get_receipt(order_id), "get_my_receipt")


class CustomerSessionView(BaseModel):
    customer_id: str
    token: str = Field(description="polar_cst_… credential for this customer only; hand it to their app.")
    expires_at: str
    customer_portal_url: str | None = Field(description="Sign-in link to the customer portal; it holds the token.")


async def create_customer_session(
    api: Api,
    customer_id: CustomerId | None = None,
    external_customer_id: Annotated[
        str | None, Field(max_length=256, description="Your own id for the customer.")
    ] = None,
) -> CustomerSessionView:
    """Mint a one-hour customer-portal session for ONE customer, to hand a support widget or app a
    token scoped to that customer's own orders. The token is a credential: pass it only to that
    customer's session. Each call mints a new one."""
    if (customer_id is None) == (external_customer_id is None):
        raise ToolError("Pass exactly one of customer_id and external_customer_id.")
    session = await api.customer_sessions.create(customer_id=customer_id, external_customer_id=external_customer_id)
    return CustomerSessionView(
        customer_id=session.customer_id,
        token=session.token,
        expires_at=session.expires_at.isoformat(),
        customer_portal_url=session.customer_portal_url,
    )


CUSTOMER_TOOLS = (
    Tool(list_my_orders, tier="read", title="List my orders", toolset="portal"),
    Tool(get_my_order, tier="read", title="Get my order", toolset="portal"),
    Tool(update_my_billing_details, tier="write", title="Update my billing details", toolset="portal", idempotent=True),
    Tool(request_my_invoice, tier="irreversible", title="Request my invoice (permanent)", toolset="portal"),
    Tool(get_my_invoice, tier="read", title="Get my invoice", toolset="portal"),
    Tool(get_my_receipt, tier="read", title="Get my receipt", toolset="portal"),
)

TOOLS = (Tool(create_customer_session, tier="write", title="Create customer session", toolset="portal"),)

