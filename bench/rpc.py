"""Minimal MCP clients for measuring servers: JSON-RPC over stdio, streamable HTTP and SSE.

Deliberately thin (no validation, no models) so that what is timed is the server, not the client.
Every read has a deadline; nothing here waits forever.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import select
import subprocess
import threading
import time
from typing import Any

import httpx2

# The newest revision all three servers speak (Polar's server is built on the 1.9 TypeScript SDK).
PROTOCOL_VERSION = "2025-03-26"
CLIENT_INFO = {"name": "polar-orders-mcp-bench", "version": "1"}
TIMEOUT = 60.0


class RpcError(RuntimeError):
    """A JSON-RPC error, a transport failure, or a tool result with isError set."""


def _initialize_params() -> dict[str, Any]:
    return {"protocolVersion": PROTOCOL_VERSION, "capabilities": {}, "clientInfo": CLIENT_INFO}


def check(message: dict[str, Any]) -> dict[str, Any]:
    """The result of a response; raise on a JSON-RPC error or a tool error."""
    if "error" in message:
        raise RpcError(json.dumps(message["error"])[:500])
    result: dict[str, Any] = message["result"]
    if result.get("isError"):
        raise RpcError(json.dumps(result)[:500])
    return result


class StdioSession:
    """An MCP session with a server process over its stdin/stdout (newline-delimited JSON-RPC)."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdin is not None and proc.stdout is not None
        self.proc = proc
        self._fd = proc.stdout.fileno()
        self._buffer = bytearray()
        self._next_id = 0
        self.last_raw = b""  # the raw bytes of the last response, for context measurements

    def send(self, message: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(message).encode() + b"\n")
        self.proc.stdin.flush()

    def _readline(self, deadline: float) -> bytes:
        start = 0
        while True:
            end = self._buffer.find(b"\n", start)
            if end >= 0:
                line = bytes(self._buffer[: end + 1])
                del self._buffer[: end + 1]
                return line
            start = len(self._buffer)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise RpcError("timed out waiting for the server")
            ready, _, _ = select.select([self._fd], [], [], remaining)
            if ready:
                chunk = os.read(self._fd, 1 << 20)
                if not chunk:
                    raise RpcError(f"server closed stdout (exit code {self.proc.poll()})")
                self._buffer += chunk

    def request(self, method: str, params: dict[str, Any] | None = None, timeout: float = TIMEOUT) -> dict[str, Any]:
        """Send a request; return the matching response (notifications on the way are skipped)."""
        self._next_id += 1
        ident = self._next_id
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": ident, "method": method}
        if params is not None:
            message["params"] = params
        self.send(message)
        deadline = time.monotonic() + timeout
        while True:
            raw = self._readline(deadline)
            reply = json.loads(raw)
            if reply.get("id") == ident and "method" not in reply:
                self.last_raw = raw.rstrip(b"\n")
                return dict(reply)

    def initialize(self) -> dict[str, Any]:
        result = check(self.request("initialize", _initialize_params()))
        self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        return result

    def call(self, name: str, arguments: dict[str, Any], timeout: float = TIMEOUT) -> dict[str, Any]:
        return check(self.request("tools/call", {"name": name, "arguments": arguments}, timeout))


def _sse_messages(text: str) -> list[dict[str, Any]]:
    """The JSON-RPC messages in an SSE body: one per `data:` field."""
    messages = []
    for event in text.replace("\r\n", "\n").split("\n\n"):
        data = "\n".join(line[5:].lstrip() for line in event.split("\n") if line.startswith("data:"))
        if data:
            messages.append(json.loads(data))
    return messages


def _pick(response: httpx2.Response, ident: int) -> tuple[dict[str, Any], bytes]:
    response.raise_for_status()
    kind = response.headers.get("content-type", "")
    if kind.startswith("application/json"):
        return dict(response.json()), response.content
    for message in _sse_messages(response.text):
        if message.get("id") == ident and "method" not in message:
            return message, json.dumps(message, separators=(",", ":")).encode()
    raise RpcError(f"no response with id {ident} in {response.text[:200]!r}")


class HttpSession:
    """An MCP session over streamable HTTP (one POST per message; JSON or SSE answers)."""

    def __init__(self, url: str, client: httpx2.Client | None = None) -> None:
        self.url = url
        self.client = client or httpx2.Client(timeout=TIMEOUT)
        self.headers = {"accept": "application/json, text/event-stream", "content-type": "application/json"}
        self._next_id = 0
        self.last_raw = b""

    def request(self, method: str, params: dict[str, Any] | None = None, timeout: float = TIMEOUT) -> dict[str, Any]:
        self._next_id += 1
        ident = self._next_id
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": ident, "method": method}
        if params is not None:
            message["params"] = params
        response = self.client.post(self.url, content=json.dumps(message), headers=self.headers, timeout=timeout)
        reply, self.last_raw = _pick(response, ident)
        if method == "initialize" and "mcp-session-id" in response.headers:
            self.headers["mcp-session-id"] = response.headers["mcp-session-id"]
        return reply

    def initialize(self) -> dict[str, Any]:
        result = check(self.request("initialize", _initialize_params()))
        self.headers["mcp-protocol-version"] = result["protocolVersion"]
        note = {"jsonrpc": "2.0", "method": "notifications/initialized"}
        self.client.post(self.url, content=json.dumps(note), headers=self.headers).raise_for_status()
        return result

    def call(self, name: str, arguments: dict[str, Any], timeout: float = TIMEOUT) -> dict[str, Any]:
        return check(self.request("tools/call", {"name": name, "arguments": arguments}, timeout))

    def close(self) -> None:
        if "mcp-session-id" in self.headers:
            with contextlib.suppress(httpx2.HTTPError):
                self.client.delete(self.url, headers=self.headers, timeout=5)
        self.client.close()


class AsyncHttpSession:
    """The streamable HTTP session for load tests: one per simulated client, its own connection."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.client = httpx2.AsyncClient(timeout=TIMEOUT)
        self.headers = {"accept": "application/json, text/event-stream", "content-type": "application/json"}
        self._next_id = 0

    async def request(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        self._next_id += 1
        ident = self._next_id
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": ident, "method": method}
        if params is not None:
            message["params"] = params
        response = await self.client.post(self.url, content=json.dumps(message), headers=self.headers)
        reply, _ = _pick(response, ident)
        if method == "initialize" and "mcp-session-id" in response.headers:
            self.headers["mcp-session-id"] = response.headers["mcp-session-id"]
        return reply

    async def initialize(self) -> None:
        result = check(await self.request("initialize", _initialize_params()))
        self.headers["mcp-protocol-version"] = result["protocolVersion"]
        note = {"jsonrpc": "2.0", "method": "notifications/initialized"}
        (await self.client.post(self.url, content=json.dumps(note), headers=self.headers)).raise_for_status()

    async def call(self, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        return check(await self.request("tools/call", {"name": name, "arguments": arguments}))

    async def aclose(self) -> None:
        try:
            if "mcp-session-id" in self.headers:
                await self.client.delete(self.url, headers=self.headers, timeout=5)
        except httpx2.HTTPError:
            pass
        await self.client.aclose()


class SseSession:
    """An MCP session over the older HTTP+SSE transport: GET the stream, POST messages to its endpoint."""

    def __init__(self, base_url: str, sse_path: str = "/sse") -> None:
        self.base_url = base_url
        self.client = httpx2.Client(timeout=TIMEOUT)
        self._inbox: queue.Queue[dict[str, Any] | BaseException] = queue.Queue()
        self._endpoint: queue.Queue[str] = queue.Queue()
        self._stream_client = httpx2.Client(timeout=httpx2.Timeout(TIMEOUT, read=None))
        self._closed = threading.Event()
        self._reader = threading.Thread(target=self._read, args=(base_url + sse_path,), daemon=True)
        self._reader.start()
        try:
            self.endpoint = base_url + self._endpoint.get(timeout=TIMEOUT)
        except queue.Empty:
            raise RpcError("no endpoint event on the SSE stream") from None
        self._next_id = 0
        self.last_raw = b""

    def _read(self, url: str) -> None:
        try:
            with self._stream_client.stream("GET", url, headers={"accept": "text/event-stream"}) as response:
                response.raise_for_status()
                event, data = "message", []
                for line in response.iter_lines():
                    if self._closed.is_set():
                        return
                    if line.startswith("event:"):
                        event = line[6:].strip()
                    elif line.startswith("data:"):
                        data.append(line[5:].lstrip())
                    elif line == "" and data:
                        payload = "\n".join(data)
                        if event == "endpoint":
                            self._endpoint.put(payload)
                        else:
                            self._inbox.put(json.loads(payload))
                        event, data = "message", []
        except BaseException as exc:  # the stream's end or failure reaches whoever waits next
            if not self._closed.is_set():
                self._inbox.put(exc)

    def request(self, method: str, params: dict[str, Any] | None = None, timeout: float = TIMEOUT) -> dict[str, Any]:
        self._next_id += 1
        ident = self._next_id
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": ident, "method": method}
        if params is not None:
            message["params"] = params
        self.client.post(
            self.endpoint, content=json.dumps(message), headers={"content-type": "application/json"}
        ).raise_for_status()
        deadline = time.monotonic() + timeout
        while True:
            try:
                reply = self._inbox.get(timeout=max(deadline - time.monotonic(), 0.001))
            except queue.Empty:
                raise RpcError("timed out waiting for the server") from None
            if isinstance(reply, BaseException):
                raise RpcError(f"SSE stream ended: {reply!r}")
            if reply.get("id") == ident and "method" not in reply:
                self.last_raw = json.dumps(reply, separators=(",", ":")).encode()
                return reply

    def initialize(self) -> dict[str, Any]:
        result = check(self.request("initialize", _initialize_params()))
        note = {"jsonrpc": "2.0", "method": "notifications/initialized"}
        self.client.post(self.endpoint, content=json.dumps(note), headers={"content-type": "application/json"})
        return result

    def call(self, name: str, arguments: dict[str, Any], timeout: float = TIMEOUT) -> dict[str, Any]:
        return check(self.request("tools/call", {"name": name, "arguments": arguments}, timeout))

    def close(self) -> None:
        self._closed.set()
        self.client.close()
        self._stream_client.close()
