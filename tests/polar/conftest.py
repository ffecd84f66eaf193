"""Emulator-backed clients: in-process through ASGITransport, and over loopback under uvicorn.

Every request these clients send is recorded and checked against Polar's spec after the test.
"""

from __future__ import annotations

import functools
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx2
import pytest

from polar_orders_mcp.polar.client import PolarClient
from tests.conftest import FULL_SPEC
from tests.polar.scripted import Sleeps
from tests.polar.spec_check import Recorder, operation, problems

# The emulator's seeded tokens (polar_orders_mcp.emulator.seed).
ORG_TOKEN = "polar_oat_emulator_full_access"
READ_ONLY_TOKEN = "polar_oat_emulator_read_only"
ORDERS = 60


def new_app() -> Any:
    app_module = pytest.importorskip("polar_orders_mcp.emulator.app", reason="the emulator has no app yet")
    return app_module.create_app(orders=ORDERS, seed=0)


@pytest.fixture(scope="session")
def loopback_server() -> Iterator[tuple[str, Any]]:
    """One emulator under uvicorn on 127.0.0.1 (a free port) for the session: (base URL, app)."""
    import uvicorn

    app = new_app()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, name="emulator-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}", app
    server.should_exit = True
    thread.join(timeout=5)


class Emulator:
    """One emulator as a test sees it: where it is, its seed, its control plane, and a client."""

    def __init__(self, kind: str, base_url: str, transport: httpx2.AsyncBaseTransport) -> None:
        self.kind = kind
        self.base_url = base_url
        self.recorder = Recorder(transport)
        self.control = httpx2.AsyncClient(base_url=base_url, transport=transport)
        self.seed: dict[str, Any] = {}

    async def start(self) -> None:
        if self.kind == "loopback":  # one server for the session: fresh state for each test
            (await self.control.post("/_emulator/reset")).raise_for_status()
        response = await self.control.get("/_emulator/state")
        response.raise_for_status()
        self.seed = response.json()

    def client(self, token: str = ORG_TOKEN, **kwargs: Any) -> PolarClient:
        kwargs.setdefault("sleep", Sleeps())
        return PolarClient(token, server=self.base_url, transport=self.recorder, **kwargs)

    async def settings(self, **changes: Any) -> None:
        (await self.control.patch("/_emulator/settings", json=changes)).raise_for_status()

    async def organization(self, **changes: Any) -> None:
        (await self.control.patch("/_emulator/organization", json=changes)).raise_for_status()


@pytest.fixture(params=["asgi", "loopback"])
async def emulator(request: pytest.FixtureRequest, spec: dict[str, Any]) -> AsyncIterator[Emulator]:
    """A fresh emulator, in-process or over real TCP; its requests must all be ones the spec accepts."""
    if request.param == "asgi":
        base_url, transport = "http://emulator.test", httpx2.ASGITransport(app=new_app())
    else:
        base_url, _ = request.getfixturevalue("loopback_server")
        transport = httpx2.AsyncHTTPTransport()
    emu = Emulator(request.param, base_url, transport)
    await emu.start()
    yield emu
    await emu.control.aclose()
    sent = [r for r in emu.recorder.requests if not r.url.path.startswith("/_emulator")]
    wrong = [p for r in sent for p in problems(_spec_for(r, spec), r)]
    assert wrong == [], "the client sent requests the spec does not accept"


def _spec_for(request: httpx2.Request, subset: dict[str, Any]) -> dict[str, Any]:
    """The subset spec, or the full one for the operations only it has (refunds, subscriptions, disputes)."""
    if operation(subset, request.method, request.url.path) is not None or not FULL_SPEC.exists():
        return subset
    return _full_spec()


@functools.cache
def _full_spec() -> dict[str, Any]:
    return json.loads(FULL_SPEC.read_text())  # type: ignore[no-any-return]


@pytest.fixture
async def polar(emulator: Emulator) -> AsyncIterator[PolarClient]:
    """A client with the emulator's full-access organization token."""
    async with emulator.client() as client:
        yield client
