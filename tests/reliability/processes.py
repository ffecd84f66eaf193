"""Our HTTP server as a child process, and a light MCP session spoken as raw JSON-RPC over streamable HTTP.

Built for a loaded machine: the server binds port 0 and the test reads the port it got from /proc (no
race with other runs for a "free" port), its output is drained by threads (a full pipe never blocks
it), and every wait is bounded but generous.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx2

STARTUP_SECONDS = 60.0
STOP_SECONDS = 5.0
PROTOCOL_VERSION = "2025-06-18"
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any POLAR* setting, plus `extra`."""
    return {**{k: v for k, v in os.environ.items() if not k.startswith("POLAR")}, **extra}


@dataclass
class ServerProcess:
    proc: subprocess.Popen[bytes]
    url: str = ""
    stdout: bytearray = field(default_factory=bytearray)
    stderr: bytearray = field(default_factory=bytearray)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def rss_kb(self) -> int:
        """Resident memory (VmRSS) of the server process, in KiB."""
        with open(f"/proc/{self.pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise RuntimeError("no VmRSS line")

    def output(self) -> str:
        return self.stderr.decode(errors="replace")


def listening_port(pid: int) -> int | None:
    """The TCP port process `pid` listens on, read from /proc; None until it listens."""
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except FileNotFoundError:
        return None
    inodes = set()
    for fd in fds:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    for table in ("tcp", "tcp6"):
        try:
            with open(f"/proc/{pid}/net/{table}") as lines:
                rows = [line.split() for line in lines.readlines()[1:]]
        except FileNotFoundError:
            continue
        for row in rows:
            if row[3] == "0A" and row[9] in inodes:  # 0A: LISTEN
                return int(row[1].rsplit(":", 1)[1], 16)
    return None


def _drain(stream: Any, into: bytearray) -> None:
    for chunk in iter(lambda: stream.read1(65536), b""):
        into.extend(chunk)


def server_process(*args: str, env: dict[str, str] | None = None) -> AbstractContextManager[ServerProcess]:
    """`polar-orders-mcp serve --transport http --port 0 ARGS…`, healthy; killed on exit if still running.

    With --no-auth unless `env` sets an HTTP token: the sessions here speak plain JSON-RPC on loopback.
    """
    if not {"POLAR_MCP_HTTP_TOKEN", "POLAR_MCP_HTTP_TOKENS"} & set(env or {}):
        args = ("--no-auth", *args)
    return child_process("serve", "--transport", "http", "--port", "0", *args, env=env)


def emulator_process(*args: str) -> AbstractContextManager[ServerProcess]:
    """`polar-orders-mcp emulator --port 0 ARGS…`, answering; killed on exit."""
    return child_process("emulator", "--port", "0", *args, health="/_emulator/state")


@contextmanager
def child_process(*args: str, env: dict[str, str] | None = None, health: str = "/healthz") -> Iterator[ServerProcess]:
    """`polar-orders-mcp ARGS…` listening on the port it was given (0: any), once `health` answers 200."""
    command = [sys.executable, "-m", "polar_orders_mcp", *args]
    proc = subprocess.Popen(
        command, env=env or clean_env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    server = ServerProcess(proc)
    readers = [
        threading.Thread(target=_drain, args=(pipe, out), daemon=True)
        for pipe, out in ((proc.stdout, server.stdout), (proc.stderr, server.stderr))
    ]
    for reader in readers:
        reader.start()
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        port = None
        while port is None:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the server did not start (exit {proc.poll()}):\n{server.output()}")
            port = listening_port(proc.pid)
            if port is None:
                time.sleep(0.05)
        server.url = f"http://127.0.0.1:{port}"
        while True:
            try:
                if httpx2.get(f"{server.url}{health}", timeout=10).status_code == 200:
                    break
            except httpx2.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the server did not become healthy:\n{server.output()}")
            time.sleep(0.05)
        yield server
    finally:
        stop(proc)
        for reader in readers:
            reader.join(timeout=5)


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, as a service manager stops it (so that it exits through its own shutdown, and coverage.py in it
    writes its data); SIGKILL if it has not exited within a few seconds."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            proc.kill()
    proc.wait()


class Session:
    """One MCP session (the initialize handshake) over streamable HTTP, as raw JSON-RPC."""

    def __init__(self, http: httpx2.AsyncClient, url: str) -> None:
        self.http = http
        self.url = f"{url}/mcp"
        self.headers = dict(MCP_HEADERS)
        self.ids = 0

    async def __aenter__(self) -> Session:
        init = await self._post(
            "initialize",
            {
                "protocolVersion": PROTOCOL_VERSION,
                "capabilities": {},
                "clientInfo": {"name": "reliability", "version": "1"},
            },
        )
        assert init["result"]["serverInfo"]["name"] == "polar-orders-mcp", init
        self.headers["mcp-protocol-version"] = PROTOCOL_VERSION
        response = await self.http.post(
            self.url, headers=self.headers, json={"jsonrpc": "2.0", "method": "notifications/initialized"}
        )
        assert response.status_code == 202, response.text
        return self

    async def __aexit__(self, *exc: object) -> None:
        with contextlib.suppress(httpx2.TransportError):  # a server that has stopped holds no session
            await self.http.delete(self.url, headers=self.headers)

    async def call(self, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
        """The tool's result (`isError` false or true); a JSON-RPC or HTTP error raises."""
        answer = await self._post("tools/call", {"name": tool, "arguments": arguments})
        assert "result" in answer, answer
        return answer["result"]  # type: ignore[no-any-return]

    async def _post(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        self.ids += 1
        message = {"jsonrpc": "2.0", "id": self.ids, "method": method, "params": params}
        response = await self.http.post(self.url, headers=self.headers, json=message)
        assert response.status_code == 200, f"HTTP {response.status_code}: {response.text[:300]}"
        if "mcp-session-id" in response.headers:
            self.headers["mcp-session-id"] = response.headers["mcp-session-id"]
        return parse_answer(response)


def parse_answer(response: httpx2.Response) -> dict[str, Any]:
    """The JSON-RPC answer in a JSON or an SSE (`data: …`) body."""
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        for line in response.text.splitlines():
            if line.startswith("data:") and line[5:].strip():
                data = json.loads(line[5:])
                if "id" in data:
                    return data  # type: ignore[no-any-return]
        raise AssertionError(f"no answer in the event stream: {response.text[:300]}")
    return response.json()  # type: ignore[no-any-return]


@dataclass
class Figures:
    answered: int
    sessions: list[int]
    seconds: float
    rss_before_kb: int
    rss_after_kb: int


async def concurrent_sessions(server: ServerProcess, sessions: int, calls: int) -> Figures:
    """`sessions` MCP sessions at once, each making `calls` get_order calls that must all succeed."""
    async with httpx2.AsyncClient(timeout=60, limits=httpx2.Limits(max_connections=sessions)) as http:
        async with Session(http, server.url) as setup:
            listing = await setup.call("list_orders", {"limit": min(sessions, 100)})
        orders = [o["id"] for o in listing["structuredContent"]["items"]]
        rss_before = server.rss_kb()
        answered: list[int] = []

        async def session(number: int) -> None:
            order_id = orders[number % len(orders)]
            async with Session(http, server.url) as mcp:
                for _ in range(calls):
                    result = await mcp.call("get_order", {"order_id": order_id})
                    assert not result["isError"], result
                    assert result["structuredContent"]["id"] == order_id
                    answered.append(number)

        started = time.monotonic()
        with anyio.fail_after(120):
            async with anyio.create_task_group() as group:
                for number in range(sessions):
                    group.start_soon(session, number)
        elapsed = time.monotonic() - started
    return Figures(len(answered), sorted(set(answered)), elapsed, rss_before, server.rss_kb())
