"""Amounts in minor units, as a person reads them."""

from __future__ import annotations

# Currencies whose minor unit is the major unit (Stripe's list, which Polar follows).
_ZERO_DECIMAL = frozenset(
    ["bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof", "xpf"]
)
_SYMBOLS = {"usd": "$", "eur": "€", "gbp": "£", "jpy": "¥", "inr": "₹", "krw": "₩", "brl": "R$"}


def major_units(amount: int, currency: str | None) -> str:
    """Minor units as a plain number in major units: 11880, "usd" -> "118.80"; 500, "jpy" -> "500"."""
    if (currency or "").lower() in _ZERO_DECIMAL:
        return str(amount)
    sign = "-" if amount < 0 else ""
    units, cents = divmod(abs(amount), 100)
    return f"{sign}{units}.{cents:02d}"


def money(amount: int | None, currency: str | None) -> str:
    """Minor units as a person reads them: 1250, "usd" -> "$12.50"; 500, "jpy" -> "¥500"."""
    if amount is None:
        return "—"
    code = (currency or "").lower()
    sign = "-" if amount < 0 else ""
    units, cents = divmod(abs(amount), 100)
    number = f"{abs(amount):,}" if code in _ZERO_DECIMAL else f"{units:,}.{cents:02d}"
    symbol = _SYMBOLS.get(code)
    return f"{sign}{symbol}{number}" if symbol else f"{sign}{number} {code.upper()}".strip()


def minor_units(text: str, currency: str | None) -> int:
    """An amount a person typed in major units, as minor units: "20", "usd" -> 2000; "19.99" -> 1999; "1,000.50"
    -> 100050; "500", "jpy" -> 500. Raises ValueError, saying why, for anything else (a sign, an exponent, more
    decimals than the currency has)."""
    given = text.strip().replace(",", "").replace("_", "")
    if given.startswith(tuple(_SYMBOLS.values())):
        given = given.lstrip("".join(_SYMBOLS.values())).strip()
    digits = 0 if (currency or "").lower() in _ZERO_DECIMAL else 2
    units, dot, cents = given.partition(".")
    if (not units and not cents) or not (units or "0").isascii() or not (units or "0").isdigit():
        raise ValueError("is not an amount: write it like 20.00")
    if dot and (not cents.isascii() or not cents.isdigit()):
        raise ValueError("is not an amount: write it like 20.00")
    if len(cents) > digits:
        kind = "no decimals" if digits == 0 else f"at most {digits} decimals"
        raise ValueError(f"has too many decimals: {(currency or '').upper()} takes {kind}")
    if len(units) > 12:
        raise ValueError("is too large")
    scale = 100 if digits else 1
    return int(units or "0") * scale + (int(cents.ljust(digits, "0")) if digits else 0)
