"""Plain policy values shared by the settings and the guard: the confirmation modes and money limits."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

ConfirmMode = Literal["auto", "elicit", "console", "relay", "off"]
CONFIRM_MODES: tuple[ConfirmMode, ...] = ("auto", "elicit", "console", "relay", "off")
ApprovalProof = Literal["secret", "passkey"]
"""What a person's approval in the console carries: the session of their secret alone, or also their passkey."""
APPROVAL_PROOFS: tuple[ApprovalProof, ...] = ("secret", "passkey")


class Limits(BaseModel):
    """An amount per currency, in that currency's minor units, with an optional one for any other currency.

    Written `usd=50000,eur=45000`; a bare number or `*=` (`10000`, `*=10000`) applies to every other
    currency in its own minor units (10000 is $100.00 but also ¥10,000), and both combine:
    `10000,jpy=1000000`. Limits that name some currencies and give no amount for the others leave
    those others at 0: nothing moves in a currency the operator did not think of.
    """

    model_config = ConfigDict(defer_build=True)

    any_currency: int | None = None
    per_currency: dict[str, int] = Field(default_factory=dict)

    def of(self, currency: str | None) -> int | None:
        """The limit for `currency`: None when no limit is set at all, 0 for a currency these limits leave out."""
        if currency is None or not self:
            return None
        found = self.per_currency.get(currency.lower(), self.any_currency)
        return 0 if found is None else found

    def names(self, currency: str) -> bool:
        """Whether these limits say something of `currency` (by its code, or for any currency)."""
        return not self or self.any_currency is not None or currency.lower() in self.per_currency

    def __bool__(self) -> bool:
        return self.any_currency is not None or bool(self.per_currency)

    @classmethod
    def parse(cls, value: object) -> Limits:
        if isinstance(value, Limits):
            return value
        if value is None or value == "":
            return cls()
        if isinstance(value, bool):
            raise ValueError("expected an amount in minor units, or currency=amount pairs like usd=50000,eur=45000")
        if isinstance(value, int):
            return cls(any_currency=_amount(str(value)))
        if isinstance(value, dict):
            return cls(per_currency={_currency(k): _amount(str(v)) for k, v in value.items()})
        if not isinstance(value, str):
            raise ValueError("expected an amount in minor units, or currency=amount pairs like usd=50000,eur=45000")
        limits = cls()
        _check_form(value)
        for item in (part.strip() for part in value.split(",")):
            if not item:
                continue
            if "=" in item and item.partition("=")[0].strip() != "*":
                currency, _, amount = item.partition("=")
                code = _currency(currency)
                if code in limits.per_currency:
                    first, again = f"{code}={limits.per_currency[code]}", f"{code}={amount.strip()}"
                    raise ValueError(f"{code} is given twice ({first} and {again}): keep one, {first} or {again}")
                limits.per_currency[code] = _amount(amount)
            elif limits.any_currency is None:
                limits.any_currency = _amount(item.partition("=")[2] if "=" in item else item)
            else:
                raise ValueError(f"two amounts for any currency ({limits.any_currency} and {item}): give one")
        return limits


# A currency and an amount in some other shape than currency=amount: usd:50000, usd 50000, usd50000, 50000usd.
_MISWRITTEN = re.compile(
    r"(?P<code>\*|[a-z]{3})\s*:?\s*(?P<amount>\d+)|(?P<amount2>\d+)\s*(?P<code2>[a-z]{3})", re.I | re.ASCII
)
# A comma between digits and a group of exactly three, the way thousands are written: usd=50,000.
_THOUSANDS = re.compile(r"(?<=\d)\s*,\s*(?=\d{3}\s*(?:,|$))", re.ASCII)


def _check_form(value: str) -> None:
    """Refuse, with the corrected form, limits written in a shape the parser would misread or not read at all."""
    items = [part.strip() for part in value.split(",")]
    for before, item in zip(["", *items], items, strict=False):
        if re.fullmatch(r"\d{3}", item, re.ASCII) and re.search(r"\d$", before, re.ASCII):
            fixed = _THOUSANDS.sub("", value.strip())
            other = "" if item.startswith("0") else f", or *={item} for a limit on any other currency"
            raise ValueError(
                f"'{before},{item}': a comma separates limits, so this reads as two; write {fixed} (no thousands "
                f"separators){other}"
            )
        if "=" not in item and (found := _MISWRITTEN.fullmatch(item)):
            code = (found["code"] or found["code2"]).lower()
            amount = found["amount"] or found["amount2"]
            raise ValueError(f"{item!r}: write {code}={amount} (a currency's limit is currency=amount)")
        pairs = [part for part in re.split(r"[;\s]+", item) if part]
        if len(pairs) > 1 and all("=" in part for part in pairs):
            raise ValueError(f"{item!r}: separate limits with commas: write {','.join(pairs)}")
        if ":" in item and "=" not in item:
            raise ValueError(f"{item!r}: write a currency's limit as currency=amount, e.g. usd=50000")


def _currency(text: str) -> str:
    code = text.strip().lower()
    if len(code) != 3 or not code.isalpha() or not code.isascii():
        raise ValueError(f"{text.strip()!r} is not a currency code: use ISO codes such as usd, eur, jpy")
    return code


def _amount(text: str) -> int:
    text = text.strip()
    if text.startswith("-"):
        raise ValueError(f"{text!r} is negative: a limit is a whole number of minor units, 0 or more")
    if not text.isdigit() or not text.isascii():
        hint = ""
        if text.replace("_", "").isdigit() and text.isascii():
            raise ValueError(f"{text!r} is not an amount in minor units: write {text.replace('_', '')}, no separators")
        try:
            major = float(text)
        except ValueError:
            pass
        else:
            hint = f" ({text} in major units is {round(major * 100)} minor units for a 2-decimal currency)"
        raise ValueError(f"{text!r} is not an amount in minor units: give a whole number, e.g. 1250 for $12.50{hint}")
    return int(text)
