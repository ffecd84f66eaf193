"""What an audit record says of one call: who called which tool with what, and the facts the approval flow
learnt of it (`AuditFacts`), carried on the flow's outcome and on the exception that ended the call."""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

import mcp_types as types
from pydantic import PrivateAttr

from polar_orders_mcp.approvals.policy import Caller
from polar_orders_mcp.store.records import AuditRecord

# Arguments that are credentials: never written, whatever the tool.
SECRET_ARGUMENTS = frozenset({"approval_id", "client_secret", "payment_token", "confirmation_token"})
TARGETS = ("order_id", "checkout_id", "customer_id", "subscription_id", "dispute_id", "refund_id")


@dataclass
class AuditFacts:
    """What the approval flow learnt of one call, for its audit record. A fact the flow did not learn is None
    and left out of the record."""

    channel: str | None = None
    approval_id: str | None = None
    amount: int | None = None
    """The money the call moves as previewed, in minor units, with its currency."""
    currency: str | None = None
    approver: str | None = None
    approver_reason: str | None = None
    """The approver's words on their decision."""
    mandate: str | None = None
    """The standing approval it was done under, whose signer is the approver."""
    previewed: dict[str, Any] | None = None
    acted: bool | None = None
    differences: list[str] | None = None
    settled: str | None = None
    polar_status: str | None = None
    """What Polar said of the object it acted on, e.g. an order "paid"."""
    polar_id: str | None = None
    """Polar's id of that object, e.g. a refund's."""
    outcome_detail: str | None = None
    """"as approved" or "mismatch" once Polar's answer was checked: not recorded itself."""
    chained: AuditRecord | None = None
    """The call's record as the flow chained it, in the same transaction as its last store write."""

    def note(self, **learnt: Any) -> None:
        """Keep what was learnt; a None learns nothing (an earlier fact stays)."""
        for name, value in learnt.items():
            if value is not None:
                setattr(self, name, value)

    def recorded(self) -> dict[str, Any]:
        """The facts that go into the record, in the record's order."""
        return {name: getattr(self, name) for name in NOTED if getattr(self, name) is not None}


NOTED = tuple(f.name for f in fields(AuditFacts) if f.name not in ("outcome_detail", "chained"))


def facts_of(ended: object) -> AuditFacts | None:
    """The flow's facts of a call, from what it returned or from the exception that ended it (or one it caused:
    the SDK and the tool wrap what the flow raised); None when the call never reached the flow."""
    seen: object | None = ended
    for _ in range(6):
        found = getattr(seen, "audit_facts", None)
        if isinstance(found, AuditFacts):
            return found
        seen = seen.__cause__ if isinstance(seen, BaseException) else None
    return None


class AuditedResult(types.CallToolResult):
    """A tool's answer, with the flow's facts of the call for its audit record (never sent)."""

    _audit_facts: AuditFacts | None = PrivateAttr(default=None)

    @property
    def audit_facts(self) -> AuditFacts | None:
        return self._audit_facts

    def with_facts(self, facts: AuditFacts | None) -> AuditedResult:
        self._audit_facts = facts
        return self


def _target(arguments: dict[str, Any], facts: AuditFacts | None) -> str | None:
    for name in TARGETS:
        if isinstance(arguments.get(name), str):
            return str(arguments[name])[:100]
    previewed: dict[str, Any] = (facts.previewed if facts is not None else None) or {}
    found: str | None = previewed.get("checkout_id") or previewed.get("order_id")
    return found


def recorded_arguments(arguments: dict[str, Any]) -> dict[str, Any]:
    """The arguments as recorded: credentials redacted, long values bounded."""
    shown: dict[str, Any] = {}
    for name, value in list(arguments.items())[:40]:
        key = str(name)[:64]
        if key in SECRET_ARGUMENTS:
            if value is not None:
                shown[key] = "<given>"
        elif isinstance(value, str):
            shown[key] = value if len(value) <= 200 else value[:200] + "…"  # hostile input stays bounded
        elif isinstance(value, int | float | bool | list | dict) or value is None:
            shown[key] = value if len(json.dumps(value, default=str)) <= 2000 else "<too long to record>"
        else:
            shown[key] = f"<{type(value).__name__}>"
    return shown


def call_entry(
    tool: str,
    tier: str,
    who: Caller,
    writer: str | None,
    arguments: Any,
    facts: AuditFacts | None,
    outcome: dict[str, Any],
) -> dict[str, Any]:
    """One call's audit entry for this outcome: who called which tool with what, and what the flow learnt."""
    given = arguments if isinstance(arguments, dict) else {}
    entry: dict[str, Any] = {
        "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "tool": tool,
        "tier": tier,
        "client": who.client,
        **({"person": who.person} if who.person is not None else {}),
        "session": who.session,
        "target": _target(given, facts),
        "arguments": recorded_arguments(given),
    }
    if writer is not None:
        entry["writer"] = writer
    if facts is not None:
        entry.update(facts.recorded())
    entry.update(outcome)
    if entry.get("outcome") == "ok" and facts is not None and facts.outcome_detail == "as approved":
        entry["outcome"] = "done"
    return entry
