"""Dispute tools: find and read disputes (chargebacks), and the facts accepting one would have."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal

import mcp_types as types
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel, ConfigDict, Field

from polar_orders_mcp.approvals.flow import Done
from polar_orders_mcp.approvals.preview import Preview
from polar_orders_mcp.polar import models
from polar_orders_mcp.polar.client import PolarClient
from polar_orders_mcp.tools import views
from polar_orders_mcp.tools.base import Tool
from polar_orders_mcp.tools.context import Api, Ctx, Now
from polar_orders_mcp.tools.irreversible import (
    ApprovalIdArg,
    GuardedResult,
    MaxAmountArg,
    MaxCurrencyArg,
    StatusReadBack,
    guarded,
)
from polar_orders_mcp.tools.params import CustomerId, Detail, DisputeId, OrderId

DisputeStatus = Literal["prevented", "early_warning", "needs_response", "under_review", "lost", "won"]
DisputeSort = Literal["created_at", "-created_at", "amount", "-amount"]
# Polar's disputes list filters by order: a customer's disputes are those of their orders, up to one page.
CUSTOMER_ORDERS = 100
DISPUTABLE = ["pending", "paid", "refunded", "partially_refunded", "void"]
# A subscription in these states is revoked at once when its order's dispute is resolved.
REVOCABLE = frozenset({"trialing", "active", "past_due", "paused"})


async def list_disputes(
    api: Api,
    now: Now,
    order_id: OrderId | None = None,
    customer_id: CustomerId | None = None,
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
    """List disputes (chargebacks raised by customers' banks), newest first, by order, customer or status,
    with the disputed total and the deadline to respond. Use get_dispute for one you know the id of."""
    orders: list[str] | str | None = order_id
    if customer_id is not None:
        orders = await customer_order_ids(api, customer_id, order_id)
        if not orders:
            empty = models.Page[models.Dispute](items=[], total_count=0, max_page=0, page=page, limit=limit)
            return views.dispute_list(empty, now, detail)
    result = await api.disputes.list(
        page=page,
        limit=limit,
        order_id=orders,
        status=list(status) if status else None,
        sorting=list(sorting) if sorting else None,
    )
    return views.dispute_list(result, now, detail)


async def customer_order_ids(api: PolarClient, customer_id: str, order_id: str | None) -> list[str]:
    """The customer's placed orders, for Polar's disputes filter, which takes orders but not customers.
    A draft was never paid, so it is never disputed."""
    page = await api.orders.list(customer_id=customer_id, status=DISPUTABLE, limit=CUSTOMER_ORDERS)
    if page.total_count > CUSTOMER_ORDERS:
        raise ToolError(
            f"Customer {customer_id} has {page.total_count} orders, more than the {CUSTOMER_ORDERS} this filter "
            "can cover: Polar filters disputes by order, not by customer. Pass order_id (list_orders finds the "
            "customer's orders), or list disputes by status."
        )
    ids = [o.id for o in page.items]
    return [i for i in ids if i == order_id] if order_id is not None else ids


async def get_dispute(dispute_id: DisputeId, api: Api, detail: Detail = "summary") -> views.DisputeView:
    """Get one dispute: status, the bank's reason, disputed amount and tax, order, customer, and the
    deadline for a response (evidence_due_by)."""
    return views.dispute(await api.disputes.get(dispute_id), detail)


class DisputeAcceptFacts(BaseModel):
    """What accepting (conceding) the dispute would do, from Polar's data. Amounts in minor units."""

    model_config = ConfigDict(defer_build=True)

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


class ConcedePreview(Preview):
    """What accepting the dispute concedes, computed from Polar's data. No new money moves: the bank
    already took the disputed total back; accepting gives up the fight for it."""

    dispute_id: str
    status: str
    reason: str | None
    order_id: str
    customer_id: str
    customer_email: str | None
    customer_name: str | None
    currency: str
    total_amount: int
    total_display: str
    evidence_due_by: str | None
    subscription_id: str | None
    effect: str

    # Conceding gives up money for good: it counts against the limits and --approval-above like a refund.
    AMOUNT_FIELD = "total_amount"
    SHOWN = (
        ("total_display", "The customer keeps, tax included", "amount"),
        ("effect", "What happens", "warning"),
        ("reason", "The bank's reason", "text"),
        ("evidence_due_by", "Evidence due by", "time"),
        ("customer_email", "Customer email", "customer"),
        ("customer_name", "Customer name", "customer"),
    )


@dataclass
class AcceptDispute(StatusReadBack[ConcedePreview, models.Dispute]):
    """accept_dispute: concede one chargeback."""

    dispute_id: str
    tool: ClassVar[str] = "accept_dispute"
    preview_model: ClassVar[type[Preview] | None] = ConcedePreview

    @property
    def target(self) -> str:
        return self.dispute_id

    def not_done(self) -> str:
        return f"Dispute {self.dispute_id} was not accepted"

    async def preview(self, api: PolarClient) -> ConcedePreview:
        facts = await dispute_accept_facts(api, self.dispute_id)
        return ConcedePreview(
            summary=f"Concede dispute {facts.dispute_id} of order {facts.order_id}: "
            f"{facts.customer_email or facts.customer_id} keeps {facts.total_display}",
            dispute_id=facts.dispute_id,
            status=facts.status,
            reason=facts.reason,
            order_id=facts.order_id,
            customer_id=facts.customer_id,
            customer_email=facts.customer_email,
            customer_name=facts.customer_name,
            currency=facts.currency,
            total_amount=facts.total_amount,
            total_display=facts.total_display,
            evidence_due_by=facts.evidence_due_by,
            subscription_id=facts.subscription_id,
            effect=facts.effect,
        )

    async def act(self, api: PolarClient, approved: ConcedePreview) -> models.Dispute:
        return await api.disputes.accept(self.dispute_id)

    UNREADABLE = (
        "Dispute {target} may or may not have been accepted: the request failed ({why}) and reading it back failed "
        "too ({error}). Check with get_dispute before anything else."
    )
    STILL_RUNNING = (
        "Dispute {target} still needs a response, but {why} and Polar may still be accepting it. Check with "
        "get_dispute in a minute."
    )
    NOT_DONE = "{not_done}: {why}, and it still needs a response."

    async def read_target(self, api: PolarClient) -> models.Dispute:
        return await api.disputes.get(self.dispute_id)

    def done_in(self, target: models.Dispute) -> bool:
        return target.status != "needs_response"

    def moved(self, outcome: models.Dispute) -> tuple[int, str]:
        return outcome.total_amount, outcome.currency

    def differences_from_approved(self, approved: ConcedePreview, outcome: models.Dispute) -> list[str]:
        if outcome.id != approved.dispute_id:
            return [f"approved for dispute {approved.dispute_id}, Polar answered about {outcome.id}"]
        if outcome.status == "needs_response":
            return ["Polar answered, but the dispute still needs a response"]
        return []


class ConcedeResult(GuardedResult):
    """accept_dispute's answer: waiting for a person's approval (nothing conceded yet), or accepted."""

    status: Literal["approval_pending", "confirmation_required", "accepted"]
    preview: ConcedePreview
    dispute: views.DisputeView | None = None

    @classmethod
    def finished(cls, done: Done[ConcedePreview, models.Dispute]) -> dict[str, Any]:
        step = f"Accepted: the dispute is {done.outcome.status}."
        if done.settled:
            step = f"Accepted ({done.settled}). Do not retry."
        return {"status": "accepted", "dispute": views.dispute(done.outcome), "next_step": step}


async def accept_dispute(
    ctx: Ctx,
    dispute_id: DisputeId,
    max_amount: MaxAmountArg = None,
    max_currency: MaxCurrencyArg = None,
    approval_id: ApprovalIdArg | None = None,
) -> ConcedeResult | types.InputRequiredResult:
    """Concede a dispute (chargeback): the customer keeps the money and Polar revokes the order's benefits.
    Cannot be undone. A person approves it first, maybe in this call."""
    return await guarded(ctx, AcceptDispute(dispute_id), ConcedeResult, approval_id, max_amount, max_currency)


TOOLS = (
    Tool(list_disputes, tier="read", title="List disputes", toolset="disputes"),
    Tool(get_dispute, tier="read", title="Get dispute", toolset="disputes"),
    Tool(
        accept_dispute,
        tier="irreversible",
        title="Accept (concede) a dispute",
        toolset="disputes",
        action=AcceptDispute,
    ),
)
