"""The HTTP transports (streamable HTTP and SSE): bearer auth, Host/Origin checks, /healthz."""

from __future__ import annotations

import asyncio
import errno
import hmac
import json
import logging
import signal
import socket
import sys
import time
from typing import Any

import uvicorn
from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from polar_orders_mcp import __version__
from polar_orders_mcp.settings import Settings

log = logging.getLogger(__name__)

MCP_PATH = "/mcp"
SSE_PATH = "/sse"
MESSAGES_PATH = "/messages/"
HEALTH_PATH = "/healthz"
# Finish in-flight calls for at most this long on SIGTERM, then stop.
GRACEFUL_SHUTDOWN_SECONDS = 10


class StartupError(ValueError):
    """A configuration the HTTP server refuses to start with."""


def check_exposure(settings: Settings) -> None:
    """Refuse to serve beyond loopback without a bearer token of the server's own."""
    if settings.http_token is None and not settings.loopback:
        raise StartupError(
            f"Refusing to serve on {settings.host} without POLAR_MCP_HTTP_TOKEN: anyone who can reach the "
            "port could act on your Polar organization. Set POLAR_MCP_HTTP_TOKEN (a long random string "
            "clients send as 'Authorization: Bearer …'), or bind to 127.0.0.1."
        )
    if settings.http_token is not None and len(settings.http_token.get_secret_value()) < 16:
        raise StartupError("POLAR_MCP_HTTP_TOKEN is too short: use at least 16 random characters.")


def listen(host: str, port: int, *, how_to_change: str) -> socket.socket:
    """A socket bound to host:port, or a StartupError saying why not and how to pick another.

    Bound before anything says "serving", so a port in use is reported as such rather than as a
    banner followed by uvicorn's bare errno; uvicorn then serves on this very socket.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise StartupError(
                f"Port {port} on {host} is already in use (another server, or this one started twice). "
                f"Pick another with {how_to_change}, or stop what is listening there."
            ) from exc
        if exc.errno == errno.EACCES:
            raise StartupError(
                f"Not allowed to listen on port {port}: ports below 1024 need privileges. Pick another with "
                f"{how_to_change}."
            ) from exc
        raise StartupError(f"Cannot listen on {host}:{port}: {exc.strerror}. Check the address.") from exc
    return sock


def transport_security(settings: Settings) -> TransportSecuritySettings:
    """Host and Origin checks, on by default wherever the server binds (DNS-rebinding defence)."""
    hosts = ["127.0.0.1:*", "localhost:*", "[::1]:*"]
    origins = ["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"]
    if not settings.loopback and settings.host not in ("0.0.0.0", "::"):
        hosts.append(f"{settings.host}:*")
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=[*hosts, *settings.allowed_hosts],
        allowed_origins=[*origins, *settings.allowed_origins],
    )


class BearerAuth:
    """Every request but the health check must carry the server's own token (constant-time compare)."""

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app = app
        self.expected = f"Bearer {token}".encode() if token else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.expected is None or scope["path"] == HEALTH_PATH:
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(b"authorization", b"")
        if hmac.compare_digest(given, self.expected):
            await self.app(scope, receive, send)
            return
        body = json.dumps({
            "error": "unauthorized",
            "error_description": "Send 'Authorization: Bearer <POLAR_MCP_HTTP_TOKEN>'.",
        }).encode()  # fmt: skip
        await send({
            "type": "http.response.start",
            "status": 401,
            "headers": [(b"content-type", b"application/json"), (b"www-authenticate", b'Bearer realm="mcp"')],
        })  # fmt: skip
        await send({"type": "http.response.body", "body": body})


class InFlight:
    """Counts the requests being answered, GET streams aside: the calls a graceful stop waits for.

    With streamable HTTP a tool call is one POST whose response ends with the call's answer.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.count = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] == "GET":
            await self.app(scope, receive, send)
            return
        self.count += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.count -= 1


class GracefulServer(uvicorn.Server):
    """On SIGTERM/SIGINT: stop accepting, let the calls in flight finish (bounded), then end the streams.

    sse_starlette would end every event stream at the signal, and with it the answer of every tool
    call still running (streamable HTTP answers a POST over an event stream): it is told not to, and
    the open streams (the GET ones, which never end by themselves) are ended once the calls are done.
    """

    def __init__(self, config: uvicorn.Config, in_flight: InFlight) -> None:
        super().__init__(config)
        self.in_flight = in_flight
        from sse_starlette.sse import AppStatus

        AppStatus.enable_automatic_graceful_drain = False  # what its untyped disable_…() does

    async def shutdown(self, sockets: list[Any] | None = None) -> None:
        from sse_starlette.sse import AppStatus

        for server in self.servers:
            server.close()
        for connection in list(self.server_state.connections):
            connection.shutdown()  # idle keep-alive connections close; busy ones close after their answer
        grace = self.config.timeout_graceful_shutdown or GRACEFUL_SHUTDOWN_SECONDS
        deadline = time.monotonic() + grace
        while self.in_flight.count and time.monotonic() < deadline and not self.force_exit:
            await asyncio.sleep(0.05)
        if self.in_flight.count:
            log.warning("stopping with %d call(s) still running after %s s", self.in_flight.count, grace)
        AppStatus.should_exit = True
        self.config.timeout_graceful_shutdown = max(1, round(deadline - time.monotonic()))
        await super().shutdown(sockets)


def http_app(mcp: MCPServer[Any], settings: Settings) -> ASGIApp:
    """The ASGI app for `settings.transport` ("http" or "sse")."""
    check_exposure(settings)

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok", "version": __version__, "transport": settings.transport})

    mcp.custom_route(HEALTH_PATH, methods=["GET"])(healthz)

    security = transport_security(settings)
    if settings.transport == "sse":
        app = mcp.sse_app(
            sse_path=SSE_PATH, message_path=MESSAGES_PATH, transport_security=security, host=settings.host
        )
    else:
        app = mcp.streamable_http_app(streamable_http_path=MCP_PATH, transport_security=security, host=settings.host)
    token = settings.http_token.get_secret_value() if settings.http_token else None
    return BearerAuth(app, token)


def serve_http(mcp: MCPServer[Any], settings: Settings, sock: socket.socket | None = None) -> None:
    """Run the HTTP transport under uvicorn until SIGINT/SIGTERM; in-flight calls get time to finish.

    `sock` is the listening socket from `listen()`; without one it is bound here.
    """
    app = InFlight(http_app(mcp, settings))
    if sock is None:
        sock = listen(settings.host, settings.port, how_to_change="--port N (or POLAR_MCP_PORT)")
    path = SSE_PATH if settings.transport == "sse" else MCP_PATH
    port = sock.getsockname()[1]
    # The start line is printed, not logged: it is not a warning, and it must show at every log level.
    print(
        f"polar-orders-mcp: serving MCP ({settings.transport}) on http://{_url_host(settings.host)}:{port}{path}"
        + ("" if settings.http_token else " (no bearer token: loopback only)"),
        file=sys.stderr,
        flush=True,
    )
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        lifespan="on",
    )
    # uvicorn shuts down gracefully on SIGTERM/SIGINT, then re-raises the signal to the handler
    # that was there before it: make that handler a clean exit, so a stop asked for exits 0.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _exit_cleanly)
    GracefulServer(config, app).run(sockets=[sock])


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _exit_cleanly(signum: int, frame: object) -> None:
    log.info("stopped by signal %s", signal.Signals(signum).name)
    raise SystemExit(0)
