"""Customer-portal tools: act for one signed-in customer, and mint sessions for customers."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Annotated, ParamSpec, TypeVar

from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel, ConfigDict, Field

from polar_orders_mcp.polar import models
from polar_orders_mcp.polar.errors import AuthenticationError, NotFoundError
from polar_orders_mcp.tools import views
from polar_orders_mcp.tools.base import Tool
from polar_orders_mcp.tools.context import Api, Now
from polar_orders_mcp.tools.documents import (
    InvoiceResult,
    InvoiceView,
    WaitSeconds,
    check_invoice_request,
    send_invoice_request,
    wait_for_invoice,
    wait_for_receipt,
)
from polar_orders_mcp.tools.params import (
    BillingAddress,
    BillingName,
    CustomerId,
    OrderId,
    OrderStatus,
    Since,
    Until,
    address_needs_order,
    billing_changes,
)

P = ParamSpec("P")
R = TypeVar("R")

EXPIRED = (
    "The customer session has expired or is not valid: create a new one "
    "(create_customer_session in organization mode, or your app's sign-in flow), then try again."
)


def session_errors(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """A 401 on the portal means the customer's one-hour session ended; a 404 for the order itself, that it is
    not the customer's (the portal knows no other order). Say so plainly."""

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await fn(*args, **kwargs)
        except AuthenticationError as exc:
            raise ToolError(EXPIRED) from exc
        except NotFoundError as exc:
            # InvoiceDoesNotExist and ReceiptNotAllocated are about one of the customer's own orders.
            if exc.code not in (None, "ResourceNotFound") or "order_id" not in kwargs:
                raise
            raise ToolError(f"Order {kwargs['order_id']} is not one of your orders.") from exc

    return wrapper


@session_errors
async def list_my_orders(
    api: Api,
    now: Now,
    product_name: Annotated[str | None, Field(max_length=256, description="Match product names.")] = None,
    status: Annotated[
        list[OrderStatus] | None, Field(max_length=6, description='Only these statuses, e.g. ["paid"].')
    ] = None,
    created_after: Since = None,
    created_before: Until = None,
    page: Annotated[int, Field(ge=1)] = 1,
    limit: Annotated[int, Field(ge=1, le=100)] = 20,
) -> views.OrderList:
    """List the signed-in customer's own orders, newest first, optionally only some statuses or dates. Only
    this customer's orders exist here; use get_my_order for one of them."""
    if created_after and created_before and created_after >= created_before:
        raise ToolError("created_after must be before created_before.")
    if not (status or created_after or created_before):
        return views.order_list(await api.customer_portal.orders.list(page=page, limit=limit, query=product_name), now)
    # Polar's customer portal filters neither by status nor by date: read the customer's orders (newest first)
    # and keep the wanted ones.
    matching = []
    async for o in api.customer_portal.orders.iterate(query=product_name, sorting=["-created_at"]):
        if created_after and o.created_at <= created_after:
            break
        if (not status or o.status in status) and not (created_before and o.created_at >= created_before):
            matching.append(o)
    start = (page - 1) * limit
    found = models.Page[models.Order](
        items=matching[start : start + limit],
        total_count=len(matching),
        max_page=-(-len(matching) // limit),
        page=page,
        limit=limit,
    )
    return views.order_list(found, now)


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
    """Fix the billing name or address on one of the customer's orders; request_my_invoice then
    regenerates its invoice. Country and state stay as they are. Safe to repeat."""
    portal = api.customer_portal.orders
    current = (await portal.get(order_id)).billing_address if address_needs_order(billing_address) else None
    order = await portal.update(order_id, **billing_changes(billing_name, billing_address, current))
    return views.order(order)


@session_errors
async def request_my_invoice(order_id: OrderId, api: Api, wait_seconds: WaitSeconds = 5) -> InvoiceResult:
    """Request the invoice PDF of one of the customer's orders, or regenerate it after its billing details
    changed (it keeps its number). Polar makes it in the background: this waits up to wait_seconds for its
    link. Safe to repeat."""
    portal = api.customer_portal.orders
    order = await portal.get(order_id)
    check_invoice_request(order)
    requested = await send_invoice_request(
        order,
        send=lambda: portal.generate_invoice(order_id),
        read_back=lambda: portal.get(order_id),
        tool="request_my_invoice",
        get_tool="get_my_invoice",
    )
    fetch = functools.partial(portal.get_invoice, order_id)
    return await wait_for_invoice(requested, order, fetch, wait_seconds, "get_my_invoice")


@session_errors
async def get_my_invoice(order_id: OrderId, api: Api) -> InvoiceView:
    """Get the link to the invoice of one of the customer's orders, once it exists; the link works for
    about 10 minutes."""
    invoice = await api.customer_portal.orders.get_invoice(order_id)
    return InvoiceView(order_id=order_id, url=invoice.url, link_expires=views.LINK_LIFETIME)


@session_errors
async def get_my_receipt(order_id: OrderId, api: Api) -> views.ReceiptView:
    """Get the link to the receipt of one of the customer's paid orders (valid about 10 minutes)."""
    return await wait_for_receipt(order_id, lambda: api.customer_portal.orders.get_receipt(order_id), "get_my_receipt")


class CustomerSessionView(BaseModel):
    model_config = ConfigDict(defer_build=True)
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
    Tool(request_my_invoice, tier="write", title="Request my invoice", toolset="portal", idempotent=True),
    Tool(get_my_invoice, tier="read", title="Get my invoice", toolset="portal"),
    Tool(get_my_receipt, tier="read", title="Get my receipt", toolset="portal"),
)

TOOLS = (Tool(create_customer_session, tier="write", title="Create customer session", toolset="customer_sessions"),)
