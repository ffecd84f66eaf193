"""Amounts a person types, read as minor units: what the console's forms take and what they refuse."""

from __future__ import annotations

import pytest

from polar_orders_mcp.money import minor_units


@pytest.mark.parametrize(
    ("typed", "currency", "minor"),
    [
        ("20", "usd", 2000),
        ("19.99", "usd", 1999),
        ("0.5", "usd", 50),
        (".05", "eur", 5),
        ("1,000.50", "usd", 100050),
        ("$20.00", "usd", 2000),
        (" 7 ", "gbp", 700),
        ("500", "jpy", 500),
        ("0", "usd", 0),
    ],
)
def test_an_amount_in_major_units_becomes_minor_units(typed: str, currency: str, minor: int) -> None:
    assert minor_units(typed, currency) == minor


@pytest.mark.parametrize(
    ("typed", "currency", "said"),
    [
        ("", "usd", "is not an amount: write it like 20.00"),
        ("-1", "usd", "is not an amount: write it like 20.00"),
        ("1e3", "usd", "is not an amount: write it like 20.00"),
        ("١٢", "usd", "is not an amount: write it like 20.00"),
        ("12.", "usd", "is not an amount: write it like 20.00"),
        ("NaN", "usd", "is not an amount: write it like 20.00"),
        ("1.234", "usd", "has too many decimals: USD takes at most 2 decimals"),
        ("5.5", "jpy", "has too many decimals: JPY takes no decimals"),
        ("1" * 13, "usd", "is too large"),
    ],
)
def test_anything_else_is_refused_saying_why(typed: str, currency: str, said: str) -> None:
    with pytest.raises(ValueError) as refused:
        minor_units(typed, currency)
    assert str(refused.value) == said
