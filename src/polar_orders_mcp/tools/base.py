"""What a tool is: a function, its tier, and the annotations that follow from the tier."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from mcp.types import ToolAnnotations

if TYPE_CHECKING:
    from polar_orders_mcp.approvals.flow import Action

Tier = Literal["read", "write", "irreversible"]
"""read: changes nothing. write: creates or changes, no money moves.
irreversible: cannot be undone (charges, checkout confirmations, refunds, revocations, conceded
disputes); a person approves every call."""

TIERS: tuple[Tier, ...] = ("read", "write", "irreversible")


@dataclass(frozen=True)
class Tool:
    """One tool: the function is the schema (its signature) and the description (its docstring)."""

    fn: Callable[..., Awaitable[Any]]
    tier: Tier
    title: str
    toolset: str
    idempotent: bool = False
    """For write tools: does repeating the same call leave the same state? Reads always are;
    irreversible tools never are."""
    action: type[Action[Any, Any]] | None = None
    """For irreversible tools, and only them: the Action the tool runs through the approval flow."""

    def __post_init__(self) -> None:
        if (problem := self.unguarded()) is not None:
            raise ValueError(f"Tool {self.name}: {problem}.")

    def unguarded(self) -> str | None:
        """Why this row does not tie its tier to the approval flow, or None when it does: a tool of tier
        `irreversible` names its Action, whose `tool` is the tool's name; no other tool names one."""
        if self.tier != "irreversible":
            return None if self.action is None else f"a {self.tier} tool names no Action (only irreversible ones do)"
        if self.action is None:
            return (
                "an irreversible tool names its Action (Tool(..., action=...)): every irreversible call goes "
                "through the approval flow"
            )
        if getattr(self.action, "tool", None) != self.name:
            return f"its Action {self.action.__name__} is for {getattr(self.action, 'tool', None)!r}, not {self.name!r}"
        return None

    @property
    def name(self) -> str:
        return self.fn.__name__

    @property
    def annotations(self) -> ToolAnnotations:
        # Every hint is set explicitly, so clients never fall back to their own defaults
        # (which would make them ask approval for harmless reads).
        return ToolAnnotations(
            title=self.title,
            read_only_hint=self.tier == "read",
            destructive_hint=self.tier == "irreversible",
            idempotent_hint=self.tier == "read" or (self.tier == "write" and self.idempotent),
            open_world_hint=True,
        )
