"""Subscription tools: find and read them, cancel at the period's end or undo that, and revoke facts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal

import mcp_types as types
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel, ConfigDict, Field

from polar_orders_mcp.approvals.flow import Done
from polar_orders_mcp.approvals.preview import Preview, Typed
from polar_orders_mcp.polar import models
from polar_orders_mcp.polar.client import PolarClient
from polar_orders_mcp.polar.errors import (
    OUTCOME_UNKNOWN,
    BadRequestError,
    ConflictError,
    GoneError,
    PermissionDeniedError,
    PolarError,
    outcome_unknown,
    what_failed,
)
from polar_orders_mcp.tools import views
from polar_orders_mcp.tools.base import Tool
from polar_orders_mcp.tools.context import Api, Ctx, Now
from polar_orders_mcp.tools.irreversible import ApprovalIdArg, GuardedResult, StatusReadBack, guarded
from polar_orders_mcp.tools.params import CustomerId, Detail, ProductId, SubscriptionId
from polar_orders_mcp.tools.refunds import refundable

SubscriptionStatus = Literal[
    "incomplete", "incomplete_expired", "trialing", "active", "past_due", "canceled", "unpaid", "paused"
]
SubscriptionSort = Literal[
    "started_at",
    "-started_at",
    "current_period_end",
    "-current_period_end",
    "ends_at",
    "-ends_at",
    "ended_at",
    "-ended_at",
    "amount",
    "-amount",
    "customer",
    "-customer",
    "product",
    "-product",
    "status",
    "-status",
]
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
BILLABLE = frozenset({"trialing", "active", "past_due"})

Reason = Annotated[
    CancellationReason | None,
    Field(description="The customer's reason, if they gave one (Polar shows it to the customer)."),
]
Comment = Annotated[
    str | None,
    Field(max_length=500, description="The customer's own words on why; Polar shows it to them. Not for notes."),
]


async def list_subscriptions(
    api: Api,
    now: Now,
    customer_id: CustomerId | None = None,
    product_id: ProductId | None = None,
    status: Annotated[
        list[SubscriptionStatus] | None, Field(max_length=8, description='Only these statuses, e.g. ["active"].')
    ] = None,
    cancel_at_period_end: Annotated[
        bool | None, Field(description="true: only those set to end when their period ends.")
    ] = None,
    sorting: Annotated[
        list[SubscriptionSort] | None,
        Field(max_length=3, description="Sort keys, '-' for descending. Default: most recently started first."),
    ] = None,
    page: Annotated[int, Field(ge=1, description="Page number, from 1.")] = 1,
    limit: Annotated[int, Field(ge=1, le=100, description="Subscriptions per page, at most 100.")] = 20,
    detail: Detail = "summary",
) -> views.SubscriptionList:
    """List subscriptions by customer, product, status or scheduled cancellation: price, current period,
    and whether and when each ends. Use get_subscription for one you know the id of."""
    result = await api.subscriptions.list(
        page=page,
        limit=limit,
        customer_id=customer_id,
        product_id=product_id,
        status=list(status) if status else None,
        cancel_at_period_end=cancel_at_period_end,
        sorting=list(sorting) if sorting else None,
    )
    return views.subscription_list(result, now, detail)


async def get_subscription(
    subscription_id: SubscriptionId, api: Api, detail: Detail = "summary"
) -> views.SubscriptionView:
    """Get one subscription: status, customer, product, price, current period, and whether it is set
    to end at the period's end (cancel_at_period_end) or has ended."""
    return views.subscription(await api.subscriptions.get(subscription_id), detail)


class SubscriptionChange(BaseModel):
    """What cancel_subscription or uncancel_subscription did."""

    model_config = ConfigDict(defer_build=True)

    outcome: Literal["scheduled", "already_scheduled", "resumed", "not_scheduled"]
    subscription: views.SubscriptionView
    next_step: str


def _ended(s: models.Subscription) -> bool:
    return s.ended_at is not None or s.status in ("canceled", "unpaid", "incomplete_expired")


async def cancel_subscription(
    subscription_id: SubscriptionId, api: Api, reason: Reason = None, comment: Comment = None
) -> SubscriptionChange:
    """Cancel a subscription AT THE END of its current period: the customer keeps access until then,
    nothing is refunded, and uncancel_subscription undoes it before then. Safe to repeat: an already
    scheduled cancellation is reported, not changed. To end access now, revoke it instead."""
    current = await api.subscriptions.get(subscription_id)
    if current.cancel_at_period_end and not _ended(current):
        return _scheduled(current, "already_scheduled")
    if _ended(current):
        raise ToolError(
            f"Subscription {subscription_id} was not canceled: it is {current.status} and has already "
            f"ended{_when(current.ended_at or current.ends_at)}; there is nothing to cancel."
        )
    if current.status not in BILLABLE:
        raise ToolError(
            f"Subscription {subscription_id} was not canceled: it is {current.status}; only an active, "
            "trialing or past-due subscription can be canceled at its period's end."
        )
    try:
        changed = await api.subscriptions.cancel_at_period_end(subscription_id, reason=reason, comment=comment)
    except PermissionDeniedError as exc:
        if exc.code != "AlreadyCanceledSubscription":
            raise
        # Another call may have just scheduled (or ended) it: say what Polar has now.
        return await _settle(api, subscription_id, exc, wanted=True)
    except OUTCOME_UNKNOWN as exc:
        if not outcome_unknown(exc):
            raise
        return await _settle(api, subscription_id, exc, wanted=True)
    return _scheduled(changed, "scheduled")


async def uncancel_subscription(subscription_id: SubscriptionId, api: Api) -> SubscriptionChange:
    """Undo a cancellation scheduled for the end of the period, so the subscription renews as before.
    Only before that date; an ended or revoked subscription cannot come back (the customer subscribes
    again). Safe to repeat: with nothing scheduled it changes nothing."""
    current = await api.subscriptions.get(subscription_id)
    if _ended(current):
        raise ToolError(
            f"Subscription {subscription_id} was not resumed: it has already ended"
            f"{_when(current.ended_at or current.ends_at)}, so it cannot be uncanceled. The customer "
            "must subscribe again."
        )
    if not current.cancel_at_period_end:
        return SubscriptionChange(
            outcome="not_scheduled",
            subscription=views.subscription(current),
            next_step="No cancellation was scheduled: nothing changed, it renews as before.",
        )
    try:
        changed = await api.subscriptions.uncancel(subscription_id)
    except (BadRequestError, ConflictError, GoneError) as exc:
        # Nothing scheduled any more (a 400, or the 409 `SubscriptionNotScheduledToCancel` of polar-sdk 1.0.2),
        # or ended: another call got there first. Say what Polar has now.
        return await _settle(api, subscription_id, exc, wanted=False)
    except OUTCOME_UNKNOWN as exc:
        if not outcome_unknown(exc):
            raise
        return await _settle(api, subscription_id, exc, wanted=False)
    return _resumed(changed)


def _when(moment: object) -> str:
    return f" ({moment.isoformat()})" if hasattr(moment, "isoformat") else ""


def _scheduled(s: models.Subscription, outcome: Literal["scheduled", "already_scheduled"]) -> SubscriptionChange:
    when = _when(s.ends_at or s.current_period_end)
    done = "It was already set to end" if outcome == "already_scheduled" else "It will end"
    return SubscriptionChange(
        outcome=outcome,
        subscription=views.subscription(s),
        next_step=f"{done} at the end of its period{when}; access lasts until then. "
        "uncancel_subscription undoes this before that date.",
    )


def _resumed(s: models.Subscription) -> SubscriptionChange:
    renews = _when(s.current_period_end)
    return SubscriptionChange(
        outcome="resumed",
        subscription=views.subscription(s),
        next_step=f"The scheduled cancellation is undone: it renews{renews}.",
    )


async def _settle(api: PolarClient, subscription_id: str, failure: PolarError, *, wanted: bool) -> SubscriptionChange:
    """The change failed or its answer was lost: report what Polar now has, never guess."""
    verb = "canceled" if wanted else "resumed"
    try:
        now = await api.subscriptions.get(subscription_id)
    except PolarError as exc:
        raise ToolError(
            f"Subscription {subscription_id} may or may not have been {verb}: the change failed "
            f"({what_failed(failure)}) and reading it back failed too ({exc}). Check with "
            "get_subscription before trying again."
        ) from exc
    if _ended(now):
        raise ToolError(
            f"Subscription {subscription_id} was not {verb}: it has ended ({now.status}){_when(now.ended_at)}."
        )
    if now.cancel_at_period_end == wanted:
        return _scheduled(now, "already_scheduled") if wanted else _resumed(now)
    raise ToolError(
        f"Subscription {subscription_id} was not {verb}: {what_failed(failure)}, and it is unchanged. "
        "It is safe to call again."
    )


# What revoking a subscription would do, for the tool that does it.


class LastOrder(BaseModel):
    model_config = ConfigDict(defer_build=True)
    id: str
    status: str
    created_at: str
    total: str
    refundable_amount: int = Field(description="Net of tax, minor units: what a refund of it could still return.")


class SubscriptionRevokeFacts(BaseModel):
    """What revoking the subscription now would do. Revoking refunds nothing by itself."""

    model_config = ConfigDict(defer_build=True)

    subscription_id: str
    status: str
    customer_id: str
    customer_email: views.CustomerText = None
    customer_name: views.CustomerText = None
    product_id: str | None = None
    product: views.CustomerText = None
    currency: str
    amount: int = Field(description="Price per period, minor units.")
    price: str
    current_period_end: str | None = None
    cancel_at_period_end: bool
    ends_at: str | None = Field(default=None, description="When it would end without revoking.")
    effect: str
    last_order: LastOrder | None = Field(default=None, description="Its newest order, to refund separately if owed.")


async def subscription_revoke_facts(api: PolarClient, subscription_id: str) -> SubscriptionRevokeFacts:
    """Read the subscription and its newest order. Raises ToolError when Polar would refuse the revoke
    (already ended or revoked, or in a state that cannot be canceled); PolarError when a read fails."""
    s = await api.subscriptions.get(subscription_id)
    not_done = f"Subscription {subscription_id} was not revoked"
    if s.ended_at is not None or s.status in ("canceled", "unpaid"):
        ended = f" at {s.ended_at.isoformat()}" if s.ended_at else ""
        raise ToolError(f"{not_done}: it is {s.status} and ended{ended}; there is nothing to revoke.")
    if s.status not in BILLABLE and s.status != "paused":
        raise ToolError(f"{not_done}: it is {s.status}, which Polar cannot cancel (it never started).")
    orders = await api.orders.list(subscription_id=subscription_id, limit=1)
    last = orders.items[0] if orders.items else None
    view = views.subscription(s)
    ends = (
        f"it would otherwise end at {view.ends_at}"
        if s.cancel_at_period_end
        else (f"it would otherwise renew at {view.current_period_end}")
    )
    return SubscriptionRevokeFacts(
        subscription_id=s.id,
        status=s.status,
        customer_id=s.customer_id,
        customer_email=view.customer_supplied.email,
        customer_name=view.customer_supplied.name,
        product_id=s.product_id,
        product=view.product.name,
        currency=s.currency,
        amount=s.amount,
        price=view.price,
        current_period_end=view.current_period_end,
        cancel_at_period_end=s.cancel_at_period_end,
        ends_at=view.ends_at,
        effect=f"Access ends NOW and its benefits are revoked ({ends}). Nothing is refunded by this: refund "
        "the last order separately if the customer is owed money.",
        last_order=LastOrder(
            id=last.id,
            status=last.status,
            created_at=last.created_at.isoformat(),
            total=views.money(last.total_amount, last.currency),
            refundable_amount=refundable(last)[0],
        )
        if last is not None
        else None,
    )


class RevokePreview(Preview):
    """What revoking the subscription ends, computed from Polar's data. No money moves."""

    subscription_id: str
    status: str
    customer_id: str
    customer_email: str | None
    customer_name: str | None
    product: str | None
    price: str
    would_end_at: str | None = Field(default=None, description="Without revoking, it ends then (ISO 8601).")
    would_renew_at: str | None = Field(default=None, description="Without revoking, it renews then (ISO 8601).")
    effect: str
    last_order: str | None = Field(description="Its newest order, to refund separately if owed.")

    AMOUNT_FIELD = None
    CURRENCY_FIELD = None
    SHOWN = (
        ("effect", "What happens", "warning"),
        ("product", "Subscription", "text"),
        ("price", "Price, before tax", "text"),
        ("would_end_at", "Without revoking, it ends", "time"),
        ("would_renew_at", "Without revoking, it renews and charges again", "time"),
        ("last_order", "Its newest order", "text"),
        ("customer_email", "Customer email", "customer"),
        ("customer_name", "Customer name", "customer"),
    )

    def typed(self) -> Typed:
        """No money moves: a person types whose subscription ends (its customer's email), or what it is."""
        if self.customer_email:
            return Typed("customer_email", "Customer email", "Customer email", self.customer_email)
        if self.product:
            return Typed("subscription", "Subscription", "Subscription", self.product)
        return Typed("subscription_id", "Subscription id", "Revoke subscription", self.subscription_id)


@dataclass
class RevokeSubscription(StatusReadBack[RevokePreview, models.Subscription]):
    """revoke_subscription: end one subscription now."""

    subscription_id: str
    tool: ClassVar[str] = "revoke_subscription"
    preview_model: ClassVar[type[Preview] | None] = RevokePreview

    @property
    def target(self) -> str:
        return self.subscription_id

    def not_done(self) -> str:
        return f"Subscription {self.subscription_id} was not revoked"

    async def preview(self, api: PolarClient) -> RevokePreview:
        facts = await subscription_revoke_facts(api, self.subscription_id)
        last = facts.last_order
        return RevokePreview(
            summary=f"Revoke subscription {facts.subscription_id} of {facts.customer_email or facts.customer_id} "
            f"now ({facts.product or 'its product'}, {facts.price})",
            subscription_id=facts.subscription_id,
            status=facts.status,
            customer_id=facts.customer_id,
            customer_email=facts.customer_email,
            customer_name=facts.customer_name,
            product=facts.product,
            price=facts.price,
            would_end_at=facts.ends_at if facts.cancel_at_period_end else None,
            would_renew_at=None if facts.cancel_at_period_end else facts.current_period_end,
            effect=facts.effect,
            last_order=f"{last.id}, {last.status}: {last.total} tax included; "
            f"{views.money(last.refundable_amount, facts.currency)} before tax can still be refunded"
            if last
            else None,
        )

    async def act(self, api: PolarClient, approved: RevokePreview) -> models.Subscription:
        return await api.subscriptions.revoke(self.subscription_id)

    UNREADABLE = (
        "Subscription {target} may or may not have been revoked: the request failed ({why}) and reading it back "
        "failed too ({error}). Check with get_subscription before anything else."
    )
    STILL_RUNNING = (
        "Subscription {target} is still {status}, but {why} and Polar may still be revoking it. Check with "
        "get_subscription in a minute."
    )
    NOT_DONE = "{not_done}: {why}, and it is still {status}."

    async def read_target(self, api: PolarClient) -> models.Subscription:
        return await api.subscriptions.get(self.subscription_id)

    def done_in(self, target: models.Subscription) -> bool:
        return _ended(target)

    def differences_from_approved(self, approved: RevokePreview, outcome: models.Subscription) -> list[str]:
        if outcome.id != approved.subscription_id:
            return [f"approved for subscription {approved.subscription_id}, Polar answered about {outcome.id}"]
        return [] if _ended(outcome) else [f"Polar answered, but the subscription is still {outcome.status}"]


class RevokeResult(GuardedResult):
    """revoke_subscription's answer: waiting for a person's approval (nothing done yet), or revoked."""

    status: Literal["approval_pending", "confirmation_required", "revoked"]
    preview: RevokePreview
    subscription: views.SubscriptionView | None = None

    @classmethod
    def finished(cls, done: Done[RevokePreview, models.Subscription]) -> dict[str, Any]:
        step = "Revoked. Refund its last order separately (create_refund) if the customer is owed money."
        if done.settled:
            step = f"Revoked ({done.settled}). Do not retry."
        return {"status": "revoked", "subscription": views.subscription(done.outcome), "next_step": step}


async def revoke_subscription(
    ctx: Ctx, subscription_id: SubscriptionId, approval_id: ApprovalIdArg | None = None
) -> RevokeResult | types.InputRequiredResult:
    """End a subscription NOW: access and benefits go at once; refunds nothing (cancel_subscription ends it at
    period end instead). A person approves it first, maybe in this call."""
    return await guarded(ctx, RevokeSubscription(subscription_id), RevokeResult, approval_id)


TOOLS = (
    Tool(list_subscriptions, tier="read", title="List subscriptions", toolset="subscriptions"),
    Tool(get_subscription, tier="read", title="Get subscription", toolset="subscriptions"),
    Tool(
        cancel_subscription,
        tier="write",
        title="Cancel subscription at period end",
        toolset="subscriptions",
        idempotent=True,
    ),
    Tool(
        uncancel_subscription,
        tier="write",
        title="Undo a scheduled cancellation",
        toolset="subscriptions",
        idempotent=True,
    ),
    Tool(
        revoke_subscription,
        tier="irreversible",
        title="Revoke subscription now",
        toolset="subscriptions",
        action=RevokeSubscription,
    ),
)
