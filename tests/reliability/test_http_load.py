"""The HTTP transport under load and oversized input: it refuses what it must and serves everything else."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx2
import pytest
from mcp.server.transport_security import DEFAULT_MAX_REQUEST_BODY_SIZE

from polar_orders_mcp.server.app import build_server
from polar_orders_mcp.server.http import http_app
from polar_orders_mcp.settings import Settings
from tests.reliability.processes import MCP_HEADERS, Session, concurrent_sessions, server_process
from tests.server.conftest import HTTP_TOKEN, serve_in_thread

pytestmark = pytest.mark.anyio

AUTH = {"Authorization": f"Bearer {HTTP_TOKEN}"}
SESSIONS, CALLS = 8, 10


@pytest.fixture
def mcp_url(emulator: Any, transport: str) -> Iterator[str]:
    config = Settings(emulator=True, transport=transport, http_token=HTTP_TOKEN)
    server = build_server(config, transport=httpx2.ASGITransport(app=emulator))
    with serve_in_thread(http_app(server, config)) as url:
        yield url


async def _chunks(size: int) -> AsyncIterator[bytes]:
    """A body with no Content-Length: the server only learns its size by reading it."""
    sent = 0
    while sent < size:
        yield b" " * 65536
        sent += 65536


@pytest.mark.parametrize("transport,path", [("http", "/mcp"), ("sse", "/messages/?session_id=0" + "0" * 31)])
async def test_an_oversized_body_is_refused_and_the_server_keeps_serving(
    mcp_url: str, transport: str, path: str
) -> None:
    too_big = DEFAULT_MAX_REQUEST_BODY_SIZE + 1
    headers = {**MCP_HEADERS, **AUTH}
    async with httpx2.AsyncClient(base_url=mcp_url, timeout=30) as http:
        declared = await http.post(path, headers=headers, content=b"{" + b" " * too_big)
        streamed = await http.post(path, headers=headers, content=_chunks(too_big))
        anonymous = await http.post(path, headers=MCP_HEADERS, content=b"{" + b" " * too_big)
        health = await http.get("/healthz")
    assert declared.status_code == 413 and streamed.status_code == 413
    assert anonymous.status_code == 401  # the bearer is checked before the body is read
    assert health.status_code == 200
    if transport == "http":
        async with httpx2.AsyncClient(headers=AUTH, timeout=30) as http, Session(http, mcp_url) as session:
            listing = await session.call("list_orders", {"limit": 2})
        assert not listing["isError"] and len(listing["structuredContent"]["items"]) == 2


async def test_concurrent_sessions_each_complete_with_no_error() -> None:
    """A small burst, against a server process; the big one (50 x 100) is `python -m bench.http_load`."""
    with server_process("--emulator", "--emulator-orders", "50") as server:
        figures = await concurrent_sessions(server, SESSIONS, CALLS)
    assert figures.answered == SESSIONS * CALLS
    assert figures.sessions == list(range(SESSIONS))
