"""Fewer tokens for the agent: compact tool schemas and compact result text, with nothing lost."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec, TypeVar

import mcp_types as types
from pydantic import BaseModel

from polar_orders_mcp.approvals.audit_facts import AuditedResult
from polar_orders_mcp.polar.ids import EMAIL_PATTERN, UUID_PATTERN
from polar_orders_mcp.tools.irreversible import GuardedResult

P = ParamSpec("P")
R = TypeVar("R")

_UUID = UUID_PATTERN
# Where a JSON schema holds further schemas; every other keyword holds data (enum, default, required…).
_SCHEMA_MAPS = frozenset({"properties", "$defs", "definitions", "patternProperties", "dependentSchemas"})
_SCHEMA_LISTS = frozenset({"anyOf", "oneOf", "allOf", "prefixItems"})
_SCHEMA_ONE = frozenset({"items", "additionalProperties", "not", "if", "then", "else", "contains", "propertyNames"})
_NULL = {"type": "null"}
# Caps an input schema keeps to itself (the server still enforces them).
_CAPS = frozenset({"maxLength", "maxItems", "maxProperties"})


def compact_schema(schema: dict[str, Any], *, optional_null: bool) -> dict[str, Any]:
    """The same schema in fewer bytes.

    - `title`s go: pydantic derives them from the property names the model already reads.
    - The UUID regex becomes `format: uuid`, and in input schemas the email regex `format: email` (the
      server still checks both patterns).
    - With `optional_null` (input schemas only): an optional parameter defaulting to null is
      advertised as its type alone, since leaving it out means null. Output schemas keep their
      null branches: results carry those nulls.
    - Input schemas only: length and count caps (`maxLength`, `maxItems`, `maxProperties`) are
      not advertised: they guard the server against absurd input, not a rule an agent plans by, and
      the server still checks them (an argument over a cap gets an error naming the cap). An `enum`
      of strings says its type by itself, and a flag's default of false goes without saying, as do the
      first page and detail="summary" (the server's instructions say so once).
    """
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "title" or (optional_null and (key in _CAPS or _sanity_cap(key, value))):
            continue
        out[key] = _compact_value(key, value, optional_null=optional_null)
    if optional_null:
        out = _optional_as_its_type(out)
    _name_formats(out, optional_null=optional_null)
    if optional_null:
        _drop_the_unsaid(out)
    return out


def _compact_value(key: str, value: Any, *, optional_null: bool) -> Any:
    """One keyword's value, its subschemas compacted (every other keyword holds data)."""
    if key == "properties" and optional_null and isinstance(value, dict):
        return {name: _implied(name, compact_schema(sub, optional_null=True)) for name, sub in value.items()}
    if key in _SCHEMA_MAPS and isinstance(value, dict):
        return {name: compact_schema(sub, optional_null=optional_null) for name, sub in value.items()}
    if key in _SCHEMA_LISTS and isinstance(value, list):
        return [compact_schema(sub, optional_null=optional_null) for sub in value]
    if key in _SCHEMA_ONE and isinstance(value, dict):
        return compact_schema(value, optional_null=optional_null)
    return value


def _optional_as_its_type(schema: dict[str, Any]) -> dict[str, Any]:
    """`anyOf: [T, null]` with a null default is advertised as T: leaving the parameter out means null."""
    branches = schema.get("anyOf")
    if not (isinstance(branches, list) and len(branches) == 2 and _NULL in branches):
        return schema
    if "default" not in schema or schema["default"] is not None:
        return schema
    rest = {k: v for k, v in schema.items() if k not in ("anyOf", "default")}
    return {**next(b for b in branches if b != _NULL), **rest}


def _name_formats(schema: dict[str, Any], *, optional_null: bool) -> None:
    """The UUID regex as `format: uuid`, and in input schemas the email regex as `format: email`."""
    if schema.get("pattern") == _UUID:
        del schema["pattern"]
        schema["format"] = "uuid"
    if optional_null and schema.get("pattern") == EMAIL_PATTERN:
        del schema["pattern"]
        schema["format"] = "email"


def _drop_the_unsaid(schema: dict[str, Any]) -> None:
    """An input schema leaves out what goes without saying: the type of an enum of strings, a null
    default, a flag's false."""
    if schema.get("type") == "string" and all(isinstance(v, str) for v in schema.get("enum") or [0]):
        del schema["type"]
    unsaid = schema.get("default") is None or (schema.get("default") is False and schema.get("type") == "boolean")
    if "default" in schema and unsaid:
        del schema["default"]


# Defaults every agent assumes, said once in the server's instructions rather than in every tool.
_IMPLIED_DEFAULTS: dict[str, Any] = {"page": 1, "detail": "summary"}


def _implied(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    if name in _IMPLIED_DEFAULTS and schema.get("default") == _IMPLIED_DEFAULTS[name]:
        return {k: v for k, v in schema.items() if k != "default"}
    return schema


def bare_ids(schema: Any) -> Any:
    """An input schema as advertised: ids without `format: uuid`. The parameter's name says what it is
    (`order_id`), the server checks its form, and an error then gives an example; in a tool list the
    format would be paid on every id of every tool, on every turn."""
    if isinstance(schema, list):
        return [bare_ids(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    return {
        key: bare_ids(value)
        for key, value in schema.items()
        if not (key == "format" and value == "uuid" and schema.get("type") == "string")
    }


def _sanity_cap(key: str, value: Any) -> bool:
    """A bound that only keeps absurd numbers out: a `maximum` of 99,999,999 minor units on amounts, a
    `minimum` of 0 or 1 on counts and pages."""
    if key == "maximum":
        return isinstance(value, int) and value >= 1_000_000
    return key == "minimum" and value in (0, 1)


def inline_defs(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema with each `$defs` entry written where it is used, when it is used once (a billing
    address, say): the reference and its wrapper cost more than they save. The entry's own description
    goes; the property that used it keeps its own."""
    defs = schema.get("$defs")
    if not isinstance(defs, dict):
        return schema
    uses: dict[str, int] = {}
    _count_refs(schema, uses)
    once = {name for name, count in uses.items() if count == 1 and name in defs}

    def swap(node: Any) -> Any:
        if isinstance(node, list):
            return [swap(item) for item in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.removeprefix("#/$defs/") in once:
            target = {k: v for k, v in defs[ref.removeprefix("#/$defs/")].items() if k != "description"}
            return {**swap(target), **{k: swap(v) for k, v in node.items() if k != "$ref"}}
        return {k: swap(v) for k, v in node.items() if k != "$defs"}

    out = swap(schema)
    kept = {name: swap(sub) for name, sub in defs.items() if name not in once}
    if kept:
        out["$defs"] = kept
    return out  # type: ignore[no-any-return]


def _count_refs(node: Any, uses: dict[str, int]) -> None:
    if isinstance(node, list):
        for item in node:
            _count_refs(item, uses)
    elif isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            uses[ref.removeprefix("#/$defs/")] = uses.get(ref.removeprefix("#/$defs/"), 0) + 1
        for value in node.values():
            _count_refs(value, uses)


def compact_result(fn: Callable[P, Awaitable[R]], *, without_nulls: bool = False) -> Callable[P, Awaitable[R]]:
    """A tool returning a model answers with compact JSON text without nulls (what the agent reads)
    beside the full structured content, instead of the SDK's indented dump with every null. With
    `without_nulls` the structured content leaves its nulls out too (its output schema then says so:
    `nulls_left_out`), and an irreversible tool's answer what it says to leave out (`left_out`)."""

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        result = await fn(*args, **kwargs)
        if not isinstance(result, BaseModel) or isinstance(result, types.Result):
            return result
        exclude = result.left_out() if isinstance(result, GuardedResult) else None
        text = result.model_dump_json(exclude_none=True, by_alias=True, exclude=exclude)
        structured = result.model_dump(mode="json", by_alias=True, exclude_none=without_nulls, exclude=exclude)
        compact = AuditedResult(
            content=[types.TextContent(type="text", text=text)],
            structured_content=structured,
        ).with_facts(result.audit_facts if isinstance(result, GuardedResult) else None)
        return compact  # type: ignore[return-value]  # the SDK takes a CallToolResult from any tool

    return wrapper


def nulls_left_out(schema: dict[str, Any]) -> dict[str, Any]:
    """An output schema for results that leave their nulls out: a nullable property is optional instead,
    without its null branch (a result never carries that null)."""
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "properties" and isinstance(value, dict):
            out[key] = {name: _not_null(nulls_left_out(sub)) for name, sub in value.items()}
        elif key in _SCHEMA_MAPS and isinstance(value, dict):
            out[key] = {name: nulls_left_out(sub) for name, sub in value.items()}
        elif key in _SCHEMA_LISTS and isinstance(value, list):
            out[key] = [nulls_left_out(sub) for sub in value]
        elif key in _SCHEMA_ONE and isinstance(value, dict):
            out[key] = nulls_left_out(value)
        else:
            out[key] = value
    properties = schema.get("properties")
    if isinstance(properties, dict) and "required" in out:
        out["required"] = [name for name in out["required"] if not _nullable(properties.get(name))]
    return out


def _nullable(schema: Any) -> bool:
    return isinstance(schema, dict) and _NULL in (schema.get("anyOf") or [])


def _not_null(schema: dict[str, Any]) -> dict[str, Any]:
    if not _nullable(schema):
        return schema
    rest = [branch for branch in schema["anyOf"] if branch != _NULL]
    outer = {k: v for k, v in schema.items() if k not in ("anyOf", "default")}
    return {**rest[0], **outer} if len(rest) == 1 else {**outer, "anyOf": rest}
