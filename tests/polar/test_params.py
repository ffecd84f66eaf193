"""Query strings and bodies as Polar expects them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from polar_orders_mcp.polar.models import Address
from polar_orders_mcp.polar.params import NULL, build_body, build_query
from polar_orders_mcp.polar.segments import segment


def test_query_drops_none_repeats_lists_and_formats_scalars() -> None:
    query = build_query(
        {
            "customer_id": ["a", "b"],
            "product_id": None,
            "active": True,
            "page": 2,
            "created_after": datetime(2026, 1, 2, tzinfo=UTC),
            "sorting": ["-created_at", "status"],
        }
    )
    assert query == [
        ("customer_id", "a"),
        ("customer_id", "b"),
        ("active", "true"),
        ("page", "2"),
        ("created_after", "2026-01-02T00:00:00+00:00"),
        ("sorting", "-created_at"),
        ("sorting", "status"),
    ]


def test_metadata_filters_are_deep_objects() -> None:
    assert build_query({"metadata": {"plan": "pro", "seat": ["1", "2"]}}) == [
        ("metadata[plan]", "pro"),
        ("metadata[seat]", "1"),
        ("metadata[seat]", "2"),
    ]


def test_body_leaves_out_unset_values_and_extras_of_models() -> None:
    address = Address.model_validate({"country": "FR", "city": "Paris", "geo": {"lat": 1}})
    assert build_body({"billing_name": "Ada", "billing_address": address, "x": None}) == {
        "billing_name": "Ada",
        "billing_address": {"country": "FR", "city": "Paris"},
    }


def test_ids_cannot_escape_their_path_segment() -> None:
    assert segment("../customers/x") == "..%2Fcustomers%2Fx"
    assert segment("a?b#c") == "a%3Fb%23c"
    for bad in ["", " ", "..", "."]:
        with pytest.raises(ValueError):
            segment(bad)


def test_a_body_sends_null_only_when_asked_to() -> None:
    """None means "not sent"; NULL is a JSON null Polar reads as "clear it" (a discount, a tax id)."""
    assert build_body({"discount_code": NULL, "customer_tax_id": None, "amount": 0}) == {
        "discount_code": None,
        "amount": 0,
    }
