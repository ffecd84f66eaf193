"""Fault injection: a plan of per-path faults, a journal of requests received, and the ASGI layer applying them.

A fault applies to the next `count` requests whose method and path match it, after letting the first
`skip` of them through untouched. Kinds:

| kind | what the client sees | did the route act? |
|---|---|---|
| `latency` | the normal answer, `seconds` late | yes |
| `status` | HTTP `status` (500/502/503/504 …): JSON for 500, a proxy's HTML page for 502-504 | no |
| `rate_limit` | 429, empty body, `Retry-After: retry_after` (Polar's own shape) | no |
| `drop_before` | the connection closes with no response | no |
| `drop_after` | the connection closes with no response | yes |
| `truncate` | status and headers, then the connection closes halfway through the body | yes |
| `malformed` | the normal status with half the body (not valid JSON) | yes |
| `slow_body` | status and headers, half the body, then `seconds` of silence, then the rest | yes |

Dropping is real under uvicorn: the layer closes the server's socket itself, so the client gets a
genuine transport error. In process (`httpx2.ASGITransport`) there is no socket, so the layer raises
`ConnectionDropped`, an `httpx2.RemoteProtocolError`, which the transport hands to the client as is.
Timeouts only exist over a socket: in process, `latency` and `slow_body` only delay.
"""

from __future__ import annotations

import asyncio
import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import count as counter
from typing import Any, Literal

import anyio
import httpx2
from starlette.types import ASGIApp, Message, Receive, Scope, Send

FaultKind = Literal[
    "latency", "status", "rate_limit", "drop_before", "drop_after", "truncate", "malformed", "slow_body"
]
FAULT_KINDS: tuple[FaultKind, ...] = (
    "latency",
    "status",
    "rate_limit",
    "drop_before",
    "drop_after",
    "truncate",
    "malformed",
    "slow_body",
)
JOURNAL_SIZE = 10_000
# How long a dropped connection waits for the server to notice the socket is gone.
DROP_SETTLE_SECONDS = 1.0


def compile_path(path: str) -> re.Pattern[str]:
    """`^…` is a regular expression (searched); otherwise a path where `{name}` is one segment and a
    trailing `*` matches any rest: `/v1/orders/{id}/finalize`, `/v1/orders/*`."""
    if path.startswith("^"):
        return re.compile(path)
    prefix = path.endswith("*")
    parts = re.split(r"(\{[^/{}]*\})", path.removesuffix("*"))
    pattern = "".join("[^/]+" if part.startswith("{") and part.endswith("}") else re.escape(part) for part in parts)
    return re.compile("^" + pattern + (".*" if prefix else "$"))


@dataclass
class Fault:
    """One rule of the plan; `remaining` counts down as it is applied."""

    id: int
    kind: FaultKind
    path: str
    method: str | None
    remaining: int
    status: int = 503
    retry_after: float = 1.0
    seconds: float = 0.2
    skip: int = 0
    applied: int = 0
    pattern: re.Pattern[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.pattern = compile_path(self.path)
        self.method = self.method.upper() if self.method else None

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and self.pattern.search(path) is not None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "path": self.path,
            "method": self.method,
            "remaining": self.remaining,
            "applied": self.applied,
            "status": self.status,
            "retry_after": self.retry_after,
            "seconds": self.seconds,
            "skip": self.skip,
        }


@dataclass(frozen=True)
class Received:
    """One request that reached the emulator's API (control-plane calls are not journaled)."""

    method: str
    path: str
    fault: FaultKind | None

    def as_json(self) -> dict[str, Any]:
        return {"method": self.method, "path": self.path, "fault": self.fault}


class FaultPlan:
    """The faults still to apply, in the order they were added, and the last requests received."""

    def __init__(self) -> None:
        self.faults: list[Fault] = []
        self.journal: deque[Received] = deque(maxlen=JOURNAL_SIZE)
        self._ids = counter(1)

    def add(
        self,
        kind: FaultKind,
        path: str,
        *,
        method: str | None = None,
        count: int = 1,
        status: int = 503,
        retry_after: float = 1.0,
        seconds: float = 0.2,
        skip: int = 0,
    ) -> Fault:
        fault = Fault(
            next(self._ids),
            kind,
            path,
            method,
            count,
            status=status,
            retry_after=retry_after,
            seconds=seconds,
            skip=skip,
        )
        self.faults.append(fault)
        return fault

    def clear(self) -> None:
        self.faults.clear()

    def take(self, method: str, path: str) -> Fault | None:
        """The first live fault matching this request, counted as applied; journals the request."""
        fault = next((f for f in self.faults if f.remaining > 0 and f.matches(method, path)), None)
        if fault is not None and fault.skip > 0:
            fault.skip -= 1
            fault = None
        elif fault is not None:
            fault.remaining -= 1
            fault.applied += 1
        self.journal.append(Received(method, path, fault.kind if fault else None))
        return fault

    def received(self, method: str | None = None, path: str | None = None) -> list[Received]:
        pattern = compile_path(path) if path else None
        return [
            r
            for r in self.journal
            if (method is None or r.method == method.upper()) and (pattern is None or pattern.search(r.path))
        ]


class ConnectionDropped(httpx2.RemoteProtocolError):
    """In process there is no socket to close: the client gets the error a real hang-up gives."""


@dataclass
class Captured:
    """A response the route produced, held back so a fault can mangle or withhold it."""

    status: int = 500
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: bytes = b""

    def start(self, length: int | None = None) -> Message:
        headers = [(k, v) for k, v in self.headers if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(self.body) if length is None else length).encode()))
        return {"type": "http.response.start", "status": self.status, "headers": headers}


class FaultInjector:
    """Pure ASGI, outermost (in front of even Starlette's 500 handler), so it holds the server's own `send`."""

    def __init__(self, app: ASGIApp, plan: Callable[[Scope], FaultPlan]) -> None:
        self.app = app
        self.plan = plan

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/_emulator/"):
            await self.app(scope, receive, send)
            return
        fault = self.plan(scope).take(scope["method"], scope["path"])
        if fault is None:
            await self.app(scope, receive, send)
            return
        await APPLY[fault.kind](self.app, fault, scope, receive, send)


async def _latency(app: ASGIApp, fault: Fault, scope: Scope, receive: Receive, send: Send) -> None:
    # Polar has the whole request and is slow to act on it: the route runs even if the client gave up.
    body = await _drain(receive)
    await anyio.sleep(fault.seconds)
    await app(scope, _replay(body, receive), send)


async def _status(app: ASGIApp, fault: Fault, scope: Scope, receive: Receive, send: Send) -> None:
    await _drain(receive)
    if fault.status in (502, 503, 504):
        # What a load balancer in front of Polar sends: an HTML page, not Polar's JSON.
        title = f"{fault.status} {_PHRASES[fault.status]}"
        body = f"<html><head><title>{title}</title></head><body><h1>{title}</h1></body></html>".encode()
        content_type = b"text/html; charset=utf-8"
    else:
        body, content_type = b'{"detail":"Internal Server Error"}', b"application/json"
    await _respond(send, fault.status, body, [(b"content-type", content_type)])


async def _rate_limit(app: ASGIApp, fault: Fault, scope: Scope, receive: Receive, send: Send) -> None:
    # Polar's 429 has an empty body; only the header says when to come back.
    await _drain(receive)
    await _respond(send, 429, b"", [(b"retry-after", f"{fault.retry_after:g}".encode())])


async def _drop_before(app: ASGIApp, fault: Fault, scope: Scope, receive: Receive, send: Send) -> None:
    await _drain(receive)  # the whole request arrived: only then is the connection lost
    await _drop(receive, send, "Server disconnected without sending a response.")


async def _drop_after(app: ASGIApp, fault: Fault, scope: Scope, receive: Receive, send: Send) -> None:
    await _run(app, scope, receive)
    await _drop(receive, send, "Server disconnected without sending a response.")


async def _truncate(app: ASGIApp, fault: Fault, scope: Scope, receive: Receive, send: Send) -> None:
    response = await _run(app, scope, receive)
    await send(response.start())
    await send({"type": "http.response.body", "body": response.body[: len(response.body) // 2], "more_body": True})
    await _drop(receive, send, "peer closed connection without sending complete message body")


async def _malformed(app: ASGIApp, fault: Fault, scope: Scope, receive: Receive, send: Send) -> None:
    response = await _run(app, scope, receive)
    response.body = response.body[: len(response.body) // 2] if len(response.body) > 1 else b"<"
    await send(response.start())
    await send({"type": "http.response.body", "body": response.body})


async def _slow_body(app: ASGIApp, fault: Fault, scope: Scope, receive: Receive, send: Send) -> None:
    response = await _run(app, scope, receive)
    half = len(response.body) // 2
    await send(response.start())
    await send({"type": "http.response.body", "body": response.body[:half], "more_body": True})
    await anyio.sleep(fault.seconds)
    await send({"type": "http.response.body", "body": response.body[half:]})


APPLY = {
    "latency": _latency,
    "status": _status,
    "rate_limit": _rate_limit,
    "drop_before": _drop_before,
    "drop_after": _drop_after,
    "truncate": _truncate,
    "malformed": _malformed,
    "slow_body": _slow_body,
}
_PHRASES = {502: "Bad Gateway", 503: "Service Temporarily Unavailable", 504: "Gateway Time-out"}


async def _drain(receive: Receive) -> bytes:
    """Read the whole request body."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if message["type"] != "http.request" or not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that hands over an already-read body, then the connection's own messages."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def replay() -> Message:
        return pending.pop() if pending else await receive()

    return replay


async def _run(app: ASGIApp, scope: Scope, receive: Receive) -> Captured:
    """Let the route act, keeping its response instead of sending it."""
    captured = Captured()
    chunks: list[bytes] = []

    async def keep(message: Message) -> None:
        if message["type"] == "http.response.start":
            captured.status, captured.headers = message["status"], list(message.get("headers", []))
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, keep)
    captured.body = b"".join(chunks)
    return captured


async def _respond(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    await send(Captured(status, headers, body).start())
    await send({"type": "http.response.body", "body": body})


def _server_transport(send: Send) -> asyncio.BaseTransport | None:
    # uvicorn hands the app its request cycle's bound `send`; the cycle holds the connection's transport.
    # Checked by what it does, not its class: uvloop's transports are not asyncio.BaseTransport subclasses.
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    return transport if callable(getattr(transport, "close", None)) and hasattr(transport, "is_closing") else None


async def _drop(receive: Receive, send: Send, message: str) -> None:
    """Close the connection without (the rest of) a response."""
    transport = _server_transport(send)
    if transport is None:
        raise ConnectionDropped(message)
    transport.close()
    # Wait until the server has noticed, so it neither writes a 500 nor logs a half-sent response.
    with anyio.move_on_after(DROP_SETTLE_SECONDS):
        while (await receive())["type"] != "http.disconnect":
            pass
