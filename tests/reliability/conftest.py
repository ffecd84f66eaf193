"""Reliability tests: the real stack (MCP client → our server → our Polar client) against the emulator on
a loopback socket, with faults set through the emulator's control plane."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx2
import pytest
from mcp.server.mcpserver import MCPServer

from polar_orders_mcp.emulator.app import create_app
from polar_orders_mcp.emulator.seed import ORG_TOKEN, SeedInfo
from polar_orders_mcp.emulator.state import EmulatorState
from polar_orders_mcp.polar import retries
from polar_orders_mcp.server.app import build_server
from polar_orders_mcp.settings import Settings
from tests.server.conftest import serve_in_thread


@pytest.fixture(scope="module")
def emulator_app() -> Any:
    return create_app(orders=20)


@pytest.fixture(scope="module")
def served_url(emulator_app: Any) -> Iterator[str]:
    """The emulator under uvicorn on 127.0.0.1: faults are real sockets closing and real timeouts."""
    with serve_in_thread(emulator_app) as url:
        yield url


@pytest.fixture
def emulator(emulator_app: Any) -> Any:
    """The module's emulator, reset: fresh seed (same ids), no faults, an empty request journal."""
    emulator_app.state.emulator.reset()
    return emulator_app


@pytest.fixture
def state(emulator: Any) -> EmulatorState:
    return emulator.state.emulator  # type: ignore[no-any-return]


@pytest.fixture
def seed(state: EmulatorState) -> SeedInfo:
    return state.seed_info


@pytest.fixture
def polar_url(emulator: Any, served_url: str) -> str:
    return served_url


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    # The policy (which failures, how many retries) is what is tested, not the length of the waits.
    monkeypatch.setattr(retries, "INITIAL_BACKOFF", 0.02)


class Faults:
    """The emulator's fault and request-journal control plane, spoken over HTTP as any tool would."""

    def __init__(self, http: httpx2.AsyncClient) -> None:
        self.http = http

    async def add(self, kind: str, path: str, **options: Any) -> dict[str, Any]:
        response = await self.http.post("/_emulator/faults", json={"kind": kind, "path": path, **options})
        assert response.status_code == 201, response.text
        return response.json()  # type: ignore[no-any-return]

    async def received(self, method: str, path: str) -> int:
        """How many requests for `method path` reached the emulator, faulted or not."""
        response = await self.http.get("/_emulator/requests", params={"method": method, "path": path})
        return response.json()["count"]  # type: ignore[no-any-return]


@pytest.fixture
async def faults(polar_url: str) -> AsyncIterator[Faults]:
    async with httpx2.AsyncClient(base_url=polar_url, timeout=10) as http:
        yield Faults(http)


@pytest.fixture(scope="module")
def built_servers() -> dict[tuple[Any, ...], MCPServer[Any]]:
    return {}


@pytest.fixture
def make_server(polar_url: str, built_servers: dict[tuple[Any, ...], MCPServer[Any]]) -> Callable[..., MCPServer[Any]]:
    """Our server, its client pointed at the emulator's URL like at any Polar deployment.

    Built once per module and settings: each `Client` session runs the server's lifespan, so it
    gets a fresh Polar client all the same.
    """

    def make(**settings: Any) -> MCPServer[Any]:
        options: dict[str, Any] = {"server": polar_url, "access_token": ORG_TOKEN, "confirm": "off", **settings}
        key = tuple(sorted(options.items()))
        if key not in built_servers:
            built_servers[key] = build_server(Settings(**options))
        return built_servers[key]

    return make
