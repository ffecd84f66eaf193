"""Order documents: receipts, invoices, and the CSV export."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

import anyio
from mcp.server.mcpserver import ElicitationResult, Resolve
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel, Field

from polar_orders_mcp.polar import models
from polar_orders_mcp.polar.client import PolarClient
from polar_orders_mcp.polar.errors import (
    OUTCOME_UNKNOWN,
    PolarError,
    may_still_be_running,
    outcome_unknown,
    what_failed,
)
from polar_orders_mcp.tools import views
from polar_orders_mcp.tools.base import Tool
from polar_orders_mcp.tools.context import Api, Ctx, GuardDep, polar_errors_as_tool_errors
from polar_orders_mcp.tools.guard import Approval, AwaitingApproval, Preview, confirm
from polar_orders_mcp.tools.params import ConfirmationToken, OrderId

# Polar answers 202 while it renders a receipt PDF; a short wait usually sees it ready.
RECEIPT_POLL_DELAYS = (0.3, 0.7, 1.5)


async def get_receipt(order_id: OrderId, api: Api) -> views.ReceiptView:
    """Get a link to the receipt PDF of a paid order (valid about 10 minutes).
    Waits briefly while Polar renders a new receipt; if it is still rendering, try again shortly."""
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


class InvoicePreview(Preview):
    """The permanent invoice that generate_invoice will make, computed from Polar's data."""

    order_id: str
    amount_display: str
    customer_email: str | None
    billing_name: str
    billing_address: str


async def compute_invoice_preview(api: PolarClient, order_id: str) -> InvoicePreview:
    return invoice_preview_of(await api.orders.get(order_id))


def invoice_preview_of(order: models.Order) -> InvoicePreview:
    """The invoice an order would get, or a ToolError saying why it cannot get one."""
    order_id = order.id
    if order.is_invoice_generated:
        raise ToolError(
            f"Order {order_id} already has invoice {order.invoice_number or ''}: nothing was generated. "
            "Use get_invoice for its link."
        )
    if order.status in ("draft", "void"):
        raise ToolError(
            f"No invoice was generated: order {order_id} is {order.status}, and Polar only invoices "
            "orders that were placed (pending, paid or refunded)."
        )
    billing_name = views.clean_text(order.billing_name)
    billing_address = views.address_line(order.billing_address)
    if not billing_name or not billing_address:
        raise ToolError(
            f"No invoice was generated: order {order_id} has no billing "
            f"{'name' if not billing_name else 'address'}. Set it with update_order first — the "
            "invoice is permanent."
        )
    email = views.clean_text(order.customer.email if order.customer else None)
    return InvoicePreview(
        summary=f"Generate the permanent invoice for order {order_id} "
        f"({views.money(order.total_amount, order.currency)}) billed to {billing_name}",
        order_id=order_id,
        amount_display=views.money(order.total_amount, order.currency),
        customer_email=email,
        billing_name=billing_name,
        billing_address=billing_address,
    )


@polar_errors_as_tool_errors
async def invoice_preview(order_id: str, api: Api) -> InvoicePreview:
    return await compute_invoice_preview(api, order_id)


async def confirm_invoice(
    preview: Annotated[InvoicePreview, Resolve(invoice_preview)], guard: GuardDep, ctx: Ctx
) -> object:
    return guard.ask(ctx, preview)


class InvoiceResult(BaseModel):
    status: str = Field(description="confirmation_required, or requested: Polar is generating it.")
    preview: InvoicePreview
    confirmation_token: str | None = Field(
        default=None, description="Pass back to generate_invoice once a human approved the preview."
    )
    token_expires_at: str | None = None
    next_step: str

    @classmethod
    def awaiting(cls, preview: InvoicePreview, outcome: AwaitingApproval, tool: str) -> InvoiceResult:
        return cls(
            status="confirmation_required",
            preview=preview,
            confirmation_token=outcome.token,
            token_expires_at=outcome.expires_at,
            next_step=outcome.next_step(tool, "order_id"),
        )


async def generate_invoice(
    order_id: OrderId,
    api: Api,
    guard: GuardDep,
    preview: Annotated[InvoicePreview, Resolve(invoice_preview)],
    approval: Annotated[ElicitationResult[Approval], Resolve(confirm_invoice)],
    confirmation_token: ConfirmationToken | None = None,
) -> InvoiceResult:
    """Generate an order's invoice. PERMANENT: its billing name and address can never change
    afterwards, so fix them with update_order first. The first call returns a preview and a
    confirmation_token; call again with the token only after a human approved the preview."""
    outcome = await confirm(
        guard, approval, tool="generate_invoice", target=order_id, preview=preview,
        confirmation_token=confirmation_token, not_done=f"No invoice was generated for order {order_id}",
        reread=lambda: compute_invoice_preview(api, order_id),
    )  # fmt: skip
    if isinstance(outcome, AwaitingApproval):
        return InvoiceResult.awaiting(preview, outcome, "generate_invoice")
    return await send_invoice_request(
        order_id,
        outcome,
        send=lambda: api.orders.generate_invoice(order_id),
        read_back=lambda: api.orders.get(order_id),
        tool="generate_invoice",
        get_tool="get_invoice",
    )


async def send_invoice_request(
    order_id: str,
    preview: InvoicePreview,
    *,
    send: Callable[[], Awaitable[None]],
    read_back: Callable[[], Awaitable[models.Order]],
    tool: str,
    get_tool: str,
) -> InvoiceResult:
    """Ask Polar for the invoice; when the answer is lost, read the order back to learn what happened."""
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
            order = await read_back()
        except PolarError as read_exc:
            raise ToolError(
                f"Order {order_id}'s invoice may or may not have been generated: the request failed ({why}) and "
                f"reading the order back failed too ({read_exc}). Check with {get_tool} before calling {tool} again."
            ) from read_exc
        if not order.is_invoice_generated:
            still = " yet, but Polar may still be making it" if may_still_be_running(exc) else ""
            raise ToolError(
                f"Order {order_id} has no invoice{still}: {why}. Check with {get_tool} in a minute; calling {tool} "
                "again is safe, since an order only ever gets one invoice."
            ) from exc
    return InvoiceResult(
        status="requested",
        preview=preview,
        next_step=f"Polar is generating the invoice; {get_tool} returns its link once it exists.",
    )


class InvoiceView(BaseModel):
    order_id: str
    url: str = Field(description="Short-lived link to the invoice PDF (about 10 minutes).")
    # Polar presigns invoice links for 10 minutes (S3Service's default presign TTL).
    link_expires: str = views.LINK_LIFETIME


async def get_invoice(order_id: OrderId, api: Api) -> InvoiceView:
    """Get a link to an order's invoice PDF; the link works for about 10 minutes, so fetch a fresh one
    when needed. An order has no invoice until generate_invoice made one; the error then says so."""
    invoice = await api.orders.get_invoice(order_id)
    return InvoiceView(order_id=order_id, url=invoice.url)


TOOLS = (
    Tool(get_receipt, tier="read", title="Get order receipt", toolset="orders"),
    Tool(generate_invoice, tier="irreversible", title="Generate invoice (permanent)", toolset="orders"),
    Tool(get_invoice, tier="read", title="Get invoice", toolset="orders"),
)
