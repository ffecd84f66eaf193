"""What a tool is: a function, its tier, and the annotations that follow from the tier."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

from mcp.types import ToolAnnotations

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
