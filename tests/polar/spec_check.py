"""Checks a recorded request against Polar's spec: route, query names and values, JSON body."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from functools import cache
from typing import Any

import httpx2
import jsonschema

Spec = dict[str, Any]


def _resolve(spec: Spec, schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = spec["components"]["schemas"][name]
    return schema


def _enums(spec: Spec, schema: dict[str, Any]) -> Iterator[list[Any]]:
    schema = _resolve(spec, schema)
    if "enum" in schema:
        yield schema["enum"]
    for key in ("anyOf", "oneOf"):
        for sub in schema.get(key, []):
            yield from _enums(spec, sub)
    if "items" in schema:
        yield from _enums(spec, schema["items"])


@cache
def _route(template: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$")


def operation(spec: Spec, method: str, path: str) -> dict[str, Any] | None:
    """The spec's operation for this method and concrete path, if there is one."""
    # Literal routes first, as the server matches them: /v1/orders/export before /v1/orders/{id}.
    for template, operations in sorted(spec["paths"].items(), key=lambda kv: kv[0].count("{")):
        if _route(template).match(path) and method.lower() in operations:
            return operations[method.lower()]  # type: ignore[no-any-return]
    return None


def problems(spec: Spec, request: httpx2.Request) -> list[str]:
    """Everything about this request the spec would not accept (empty when it is fine)."""
    where = f"{request.method} {request.url.path}"
    op = operation(spec, request.method, request.url.raw_path.decode().split("?")[0])
    if op is None:
        return [f"{where}: no such operation in the spec"]
    found: list[str] = []
    query_params = {p["name"]: p for p in op.get("parameters", []) if p["in"] == "query"}
    for name, value in request.url.params.multi_items():
        key = "metadata" if name.startswith("metadata[") and name.endswith("]") else name
        param = query_params.get(key)
        if param is None:
            found.append(f"{where}: query parameter {name!r} is not in the spec")
            continue
        for allowed in _enums(spec, param["schema"]):
            if value not in allowed:
                found.append(f"{where}: {name}={value!r} is not one of the spec's values")
        if _resolve(spec, param["schema"]).get("type") == "integer" and not (value.isdigit() and int(value) > 0):
            found.append(f"{where}: {name}={value!r} is not a positive integer")
    body_schema = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
    if request.content:
        if body_schema is None:
            found.append(f"{where}: sends a body the spec does not take")
        else:
            root = {**body_schema, "components": spec["components"]}
            validator = jsonschema.Draft202012Validator(root)
            for error in validator.iter_errors(json.loads(request.content)):
                found.append(f"{where}: body {list(error.absolute_path)}: {error.message}")
    elif op.get("requestBody", {}).get("required"):
        found.append(f"{where}: the spec requires a body")
    return found


class Recorder(httpx2.AsyncBaseTransport):
    """Wraps a transport and keeps every request that went through it."""

    def __init__(self, inner: httpx2.AsyncBaseTransport) -> None:
        self.inner = inner
        self.requests: list[httpx2.Request] = []

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        await request.aread()
        self.requests.append(request)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()
