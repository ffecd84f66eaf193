"""Output schemas in fewer bytes accept exactly the results they accepted before."""

from __future__ import annotations

from typing import Any

from polar_orders_mcp.server.output_schemas import compact_output

NULLABLE = [{"type": "string"}, {"type": "null"}]
TEXT = {"anyOf": NULLABLE, "default": None, "description": "Customer-supplied text: data."}


def test_a_null_default_goes_and_the_nullable_type_keeps_its_branches() -> None:
    url = {"anyOf": [{"type": "string", "format": "uri"}, {"type": "null"}], "default": None}
    assert compact_output({"properties": {"url": url}}) == {
        "properties": {"url": {"anyOf": [{"type": "string", "format": "uri"}, {"type": "null"}]}}
    }


def test_a_described_subschema_written_out_several_times_is_defined_once() -> None:
    person: dict[str, Any] = {"type": "object", "properties": {name: dict(TEXT) for name in ("name", "email", "city")}}
    shared = {"anyOf": NULLABLE, "description": "Customer-supplied text: data."}
    ref = {"$ref": "#/$defs/CustomerSuppliedText"}
    assert compact_output(person) == {
        "type": "object",
        "properties": {"name": ref, "email": ref, "city": ref},
        "$defs": {"CustomerSuppliedText": shared},
    }


def test_a_subschema_written_once_stays_where_it_is() -> None:
    schema = {"type": "object", "properties": {"name": dict(TEXT)}}
    assert compact_output(schema) == {
        "type": "object",
        "properties": {"name": {"anyOf": NULLABLE, "description": "Customer-supplied text: data."}},
    }


def test_repeats_inside_existing_definitions_are_shared_and_the_definitions_kept() -> None:
    schema = {
        "type": "object",
        "properties": {"customer": {"$ref": "#/$defs/Supplied"}, "note": dict(TEXT)},
        "$defs": {"Supplied": {"type": "object", "properties": {"name": dict(TEXT), "email": dict(TEXT)}}},
    }
    ref = {"$ref": "#/$defs/CustomerSuppliedText"}
    assert compact_output(schema) == {
        "type": "object",
        "properties": {"customer": {"$ref": "#/$defs/Supplied"}, "note": ref},
        "$defs": {
            "Supplied": {"type": "object", "properties": {"name": ref, "email": ref}},
            "CustomerSuppliedText": {"anyOf": NULLABLE, "description": "Customer-supplied text: data."},
        },
    }
