"""Every HTTP listener closes a connection that does not send its request head in time (--head-timeout).

uvicorn alone keeps a connection that sent nothing, or half a head, open for ever: 300 of them took every
descriptor of a server limited to 256 and /healthz stopped answering. Real sockets against real listeners,
with the timeout made short.
"""

from __future__ import annotations

import inspect
import resource
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import anyio
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

from polar_orders_mcp.head_timeout import head_timeout_protocol
from tests.reliability.processes import STARTUP_SECONDS, clean_env, listening_port, server_process
from tests.server.conftest import serve_in_thread

TIMEOUT = 0.5
CONNECTIONS = 300
DESCRIPTORS = 256


def _open(port: int, n: int) -> list[socket.socket]:
    """`n` connections: half send nothing, half the start of a request head and nothing more."""
    opened = []
    for i in range(n):
        sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        if i % 2:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        opened.append(sock)
    return opened


def _all_closed_by_the_server(socks: list[socket.socket], within: float) -> bool:
    deadline = time.monotonic() + within
    for sock in socks:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            if sock.recv(1) != b"":
                return False
        except ConnectionResetError:
            pass
        except TimeoutError:
            return False
        finally:
            sock.close()
    return True


def _get(port: int, path: str) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n".encode())
        return sock.recv(65536)


@contextmanager
def _stdio_console(*args: str) -> Iterator[tuple[int, int]]:
    env = clean_env(POLAR_MCP_APPROVER_TOKEN="head-timeout-approver-secret-0123")
    command = [sys.executable, "-m", "polar_orders_mcp", "serve", "--emulator", "--approvals-port", "0", *args]
    proc = subprocess.Popen(
        command, env=env, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while (port := listening_port(proc.pid)) is None:
            assert proc.poll() is None and time.monotonic() < deadline, "the console did not start listening"
            time.sleep(0.05)
        yield proc.pid, port
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.parametrize("listener", ["mcp over http", "stdio's approval console"])
def test_connections_that_never_send_a_head_are_closed_and_the_server_answers(listener: str) -> None:
    timeout = ("--head-timeout", str(TIMEOUT))
    with server_process("--emulator", *timeout) if listener == "mcp over http" else _stdio_console(*timeout) as found:
        pid, port = (found.pid, int(found.url.rsplit(":", 1)[1])) if listener == "mcp over http" else found
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (DESCRIPTORS, DESCRIPTORS))  # as in the finding
        started = time.monotonic()
        idle = _open(port, CONNECTIONS)
        assert _all_closed_by_the_server(idle, within=10), "a connection without a head was kept open"
        took = time.monotonic() - started
        answer = _get(port, "/healthz" if listener == "mcp over http" else "/approvals")
    assert answer.startswith(b"HTTP/1.1 200" if listener == "mcp over http" else b"HTTP/1.1 404")
    assert took >= TIMEOUT


async def slow(request: Request) -> PlainTextResponse:
    await anyio.sleep(float(request.query_params.get("for", "0")))
    return PlainTextResponse("done")


@pytest.mark.parametrize("protocol", ["httptools", "h11"])
def test_only_a_missing_head_is_cut_never_a_slow_answer_or_a_kept_alive_connection(
    protocol: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn.protocols.http.auto as auto

    monkeypatch.setattr(auto, "AutoHTTPProtocol", HttpToolsProtocol if protocol == "httptools" else H11Protocol)
    import polar_orders_mcp.head_timeout as module

    monkeypatch.setattr(module, "AutoHTTPProtocol", auto.AutoHTTPProtocol)
    app = Starlette(routes=[Route("/", slow)])
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", http=head_timeout_protocol(0.3))
    with serve_in_thread(app, config) as url:
        port = int(url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as kept:
            kept.sendall(b"GET /?for=0.8 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")  # answered after the timeout
            first = kept.recv(65536)
            time.sleep(0.1)
            kept.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")  # the same connection, kept alive
            second = kept.recv(65536)
            kept.settimeout(3)
            closed_after = time.monotonic()
            idle_end = kept.recv(1)  # then nothing: closed
            closed_after = time.monotonic() - closed_after
    assert first.startswith(b"HTTP/1.1 200") and first.endswith(b"done")
    assert second.startswith(b"HTTP/1.1 200") and second.endswith(b"done")
    assert idle_end == b"" and closed_after < 2


def test_the_uvicorn_internals_the_timeout_relies_on_are_there() -> None:
    """head_timeout.py subclasses uvicorn's protocols (checked on 0.55.0): a rename there must fail here."""
    for protocol in (HttpToolsProtocol, H11Protocol):
        source = inspect.getsource(protocol)
        for name in (
            "def connection_made",
            "def on_response_complete",
            "self.cycle = RequestResponseCycle(",
            "self.transport = transport",
            "self.loop = ",
        ):
            assert name in source, f"{protocol.__name__} has no {name!r}"
    assert "self.response_complete = False" in inspect.getsource(RequestResponseCycle)
