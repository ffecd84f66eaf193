"""What a person approves: the facts of one irreversible call, computed by the server from Polar's data."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, tzinfo
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar, Literal, Self

from pydantic import BaseModel, ConfigDict, PrivateAttr

from polar_orders_mcp.approvals import render
from polar_orders_mcp.money import major_units, money

RowKind = Literal["amount", "text", "time", "customer", "agent", "warning"]
"""amount: the money, shown large; text: a fact read from Polar or computed from it; time: an ISO 8601 instant,
shown in the display zone; customer: details a customer entered (tagged as theirs); agent: words the agent
wrote, shown apart as unchecked; warning: read this."""


def digest(facts: dict[str, Any]) -> str:
    """The facts' fingerprint: an approval is for exactly these facts and no others."""
    canonical = json.dumps(facts, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class Typed:
    """What a person types to approve in a client's form: something only a reader of the facts can give, so an
    answer given without reading them (a blind "accept") approves nothing."""

    name: str
    title: str
    row: str
    """The label of the fact above that shows it."""
    expected: str
    number: bool = False
    """Compare as amounts ("$1,234.50" is 1234.5), else as text (case and outer spaces aside)."""

    @property
    def description(self) -> str:
        return f"To approve, type the {self.title.lower()} shown above as “{self.row}”. Decline to refuse."

    @staticmethod
    def row_of(description: str) -> str:
        """The label of the fact a form field's description (as made above) asks to type."""
        return description.partition("“")[2].partition("”")[0]

    def matches(self, given: str) -> bool:
        if not self.number:
            return given.strip().casefold() == self.expected.strip().casefold()
        typed, wanted = _amount(given), _amount(self.expected)
        return typed is not None and typed == wanted


def _amount(text: str) -> Decimal | None:
    """The number in a typed amount: currency signs, codes and spaces aside; "," groups thousands, except a
    lone "," before exactly two digits, which is a decimal comma ("118,80")."""
    kept = "".join(ch for ch in text if ch.isdigit() or ch in ".,-")
    if kept.count(",") == 1 and "." not in kept and len(kept.partition(",")[2]) == 2:
        kept = kept.replace(",", ".")
    try:
        return Decimal(kept.replace(",", "")) if kept else None
    except InvalidOperation:
        return None


class Preview(BaseModel):
    """Facts a person approves. Subclasses add the facts and say in `SHOWN` which a person reads.

    Every field is bound by the approval's digest; `SHOWN` lists, in order, the ones a person reads
    with their labels. Inner ids and raw minor-unit amounts stay out of what people read.
    """

    model_config = ConfigDict(defer_build=True)

    summary: str

    _ceiling: str | None = PrivateAttr(default=None)
    """The ceiling the call was given, as a person reads it (shown beside the amount, not a fact of Polar's)."""
    _remembered: bool = PrivateAttr(default=False)
    """Built from reads made earlier (minutes ago at most) rather than in this call: acting on it needs
    the action's reread first, whatever the channel."""

    SHOWN: ClassVar[tuple[tuple[str, str, RowKind], ...]] = ()
    AMOUNT_FIELD: ClassVar[str | None] = "amount"
    CURRENCY_FIELD: ClassVar[str | None] = "currency"

    @property
    def remembered(self) -> bool:
        return self._remembered

    def capped(self, amount: int, currency: str | None) -> Self:
        """Show the ceiling the call was given (the flow checked the amount is within it)."""
        self._ceiling = f"{money(amount, currency or self.money()[1])}, tax included: this server refuses more"
        return self

    def from_memory(self) -> Self:
        """Mark it as built from earlier reads."""
        self._remembered = True
        return self

    def facts(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def digest(self) -> str:
        return digest(self.facts())

    def money(self) -> tuple[int | None, str | None]:
        """The money this call moves, in minor units, and its currency (None when it moves none)."""
        amount = getattr(self, self.AMOUNT_FIELD, None) if self.AMOUNT_FIELD else None
        currency = getattr(self, self.CURRENCY_FIELD, None) if self.CURRENCY_FIELD else None
        return (amount if isinstance(amount, int) else None), (currency.lower() if isinstance(currency, str) else None)

    def rows(self) -> list[tuple[str, str, RowKind]]:
        """(label, value, kind) for each fact a person reads, leaving out the empty ones."""
        found: list[tuple[str, str, RowKind]] = []
        for name, label, kind in self.SHOWN:
            value = getattr(self, name, None)
            if value is None or value == "" or value == []:
                continue
            if isinstance(value, list):
                value = "; ".join(str(v) for v in value)
            found.append((label, str(value), kind))
        if self._ceiling is not None:
            at = next((n + 1 for n, row in enumerate(found) if row[2] == "amount"), 0)
            found.insert(at, ("At most (the ceiling the agent was given)", self._ceiling, "text"))
        return found

    def typed(self) -> Typed:
        """What a person types to approve it in a client's form: the amount it moves."""
        amount, currency = self.money()
        if amount is None:
            raise NotImplementedError(f"{type(self).__name__} moves no money: say what a person types to approve it")
        row = next((label for _, label, kind in self.SHOWN if kind == "amount"), "Amount")
        return Typed("amount", "Amount", row, major_units(amount, currency), number=True)

    def message(self, zone: tzinfo = UTC) -> str:
        """The text a client shows a person in a confirmation request (render.text: the console's rows too)."""
        return render.text(self.summary, self.rows(), zone)


def changed_facts(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """The facts that differ now, as "field: old → new"."""
    keys = sorted((set(before) | set(after)) - {"summary"})
    return [f"{k}: {before.get(k)} → {after.get(k)}" for k in keys if before.get(k) != after.get(k)]
