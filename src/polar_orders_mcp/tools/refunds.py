"""Refund tools: list and read refunds, and the facts a refund of an order would have (refund_facts)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, ClassVar, Literal

import mcp_types as types
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel, ConfigDict, Field

from polar_orders_mcp.approvals.flow import Action, Done, NotDone, OutcomeUnknown, iso
from polar_orders_mcp.approvals.preview import Preview
from polar_orders_mcp.polar import models
from polar_orders_mcp.polar.client import PolarClient
from polar_orders_mcp.polar.errors import (
    PermissionDeniedError,
    PolarError,
    may_still_be_running,
    what_failed,
)
from polar_orders_mcp.store.base import Store
from polar_orders_mcp.store.records import Act
from polar_orders_mcp.tools import views
from polar_orders_mcp.tools.base import Tool
from polar_orders_mcp.tools.context import Api, Ctx, Now
from polar_orders_mcp.tools.irreversible import (
    ApprovalIdArg,
    GuardedResult,
    MaxAmountArg,
    MaxCurrencyArg,
    guarded,
)
from polar_orders_mcp.tools.organization import refunds_refused, refused_by_organization
from polar_orders_mcp.tools.params import CustomerId, Detail, Limit, OrderId, Page, RefundId, SubscriptionId

RefundSort = Literal["created_at", "-created_at", "amount", "-amount"]
RefundReason = Literal[
    "duplicate", "fraudulent", "customer_request", "service_disruption", "satisfaction_guarantee", "other"
]
# Which of Polar's reasons fits: a reason is only recorded (Polar tells Stripe "duplicate" for duplicate and
# "requested_by_customer" for every other, fraudulent included, and acts on none).
REASON_GUIDE = (
    "charged twice: duplicate; the merchant's error (overcharged, charged by mistake): other + comment; "
    "fraudulent is only recorded"
)
REVOKE_GUIDE = "default false: the customer keeps the order's benefits"
# A refund this recent on the same order makes a new one worth a second look (a retried request?).
RECENT_REFUND_WINDOW = timedelta(hours=24)
# Refunds that paid, or are paying, money back.
MONEY_BACK = frozenset({"pending", "succeeded"})
# Stripe refuses a refund of a charge disputed and not won (`charge_disputed`); Polar then says
# RefundDisputedPayment. An early warning is not a dispute at Stripe yet.
REFUND_BLOCKING_DISPUTES = frozenset({"needs_response", "under_review", "lost"})
UNPAID = frozenset({"draft", "pending", "void"})
# Polar's refusals about the order itself that a preview cannot always see (refunds of it blocked by Polar's staff,
# which its API does not show; a payment disputed or refunded at the processor before Polar knows; disputes a
# token cannot read): what it said and what to do. A refusal is remembered for as long as the store's acts are
# listed (a day), so nobody is asked again about a refund Polar refused; after that a call asks again.
REMEMBERED_REFUSALS = {
    "RefundsBlocked": (
        "refunds of this order are blocked at Polar, which its API does not show beforehand",
        "Ask Polar support to unblock it.",
    ),
    "RefundDisputedPayment": ("its payment is disputed", "Handle the dispute instead: list_disputes(order_id={id!r})."),
    "RefundedAlready": ("it is already fully refunded", "See what was paid back: list_refunds(order_id={id!r})."),
    "RefundUnknownPayment": ("Polar has no succeeded payment of it to refund", "Check the order with get_order."),
}
REFUSAL_MEMORY = 86_400.0


async def list_refunds(
    api: Api,
    now: Now,
    order_id: OrderId | None = None,
    customer_id: CustomerId | None = None,
    subscription_id: SubscriptionId | None = None,
    succeeded: Annotated[bool | None, Field(description="false: pending, failed or canceled")] = None,
    sorting: Annotated[list[RefundSort] | None, Field(max_length=2)] = None,
    page: Page = 1,
    limit: Limit = 20,
    detail: Detail = "summary",
) -> views.RefundList:
    """Refunds, newest first: amount, date, status."""
    result = await api.refunds.list(
        page=page,
        limit=limit,
        order_id=order_id,
        customer_id=customer_id,
        subscription_id=subscription_id,
        succeeded=succeeded,
        sorting=list(sorting) if sorting else None,
    )
    return views.refund_list(result, now, detail)


async def get_refund(refund_id: RefundId, api: Api, detail: Detail = "summary") -> views.RefundView:
    """One refund: amount, tax, status, reason, order."""
    return views.refund(await api.refunds.get(refund_id), detail)


# What a refund would do, for the tool that makes it (preview, then act with exactly these facts).


class PreviousRefund(BaseModel):
    model_config = ConfigDict(defer_build=True)
    id: str
    status: str
    reason: str
    amount: int
    tax_amount: int
    total: str = Field(description="amount + tax for humans.")
    created_at: str


class RefundFacts(BaseModel):
    """What refunding the order would do, from Polar's data. Amounts in minor units; `amount` is net of
    tax, as Polar's refund takes it, and `tax_amount` the tax Polar prorates with it."""

    model_config = ConfigDict(defer_build=True)

    order_id: str
    order_status: str
    customer_id: str
    customer_email: views.CustomerText = None
    customer_name: views.CustomerText = None
    product: views.CustomerText = None
    product_id: str | None = None
    order_created_at: str = Field(description="When the order was made (ISO 8601): a standing approval may bound it.")
    currency: str
    amount: int = Field(description="To refund, net of tax: what POST /v1/refunds/ is sent.")
    tax_amount: int = Field(description="The tax Polar refunds with it (prorated as Polar computes it).")
    total_amount: int = Field(description="What the customer gets back: amount + tax_amount.")
    amount_display: str
    tax_display: str
    total_display: str
    full_refund: bool = Field(description="True: the order becomes refunded; false: partially_refunded.")
    order_total_amount: int
    refunded_amount: int = Field(description="Refunded before, net of tax (Polar's refunded_amount).")
    refunded_tax_amount: int
    refundable_amount: int = Field(description="Polar's refundable amount: max(0, net + applied balance - refunded).")
    pending_amount: int = Field(description="Net amount of refunds still pending, which Polar does not count yet.")
    available_amount: int = Field(description="What may still be refunded: refundable_amount - pending_amount.")
    subscription_id: str | None = Field(
        default=None, description="Set for a subscription order: Polar refuses revoke_benefits for those."
    )
    previous_refunds: list[PreviousRefund] = Field(default_factory=list, description="Newest first.")
    refunded_in_last_24h: bool
    recent_refunds_note: str | None = Field(
        default=None, description='e.g. "$6.25 was refunded on this order at 2026-12-02 10:42 UTC".'
    )
    disputes_checked: bool = Field(
        description="False when the disputes were not read (a token without disputes:read, or the re-read right "
        "before a refund)."
    )


def refundable(order: models.Order) -> tuple[int, int]:
    """(net, tax) Polar still allows to refund, by its models/order.py formula, whatever the status."""
    net = max(0, order.net_amount + order.applied_balance_amount - order.refunded_amount)
    return net, max(0, order.tax_amount - order.refunded_tax_amount)


def prorated_tax(order: models.Order, amount: int) -> int:
    """The tax Polar refunds with `amount` (net): its `calculate_refunded_tax_from_subtotal`, same floats."""
    net, tax = refundable(order)
    if amount == net:
        return tax
    if order.tax_amount <= 0 or order.net_amount <= 0:
        return 0
    ratio = order.tax_amount / order.net_amount
    return min(round(amount * ratio), tax)


def net_for_total(order: models.Order, total: int, available: int, not_done: str) -> int:
    """The net amount whose refund pays back exactly `total` (tax included) once Polar adds its prorated tax.

    net + prorated_tax(net) grows with net, one cent of net at a time by one cent or more: a search finds the
    largest net at or below `total`. When rounding leaves no net that gives `total` exactly, the two nearest
    totals are named so the agent can pick one.
    """
    low, high = 0, available
    while low < high:  # the largest net whose total is at most `total`
        middle = (low + high + 1) // 2
        if middle + prorated_tax(order, middle) <= total:
            low = middle
        else:
            high = middle - 1
    paid_back = low + prorated_tax(order, low)
    if paid_back == total and low > 0:
        return low
    most = available + prorated_tax(order, available)
    if total > most:
        raise ToolError(
            f"{not_done}: {views.money(total, order.currency)} is more than the {views.money(most, order.currency)} "
            f"(tax included) left to refund. Pass a total of at most {most}, or leave both out to refund all of it."
        )
    nearest = [t for t in (paid_back if low > 0 else None, (low + 1) + prorated_tax(order, low + 1)) if t]
    shown = " or ".join(f"{t} ({views.money(t, order.currency)})" for t in nearest)
    raise ToolError(
        f"{not_done}: no refund pays back exactly {views.money(total, order.currency)}: Polar rounds the tax it "
        f"prorates to the cent. The nearest totals are {shown}: pass one of them as total."
    )


def _at(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _refusable(order: models.Order, not_done: str) -> None:
    """Refuse what Polar would refuse for the order as a whole, saying what to do instead."""
    if order.status in UNPAID:
        raise ToolError(
            f"{not_done}: it is {order.status}, so it has no succeeded payment to refund. Only paid or "
            "partially refunded orders can be refunded."
        )
    if order.status == "refunded":
        paid_back = views.money(order.refunded_amount + order.refunded_tax_amount, order.currency)
        raise ToolError(
            f"{not_done}: it is already fully refunded ({paid_back} paid back). See when with "
            f"list_refunds(order_id={order.id!r})."
        )
    if order.total_amount <= 0:
        raise ToolError(f"{not_done}: it was free, so there is no money to refund.")


async def _open_dispute(api: PolarClient, order_id: str) -> tuple[models.Dispute | None, bool]:
    try:
        disputes = [d async for d in api.disputes.iterate(order_id=order_id)]
    except PermissionDeniedError:
        return None, False  # Polar still refuses a disputed payment; the preview just cannot say so.
    return next((d for d in disputes if d.status in REFUND_BLOCKING_DISPUTES), None), True


async def refund_facts(
    api: PolarClient,
    order_id: str,
    amount: int | None = None,
    *,
    total: int | None = None,
    now: datetime | None = None,
    before_asking: bool = True,
) -> RefundFacts:
    """The facts of refunding `amount` (net of tax, minor units) of the order, or what pays back `total` (tax
    included); neither: all that is left.

    Reads the order, what Polar lets its organization do, its refunds and its disputes. Raises ToolError,
    saying what to do, when Polar would refuse: not paid, free, fully refunded, refunds turned off for the
    organization, amount above what is left, a disputed payment. Polar's own reads may raise PolarError (an
    unknown order is NotFoundError). Without `before_asking` (the re-read right before the refund), neither
    the organization nor the disputes are read: Polar refuses those itself.
    """
    not_done = f"Order {order_id} was not refunded"
    _check_amounts(amount, total, not_done)
    order = await api.orders.get(order_id)
    _refusable(order, not_done)
    organization_id = order.customer.organization_id if order.customer else None
    if before_asking and (why := await refused_by_organization(api, organization_id, refunds_refused)):
        raise ToolError(f"{not_done}: {why}")
    refunds = [r async for r in api.refunds.iterate(order_id=order_id, sorting=["-created_at"])]
    left = _left_to_refund(order, refunds, not_done)
    wanted = _wanted(order, left, amount, total, not_done)
    dispute, checked = await _open_dispute(api, order_id) if before_asking else (None, False)
    if dispute is not None:
        raise ToolError(
            f"{not_done}: its payment is disputed (dispute {dispute.id}, {dispute.status}), and Polar cannot "
            "refund a disputed payment. Handle the dispute instead (get_dispute)."
        )
    since = (now or datetime.now(UTC)) - RECENT_REFUND_WINDOW
    recent = [r for r in refunds if r.status in MONEY_BACK and r.created_at >= since]
    return _facts(order, refunds, left, wanted, recent, disputes_checked=checked)


def _check_amounts(amount: int | None, total: int | None, not_done: str) -> None:
    if amount is not None and amount < 1:
        raise ToolError(f"{not_done}: amount must be at least 1 (minor units, net of tax).")
    if amount is not None and total is not None:
        raise ToolError(
            f"{not_done}: pass amount (net of tax) or total (what the customer gets back, tax included), not both."
        )


@dataclass(frozen=True)
class _Left:
    """What is left to refund of an order, net of tax: all of it (`net`), in refunds still pending at Polar,
    and what a new refund may take (`available`)."""

    net: int
    pending: int
    available: int


def _left_to_refund(order: models.Order, refunds: list[models.Refund], not_done: str) -> _Left:
    net, _ = refundable(order)
    pending = sum(r.amount for r in refunds if r.status == "pending")
    available = max(0, net - pending)
    if available == 0:
        raise ToolError(
            f"{not_done}: nothing is left to refund; {views.money(pending, order.currency)} of it is in a refund "
            "still pending at Polar. Check it again later with list_refunds."
        )
    return _Left(net, pending, available)


def _wanted(order: models.Order, left: _Left, amount: int | None, total: int | None, not_done: str) -> int:
    """The amount to refund, net of tax: `amount`, what pays back `total`, or all that is left."""
    if total is not None:
        amount = net_for_total(order, total, left.available, not_done)
    wanted = left.available if amount is None else amount
    if wanted > left.available:
        raise ToolError(
            f"{not_done}: {views.money(wanted, order.currency)} is more than the "
            f"{views.money(left.available, order.currency)} left to refund (amounts are net of tax; Polar adds the "
            f"prorated tax). Pass an amount of at most {left.available}, or leave it out to refund all of it."
        )
    return wanted


def _facts(
    order: models.Order,
    refunds: list[models.Refund],
    left: _Left,
    wanted: int,
    recent: list[models.Refund],
    *,
    disputes_checked: bool,
) -> RefundFacts:
    tax = prorated_tax(order, wanted)
    note = "; ".join(
        f"{views.money(r.total_amount, r.currency)} was refunded on this order at {_at(r.created_at)} "
        f"(refund {r.id}, {r.status})"
        for r in recent
    )
    customer = order.customer
    return RefundFacts(
        order_id=order.id,
        order_status=order.status,
        customer_id=order.customer_id,
        customer_email=views.clean_email(customer.email if customer else None),
        customer_name=views.clean_text(customer.name if customer else None),
        product=views.clean_text(order.product.name if order.product else order.description),
        product_id=order.product_id,
        order_created_at=order.created_at.isoformat(),
        currency=order.currency,
        amount=wanted,
        tax_amount=tax,
        total_amount=wanted + tax,
        amount_display=views.money(wanted, order.currency),
        tax_display=views.money(tax, order.currency),
        total_display=views.money(wanted + tax, order.currency),
        full_refund=wanted == left.net,
        order_total_amount=order.total_amount,
        refunded_amount=order.refunded_amount,
        refunded_tax_amount=order.refunded_tax_amount,
        refundable_amount=left.net,
        pending_amount=left.pending,
        available_amount=left.available,
        subscription_id=order.subscription_id,
        previous_refunds=[_previous(r) for r in refunds],
        refunded_in_last_24h=bool(recent),
        recent_refunds_note=note or None,
        disputes_checked=disputes_checked,
    )


def _previous(refund: models.Refund) -> PreviousRefund:
    return PreviousRefund(
        id=refund.id,
        status=refund.status,
        reason=refund.reason,
        amount=refund.amount,
        tax_amount=refund.tax_amount,
        total=views.money(refund.total_amount, refund.currency),
        created_at=refund.created_at.isoformat(),
    )


class RefundPreview(Preview):
    """Exactly what refunding will pay back, computed by the server from Polar's data."""

    # Once refunded, the answer leaves out the order's status as previewed (refund.status says how it stands).
    model_config = ConfigDict(json_schema_extra=lambda schema: schema["required"].remove("order_status"))

    order_id: str
    order_status: str = Field(description="The order's status before the refund; left out once refunded.")
    currency: str
    amount: int = Field(description="Refunded, net of tax, minor units: what the refund request carries.")
    tax_amount: int = Field(description="The tax Polar refunds with it.")
    total_amount: int = Field(description="What the customer gets back, minor units.")
    total_display: str
    amount_display: str
    tax_display: str
    full_refund: bool
    reason: str
    comment: str | None
    revoke_benefits: bool
    benefits: str
    customer_id: str
    customer_email: str | None
    customer_name: str | None
    product: str | None
    product_id: str | None = Field(default=None, description="The order's product.")
    order_created_at: str | None = Field(default=None, description="When the order was made (ISO 8601).")
    refunded_before: str | None = Field(description="What was refunded on this order before, if anything.")
    recent_refunds_note: str | None = Field(description="Refunds of this order in the last 24 hours.")
    unsettled_note: str | None = Field(description="Earlier refund requests of this server whose outcome is unknown.")
    previous_refund_ids: list[str]

    AMOUNT_FIELD = "total_amount"
    SHOWN = (
        ("total_display", "Paid back to the customer, tax included", "amount"),
        ("recent_refunds_note", "Already refunded in the last 24 hours", "warning"),
        ("unsettled_note", "An earlier refund request", "warning"),
        ("amount_display", "Refund, net of tax", "text"),
        ("tax_display", "Tax refunded with it", "text"),
        ("refunded_before", "Refunded before", "text"),
        ("reason", "Reason", "agent"),
        ("comment", "Comment", "agent"),
        ("benefits", "Benefits", "text"),
        ("product", "Product", "text"),
        ("customer_email", "Customer email", "customer"),
        ("customer_name", "Customer name", "customer"),
    )


def refund_preview_of(facts: RefundFacts, reason: str, comment: str | None, revoke_benefits: bool) -> RefundPreview:
    kind = "in full" if facts.full_refund else "in part"
    before = None
    if facts.refunded_amount:
        before = (
            f"{views.money(facts.refunded_amount + facts.refunded_tax_amount, facts.currency)} of "
            f"{views.money(facts.order_total_amount, facts.currency)}"
        )
    return RefundPreview(
        summary=f"Refund {facts.total_display} to {facts.customer_email or facts.customer_id} for order "
        f"{facts.order_id} ({kind})",
        order_id=facts.order_id,
        order_status=facts.order_status,
        currency=facts.currency,
        amount=facts.amount,
        tax_amount=facts.tax_amount,
        total_amount=facts.total_amount,
        total_display=facts.total_display,
        amount_display=facts.amount_display,
        tax_display=facts.tax_display,
        full_refund=facts.full_refund,
        reason=reason,
        comment=views.clean_text(comment, 500),
        revoke_benefits=revoke_benefits,
        benefits="revoked with the refund" if revoke_benefits else "kept by the customer",
        customer_id=facts.customer_id,
        customer_email=facts.customer_email,
        customer_name=facts.customer_name,
        product=facts.product,
        product_id=facts.product_id,
        order_created_at=facts.order_created_at,
        refunded_before=before,
        recent_refunds_note=facts.recent_refunds_note,
        unsettled_note=None,
        previous_refund_ids=[r.id for r in facts.previous_refunds],
    )


@dataclass
class CreateRefund(Action[RefundPreview, models.Refund]):
    """create_refund: pay back (part of) one paid order, exactly once."""

    order_id: str
    amount: int | None
    reason: str
    comment: str | None
    revoke_benefits: bool
    total: int | None = None
    tool: ClassVar[str] = "create_refund"
    preview_model: ClassVar[type[Preview] | None] = RefundPreview

    @property
    def target(self) -> str:
        return self.order_id

    def not_done(self) -> str:
        return f"Order {self.order_id} was not refunded"

    async def preview(self, api: PolarClient) -> RefundPreview:
        facts = await refund_facts(api, self.order_id, self.amount, total=self.total)
        if self.revoke_benefits and facts.subscription_id:
            raise ToolError(
                f"{self.not_done()}: it is an order of subscription {facts.subscription_id}, and Polar does not "
                "revoke a subscription's benefits with a refund. Refund without revoke_benefits, and use "
                "revoke_subscription to end the subscription."
            )
        return refund_preview_of(facts, self.reason, self.comment, self.revoke_benefits)

    async def read_again_before_acting(self, api: PolarClient, approved: RefundPreview) -> RefundPreview:
        # Right before the refund: the order (status, amounts) and its refunds (one made since the approval
        # changes what is left). Not its disputes nor its organization: Polar refuses a disputed payment
        # (RefundDisputedPayment) and refunds turned off (RefundsBlocked) itself.
        facts = await refund_facts(api, self.order_id, self.amount, total=self.total, before_asking=False)
        return refund_preview_of(facts, self.reason, self.comment, self.revoke_benefits)

    async def with_history(self, preview: RefundPreview, store: Store) -> RefundPreview:
        """A refund of this order Polar refused for a reason about the order itself is not asked about again
        for a day (ToolError). A refund this server sent whose answer was lost, and which Polar does not list,
        is worth a warning: Polar may still be making it."""
        acts = await store.acts_for(self.tool, self.order_id, window=REFUSAL_MEMORY)
        self._refuse_what_polar_refused(acts)
        unsettled = [a for a in acts if a.state in ("started", "unknown")]
        if not unsettled:
            return preview
        listed = set(preview.previous_refund_ids)
        lines = [
            f"{views.money(a.amount, a.currency)} requested at {datetime.fromtimestamp(a.started_at, UTC):%H:%M} UTC "
            f"with no answer from Polar{'' if a.detail.get('refund_id') in listed else ' and not listed by it yet'}"
            for a in unsettled
        ]
        return preview.model_copy(update={"unsettled_note": "; ".join(lines)})

    def _refuse_what_polar_refused(self, acts: list[Act]) -> None:
        """Polar's last word on refunding this order, if it was a remembered refusal (a refund made since means
        the order was unblocked)."""
        answered = [a for a in acts if a.state == "done" or a.detail.get("refusal") in REMEMBERED_REFUSALS]
        if not answered or answered[-1].state == "done":
            return
        refused = answered[-1]
        code = refused.detail["refusal"]
        why, then = REMEMBERED_REFUSALS[code]
        raise ToolError(
            f"{self.not_done()}: Polar refused a refund of it at {iso(refused.started_at)} ({code}: {why}), and this "
            f"server does not ask anyone about it again before {iso(refused.started_at + REFUSAL_MEMORY)}. "
            + then.format(id=self.order_id)
        )

    async def act(self, api: PolarClient, approved: RefundPreview) -> models.Refund:
        made = await api.refunds.create(
            order_id=self.order_id,
            reason=approved.reason,
            amount=approved.amount,
            comment=approved.comment,
            revoke_benefits=approved.revoke_benefits,
        )
        if made.status in ("failed", "canceled"):
            raise NotDone(
                f"{self.not_done()}: Polar made refund {made.id} but it {made.status}; nothing was paid back."
            )
        return made

    async def find_out_after_lost_answer(
        self, api: PolarClient, approved: RefundPreview, failure: PolarError, sent_at: datetime
    ) -> models.Refund:
        why = what_failed(failure)
        try:
            refunds = [r async for r in api.refunds.iterate(order_id=self.order_id, sorting=["-created_at"])]
        except PolarError as exc:
            raise OutcomeUnknown(
                f"Order {self.order_id} may or may not have been refunded: the refund request failed ({why}) and "
                f"listing the order's refunds failed too ({exc}). Do not call create_refund again: check "
                f"list_refunds(order_id={self.order_id!r}) first."
            ) from exc
        since = sent_at - timedelta(seconds=5)
        new = [
            r
            for r in refunds
            if r.id not in approved.previous_refund_ids and r.amount == approved.amount and r.created_at >= since
        ]
        if new:
            return new[0]
        if may_still_be_running(failure):
            raise OutcomeUnknown(
                f"Order {self.order_id} shows no new refund yet, but {why} and Polar may still be making it. Do not "
                f"call create_refund again: check list_refunds(order_id={self.order_id!r}) in a minute."
            )
        raise NotDone(
            f"{self.not_done()}: {why}, and the order's refunds show no new one. Calling create_refund again asks "
            "a person again."
        )

    def moved(self, outcome: models.Refund) -> tuple[int, str]:
        return outcome.total_amount, outcome.currency

    def differences_from_approved(self, approved: RefundPreview, outcome: models.Refund) -> list[str]:
        found = []
        if outcome.order_id != approved.order_id:
            found.append(f"approved for order {approved.order_id}, Polar refunded order {outcome.order_id}")
        if outcome.total_amount != approved.total_amount or outcome.currency.lower() != approved.currency.lower():
            found.append(
                f"approved {approved.total_display} back to the customer, Polar refunds "
                f"{views.money(outcome.total_amount, outcome.currency)}"
            )
        return found


class RefundResult(GuardedResult):
    """create_refund's answer: waiting for a person's approval (nothing refunded yet), or refunded."""

    status: Literal["approval_pending", "confirmation_required", "refunded"]
    preview: RefundPreview
    refund: views.RefundView | None = None

    def left_out(self) -> dict[str, Any]:
        """Once refunded, the order's status from before the refund is stale: refund.status is the one status."""
        return {"preview": {"order_status"}} if self.status == "refunded" else {}

    @classmethod
    def finished(cls, done: Done[RefundPreview, models.Refund]) -> dict[str, Any]:
        made = done.outcome
        # Polar's refunds are pending or succeeded here: failed and canceled ones were reported as not done.
        state = "succeeded" if made.status == "succeeded" else f"is {made.status} (Polar is paying it back)"
        step = f"Refund {made.id} {state}: list_refunds(order_id={done.preview.order_id!r}) shows it."
        if done.settled:
            step = f"Refund {made.id} {state} ({done.settled}): it was made once; do not call create_refund again."
        return {"status": "refunded", "refund": views.refund(made), "next_step": step}


async def create_refund(
    ctx: Ctx,
    order_id: OrderId,
    reason: Annotated[RefundReason, Field(description=REASON_GUIDE)] = "customer_request",
    total: Annotated[
        int | None,
        Field(ge=1, description="paid back, tax included"),
    ] = None,
    amount: Annotated[
        int | None,
        Field(ge=1, le=99_999_999, description="or: before tax; neither: all"),
    ] = None,
    comment: Annotated[str | None, Field(max_length=500)] = None,
    revoke_benefits: Annotated[bool, Field(description=REVOKE_GUIDE)] = False,
    max_amount: MaxAmountArg = None,
    max_currency: MaxCurrencyArg = None,
    approval_id: ApprovalIdArg | None = None,
) -> RefundResult | types.InputRequiredResult:
    """Refund a paid order, whole or in part. MOVES MONEY: a person approves it first, maybe in this call.
    After an unclear failure, check list_refunds."""
    action = CreateRefund(order_id, amount, reason, comment, revoke_benefits, total)
    return await guarded(ctx, action, RefundResult, approval_id, max_amount, max_currency)


TOOLS = (
    Tool(list_refunds, tier="read", title="List refunds", toolset="refunds"),
    Tool(get_refund, tier="read", title="Get refund", toolset="refunds"),
    Tool(create_refund, tier="irreversible", title="Refund an order", toolset="refunds", action=CreateRefund),
)
