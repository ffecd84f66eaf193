"""Polar's spec file, brought up to today's API with the fields Polar's Python SDK requires.

The published spec in ../shared/ is older than the API: `polar-sdk` (generated later) requires
fields it does not list, such as `Order.units` or `Product.is_deletable`. Every spec schema that
has a same-named model in the SDK gets the SDK's extra fields, typed from the model's annotations
and required where the model has no default, so the spec checks cover them too.
"""

from __future__ import annotations

import copy
import dataclasses
import types
import typing
from typing import Any

from polar.v2026_10 import outputs

Schema = dict[str, Any]
_SCALARS: dict[Any, Schema] = {
    int: {"type": "integer"},
    str: {"type": "string"},
    bool: {"type": "boolean"},
    float: {"type": "number"},
    type(None): {"type": "null"},
}


def json_schema(annotation: Any) -> Schema:
    """The JSON Schema of a simple annotation (`int | None`, `str`, `bool`); anything else is open."""
    if annotation in _SCALARS:
        return _SCALARS[annotation]
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        members = [json_schema(a) for a in typing.get_args(annotation)]
        return {} if {} in members else {"anyOf": members}
    return {}


def sdk_additions(spec: Schema) -> dict[str, dict[str, tuple[Schema, bool]]]:
    """Per spec schema: the fields only the SDK has, with their schema and whether they are required."""
    found: dict[str, dict[str, tuple[Schema, bool]]] = {}
    for name, schema in spec["components"]["schemas"].items():
        model = getattr(outputs, name, None)
        if model is None or not dataclasses.is_dataclass(model):
            continue
        hints = typing.get_type_hints(model)
        known = schema.get("properties", {})
        extra = {
            f.name: (
                json_schema(hints[f.name]),
                f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING,
            )
            for f in dataclasses.fields(model)
            if f.name not in known
        }
        if extra:
            found[name] = extra
    return found


def with_sdk_fields(spec: Schema) -> Schema:
    """A copy of the spec whose schemas also describe (and require) the SDK's extra fields."""
    extended = copy.deepcopy(spec)
    schemas = extended["components"]["schemas"]
    for name, fields in sdk_additions(spec).items():
        schema = schemas[name]
        schema.setdefault("properties", {}).update({field: s for field, (s, _) in fields.items()})
        required = [field for field, (_, needed) in fields.items() if needed]
        schema["required"] = [*schema.get("required", []), *required]
    return extended
