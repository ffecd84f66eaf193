"""Output schemas of answers that leave their nulls out."""

from __future__ import annotations

from polar_orders_mcp.server.compact import nulls_left_out


def test_a_nullable_property_becomes_optional_without_its_null_branch() -> None:
    schema = {
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "note": {"anyOf": [{"type": "string"}, {"type": "null"}], "description": "Said when there is one."},
            "row": {"anyOf": [{"$ref": "#/$defs/Row"}, {"type": "null"}]},
            "either": {"anyOf": [{"type": "string"}, {"type": "integer"}, {"type": "null"}]},
        },
        "required": ["id", "note", "either"],
        "$defs": {
            "Row": {
                "type": "object",
                "properties": {"n": {"anyOf": [{"type": "integer"}, {"type": "null"}]}},
                "required": ["n"],
            }
        },
    }
    assert nulls_left_out(schema) == {
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "note": {"type": "string", "description": "Said when there is one."},
            "row": {"$ref": "#/$defs/Row"},
            "either": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
        },
        "required": ["id"],
        "$defs": {"Row": {"type": "object", "properties": {"n": {"type": "integer"}}, "required": []}},
    }
