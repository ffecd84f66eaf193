"""The MCP protocol over stdin/stdout, answering every line that is not a JSON-RPC message with an error.

The SDK (checked on mcp 2.3.0) reads stdin in `stdio_server()`: a line it cannot take (not JSON, a lone
surrogate escape, a 5000-digit number, nesting 3000 deep) goes down its read stream as an exception, and
the server drops it without a word, so the client waits for an answer that never comes. Here those are
answered on stdout as JSON-RPC 2.0 says, with id null: -32700 (parse error) for a line that is not JSON,
-32600 (invalid request) for JSON that is no JSON-RPC message; the server keeps serving.

A request whose id JSON-RPC and MCP do not allow (null, an object, a list, true, a fraction) the SDK reads as a
notification, its id dropped, and answers nothing. Such a line is no message either: stdin's lines are checked
before the SDK reads them, and one of those is answered -32600 here and never reaches the server (a tools/call
with such an id never runs). stdio_server reads the lines it is given as `stdin` with `async for` and then
leaves fd 0 alone, so the wire is moved off fd 0 here, as stdio_server does itself when it reads stdin.

MCPServer has no public way to run on given streams, so this uses its low-level server (`_lowlevel_server`,
its `run` and `create_initialization_options`), as MCPServer.run_stdio_async itself does; the test in
tests/server/test_stdio_errors.py fails if those names or stdio_server's way of passing a bad line change.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import sys
from collections.abc import AsyncIterable, AsyncIterator, Iterator
from contextlib import contextmanager
from io import TextIOWrapper
from typing import IO, Any, cast

import anyio
from anyio.streams.memory import MemoryObjectSendStream
from mcp.server.mcpserver import MCPServer
from mcp.server.stdio import stdio_server
from mcp.shared.message import SessionMessage
from mcp.types import ErrorData, JSONRPCError
from pydantic import ValidationError

log = logging.getLogger(__name__)

PARSE_ERROR = -32700
INVALID_REQUEST = -32600


def error_for(exc: Exception) -> JSONRPCError:
    """The JSON-RPC error answering a line the SDK could not read as a message."""
    errors = exc.errors() if isinstance(exc, ValidationError) else []
    if errors and errors[0]["type"] == "json_invalid":
        why = str(errors[0]["msg"]).removeprefix("Invalid JSON: ")
        error = ErrorData(code=PARSE_ERROR, message=f"Parse error: {why}"[:200])
    else:
        error = ErrorData(code=INVALID_REQUEST, message="Invalid Request: not a JSON-RPC 2.0 message")
    return JSONRPCError(jsonrpc="2.0", id=None, error=error)


def id_refused(line: str) -> bool:
    """Whether this line is a request (a "method" beside an "id") whose id is not a string or an integer."""
    try:
        message = json.loads(line)
    except (ValueError, RecursionError):
        return False  # not JSON: the SDK's reader refuses it, and error_for answers it
    if not isinstance(message, dict) or "id" not in message or "method" not in message:
        return False
    given = message["id"]
    return isinstance(given, bool) or not isinstance(given, str | int)


ID_REFUSED = JSONRPCError(
    jsonrpc="2.0",
    id=None,
    error=ErrorData(code=INVALID_REQUEST, message="Invalid Request: a request's id is a string or an integer"),
)


async def _checked(lines: AsyncIterable[str], refused: MemoryObjectSendStream[SessionMessage]) -> AsyncIterator[str]:
    """stdin's lines for the SDK's reader, less the requests whose id is not one: those are answered."""
    async with refused:
        async for line in lines:
            if id_refused(line):
                log.debug("stdin: a request whose id is not a string or an integer")
                await refused.send(SessionMessage(ID_REFUSED))
            else:
                yield line


@contextmanager
def _wire() -> Iterator[IO[bytes]]:
    """stdin on a descriptor of its own, fd 0 on the null device meanwhile: a handler or child process that
    reads stdin gets nothing of the client's."""
    try:
        private = fcntl.fcntl(0, fcntl.F_DUPFD_CLOEXEC, 3)
    except OSError:
        yield sys.stdin.buffer
        return
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    try:
        # closefd=False: the reading thread can still block on it after the server is done.
        yield os.fdopen(private, "rb", closefd=False)
    finally:
        os.dup2(private, 0)


async def run_stdio(mcp: MCPServer[Any]) -> None:
    """MCPServer.run_stdio_async, with a JSON-RPC error for every line that is not a message."""
    lowlevel = mcp._lowlevel_server
    refuse, refused = anyio.create_memory_object_stream[SessionMessage](0)
    with _wire() as wire:
        lines = anyio.wrap_file(TextIOWrapper(wire, encoding="utf-8", errors="replace"))
        stdin = cast(anyio.AsyncFile[str], _checked(lines, refuse))  # stdio_server only iterates it
        async with stdio_server(stdin=stdin) as (read_stream, write_stream):
            messages, to_server = anyio.create_memory_object_stream[SessionMessage | Exception](0)

            async def sort() -> None:
                async with messages:
                    async for item in read_stream:
                        if isinstance(item, Exception):
                            log.debug("stdin: a line that is not a JSON-RPC message: %s", type(item).__name__)
                            await write_stream.send(SessionMessage(error_for(item)))
                        else:
                            await messages.send(item)

            async def answer_refused() -> None:
                async with refused:
                    async for error in refused:
                        await write_stream.send(error)

            async with anyio.create_task_group() as group:
                group.start_soon(sort)
                group.start_soon(answer_refused)
                await lowlevel.run(to_server, write_stream, lowlevel.create_initialization_options())
                group.cancel_scope.cancel()
