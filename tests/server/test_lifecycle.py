"""Process lifecycle: the start banner, SIGTERM stops the HTTP server cleanly; closing stdin ends the stdio server."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys

import httpx2

from tests.reliability.processes import child_process, clean_env, server_process

INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
}


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
    # server_process serves with --no-auth, which is warned about.
    port = server.url.rsplit(":", 1)[1]
    assert server.output() == (
        f"polar-orders-mcp: serving MCP (http) on {server.url}/mcp\n"
        f"polar-orders-mcp: WARNING: --no-auth: no token is asked for, so every local user and process that can "
        f"reach 127.0.0.1:{port} can use your Polar organization through this server.\n"
    )


def test_closing_stdin_ends_the_stdio_server_cleanly() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "polar_orders_mcp", "serve", "--emulator"],
        env=clean_env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
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


def test_on_loopback_without_a_token_one_is_made_up_and_printed_with_a_client_config() -> None:
    with child_process("serve", "--emulator", "--transport", "http", "--port", "0") as server:
        lines = server.output().splitlines()
        token = lines[2].removeprefix("    Authorization: Bearer ")
        headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
        anonymous = httpx2.post(f"{server.url}/mcp", json=INIT, headers=headers, timeout=30)
        wrong_headers = {**headers, "Authorization": "Bearer x"}
        wrong = httpx2.post(f"{server.url}/mcp", json=INIT, headers=wrong_headers, timeout=30)
        admitted = httpx2.post(
            f"{server.url}/mcp", json=INIT, headers={**headers, "Authorization": f"Bearer {token}"}, timeout=30
        )
    assert lines[:2] == [
        f"polar-orders-mcp: serving MCP (http) on {server.url}/mcp",
        "polar-orders-mcp: no POLAR_MCP_HTTP_TOKEN is set, so clients must send this token, made for this run:",
    ]
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", token), lines[2]
    assert lines[3] == "  A client configuration to paste (Claude Code's .mcp.json, Cursor's mcp.json):"
    entry = {"type": "http", "url": f"{server.url}/mcp", "headers": {"Authorization": f"Bearer {token}"}}
    assert json.loads(lines[4]) == {"mcpServers": {"polar-orders": entry}}
    assert lines[5] == "  VS Code's mcp.json names them servers:"
    assert json.loads(lines[6]) == {"servers": {"polar-orders": entry}}
    assert lines[7] == "  Set POLAR_MCP_HTTP_TOKEN to keep one token across restarts; --no-auth serves without any."
    assert lines[8] == (
        "  Its confirmation forms approve nothing unless a person uses it: add --person-clients default if one "
        "does; else charges are approved in the approval console."
    )
    assert (anonymous.status_code, wrong.status_code, admitted.status_code) == (401, 401, 200)
