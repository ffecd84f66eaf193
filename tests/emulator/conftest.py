"""Fixtures for the emulator's tests: a fresh app per test, a client on it, and a spec checker."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx2
import pytest
from jsonschema import Draft202012Validator
from starlette.applications import Starlette

from polar_orders_mcp.emulator.app import create_app
from polar_orders_mcp.emulator.seed import ORG_TOKEN, SeedInfo
from polar_orders_mcp.emulator.state import EmulatorState

from .sdk_schema import with_sdk_fields

BASE_URL = "http://polar.test"
ORG = {"Authorization": f"Bearer {ORG_TOKEN}"}


@pytest.fixture
def app() -> Starlette:
    return create_app()


@pytest.fixture
def state(app: Starlette) -> EmulatorState:
    emulator: EmulatorState = app.state.emulator
    return emulator


@pytest.fixture
def info(state: EmulatorState) -> SeedInfo:
    return state.seed_info


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx2.AsyncClient]:
    """A client on the emulator that sends the full-access organization token."""
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url=BASE_URL, headers=ORG) as c:
        yield c


@pytest.fixture
async def anonymous(app: Starlette) -> AsyncIterator[httpx2.AsyncClient]:
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url=BASE_URL) as c:
        yield c


class SpecChecker:
    """Validates a response against the schema Polar's spec gives for its path, method and status."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.checked: set[tuple[str, str, int]] = set()

    def check(self, response: httpx2.Response, method: str, template: str) -> Any:
        status = response.status_code
        operation = self.spec["paths"][template][method.lower()]
        documented = operation["responses"].get(str(status))
        assert documented is not None, f"{method} {template} answered {status}, which the spec does not list"
        content = documented.get("content", {})
        self.checked.add((method, template, status))
        if "application/json" in content:
            assert response.headers["content-type"].startswith("application/json")
            body = response.json()
            # OpenAPI 3.1 schemas are JSON Schema 2020-12; `$ref`s point into the spec's components.
            schema = {"components": self.spec["components"], **content["application/json"]["schema"]}
            errors = sorted(Draft202012Validator(schema).iter_errors(body), key=lambda e: list(e.absolute_path))
            assert not errors, f"{method} {template} {status}: " + "; ".join(
                f"{list(e.absolute_path)}: {e.message[:300]}" for e in errors[:5]
            )
            return body
        if "text/csv" in content:
            assert response.headers["content-type"].startswith("text/csv")
            return response.text
        assert response.content == b"", f"{method} {template} {status} should have no body"
        return None


@pytest.fixture(scope="session")
def current_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """The published spec plus the fields today's API sends (from Polar's SDK, see sdk_schema.py)."""
    return with_sdk_fields(spec)


@pytest.fixture
def conform(current_spec: dict[str, Any]) -> SpecChecker:
    return SpecChecker(current_spec)


@pytest.fixture
def conform_full(full_spec: dict[str, Any]) -> SpecChecker:
    """Checks against the whole spec, for the paths the subset does not have."""
    return SpecChecker(full_spec)
