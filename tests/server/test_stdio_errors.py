"""Over stdio, a line that is not a JSON-RPC message gets a JSON-RPC error (id null) and the server keeps serving.

The finding: a lone surrogate, a 5000-digit integer or 3000-deep nesting got no answer at all, so the client
waited for ever. A real server process, spoken to line by line.
"""

from __future__ import annotations

import inspect
import io
import json
import os
import queue
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import anyio
import pytest
from mcp.server.mcpserver import MCPServer
from mcp.server.stdio import stdio_server

from polar_orders_mcp.server.stdio_wire import PARSE_ERROR, error_for

INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}},
}
PING = '{"jsonrpc":"2.0","id":%d,"method":"ping","params":{"x":%s}}'
UNREADABLE = {
    "a lone surrogate": PING % (2, '"\\ud800"'),
    "a 5000-digit integer": PING % (3, "9" * 5000),
    "3000-deep nesting": PING % (4, "[" * 3000 + "]" * 3000),
    "no JSON at all": "{not json",
}


@contextmanager
def stdio_lines() -> Iterator[tuple[subprocess.Popen[bytes], queue.Queue[bytes]]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("POLAR")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "polar_orders_mcp", "serve", "--emulator"],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    lines: queue.Queue[bytes] = queue.Queue()
    assert proc.stdout is not None
    threading.Thread(
        target=lambda: [lines.put(line) for line in iter(proc.stdout.readline, b"")],  # type: ignore[union-attr]
        daemon=True,
    ).start()
    try:
        yield proc, lines
    finally:
        proc.kill()
        proc.wait()


def send(proc: subprocess.Popen[bytes], line: str) -> None:
    assert proc.stdin is not None
    proc.stdin.write(line.encode() + b"\n")
    proc.stdin.flush()


def test_each_unreadable_line_is_answered_with_a_parse_error_and_the_server_keeps_serving() -> None:
    with stdio_lines() as (proc, lines):
        send(proc, json.dumps(INITIALIZE))
        assert json.loads(lines.get(timeout=60))["id"] == 1
        send(proc, '{"jsonrpc":"2.0","method":"notifications/initialized"}')
        answers = {}
        for what, line in UNREADABLE.items():
            send(proc, line)
            answers[what] = json.loads(lines.get(timeout=10))
        send(proc, '{"jsonrpc":"2.0","id":9,"method":"ping"}')
        pong = json.loads(lines.get(timeout=10))
    for what, answer in answers.items():
        assert answer["id"] is None and answer["error"]["code"] == PARSE_ERROR, what
        assert answer["error"]["message"].startswith("Parse error: "), what
    assert pong == {"jsonrpc": "2.0", "id": 9, "result": {}}


def test_json_that_is_no_json_rpc_message_is_an_invalid_request() -> None:
    from mcp_types import jsonrpc_message_adapter

    with pytest.raises(Exception) as refused:
        jsonrpc_message_adapter.validate_json('{"foo": 1}', by_name=False)
    assert error_for(refused.value).error.code == -32600


@pytest.mark.anyio
async def test_the_sdk_still_passes_an_unreadable_line_down_its_read_stream() -> None:
    """stdio_wire.py relies on it (mcp 2.3.0): stdio_server puts the exception on the read stream, and the server
    is run on streams through MCPServer's low-level server. A change there must fail here."""
    stdin, stdout = anyio.wrap_file(io.StringIO("{not json\n")), anyio.wrap_file(io.StringIO())
    with anyio.fail_after(10):
        async with stdio_server(stdin=stdin, stdout=stdout) as (read_stream, write_stream):  # type: ignore[arg-type]
            item = await read_stream.receive()
            await write_stream.aclose()
    assert isinstance(item, Exception)
    lowlevel = MCPServer("probe")._lowlevel_server
    assert list(inspect.signature(lowlevel.run).parameters)[:3] == [
        "read_stream",
        "write_stream",
        "initialization_options",
    ]
    assert callable(lowlevel.create_initialization_options)
