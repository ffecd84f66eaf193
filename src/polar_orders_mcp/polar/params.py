"""Turn Python arguments into Polar query strings and JSON bodies."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from enum import Enum
from typing import Any, Final, Literal

from pydantic import BaseModel

Query = list[tuple[str, str]]
# An id filter: Polar takes one value or several (sent as repeated keys).
IdFilter = str | Sequence[str] | None
MetadataFilter = Mapping[str, str | int | bool | Sequence[str] | Sequence[int] | Sequence[bool]]


class Null(Enum):
    """A field sent as JSON null on purpose (None means "not sent"): Polar reads an explicit null as "clear
    it", e.g. `discount_code: null` removes a checkout's discount."""

    NULL = "null"


NULL: Final = Null.NULL
Nullable = Literal[Null.NULL]


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def build_query(params: Mapping[str, Any]) -> Query:
    """Query pairs: None dropped, lists as repeated keys, `metadata` as `metadata[key]=value`."""
    pairs: Query = []
    for name, value in params.items():
        if value is None:
            continue
        if name == "metadata" and isinstance(value, Mapping):
            # Polar's MetadataQuery is a deepObject; a list value repeats the key.
            for key, item in value.items():
                values = item if isinstance(item, (list, tuple)) else [item]
                pairs.extend((f"metadata[{key}]", _scalar(v)) for v in values)
        elif isinstance(value, (list, tuple, set, frozenset)):
            pairs.extend((name, _scalar(v)) for v in value)
        else:
            pairs.append((name, _scalar(value)))
    return pairs


def _json_value(value: Any) -> Any:
    if value is NULL:
        return None
    if isinstance(value, BaseModel):
        # Only the fields the model declares: extras that came back from Polar stay out of requests.
        return value.model_dump(mode="json", include=set(type(value).model_fields), exclude_none=True)
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def build_body(fields: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON body from keyword arguments, leaving out the ones not given (None); NULL is sent as null."""
    return {name: _json_value(value) for name, value in fields.items() if value is not None}
