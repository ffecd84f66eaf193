"""Servers on real loopback sockets: uvicorn in a background thread, on a free port."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx2
import pytest
import uvicorn

from polar_orders_mcp.emulator.app import create_app
from polar_orders_mcp.server.app import build_server
from polar_orders_mcp.server.http import http_app
from polar_orders_mcp.settings import Settings
from tests.approvals.console_client import APPROVER_SECRET

HTTP_TOKEN = "test-http-token-0123456789abcdef"


@contextmanager
def serve_in_thread(app: Any, config: uvicorn.Config | None = None) -> Iterator[str]:
    """Run an ASGI app under uvicorn (with `config`, else a plain one) on 127.0.0.1:<free port>; yield its
    base URL."""
    config = config or uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def emulator() -> Any:
    return create_app(orders=20)


@pytest.fixture
def mcp_over_http(emulator: Any, tmp_path: Any) -> Callable[..., Any]:
    """Start our server on a loopback port with the given transport and settings."""

    @contextmanager
    def start(transport: str = "http", **settings: Any) -> Iterator[str]:
        defaults = {"approver_token": APPROVER_SECRET, "approval_wait": 0, "state_dir": tmp_path / "state"}
        config = Settings(emulator=True, transport=transport, http_token=HTTP_TOKEN, **{**defaults, **settings})
        server = build_server(config, transport=httpx2.ASGITransport(app=emulator))
        with serve_in_thread(http_app(server, config)) as url:
            yield url

    return start
