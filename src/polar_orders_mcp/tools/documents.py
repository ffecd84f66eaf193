"""Order documents: receipts, invoices, and the CSV export."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Annotated, Literal

import anyio
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel, ConfigDict, Field

from polar_orders_mcp.polar import models
from polar_orders_mcp.polar.errors import (
    OUTCOME_UNKNOWN,
    NotFoundError,
    PolarError,
    may_still_be_running,
    outcome_unknown,
    what_failed,
)
from polar_orders_mcp.tools import views
from polar_orders_mcp.tools.base import Tool
from polar_orders_mcp.tools.context import Api
from polar_orders_mcp.tools.params import OrderId
from polar_orders_mcp.tools.views import CustomerSupplied

# Polar answers 202 while it renders a receipt PDF; a short wait usually sees it ready.
RECEIPT_POLL_DELAYS = (0.3, 0.7, 1.5)
# Polar makes an invoice in a queued job ("usually only a few seconds"): the delays between reads while
# waiting for it, the last repeated, and the longest wait a call may ask for.
INVOICE_POLL_DELAYS = (0.5, 1.0, 2.0)
MAX_INVOICE_WAIT = 30


async def get_receipt(order_id: OrderId, api: Api) -> views.ReceiptView:
    """A paid order's receipt PDF link, for about 10 minutes: link_expires says what to email instead."""
    return await wait_for_receipt(order_id, lambda: api.orders.get_receipt(order_id), "get_receipt")


async def wait_for_receipt(
    order_id: str, fetch: Callable[[], Awaitable[models.Receipt]], tool: str
) -> views.ReceiptView:
    """Fetch a receipt, polling briefly while Polar answers 202 (still rendering)."""
    receipt = await fetch()
    for delay in RECEIPT_POLL_DELAYS:
        if not receipt.pending:
            break
        await anyio.sleep(delay)
        receipt = await fetch()
    if receipt.pending:
        return views.ReceiptView(
            order_id=order_id,
            state="rendering",
            url=None,
            next_step=f"Polar is still rendering this receipt; call {tool} again in a few seconds.",
        )
    return views.ReceiptView(order_id=order_id, state="ready", url=receipt.url, link_expires=views.LINK_LIFETIME)


def check_invoice_request(order: models.Order) -> None:
    """Refuse, with what to do, what Polar would refuse: an invoice needs a placed order and billing details."""
    if order.status in ("draft", "void"):
        raise ToolError(
            f"No invoice was generated: order {order.id} is {order.status}, and Polar only invoices "
            "orders that were placed (pending, paid or refunded)."
        )
    missing = [name for name, value in (("name", order.billing_name), ("address", order.billing_address)) if not value]
    if missing:
        raise ToolError(
            f"No invoice was generated: order {order.id} has no billing {' or '.join(missing)}. Set it with "
            "update_order first."
        )


WaitSeconds = Annotated[int, Field(ge=0, le=MAX_INVOICE_WAIT, description="wait for the link")]


class InvoiceResult(BaseModel):
    model_config = ConfigDict(defer_build=True)
    order_id: str
    status: Literal["requested", "ready"] = Field(
        description="ready: url is the invoice. requested: Polar is still making it."
    )
    invoice_number: str | None = Field(default=None, description="Kept when the invoice is remade.")
    url: str | None = Field(default=None, description="The invoice PDF, when ready.", exclude_if=lambda v: v is None)
    link_expires: str | None = Field(
        default=None, description="How long the link works, and what to send instead.", exclude_if=lambda v: v is None
    )
    customer_supplied: CustomerSupplied = Field(description="The billing details the invoice is made with.")
    next_step: str | None = None


async def generate_invoice(order_id: OrderId, api: Api, wait_seconds: WaitSeconds = 5) -> InvoiceResult:
    """Make an order's invoice, or remake it after update_order (same number), and wait for its link."""
    order = await api.orders.get(order_id)
    check_invoice_request(order)
    requested = await send_invoice_request(
        order,
        send=lambda: api.orders.generate_invoice(order_id),
        read_back=lambda: api.orders.get(order_id),
        tool="generate_invoice",
        get_tool="get_invoice",
    )
    fetch = functools.partial(api.orders.get_invoice, order_id)
    return await wait_for_invoice(requested, order, fetch, wait_seconds, "get_invoice")


async def send_invoice_request(
    order: models.Order,
    *,
    send: Callable[[], Awaitable[None]],
    read_back: Callable[[], Awaitable[models.Order]],
    tool: str,
    get_tool: str,
) -> InvoiceResult:
    """Ask Polar for the invoice; when the answer is lost, read the order back to learn what happened."""
    order_id = order.id
    try:
        await send()
    except OUTCOME_UNKNOWN as exc:
        if not outcome_unknown(exc):
            raise ToolError(
                f"No invoice was generated for order {order_id}: Polar could not be reached ({exc}). "
                "It is safe to retry."
            ) from exc
        why = what_failed(exc)
        try:
            after = await read_back()
        except PolarError as read_exc:
            raise ToolError(
                f"Order {order_id}'s invoice may or may not have been requested: the request failed ({why}) and "
                f"reading the order back failed too ({read_exc}). Calling {tool} again is safe."
            ) from read_exc
        if not after.is_invoice_generated:
            still = " yet, but Polar may still be making it" if may_still_be_running(exc) else ""
            raise ToolError(
                f"Order {order_id} has no invoice{still}: {why}. Check with {get_tool} in a minute; calling {tool} "
                "again is safe (Polar regenerates an invoice only when its billing details changed)."
            ) from exc
    return InvoiceResult(
        order_id=order_id,
        status="requested",
        invoice_number=order.invoice_number,
        customer_supplied=CustomerSupplied(
            billing_name=views.clean_text(order.billing_name), billing_address=views.address_line(order.billing_address)
        ),
        next_step=f"Polar is making the invoice (usually a few seconds); {get_tool} returns its link once it exists, "
        "and answers InvoiceDoesNotExist until then.",
    )


async def wait_for_invoice(
    requested: InvoiceResult,
    before: models.Order,
    fetch: Callable[[], Awaitable[models.Invoice]],
    wait_seconds: int,
    get_tool: str,
) -> InvoiceResult:
    """Poll for the invoice's link for at most `wait_seconds`. An invoice that existed before the request is
    there at once; when its billing details changed, Polar remakes it (same number) a few seconds later."""
    deadline = anyio.current_time() + wait_seconds
    delays = iter(INVOICE_POLL_DELAYS)
    while wait_seconds > 0:
        try:
            invoice = await fetch()
        except NotFoundError:
            left = deadline - anyio.current_time()
            if left <= 0:
                break
            await anyio.sleep(min(next(delays, INVOICE_POLL_DELAYS[-1]), left))
            continue
        step = None
        if before.is_invoice_generated:
            step = (
                "This is the invoice as it was made before; if the billing details changed since, Polar is "
                f"remaking it (same number): call {get_tool} in about 10 seconds for the new version."
            )
        return requested.model_copy(
            update={"status": "ready", "url": invoice.url, "link_expires": views.LINK_LIFETIME, "next_step": step}
        )
    if wait_seconds > 0:
        waited = f"Not ready after {wait_seconds} s: "
        return requested.model_copy(update={"next_step": waited + (requested.next_step or "")})
    return requested


class InvoiceView(BaseModel):
    model_config = ConfigDict(defer_build=True)
    order_id: str
    url: str = Field(description="Short-lived link to the invoice PDF (about 10 minutes).")
    link_expires: str = Field(description="How long the link works, and what to send instead.")


async def get_invoice(order_id: OrderId, api: Api) -> InvoiceView:
    """An order's invoice PDF link (short-lived); InvoiceDoesNotExist until generate_invoice made it."""
    invoice = await api.orders.get_invoice(order_id)
    return InvoiceView(order_id=order_id, url=invoice.url, link_expires=views.LINK_LIFETIME)


TOOLS = (
    Tool(get_receipt, tier="read", title="Get order receipt", toolset="orders"),
    Tool(generate_invoice, tier="write", title="Generate invoice", toolset="orders", idempotent=True),
    Tool(get_invoice, tier="read", title="Get invoice", toolset="orders"),
)
