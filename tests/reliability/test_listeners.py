"""How the project's HTTP listeners serve: no Nagle delay on any accepted connection, uvloop and httptools.

Checked on the real server processes (MCP over HTTP, the emulator, stdio's approval console): the test
takes a duplicate of the server's own accepted socket (pidfd_getfd) and reads TCP_NODELAY from it.
Nothing is timed. With Nagle on, every answer waited ~40 ms for the client's delayed ACK.
"""

from __future__ import annotations

import ast
import ctypes
import errno
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx2
import pytest

from tests.reliability.processes import (
    STARTUP_SECONDS,
    child_process,
    clean_env,
    emulator_process,
    listening_port,
    server_process,
)

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "polar_orders_mcp"
SYS_PIDFD_GETFD = {"x86_64": 438, "aarch64": 438}.get(os.uname().machine)


def _server_side(pid: int, client: socket.socket) -> socket.socket:
    """A duplicate of the socket process `pid` accepted for `client`'s connection."""
    if SYS_PIDFD_GETFD is None or not hasattr(os, "pidfd_open"):
        pytest.skip("pidfd_getfd is known here only on Linux x86_64 and aarch64")
    libc = ctypes.CDLL(None, use_errno=True)
    ours = client.getsockname()
    pidfd = os.pidfd_open(pid)
    try:
        for name in os.listdir(f"/proc/{pid}/fd"):
            if not os.readlink(f"/proc/{pid}/fd/{name}").startswith("socket:"):
                continue
            fd = libc.syscall(SYS_PIDFD_GETFD, pidfd, int(name), 0)
            if fd < 0:
                if ctypes.get_errno() == errno.EPERM:
                    pytest.skip("not allowed to take another process's socket (pidfd_getfd: EPERM)")
                continue
            sock = socket.socket(fileno=fd)
            try:
                if sock.type == socket.SOCK_STREAM and sock.getpeername() == ours:
                    return sock
            except OSError:
                pass  # a listening or unconnected socket: no peer
            sock.close()
    finally:
        os.close(pidfd)
    raise AssertionError(f"process {pid} holds no socket connected to {ours}")


def _nodelay_on_accepted(pid: int, port: int, path: str) -> int:
    """Make one HTTP request to 127.0.0.1:port on a kept-alive connection; TCP_NODELAY of the server's end."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as client:
        client.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
        assert client.recv(65536).startswith(b"HTTP/1.1 "), "no HTTP answer"
        with _server_side(pid, client) as accepted:
            return accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)


LOOPS = ("uvloop", "asyncio")


def _env(loop: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    """The server's environment; for "asyncio", uvloop made unimportable (as where it is not installed)."""
    if loop == "uvloop":
        return clean_env(**extra)
    (tmp_path / "uvloop.py").write_text("raise ImportError('not installed here')\n")
    return clean_env(PYTHONPATH=str(tmp_path), **extra)


@pytest.mark.parametrize("loop", LOOPS)
def test_the_mcp_server_over_http_answers_without_nagle(loop: str, tmp_path: Path) -> None:
    with server_process("--emulator", env=_env(loop, tmp_path)) as server:
        port = int(server.url.rsplit(":", 1)[1])
        assert _nodelay_on_accepted(server.pid, port, "/healthz") == 1


@pytest.mark.parametrize("loop", LOOPS)
def test_the_standalone_emulator_answers_without_nagle(loop: str, tmp_path: Path) -> None:
    env = _env(loop, tmp_path)
    with child_process("emulator", "--port", "0", env=env, health="/_emulator/state") as emulator:
        port = int(emulator.url.rsplit(":", 1)[1])
        assert _nodelay_on_accepted(emulator.pid, port, "/_emulator/state") == 1


@contextmanager
def _stdio_server_with_console(env: dict[str, str]) -> Iterator[tuple[int, int]]:
    """`serve` over stdio (stdin held open) with its approval console on a free port: (pid, console port)."""
    command = [sys.executable, "-m", "polar_orders_mcp", "serve", "--emulator", "--approvals-port", "0"]
    proc = subprocess.Popen(
        command, env=env, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while (port := listening_port(proc.pid)) is None:
            assert proc.poll() is None and time.monotonic() < deadline, "the console did not start listening"
            time.sleep(0.05)
        while True:
            try:
                httpx2.get(f"http://127.0.0.1:{port}/approvals", timeout=10)
                break
            except httpx2.TransportError:
                assert time.monotonic() < deadline, "the console did not answer"
                time.sleep(0.05)
        yield proc.pid, port
    finally:
        proc.kill()
        proc.wait()


def test_the_stdio_servers_approval_console_answers_without_nagle() -> None:
    """stdio mode runs asyncio's own loop: the socket's protocol alone turns Nagle off there."""
    env = clean_env(POLAR_MCP_APPROVER_TOKEN="nodelay-approver-secret-0123456789")
    with _stdio_server_with_console(env) as (pid, port):
        assert _nodelay_on_accepted(pid, port, "/approvals") == 1


def _mapped_libraries(pid: int) -> str:
    return Path(f"/proc/{pid}/maps").read_text()


@pytest.mark.skipif(sys.platform == "win32", reason="uvloop has no Windows build: asyncio's own loop serves there")
def test_the_http_servers_run_on_uvloop_and_httptools() -> None:
    """uvicorn takes them only when installed ("auto"): a dependency dropped would silently cost CPU per call."""
    with server_process("--emulator") as server, emulator_process() as emulator:
        for pid in (server.pid, emulator.pid):
            maps = _mapped_libraries(pid)
            assert "/uvloop/loop." in maps, "the event loop is asyncio's, not uvloop"
            assert "/httptools/parser/parser." in maps, "requests are parsed by h11, not httptools"


def test_every_listening_socket_is_made_by_tcp_listener() -> None:
    """A socket made elsewhere would bring the delay back: only sockets.py calls socket.socket()."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        where = path.relative_to(PACKAGE).as_posix()
        for node in ast.walk(ast.parse(path.read_text(), where)):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "socket"
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "socket"
            ):
                found.append(where)
    assert found == ["sockets.py"], f"socket.socket() outside sockets.py: {found}"
