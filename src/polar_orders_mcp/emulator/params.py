"""Request parsing with FastAPI's validation: query parameters, path ids and JSON bodies → 422s."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import UUID4, AwareDatetime, BaseModel, Field, TypeAdapter, ValidationError
from starlette.datastructures import QueryParams
from starlette.requests import Request

from .errors import RequestValidationError
from .store import MAX_LIMIT

M = TypeVar("M", bound=BaseModel)
_UUID = TypeAdapter(UUID4)
_POSITIVE = TypeAdapter(Annotated[int, Field(gt=0)])
_BOOL = TypeAdapter(bool)
_DATETIME = TypeAdapter(datetime)
_AWARE = TypeAdapter(AwareDatetime)
_METADATA_KEY = re.compile(r"metadata\[(.+)\]")


def fastapi_errors(exc: ValidationError, prefix: Sequence[str | int]) -> list[dict[str, Any]]:
    """Pydantic errors as FastAPI renders them: no `url`, `loc` prefixed, `ctx` made JSON-safe."""
    out = []
    for err in exc.errors(include_url=False):
        item: dict[str, Any] = {
            "type": err["type"],
            "loc": [*prefix, *err["loc"]],
            "msg": err["msg"],
            "input": err.get("input"),
        }
        if "ctx" in err:
            item["ctx"] = {k: _jsonable(v) for k, v in err["ctx"].items()}
        out.append(item)
    return out


def _jsonable(value: Any) -> Any:
    # FastAPI's jsonable_encoder: an exception (a validator's ValueError) becomes its empty vars().
    if value is None or isinstance(value, int | float | str | bool):
        return value
    return {} if isinstance(value, Exception) else str(value)


def path_id(value: str, name: str = "id") -> str:
    """A path UUID4; anything else is FastAPI's 422, not a 404."""
    try:
        return str(_UUID.validate_python(value))
    except ValidationError as exc:
        raise RequestValidationError(fastapi_errors(exc, ("path", name))) from None


class Query:
    """Reads one request's query string, collecting every error before raising them together."""

    def __init__(self, params: QueryParams) -> None:
        self._params = params
        self.errors: list[dict[str, Any]] = []

    def _adapt(self, adapter: TypeAdapter[Any], raw: str, loc: Sequence[str | int]) -> Any:
        try:
            return adapter.validate_python(raw)
        except ValidationError as exc:
            self.errors.extend(fastapi_errors(exc, loc))
            return None

    def _values(self, name: str) -> list[str] | None:
        values = self._params.getlist(name)
        return values or None

    def string(self, name: str) -> str | None:
        return self._params.get(name)

    def strings(self, name: str) -> list[str] | None:
        return self._values(name)

    def uuids(self, name: str) -> list[str] | None:
        values = self._values(name)
        if values is None:
            return None
        parsed = [
            self._adapt(_UUID, v, ("query", name, i) if len(values) > 1 else ("query", name))
            for i, v in enumerate(values)
        ]
        return [str(v) for v in parsed if v is not None]

    def enums(self, name: str, allowed: Sequence[str]) -> list[str] | None:
        values = self._values(name)
        if values is None:
            return None
        expected = ", ".join(f"'{a}'" for a in allowed[:-1]) + f" or '{allowed[-1]}'"
        for i, value in enumerate(values):
            if value not in allowed:
                self.errors.append(
                    {
                        "type": "enum",
                        "loc": ["query", name, i] if len(values) > 1 else ["query", name],
                        "msg": f"Input should be {expected}",
                        "input": value,
                        "ctx": {"expected": expected},
                    }
                )
        return values

    def boolean(self, name: str) -> bool | None:
        raw = self._params.get(name)
        return None if raw is None else self._adapt(_BOOL, raw, ("query", name))

    def moment(self, name: str, *, aware: bool = False) -> datetime | None:
        raw = self._params.get(name)
        if raw is None:
            return None
        value = self._adapt(_AWARE if aware else _DATETIME, raw, ("query", name))
        # A naive bound is read as UTC, which is what Polar's database session uses.
        if isinstance(value, datetime) and value.tzinfo is None:
            value = value.replace(tzinfo=ZoneInfo("UTC"))
        return value  # type: ignore[no-any-return]

    def pagination(self) -> tuple[int, int]:
        page, limit = 1, 10
        for name in ("page", "limit"):
            raw = self._params.get(name)
            if raw is not None:
                value = self._adapt(_POSITIVE, raw, ("query", name))
                if name == "page":
                    page = value or 1
                else:
                    limit = min(value or 10, MAX_LIMIT)
        return page, limit

    def sorting(self, properties: Sequence[str], default: Sequence[str] = ("-created_at",)) -> list[str]:
        allowed = [p for prop in properties for p in (prop, f"-{prop}")]
        values = self.enums("sorting", allowed)
        return list(values) if values else list(default)

    def metadata(self) -> dict[str, list[str]] | None:
        found: dict[str, list[str]] = {}
        for key, value in self._params.multi_items():
            match = _METADATA_KEY.fullmatch(key)
            if match:
                found.setdefault(match.group(1), []).append(value)
        return found or None

    def timezone(self, name: str = "timezone") -> ZoneInfo:
        raw = self._params.get(name, "UTC")
        try:
            return ZoneInfo(raw)
        except (ZoneInfoNotFoundError, ValueError):
            # Polar's own validator (order/export.py): a ValueError, so pydantic's value_error, its `ctx`
            # rendered by FastAPI as the exception's empty vars().
            message = f"{raw!r} is not a valid IANA time zone"
            self.errors.append(
                {
                    "type": "value_error",
                    "loc": ["query", name],
                    "msg": f"Value error, {message}",
                    "input": raw,
                    "ctx": {"error": _jsonable(ValueError(message))},
                }
            )
            return ZoneInfo("UTC")

    def check(self) -> None:
        if self.errors:
            raise RequestValidationError(self.errors)


async def parse_body(request: Request, model: type[M], *, optional: bool = False) -> M:
    """Validate a JSON body into `model`; an absent optional body is the model's defaults."""
    raw = await request.body()
    if not raw.strip():
        if optional:
            return model()
        raise RequestValidationError([{"type": "missing", "loc": ["body"], "msg": "Field required", "input": None}])
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise RequestValidationError(
            [
                {
                    "type": "json_invalid",
                    "loc": ["body", getattr(exc, "pos", 0)],
                    "msg": "JSON decode error",
                    "input": {},
                    "ctx": {"error": str(exc)},
                }
            ]
        ) from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise RequestValidationError(fastapi_errors(exc, ("body",))) from None


def changes(body: BaseModel) -> dict[str, Any]:
    """The fields a request set, as JSON values; nested addresses keep every key."""
    out = body.model_dump(mode="json", exclude_unset=True)
    for name in ("billing_address", "customer_billing_address"):
        value = getattr(body, name, None)
        if name in out and isinstance(value, BaseModel):
            out[name] = value.model_dump(mode="json")
    return out
