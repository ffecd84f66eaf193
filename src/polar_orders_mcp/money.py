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
