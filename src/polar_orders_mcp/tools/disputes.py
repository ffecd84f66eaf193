"""Dispute tools: find and read disputes (chargebacks), and the facts accepting one would have."""

from __future__ import annotations

from typing import Annotated, Literal

from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel, Field

from polar_orders_mcp.polar.client import PolarClient
from polar_orders_mcp.tools import views
from polar_orders_mcp.tools.base import Tool
from polar_orders_mcp.tools.context import Api
from polar_orders_mcp.tools.params import Detail, DisputeId, OrderId

DisputeStatus = Literal["prevented", "early_warning", "needs_response", "under_review", "lost", "won"]
DisputeSort = Literal["created_at", "-created_at", "amount", "-amount"]
# A subscription in these states is revoked at once when its order's dispute is resolved.
REVOCABLE = frozenset({"trialing", "active", "past_due", "paused"})


async def list_disputes(
    api: Api,
    order_id: OrderId | None = None,
    status: Annotated[
        list[DisputeStatus] | None,
        Field(max_length=6, description="Only these statuses; needs_response are the ones awaiting you."),
    ] = None,
    sorting: Annotated[
        list[DisputeSort] | None, Field(max_length=2, description="Sort keys, '-' for descending. Default: newest.")
    ] = None,
    page: Annotated[int, Field(ge=1, description="Page number, from 1.")] = 1,
    limit: Annotated[int, Field(ge=1, le=100, description="Disputes per page, at most 100.")] = 20,
    detail: Detail = "summary",
) -> views.DisputeList:
    """List disputes (chargebacks raised by customers' banks), newest first, by order or status, with the
    disputed total and the deadline to respond. Use get_dispute for one you know the id of."""
    result = await api.disputes.list(
        page=page, limit=limit, order_id=order_id, status=list(status) if status else None,
        sorting=list(sorting) if sorting else None,
    )  # fmt: skip
    return views.dispute_list(result, detail)


async def get_dispute(dispute_id: DisputeId, api: Api, detail: Detail = "summary") -> views.DisputeView:
    """Get one dispute: status, the bank's reason, disputed amount and tax, order, customer, and the
    deadline for a response (evidence_due_by)."""
    return views.dispute(await api.disputes.get(dispute_id), detail)


class DisputeAcceptFacts(BaseModel):
    """What accepting (conceding) the dispute would do, from Polar's data. Amounts in minor units."""

    dispute_id: str
    status: str
    reason: views.CustomerText = None
    order_id: str
    customer_id: str
    customer_email: views.CustomerText = None
    customer_name: views.CustomerText = None
    currency: str
    amount: int = Field(description="Disputed, net of tax.")
    tax_amount: int
    total_amount: int = Field(description="The disputed total the customer keeps.")
    total_display: str
    evidence_due_by: str | None = None
    past_due: bool
    subscription_id: str | None = Field(
        default=None, description="The order's subscription, which Polar revokes at once when the dispute is lost."
    )
    effect: str


async def dispute_accept_facts(api: PolarClient, dispute_id: str) -> DisputeAcceptFacts:
    """Read the dispute, its order and the order's subscription. Raises ToolError when Polar would refuse
    (only a dispute awaiting a response, needs_response, can be accepted); PolarError when a read fails."""
    d = await api.disputes.get(dispute_id)
    if d.status != "needs_response":
        raise ToolError(
            f"Dispute {dispute_id} was not accepted: it is {d.status}, and only a dispute awaiting a response "
            "(needs_response) can be accepted. Nothing was done."
        )
    order = await api.orders.get(d.order_id)
    revoked = None
    if order.subscription_id is not None:
        subscription = await api.subscriptions.get(order.subscription_id)
        revoked = subscription.id if subscription.status in REVOCABLE and subscription.ended_at is None else None
    view = views.dispute(d)
    total = views.money(d.total_amount, d.currency)
    also = f" Its subscription {revoked} is revoked at once." if revoked else ""
    return DisputeAcceptFacts(
        dispute_id=d.id,
        status=d.status,
        reason=view.reason,
        order_id=d.order_id,
        customer_id=view.customer_id or order.customer_id,
        customer_email=view.customer_supplied.email,
        customer_name=view.customer_supplied.name,
        currency=d.currency,
        amount=d.amount,
        tax_amount=d.tax_amount,
        total_amount=d.total_amount,
        total_display=total,
        evidence_due_by=view.evidence_due_by,
        past_due=d.past_due,
        subscription_id=revoked,
        effect=f"Concedes the chargeback: the dispute closes as lost, the customer keeps the {total} and no "
        f"evidence can be submitted afterwards; Polar revokes the order's benefits.{also}",
    )


TOOLS = (
    Tool(list_disputes, tier="read", title="List disputes", toolset="disputes"),
    Tool(get_dispute, tier="read", title="Get dispute", toolset="disputes"),
)
