"""What every irreversible tool shares: the approval argument, the answer while a person decides, the call."""

from __future__ import annotations

from typing import Annotated, Any, Self, TypeVar

import mcp_types as types
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, WithJsonSchema

from polar_orders_mcp.approvals import flow
from polar_orders_mcp.approvals.audit_facts import AuditFacts
from polar_orders_mcp.approvals.flow import Action, Awaiting, Ceiling, Done, iso
from polar_orders_mcp.approvals.policy import RelayTokens
from polar_orders_mcp.approvals.preview import Preview
from polar_orders_mcp.store.records import APPROVAL_ID_PATTERN
from polar_orders_mcp.tools.context import Ctx, app_state

P = TypeVar("P", bound=Preview)
O = TypeVar("O")  # noqa: E741

ApprovalIdArg = Annotated[
    str,
    Field(
        pattern=rf"^({APPROVAL_ID_PATTERN}|{RelayTokens.PATTERN})$",
    ),
    # Advertised short: the model copies the id from the first answer, the server checks its form.
    WithJsonSchema({"type": "string", "description": "only after an approval_pending answer"}),
]


MaxAmountArg = Annotated[
    int | None,
    Field(ge=0, le=99_999_999_999, description="a ceiling the user gave, minor units, tax included: more is refused"),
]
MaxCurrencyArg = Annotated[
    str | None, Field(pattern=r"^[A-Za-z]{3}$", description="max_amount's currency (default: the amount's)")
]


class ApprovalTicket(BaseModel):
    """The request a person decides on. Knowing its id or link allows nothing: deciding needs a sign-in."""

    model_config = ConfigDict(defer_build=True)

    approval_id: str = Field(description="Pass back as approval_id once it is decided.")
    approve_at: str | None = Field(description="The approval console's page of this request, for the person.")
    expires_at: str


class GuardedResult(BaseModel):
    """An irreversible tool's answer: waiting for a person (nothing done yet), or done as approved. It
    carries no nulls: a field that says nothing is left out (its output schema says so)."""

    model_config = ConfigDict(defer_build=True)

    status: str
    approval: ApprovalTicket | None = None
    decided: str | None = Field(default=None, description="Who approved what was done, where and when.")
    next_step: str

    _audit_facts: AuditFacts | None = PrivateAttr(default=None)

    @property
    def audit_facts(self) -> AuditFacts | None:
        """What the flow learnt of the call, for its audit record (never sent)."""
        return self._audit_facts

    def of_call(self, outcome: Awaiting[Any] | Done[Any, Any]) -> Self:
        """This answer, with the flow's facts of the call that `outcome` ended."""
        self._audit_facts = outcome.audit_facts
        return self

    def left_out(self) -> dict[str, Any]:
        """What the answer leaves out (as pydantic's `exclude`): facts a person approved that, in the agent's
        answer, would only mislead. Nulls go anyway."""
        return {}

    @classmethod
    def waiting(cls, outcome: Awaiting[Any], **fields: Any) -> Self:
        """Nothing was done yet: `approval_pending` (console) or `confirmation_required` (relay mode)."""
        token = outcome.token
        data: dict[str, Any] = {
            "status": "confirmation_required" if token else "approval_pending",
            "preview": outcome.preview,
            "approval": ApprovalTicket(
                approval_id=token or outcome.approval.id,
                approve_at=outcome.link,
                expires_at=iso(outcome.approval.expires_at),
            ),
            "next_step": outcome.next_step,
            **fields,
        }
        return cls(**data).of_call(outcome)


def how_decided(done: Done[Any, Any]) -> str:
    """Who approved what was done, where and when: the answer says it, so no agent expects a second call."""
    approval = done.approval
    if approval is None:
        return "Done without asking anyone: this server runs with --confirm off."
    at = f" at {iso(approval.decided_at)}" if approval.decided_at else ""
    if approval.channel == "form":
        return f"Approved by the person in the client ({approval.client}){at}, in this same call."
    if approval.channel in ("console", "url"):
        return f"Approved by {approval.decided_by or 'an approver'} in the approval console{at}."
    if approval.channel == "relay":
        return "Approved by passing back the confirmation token (--confirm relay): this server asked no one itself."
    if approval.channel == "mandate":
        return done.standing or f"Done under standing approval {approval.mandate}, signed by {approval.decided_by}."
    return f"Approved ({approval.channel}){at}."


async def guarded(
    ctx: Ctx,
    action: Action[P, O],
    approval_id: str | None,
    max_amount: int | None = None,
    max_currency: str | None = None,
) -> Awaiting[P] | Done[P, O] | types.InputRequiredResult:
    """Run one irreversible call on the server's guard, within the ceiling the call was given (if any)."""
    state = app_state(ctx)
    ceiling = Ceiling(max_amount, max_currency.lower() if max_currency else None) if max_amount is not None else None
    return await flow.run(ctx, action, api=state.client, guard=state.guard, approval_id=approval_id, ceiling=ceiling)
