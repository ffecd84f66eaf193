"""Tool arguments checked for an agent: closed schemas, unknown names refused, errors that say what to send.

Every tool the server serves goes through `CheckedTool` (server/sdk_tools.py), so a tool added to a table
gets all of it:

- an argument the tool does not take is an error naming the valid ones ("did you mean …?"), never
  silently dropped (a misspelled filter would otherwise return unfiltered data);
- a validation error says which argument, what was wrong with it and what a good value looks like,
  instead of pydantic's text (which names an internal model, prints regexes and links to its docs);
- a single string where the schema wants a list is taken as a list of that one string.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from mcp.server.mcpserver.exceptions import ToolError
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from polar_orders_mcp.guesses import closest

if TYPE_CHECKING:
    from polar_orders_mcp.server.sdk_tools import CheckedTool

# Arguments that are credentials: their values are never repeated back in an error.
CREDENTIALS = frozenset({"confirmation_token", "client_secret", "payment_token"})

# Names agents reach for, and the argument they meant (suggested only when the tool takes it).
SYNONYMS = {
    **dict.fromkeys(("start", "start_date", "from", "from_date", "since", "after", "date_from"), "created_after"),
    **dict.fromkeys(("end", "end_date", "to", "to_date", "until", "before", "date_to"), "created_before"),
    **dict.fromkeys(("per_page", "page_size", "size", "count", "max_results"), "limit"),
    **dict.fromkeys(("sort", "sort_by", "order_by", "ordering"), "sorting"),
    **dict.fromkeys(("query", "search", "q", "name"), "text"),
    "statuses": "status",
    "product": "product_id",
    "customer": "customer_id",
    "order": "order_id",
    "checkout": "checkout_id",
}
# An unknown argument that asks for something another tool does: (needs tool, hint).
_BY_EMAIL = ("find_customers", "To find a customer by email use find_customers, then pass its id as customer_id.")
HINTS = {"customer_email": _BY_EMAIL, "email": _BY_EMAIL}

EXAMPLE_UUID = "8f14e45f-ceea-4e7a-9c2b-3d5e6f708192"
# Examples for the patterns the tools use; an unknown pattern is shown as is.
PATTERN_EXAMPLES = {
    "^[a-z]{3}$": "usd",
    "^[A-Z]{2}$": "US",
    "^https?://": "https://example.com/thanks",
}
FORMAT_EXAMPLES = {
    "uuid": EXAMPLE_UUID,
    "email": "jane@example.com",
    "date-time": "2026-10-01T00:00:00Z",
    "date": "2026-10-01",
}
VALUE_SHOWN = 60


def close_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The input schema with every object that lists its properties closed (`additionalProperties: false`)."""
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in ("properties", "$defs") and isinstance(value, dict):
            out[key] = {name: close_schema(sub) if isinstance(sub, dict) else sub for name, sub in value.items()}
        elif key in ("items", "additionalProperties") and isinstance(value, dict):
            out[key] = close_schema(value)
        elif key in ("anyOf", "oneOf", "allOf") and isinstance(value, list):
            out[key] = [close_schema(sub) if isinstance(sub, dict) else sub for sub in value]
        else:
            out[key] = value
    if "properties" in out and "additionalProperties" not in out:
        out["additionalProperties"] = False
    return out


def check_arguments(tool: CheckedTool, arguments: dict[str, Any]) -> dict[str, Any]:
    """The arguments to hand on (a lone string made a list where one is wanted), or a ToolError for the agent."""
    arguments = _lists_from_strings(arguments, tool.parameters)
    if (name := _not_unicode(arguments)) is not None:
        raise ToolError(
            f"Argument {name} holds text that is not valid Unicode (a lone surrogate such as \\ud800, which "
            f"no UTF-8 text can carry). Nothing was done: call {tool.name} again with plain text there."
        )
    metadata = tool.fn_metadata
    try:
        metadata.arg_model.model_validate(metadata.pre_parse_json(arguments), extra="forbid")
    except ValidationError as exc:
        # `from exc`: the SDK then logs the failing field names only, never the values.
        raise ToolError(explain(tool.name, tool.explained_schema, exc.errors(), tool._served)) from exc
    return arguments


def _not_unicode(value: Any, name: str | None = None) -> str | None:
    """The argument holding a lone surrogate (in a value or a key, at any depth), or None."""
    if isinstance(value, str):
        return name if any("\ud800" <= ch <= "\udfff" for ch in value) else None
    if isinstance(value, dict):
        for key, item in value.items():
            found = _not_unicode(key, name or str(key)) if isinstance(key, str) else None
            found = found or _not_unicode(item, name or str(key))
            if found is not None:
                return _label_safe(found)
    elif isinstance(value, list):
        for item in value:
            if (found := _not_unicode(item, name)) is not None:
                return found
    return None


def _label_safe(name: str) -> str:
    """An argument's name fit to print: a name that is itself not valid Unicode is shown escaped."""
    return name.encode("utf-8", "backslashreplace").decode()


def _lists_from_strings(arguments: dict[str, Any], schema: Mapping[str, Any]) -> dict[str, Any]:
    properties = schema.get("properties", {})
    changed = {}
    for name, value in arguments.items():
        # A string that looks like a JSON list is left to the SDK, which parses it.
        if isinstance(value, str) and not value.lstrip().startswith("[") and _wants_list(properties.get(name)):
            changed[name] = [value]
    return {**arguments, **changed} if changed else arguments


def _wants_list(schema: Any) -> bool:
    if not isinstance(schema, dict):
        return False
    if schema.get("type") == "array":
        return True
    return any(_wants_list(branch) for branch in schema.get("anyOf", ()))


def explain(tool: str, schema: Mapping[str, Any], errors: list[ErrorDetails], served: frozenset[str]) -> str:
    """One line per problem: the argument, what was wrong, and what to send instead."""
    lines: list[str] = []
    unknown_at: dict[tuple[Any, ...], list[str]] = {}
    for error in errors:
        path, name = tuple(error["loc"][:-1]), error["loc"][-1] if error["loc"] else ""
        if error["type"] == "extra_forbidden":
            unknown_at.setdefault(path, []).append(str(name))
            continue
        lines.append(_problem(error, schema))
    for path, names in unknown_at.items():
        lines.insert(0, _unknown(tool, path, names, schema, served))
    return f"Error executing tool {tool}: " + " ".join(lines) + f" Nothing was done: call {tool} again with this fixed."


def _unknown(
    tool: str, path: tuple[Any, ...], names: list[str], schema: Mapping[str, Any], served: frozenset[str]
) -> str:
    where = _at(schema, path, schema.get("$defs", {}))
    valid = list(where.get("properties", {})) if where else []
    parts = []
    for name in names:
        guess = SYNONYMS.get(name.lower().strip())
        if guess not in valid:
            guess = closest(name, valid)
        text = f"Unknown argument {_label(path, name)}"
        if guess:
            text += f"; did you mean {_label(path, guess)}?"
        needs, hint = HINTS.get(name, ("", ""))
        if hint and not path and needs in served and needs != tool:
            text += f" {hint}"
        parts.append(text if text.endswith(("?", ".")) else text + ".")
    owner = f"{_label(path[:-1], path[-1])} takes" if path else f"{tool} takes"
    return " ".join(parts) + f" {owner}: {', '.join(valid) or 'no arguments'}."


def _problem(error: ErrorDetails, schema: Mapping[str, Any]) -> str:
    loc = tuple(error["loc"])
    name = loc[-1] if loc else ""
    sub = _at(schema, loc, schema.get("$defs", {})) or {}
    label = f"Argument {_label(loc[:-1], name)}" if loc else "The arguments"
    top = str(loc[0]) if loc else ""
    shown = "" if top in CREDENTIALS or error["type"] == "missing" else f" ({_shown(error.get('input'))})"
    problem = _what_was_wrong(error, sub)
    wanted = _wanted(sub, schema.get("$defs", {}))
    return f"{label}{shown} {problem}.{wanted}"


def _what_was_wrong(error: ErrorDetails, sub: Mapping[str, Any]) -> str:
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind == "missing":
        return "is required"
    if kind == "string_pattern_mismatch":
        return "is not a UUID" if sub.get("format") == "uuid" else "does not have the expected form"
    if kind in ("literal_error", "enum"):
        return f"must be one of {', '.join(json.dumps(v) for v in sub.get('enum', [])) or ctx.get('expected', '')}"
    simple = {
        "string_type": "must be a string",
        "string_unicode": "is not valid text",
        "int_type": "must be a whole number",
        "int_parsing": "must be a whole number",
        "int_from_float": "must be a whole number",
        "float_type": "must be a number",
        "float_parsing": "must be a number",
        "finite_number": "must be a finite number",
        "bool_type": "must be true or false",
        "bool_parsing": "must be true or false",
        "list_type": "must be a list",
        "dict_type": "must be an object",
        "model_type": "must be an object",
        "model_attributes_type": "must be an object",
        "datetime_type": "must be an ISO 8601 date and time",
        "datetime_parsing": "is not an ISO 8601 date and time",
        "datetime_from_date_parsing": "is not an ISO 8601 date and time",
        "timezone_aware": "needs a timezone (Z or an offset such as +02:00)",
    }
    if kind in simple:
        return simple[kind]
    bounds = {
        "string_too_long": "is too long: at most {max_length} characters",
        "string_too_short": "is too short: at least {min_length} character(s)",
        "too_long": "has too many entries: at most {max_length}",
        "too_short": "has too few entries: at least {min_length}",
        "greater_than_equal": "is too small: at least {ge}",
        "greater_than": "is too small: more than {gt}",
        "less_than_equal": "is too large: at most {le}",
        "less_than": "is too large: less than {lt}",
    }
    if kind in bounds:
        try:
            return bounds[kind].format(**ctx)
        except (KeyError, IndexError):
            pass
    return str(error["msg"]).rstrip(".")


def _wanted(sub: Mapping[str, Any], defs: Mapping[str, Any]) -> str:
    """ " For example: <value> (<description>)." from the argument's own schema."""
    sub = _resolved(sub, defs)
    description = str(sub.get("description") or "").strip().rstrip(".")
    example = _example(sub, defs)
    if example is None:
        return f" Expected: {description}." if description else ""
    note = f" ({description})" if description else ""
    return f" For example: {json.dumps(example, ensure_ascii=False)}{note}."


def _example(sub: Mapping[str, Any], defs: Mapping[str, Any], depth: int = 0) -> Any:
    """A value the schema accepts, to show in an error; None when there is no honest one."""
    sub = _resolved(sub, defs)
    if depth > 3:
        return None
    if sub.get("examples"):
        return sub["examples"][0]
    if sub.get("enum"):
        return sub["enum"][0]
    kind = sub.get("type")
    if kind == "array":
        item = _example(sub.get("items", {}), defs, depth + 1)
        return [item] if item is not None else None
    if kind == "object" and "properties" in sub:
        required = sub.get("required", [])
        return {name: _example(sub["properties"][name], defs, depth + 1) for name in required} or None
    example = _SCALAR_EXAMPLES.get(kind) if isinstance(kind, str) else None
    return example(sub) if example else None


def _string_example(sub: Mapping[str, Any]) -> Any:
    if sub.get("format") in FORMAT_EXAMPLES:
        return FORMAT_EXAMPLES[sub["format"]]
    pattern = sub.get("pattern")
    if isinstance(pattern, str) and pattern.startswith("^polar_c_"):
        return "polar_c_…"
    return PATTERN_EXAMPLES.get(pattern) if pattern else None


def _integer_example(sub: Mapping[str, Any]) -> int | None:
    """The default, else 1250 where 0 is the floor (an amount), else the floor, else 1: within the bounds."""
    low, high = sub.get("minimum"), sub.get("maximum")
    for candidate in (sub.get("default"), 1250 if low is not None and low == 0 else None, low, 1):
        if isinstance(candidate, int) and (low is None or candidate >= low) and (high is None or candidate <= high):
            return candidate
    return None


_SCALAR_EXAMPLES: dict[str, Callable[[Mapping[str, Any]], Any]] = {
    "string": _string_example,
    "integer": _integer_example,
    "boolean": lambda _: True,
    "object": lambda _: {"key": "value"},
}


def _at(schema: Mapping[str, Any], loc: tuple[Any, ...], defs: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The sub-schema at a pydantic error location (field names and list indices)."""
    node: Mapping[str, Any] | None = _resolved(schema, defs)
    for part in loc:
        if node is None:
            return None
        if isinstance(part, int):
            node = _resolved(node.get("items", {}), defs) if node.get("type") == "array" else None
        else:
            properties = node.get("properties")
            if isinstance(properties, dict) and part in properties:
                node = _resolved(properties[part], defs)
            elif isinstance(node.get("additionalProperties"), dict):
                node = _resolved(node["additionalProperties"], defs)
            else:
                node = None
    return node


def _resolved(node: Mapping[str, Any], defs: Mapping[str, Any]) -> Mapping[str, Any]:
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        target = defs.get(ref.removeprefix("#/$defs/"), {})
        return {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def _label(path: tuple[Any, ...], name: Any) -> str:
    text = ""
    for part in (*path, name):
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _shown(value: Any) -> str:
    """The rejected value, short and with every invisible character escaped."""
    try:
        text = json.dumps(value, ensure_ascii=True, default=str)
    except ValueError:
        text = repr(value)
    return text if len(text) <= VALUE_SHOWN else text[: VALUE_SHOWN - 1] + "…"
