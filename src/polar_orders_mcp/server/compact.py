"""Fewer tokens for the agent: compact tool schemas and compact result text, with nothing lost."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec, TypeVar

import mcp_types as types
from pydantic import BaseModel

from polar_orders_mcp.polar.ids import UUID_PATTERN

P = ParamSpec("P")
R = TypeVar("R")

_UUID = UUID_PATTERN
# Where a JSON schema holds further schemas; every other keyword holds data (enum, default, required…).
_SCHEMA_MAPS = frozenset({"properties", "$defs", "definitions", "patternProperties", "dependentSchemas"})
_SCHEMA_LISTS = frozenset({"anyOf", "oneOf", "allOf", "prefixItems"})
_SCHEMA_ONE = frozenset({"items", "additionalProperties", "not", "if", "then", "else", "contains", "propertyNames"})
_NULL = {"type": "null"}


def compact_schema(schema: dict[str, Any], *, optional_null: bool) -> dict[str, Any]:
    """The same schema in fewer bytes.

    - `title`s go: pydantic derives them from the property names the model already reads.
    - The UUID regex becomes `format: uuid` (the server still checks the pattern itself).
    - With `optional_null` (input schemas only): an optional parameter defaulting to null is
      advertised as its type alone, since leaving it out means null. Output schemas keep their
      null branches: results carry those nulls.
    """
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "title":
            continue
        if key in _SCHEMA_MAPS and isinstance(value, dict):
            out[key] = {name: compact_schema(sub, optional_null=optional_null) for name, sub in value.items()}
        elif key in _SCHEMA_LISTS and isinstance(value, list):
            out[key] = [compact_schema(sub, optional_null=optional_null) for sub in value]
        elif key in _SCHEMA_ONE and isinstance(value, dict):
            out[key] = compact_schema(value, optional_null=optional_null)
        else:
            out[key] = value
    branches = out.get("anyOf")
    if (
        optional_null
        and isinstance(branches, list)
        and len(branches) == 2
        and _NULL in branches
        and "default" in out
        and out["default"] is None
    ):
        rest = {k: v for k, v in out.items() if k not in ("anyOf", "default")}
        out = {**next(b for b in branches if b != _NULL), **rest}
    if out.get("pattern") == _UUID:
        del out["pattern"]
        out["format"] = "uuid"
    return out


def compact_result(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """A tool returning a model answers with compact JSON text without nulls (what the agent reads)
    beside the full structured content, instead of the SDK's indented dump with every null."""

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        result = await fn(*args, **kwargs)
        if not isinstance(result, BaseModel) or isinstance(result, types.Result):
            return result
        text = result.model_dump_json(exclude_none=True, by_alias=True)
        compact = types.CallToolResult(
            content=[types.TextContent(type="text", text=text)],
            structured_content=result.model_dump(mode="json", by_alias=True),
        )
        return compact  # type: ignore[return-value]  # the SDK takes a CallToolResult from any tool

    return wrapper
