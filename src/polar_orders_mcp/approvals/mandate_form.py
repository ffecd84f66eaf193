"""The console's form for a standing approval: what a person typed, checked field by field into MandateTerms."""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from starlette.datastructures import FormData

from polar_orders_mcp.approvals.limits import Limits
from polar_orders_mcp.money import minor_units, money
from polar_orders_mcp.store.records import MandateTerms

REASONS = ("duplicate", "fraudulent", "customer_request", "service_disruption", "satisfaction_guarantee", "other")
"""Polar's refund reasons (tools/refunds.py's RefundReason; a test keeps them equal), which a mandate for
create_refund may restrict its acts to."""
MIN_HOURS, MAX_HOURS = 1, 90 * 24
"""How long a standing approval may last: an hour to 90 days."""
MAX_ACTS = 100_000
MAX_AGE_DAYS = 3_650
MAX_IDS = 50
NOTE_LIMIT = 500
NAME_LIMIT = 200
FIELDS = (
    "currency",
    "max_per_act",
    "daily_budget",
    "total_budget",
    "daily_acts",
    "max_acts",
    "max_order_age_days",
    "products",
    "customers",
    "for_client",
    "for_person",
    "hours",
    "note",
)
"""The form's text fields (besides the ticked `tools` and `reasons`), as posted and as carried to the Sign step."""
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_CURRENCY = re.compile(r"^[a-z]{3}$")


@dataclass(frozen=True)
class Posted:
    """A standing approval's form as the person filled it in: shown again, as typed, with what was wrong."""

    values: dict[str, str] = field(default_factory=dict)
    tools: tuple[str, ...] = ("create_refund",)
    reasons: tuple[str, ...] = ()

    @classmethod
    def of(cls, form: FormData) -> Posted:
        """From a posted form, every value a bounded string."""
        values = {name: str(form.get(name, "") or "")[:2000] for name in FIELDS}
        tools = tuple(str(t)[:64] for t in form.getlist("tools"))[:20]
        reasons = tuple(str(r)[:64] for r in form.getlist("reasons"))[:20]
        return cls(values=values, tools=tools, reasons=reasons)

    def value(self, name: str) -> str:
        return self.values.get(name, DEFAULTS.get(name, ""))


DEFAULTS = {"currency": "usd", "hours": "24"}


@dataclass(frozen=True)
class Checked:
    """Terms that passed every check, and how many hours they last."""

    terms: MandateTerms
    hours: int


def check(posted: Posted, *, tools: Sequence[str], max_charge: Limits) -> Checked | dict[str, str]:
    """The terms the form says, or what is wrong with it: field name -> a message for the person."""
    errors: dict[str, str] = {}
    chosen = tuple(dict.fromkeys(posted.tools))
    if not chosen:
        errors["tools"] = "Tick at least one tool this standing approval allows."
    elif unknown := [t for t in chosen if t not in tools]:
        errors["tools"] = f"This server does not serve {', '.join(unknown)} as a tool that moves money."
    currency = posted.value("currency").strip().lower()
    if not _CURRENCY.match(currency):
        errors["currency"] = "Write the currency as its three-letter code, like USD or EUR."
        currency = ""
    per_act = _amount(posted, "max_per_act", currency, errors, required=True)
    daily = _amount(posted, "daily_budget", currency, errors)
    total = _amount(posted, "total_budget", currency, errors)
    if per_act is not None and currency and "max_per_act" not in errors:
        limit = max_charge.of(currency)
        if limit == 0:
            errors["max_per_act"] = (
                f"This server moves no money in {currency.upper()}: its --max-charge names no amount for it."
            )
        elif limit is not None and per_act > limit:
            errors["max_per_act"] = (
                f"{money(per_act, currency)} is over this server's maximum per charge of {money(limit, currency)} "
                f"in {currency.upper()} (--max-charge): no act above it is done, standing approval or not."
            )
    daily_acts = _count(posted, "daily_acts", 1, MAX_ACTS, "acts", errors)
    max_acts = _count(posted, "max_acts", 1, MAX_ACTS, "acts", errors)
    age = _count(posted, "max_order_age_days", 1, MAX_AGE_DAYS, "days", errors)
    products = _ids(posted, "products", errors, emails=False)
    customers = _ids(posted, "customers", errors, emails=True)
    reasons = tuple(dict.fromkeys(posted.reasons))
    if bad := [r for r in reasons if r not in REASONS]:
        errors["reasons"] = f"{', '.join(bad)} is not one of Polar's refund reasons."
    elif reasons and "create_refund" not in chosen:
        errors["reasons"] = "Refund reasons limit refunds only: tick create_refund, or tick no reason."
    for_client = _text(posted, "for_client", NAME_LIMIT, errors)
    for_person = _text(posted, "for_person", NAME_LIMIT, errors)
    note = _text(posted, "note", NOTE_LIMIT, errors) or ""
    hours = _count(posted, "hours", MIN_HOURS, MAX_HOURS, "hours", errors, required=True)
    if errors or per_act is None or hours is None:
        return errors or {"max_per_act": "Give a maximum per act."}
    terms = MandateTerms(
        tools=chosen,
        currency=currency,
        max_per_act=per_act,
        daily_budget=daily,
        total_budget=total,
        max_acts=max_acts,
        daily_acts=daily_acts,
        max_order_age_days=age,
        products=products,
        customers=customers,
        reasons=reasons,
        for_client=for_client,
        for_person=for_person,
        note=note,
    )
    return Checked(terms, hours)


def _amount(posted: Posted, name: str, currency: str, errors: dict[str, str], *, required: bool = False) -> int | None:
    given = posted.value(name).strip()
    if not given:
        if required:
            errors[name] = "Give an amount, like 20.00."
        return None
    try:
        amount = minor_units(given, currency or "usd")
    except ValueError as exc:
        errors[name] = f"{_clip(given)} {exc}."
        return None
    if amount <= 0:
        errors[name] = "Give an amount above zero."
        return None
    return amount


def _count(
    posted: Posted, name: str, low: int, high: int, unit: str, errors: dict[str, str], *, required: bool = False
) -> int | None:
    given = posted.value(name).strip()
    if not given:
        if required:
            errors[name] = f"Give a whole number of {unit}, from {low} to {high:,}."
        return None
    if not (given.isascii() and given.isdigit()) or not low <= int(given) <= high:
        errors[name] = f"Give a whole number of {unit}, from {low} to {high:,}."
        return None
    return int(given)


def _ids(posted: Posted, name: str, errors: dict[str, str], *, emails: bool) -> tuple[str, ...]:
    """Polar ids (UUIDs), or also emails, separated by commas, spaces or lines."""
    found: list[str] = []
    for item in re.split(r"[\s,;]+", posted.value(name).strip()):
        if not item:
            continue
        if emails and "@" in item:
            if not _EMAIL.match(item) or len(item) > 320:
                errors[name] = f"{_clip(item)} is not an email address."
                return ()
            found.append(item.lower())
            continue
        try:
            found.append(str(uuid.UUID(item)))
        except ValueError:
            what = "a customer id (a UUID) nor an email" if emails else "a product id (a UUID)"
            errors[name] = f"{_clip(item)} is not {what}."
            return ()
    if len(found) > MAX_IDS:
        errors[name] = f"Name at most {MAX_IDS}."
        return ()
    return tuple(dict.fromkeys(found))


def _text(posted: Posted, name: str, limit: int, errors: dict[str, str]) -> str | None:
    """Free text, without control or format characters (bidi overrides included); None when empty."""
    given = "".join(c for c in posted.value(name) if unicodedata.category(c)[0] != "C" or c == " ")
    given = " ".join(given.split())
    if len(given) > limit:
        errors[name] = f"Keep it under {limit} characters."
        return None
    return given or None


def _clip(text: str) -> str:
    return f"“{text[:40]}…”" if len(text) > 40 else f"“{text}”"
