"""The MCP protocol over stdin/stdout, answering every line that is not a JSON-RPC message with an error.

The SDK (checked on mcp 2.3.0) reads stdin in `stdio_server()`: a line it cannot take (not JSON, a lone
surrogate escape, a 5000-digit number, nesting 3000 deep) goes down its read stream as an exception, and
the server drops it without a word, so the client waits for an answer that never comes. Here those are
answered on stdout as JSON-RPC 2.0 says, with id null: -32700 (parse error) for a line that is not JSON,
-32600 (invalid request) for JSON that is no JSON-RPC message; the server keeps serving.

MCPServer has no public way to run on given streams, so this uses its low-level server (`_lowlevel_server`,
its `run` and `create_initialization_options`), as MCPServer.run_stdio_async itself does; the test in
tests/server/test_stdio_errors.py fails if those names or stdio_server's way of passing a bad line change.
"""

from __future__ import annotations

import logging
from typing import Any

import anyio
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


async def run_stdio(mcp: MCPServer[Any]) -> None:
    """MCPServer.run_stdio_async, with a JSON-RPC error for every line that is not a message."""
    lowlevel = mcp._lowlevel_server
    async with stdio_server() as (read_stream, write_stream):
        messages, to_server = anyio.create_memory_object_stream[SessionMessage | Exception](0)

        async def sort() -> None:
            async with messages:
                async for item in read_stream:
                    if isinstance(item, Exception):
                        log.debug("stdin: a line that is not a JSON-RPC message: %s", type(item).__name__)
                        await write_stream.send(SessionMessage(error_for(item)))
                    else:
                        await messages.send(item)

        async with anyio.create_task_group() as group:
            group.start_soon(sort)
            await lowlevel.run(to_server, write_stream, lowlevel.create_initialization_options())
            group.cancel_scope.cancel()
