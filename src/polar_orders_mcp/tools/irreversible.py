"""What every irreversible tool shares: the approval argument, the call through the flow and its answer, the
read-back by status, and the check that an irreversible tool's answer came through the flow."""

from __future__ import annotations

import functools
import logging
from abc import abstractmethod
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any, ClassVar, Self, TypeVar

import mcp_types as types
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, WithJsonSchema

from polar_orders_mcp.approvals import flow
from polar_orders_mcp.approvals.audit_facts import AuditFacts
from polar_orders_mcp.approvals.flow import Action, Asking, Awaiting, Ceiling, Done, NotDone, OutcomeUnknown, iso
from polar_orders_mcp.approvals.policy import RelayTokens
from polar_orders_mcp.approvals.preview import Preview
from polar_orders_mcp.polar.client import PolarClient
from polar_orders_mcp.polar.errors import PolarError, may_still_be_running, what_failed
from polar_orders_mcp.store.records import APPROVAL_ID_PATTERN
from polar_orders_mcp.tools.base import Tool
from polar_orders_mcp.tools.context import Ctx, app_state

log = logging.getLogger(__name__)

P = TypeVar("P", bound=Preview)
O = TypeVar("O")  # noqa: E741
R = TypeVar("R", bound="GuardedResult")

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
    carries no nulls: a field that says nothing is left out (its output schema says so).

    A subclass declares its statuses, its preview and the view of what was done, and says in `finished`
    what the agent is told once it is done. Made only from what the flow returned (`waiting`, `done`)."""

    model_config = ConfigDict(defer_build=True)

    status: str
    approval: ApprovalTicket | None = None
    decided: str | None = Field(default=None, description="Who approved what was done, where and when.")
    next_step: str

    _through: str | None = PrivateAttr(default=None)
    """The tool whose call went through the flow to the outcome this answer was made from."""

    def went_through_the_flow(self, tool: str) -> bool:
        return self._through == tool

    @classmethod
    def finished(cls, done: Done[Any, Any]) -> dict[str, Any]:
        """The answer's own fields once done: its done status, the view of the outcome, the next step."""
        raise NotImplementedError(f"{cls.__name__} says what the agent is told once done")

    @classmethod
    def done(cls, done: Done[Any, Any]) -> Self:
        """Done as approved: the preview, who decided, and the tool's own fields."""
        data: dict[str, Any] = {"preview": done.preview, "decided": how_decided(done), **cls.finished(done)}
        answer = cls(**data).of_call(done)
        answer._through = done.tool
        return answer

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
        answer = cls(**data).of_call(outcome)
        answer._through = outcome.tool
        return answer


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
    answer: type[R],
    approval_id: str | None,
    max_amount: int | None = None,
    max_currency: str | None = None,
) -> R | types.InputRequiredResult:
    """Run one irreversible call through the flow on the server's guard, within the ceiling the call was given
    (if any), and answer: the request for the person's answer in the client as it is, else `answer` waiting
    for a person or done."""
    state = app_state(ctx)
    ceiling = Ceiling(max_amount, max_currency.lower() if max_currency else None) if max_amount is not None else None
    outcome = await flow.run(ctx, action, api=state.client, guard=state.guard, approval_id=approval_id, ceiling=ceiling)
    if isinstance(outcome, types.InputRequiredResult):
        return outcome
    if isinstance(outcome, Awaiting):
        return answer.waiting(outcome)
    return answer.done(outcome)


def went_through_the_flow(tool: str, result: object) -> bool:
    """Whether `result`, what the irreversible tool `tool` returned, came from a call of it through the flow:
    the flow's request for an answer in the client, or an answer made from the flow's outcome."""
    if isinstance(result, Asking):
        return result.tool == tool
    return isinstance(result, GuardedResult) and result.went_through_the_flow(tool)


def through_the_flow(tool: Tool) -> Callable[..., Awaitable[Any]]:
    """The tool's function, refusing to answer for an irreversible tool whose call returned without going
    through the flow (a call that raised is let through: it reports what was not done)."""
    fn = tool.fn

    @functools.wraps(fn)
    async def checked(*args: Any, **kwargs: Any) -> Any:
        result = await fn(*args, **kwargs)
        if not went_through_the_flow(tool.name, result):
            log.error("%s returned an answer that did not come through the approval flow: withheld", tool.name)
            raise ToolError(
                "The answer is withheld: this call did not go through the approval flow that every irreversible "
                "call goes through (a fault in this server). Whether anything was done is not known: check the "
                "target's status before anything else, and tell the operator."
            )
        return result

    return checked


class StatusReadBack(Action[P, O]):
    """An action whose effect shows in its target's status: when its answer is lost, reading the target again
    settles it (done; not done; or unknown, when Polar may still be working or the target cannot be read).

    The three messages are templates of {target}, {why} (how the act's request failed), {error} (how the read
    failed), {status} (the target's status now) and {not_done} (how every refusal of the call begins)."""

    UNREADABLE: ClassVar[str]
    """The act's answer was lost and the target cannot be read either."""
    STILL_RUNNING: ClassVar[str]
    """The target does not show it done yet, and Polar may still be doing it."""
    NOT_DONE: ClassVar[str]
    """The target does not show it done, and Polar is not working on it."""

    @abstractmethod
    async def read_target(self, api: PolarClient) -> O:
        """The target as Polar has it now."""

    @abstractmethod
    def done_in(self, target: O) -> bool:
        """Whether the target, as read, shows the act done."""

    async def find_out_after_lost_answer(
        self, api: PolarClient, approved: P, failure: PolarError, sent_at: datetime
    ) -> O:
        why = what_failed(failure)
        try:
            after = await self.read_target(api)
        except PolarError as exc:
            raise OutcomeUnknown(self._said(self.UNREADABLE, why, error=exc)) from exc
        if self.done_in(after):
            return after
        if may_still_be_running(failure):
            # A slow act can land after this read: say what is known, not more.
            raise OutcomeUnknown(self._said(self.STILL_RUNNING, why, status=getattr(after, "status", None)))
        raise NotDone(self._said(self.NOT_DONE, why, status=getattr(after, "status", None)))

    def _said(self, template: str, why: str, *, error: PolarError | None = None, status: str | None = None) -> str:
        return template.format(target=self.target, why=why, error=error, status=status, not_done=self.not_done())
