"""Process lifecycle: SIGTERM stops the HTTP server cleanly; closing stdin ends the stdio server."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import httpx2

INIT = {
    "jsonrpc": "2.0", "id": 1, "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
}  # fmt: skip


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("POLAR")}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_healthy(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        try:
            if httpx2.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx2.TransportError:
            time.sleep(0.05)
    raise AssertionError("the HTTP server did not become healthy")


def test_sigterm_stops_the_http_server_with_exit_code_0() -> None:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "polar_orders_mcp", "serve", "--emulator", "--transport", "http", "--port", str(port)],
        env=_env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_healthy(url, proc)
        headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
        assert httpx2.post(f"{url}/mcp", json=INIT, headers=headers, timeout=5).status_code == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
        assert proc.stdout is not None and proc.stdout.read() == b""  # HTTP mode writes nothing to stdout
    finally:
        proc.kill()
        proc.wait()


def test_closing_stdin_ends_the_stdio_server_cleanly() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "polar_orders_mcp", "serve", "--emulator"],
        env=_env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write((json.dumps(INIT) + "\n").encode())
        proc.stdin.flush()
        answer = json.loads(proc.stdout.readline())
        assert answer["id"] == 1 and answer["result"]["serverInfo"]["name"] == "polar-orders-mcp"
        proc.stdin.close()
        assert proc.wait(timeout=15) == 0
        assert proc.stdout.read() == b""
        stderr = proc.stderr.read().decode() if proc.stderr else ""
        assert "Traceback" not in stderr
    finally:
        proc.kill()
        proc.wait()
