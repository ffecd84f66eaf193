"""Process lifecycle: SIGTERM stops the HTTP server cleanly; closing stdin ends the stdio server."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import httpx2

from tests.reliability.processes import clean_env, server_process

INIT = {
    "jsonrpc": "2.0", "id": 1, "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
}  # fmt: skip


def test_sigterm_stops_the_http_server_with_exit_code_0() -> None:
    # Port 0 and generous bounds: on a loaded machine a "free" port can be taken before the server binds
    # it, and startup or the first answer can take many seconds (tests/reliability/processes.py).
    with server_process("--emulator") as server:
        headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
        assert httpx2.post(f"{server.url}/mcp", json=INIT, headers=headers, timeout=30).status_code == 200
        server.proc.send_signal(signal.SIGTERM)
        assert server.proc.wait(timeout=60) == 0, server.output()
    assert bytes(server.stdout) == b""  # HTTP mode writes nothing to stdout
    # The start line is printed as such, not logged as a warning; a requested stop logs nothing either.
    banner = f"polar-orders-mcp: serving MCP (http) on {server.url}/mcp (no bearer token: loopback only)\n"
    assert server.output() == banner


def test_closing_stdin_ends_the_stdio_server_cleanly() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "polar_orders_mcp", "serve", "--emulator"],
        env=clean_env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write((json.dumps(INIT) + "\n").encode())
        proc.stdin.flush()
        answer = json.loads(proc.stdout.readline())
        assert answer["id"] == 1 and answer["result"]["serverInfo"]["name"] == "polar-orders-mcp"
        proc.stdin.close()
        assert proc.wait(timeout=60) == 0
        assert proc.stdout.read() == b""
        stderr = proc.stderr.read().decode() if proc.stderr else ""
        assert "Traceback" not in stderr
    finally:
        proc.kill()
        proc.wait()
