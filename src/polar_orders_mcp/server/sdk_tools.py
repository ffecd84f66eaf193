"""The SDK's Tool as this server runs it: arguments checked for an agent (`CheckedTool`), and every write or
irreversible call audited (`AuditedSdkTool`), the two together for those (`AuditedCheckedTool`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.tools import Tool as SdkTool
from pydantic import PrivateAttr

from polar_orders_mcp.approvals.audit_facts import AuditFacts, call_entry, facts_of
from polar_orders_mcp.approvals.policy import Caller
from polar_orders_mcp.oauth.grants import SCOPE_OF_TIER
from polar_orders_mcp.server.arguments import check_arguments
from polar_orders_mcp.server.identity import grant_of
from polar_orders_mcp.tools.audit import AuditTrail, outcome_of, result_outcome
from polar_orders_mcp.tools.base import Tool


class CheckedTool(SdkTool):
    """The SDK's tool, checking its arguments the agent's way before the SDK validates them itself."""

    _served: frozenset[str] = PrivateAttr(default=frozenset())
    _tier: str = PrivateAttr(default="irreversible")
    _explained: dict[str, Any] | None = PrivateAttr(default=None)
    _derive: Callable[[], SdkTool] | None = PrivateAttr(default=None)

    def derive_later(self, derive: Callable[[], SdkTool]) -> None:
        """This tool was made from cached schemas: its argument model comes from `derive` (the SDK's tool made
        from the function) on its first call, or earlier through `derive_now`."""
        self._derive = derive

    def derive_now(self) -> None:
        if self._derive is None:
            return
        derived, self._derive = self._derive(), None
        # The schemas this tool advertises stay its own; the rest is what calling the function needs.
        self.fn_metadata = derived.fn_metadata.model_copy(update={"output_schema": self.fn_metadata.output_schema})
        self.fn, self.is_async, self.context_kwarg = derived.fn, derived.is_async, derived.context_kwarg
        self.resolved_params, self.resolver_plans = derived.resolved_params, derived.resolver_plans

    @property
    def derived(self) -> bool:
        return self._derive is None

    def serving_beside(self, names: Iterable[str]) -> None:
        """The other tools served, so that a hint only ever names one that exists."""
        self._served = frozenset(names)

    def explain_with(self, schema: dict[str, Any]) -> None:
        """The schema an argument error is explained from: the advertised one with what it leaves out
        to be short (ids' `format: uuid`)."""
        self._explained = schema

    @property
    def explained_schema(self) -> dict[str, Any]:
        return self._explained or self.parameters

    def tiered(self, tier: str) -> None:
        """The tool's tier: an OAuth token must grant its scope (the HTTP gate checks first; this is the last
        word, for every transport and request shape)."""
        self._tier = tier

    async def run(self, arguments: dict[str, Any], context: Any, convert_result: bool = False) -> Any:
        grant = grant_of(context)
        if grant is not None and not grant.allows(self._tier):
            needed = SCOPE_OF_TIER[self._tier]
            raise ToolError(
                f"{self.name} needs the OAuth scope {needed}, which this client's token does not grant. Nothing "
                f"was done: sign in again and allow {needed}."
            )
        self.derive_now()
        arguments = check_arguments(self, arguments)
        return await super().run(arguments, context, convert_result)


class AuditedSdkTool(SdkTool):
    """The SDK's tool, writing one audit record per call, whatever its outcome."""

    _entry: Tool | None = PrivateAttr(default=None)
    _trail: AuditTrail | None = PrivateAttr(default=None)
    _identify: Callable[[Any], Caller] | None = PrivateAttr(default=None)

    def audit_with(self, tool: Tool, trail: AuditTrail, identify: Callable[[Any], Caller]) -> AuditedSdkTool:
        self._entry, self._trail, self._identify = tool, trail, identify
        return self

    async def run(self, arguments: dict[str, Any], context: Any, convert_result: bool = False) -> Any:
        try:
            result = await super().run(arguments, context, convert_result)
        except BaseException as exc:
            if isinstance(exc, Exception):
                await self._write(arguments, context, facts_of(exc), outcome_of(exc))
            raise
        await self._write(arguments, context, facts_of(result), result_outcome(result))
        return result

    async def _write(
        self, arguments: dict[str, Any], context: Any, facts: AuditFacts | None, outcome: dict[str, Any]
    ) -> None:
        """Write the call's record: the one the flow chained when it foresaw this outcome, else a new one."""
        if self._trail is None or self._entry is None:
            return
        who = self._identify(context) if self._identify is not None else Caller("unknown")
        entry = call_entry(self._entry.name, self._entry.tier, who, self._trail.writer, arguments, facts, outcome)
        chained = facts.chained if facts is not None else None
        # The flow chained the record of the outcome it foresaw; any other outcome gets a record of its own,
        # after that one's line (it is in the chain: a file without it would miss a record of its writer).
        same = chained is not None and chained.entry.get("outcome") == entry.get("outcome")
        if chained is not None and not same:
            await self._trail.write(chained.entry, chained)
        await self._trail.write(entry, chained if same else None)


class AuditedCheckedTool(AuditedSdkTool, CheckedTool):
    """A write or irreversible tool: audited, including the calls its argument checks refuse."""
