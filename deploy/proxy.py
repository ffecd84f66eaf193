"""A small HTTP load balancer for local replicas, doing what deploy/haproxy.cfg does in the compose recipe.

- Requests without an `mcp-session-id` header (the whole 2026-07-28 protocol, a legacy-era
  `initialize`, the approval console) go round robin; a replica that refuses the connection is skipped.
- A legacy-era session stays on the replica that opened it: the proxy learns the session id from the
  response that created it and sends every later request carrying that id to the same replica (a
  DELETE ends it). A session whose replica is gone gets 502: the client must start a new one.
- Bodies stream both ways (streamable HTTP answers over an event stream); the Host header is passed
  on, so the approval console's links and origin checks see the proxy's address.

    python -m deploy.proxy --port 8000 http://127.0.0.1:8001 http://127.0.0.1:8002
"""

from __future__ import annotations

import argparse
import itertools
from collections import Counter, OrderedDict
from typing import Any

import anyio
import httpx2
import uvicorn
from starlette.types import Receive, Scope, Send

SESSION_HEADER = "mcp-session-id"
# Connection-level headers: each hop has its own (RFC 9110 7.6.1).
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "content-length",
    }
)
MAX_SESSIONS = 100_000
MAX_BODY = 8 * 1024 * 1024


class Proxy:
    """The ASGI app: round robin, sticky by learned session id. `served` counts requests per replica."""

    def __init__(self, upstreams: list[str]) -> None:
        if not upstreams:
            raise ValueError("give at least one replica URL")
        self.upstreams = [u.rstrip("/") for u in upstreams]
        self._turn = itertools.cycle(range(len(self.upstreams)))
        self.sessions: OrderedDict[str, int] = OrderedDict()
        self.served: Counter[int] = Counter()
        self._http: httpx2.AsyncClient | None = None

    def _client(self) -> httpx2.AsyncClient:
        if self._http is None:
            limits = httpx2.Limits(max_connections=200, max_keepalive_connections=50)
            self._http = httpx2.AsyncClient(timeout=httpx2.Timeout(None, connect=5), limits=limits)
        return self._http

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        body = await _read_body(receive)
        if body is None:
            await _answer(send, 413, b"request body too large\n")
            return
        headers = [
            (k.decode("latin-1"), v.decode("latin-1"))
            for k, v in scope["headers"]
            if k.decode("latin-1").lower() not in HOP_BY_HOP
        ]
        session = next((v for k, v in headers if k.lower() == SESSION_HEADER), None)
        pinned = self.sessions.get(session) if session else None
        if session and pinned is None and len(self.upstreams) > 1:
            # Not a session this proxy saw open (it restarted?): any replica may hold it, none can say.
            pinned = next(self._turn)
        order = [pinned] if pinned is not None else self._round()
        path = scope.get("raw_path") or scope["path"].encode()
        query = scope.get("query_string", b"")
        target = path.decode("latin-1") + (("?" + query.decode("latin-1")) if query else "")
        for index in order:
            request = self._client().build_request(
                scope["method"], self.upstreams[index] + target, headers=headers, content=body
            )
            try:
                response = await self._client().send(request, stream=True)
            except httpx2.ConnectError:
                continue  # that replica is down: nothing was sent, the next one may take it
            except httpx2.HTTPError as exc:
                await _answer(send, 502, f"replica failed: {type(exc).__name__}\n".encode())
                return
            self.served[index] += 1
            self._learn(scope["method"], session, response, index)
            await self._relay(response, receive, send)
            return
        await _answer(send, 502, b"no replica answered\n")

    def _round(self) -> list[int]:
        first = next(self._turn)
        return [(first + n) % len(self.upstreams) for n in range(len(self.upstreams))]

    def _learn(self, method: str, session: str | None, response: httpx2.Response, index: int) -> None:
        opened = response.headers.get(SESSION_HEADER)
        if opened and opened not in self.sessions:
            self.sessions[opened] = index
            while len(self.sessions) > MAX_SESSIONS:
                self.sessions.popitem(last=False)
        if method == "DELETE" and session:
            self.sessions.pop(session, None)

    async def _relay(self, response: httpx2.Response, receive: Receive, send: Send) -> None:
        headers = [
            (k.encode("latin-1"), v.encode("latin-1"))
            for k, v in response.headers.multi_items()
            if k.lower() not in HOP_BY_HOP
        ]
        try:
            await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
            async with anyio.create_task_group() as group:

                async def gone() -> None:  # the client left (e.g. closed an event stream): stop reading
                    while (await receive())["type"] != "http.disconnect":
                        pass
                    group.cancel_scope.cancel()

                group.start_soon(gone)
                async for chunk in response.aiter_raw():
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                group.cancel_scope.cancel()
        except httpx2.HTTPError:
            pass  # the replica went away mid-answer: the client sees the stream end early
        finally:
            await response.aclose()

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._http is not None:
                    await self._http.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return


async def _read_body(receive: Receive) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
        if not message.get("more_body"):
            break
    return b"".join(chunks)


async def _answer(send: Send, status: int, text: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": text})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m deploy.proxy", description=__doc__.split("\n\n")[0])
    parser.add_argument("upstreams", nargs="+", metavar="URL", help="the replicas' base URLs")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    config: dict[str, Any] = {"host": args.host, "port": args.port, "log_level": "warning", "lifespan": "on"}
    uvicorn.run(Proxy(args.upstreams), **config)


if __name__ == "__main__":
    main()
