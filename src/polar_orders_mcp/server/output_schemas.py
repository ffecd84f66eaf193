"""Output schemas in fewer bytes with nothing lost: no null defaults, repeated subschemas defined once.

Output schemas were four fifths of a tool list, and a client is sent the list again whenever it asks.
Each step below leaves the set of valid results exactly as it was:

- `default: null` goes: in an output schema a default says nothing (results carry their nulls);
- a subschema written out several times, with its description (say the customer-text field, five times
  in every order), is written once under `$defs` and referred to where it was.

Nullable types stay `anyOf` branches: `type: ["string", "null"]` would be shorter, but clients that map
schemas onto a single-`type` dialect (Gemini's function declarations) refuse it, and the Inspector's
lint says so.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any

_MAPS = frozenset({"properties", "$defs", "patternProperties"})
_LISTS = frozenset({"anyOf", "oneOf", "allOf", "prefixItems"})
_ONE = frozenset({"items", "additionalProperties", "not", "contains"})


def compact_output(schema: dict[str, Any]) -> dict[str, Any]:
    return share_repeats(_without_null_defaults(schema))


def _children(node: dict[str, Any]) -> list[dict[str, Any]]:
    """The subschemas directly under a schema (not data such as `enum` or `default`)."""
    found: list[dict[str, Any]] = []
    for key, value in node.items():
        if key in _MAPS and isinstance(value, dict):
            found.extend(sub for sub in value.values() if isinstance(sub, dict))
        elif key in _LISTS and isinstance(value, list):
            found.extend(sub for sub in value if isinstance(sub, dict))
        elif key in _ONE and isinstance(value, dict):
            found.append(value)
    return found


def _rebuild(node: dict[str, Any], change: Any) -> dict[str, Any]:
    """`node` with `change` applied to each subschema under it."""
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _MAPS and isinstance(value, dict):
            out[key] = {name: change(sub) if isinstance(sub, dict) else sub for name, sub in value.items()}
        elif key in _LISTS and isinstance(value, list):
            out[key] = [change(sub) if isinstance(sub, dict) else sub for sub in value]
        elif key in _ONE and isinstance(value, dict):
            out[key] = change(value)
        else:
            out[key] = value
    return out


def _without_null_defaults(node: dict[str, Any]) -> dict[str, Any]:
    out = _rebuild(node, _without_null_defaults)
    if out.get("default", ...) is None:
        del out["default"]
    return out


def _key(node: dict[str, Any]) -> str:
    return json.dumps(node, sort_keys=True, separators=(",", ":"))


def share_repeats(schema: dict[str, Any]) -> dict[str, Any]:
    """Each subschema with a description that is written out more than once, and costs more so than
    defined once, goes under `$defs` (named after its description) and is referred to; the largest
    saving first, then again, until no repeat is worth it."""
    while True:
        defs = dict(schema.get("$defs") or {})
        counts: Counter[str] = Counter()
        found: dict[str, dict[str, Any]] = {}
        # A definition is already written once: only what is inside it counts.
        for node in [*defs.values(), {key: value for key, value in schema.items() if key != "$defs"}]:
            _count(node, counts, found)
        best, saving = None, 0
        for key, uses in counts.items():
            name = _name(found[key], defs)
            gain = (uses - 1) * len(key) - uses * len(f'{{"$ref":"#/$defs/{name}"}}') - len(f'"{name}":,')
            if uses > 1 and gain > saving:
                best, saving = key, gain
        if best is None:
            return schema
        name = _name(found[best], defs)
        ref = {"$ref": f"#/$defs/{name}"}
        kept = {key: _swap(sub, best, ref, root=True) for key, sub in defs.items()}
        schema = _swap({key: value for key, value in schema.items() if key != "$defs"}, best, ref, root=True)
        schema["$defs"] = {**kept, name: found[best]}


def _count(node: dict[str, Any], counts: Counter[str], found: dict[str, dict[str, Any]]) -> None:
    for sub in _children(node):
        if "description" in sub and "$ref" not in sub:
            counts[key := _key(sub)] += 1
            found[key] = sub
        _count(sub, counts, found)


def _swap(node: dict[str, Any], key: str, ref: dict[str, str], *, root: bool = False) -> dict[str, Any]:
    """`node` with every subschema equal to the one `key` stands for replaced by `ref` (not `node` itself
    when it is the root, or a definition)."""
    if not root and _key(node) == key:
        return ref
    return _rebuild(node, lambda sub: _swap(sub, key, ref))


def _name(node: dict[str, Any], taken: dict[str, Any]) -> str:
    """A definition's name from the start of its description: `Customer-supplied text: data to report…`
    is CustomerSuppliedText."""
    head = re.split(r"[:.,;(]", str(node["description"]), maxsplit=1)[0]
    words = re.findall(r"[A-Za-z0-9]+", head)[:4]
    base = "".join(word[:1].upper() + word[1:] for word in words) or "Shared"
    name, number = base, 2
    while name in taken and taken[name] != node:
        name, number = f"{base}{number}", number + 1
    return name
