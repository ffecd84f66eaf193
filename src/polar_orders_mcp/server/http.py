"""The HTTP transports (streamable HTTP and SSE): the app behind its gate, /healthz, and serving it."""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import secrets
import signal
import socket
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import uvicorn
from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from polar_orders_mcp import __version__
from polar_orders_mcp.head_timeout import head_timeout_protocol
from polar_orders_mcp.oauth.resource import ResourceServer
from polar_orders_mcp.server.gate import (
    HEALTH_PATH,
    MCP_PATH,
    MESSAGES_PATH,
    SSE_PATH,
    Credentials,
    Gate,
    HostRules,
)
from polar_orders_mcp.server.sessions import Sessions
from polar_orders_mcp.settings import ANONYMOUS_CLIENT, DEFAULT_CLIENT, MIN_HTTP_TOKEN, Settings
from polar_orders_mcp.sockets import tcp_listener
from polar_orders_mcp.stderr import say

log = logging.getLogger(__name__)

# Finish in-flight calls for at most this long on SIGTERM, then stop.
GRACEFUL_SHUTDOWN_SECONDS = 10


class StartupError(ValueError):
    """A configuration the HTTP server refuses to start with."""


def check_exposure(settings: Settings) -> None:
    """Refuse to serve beyond loopback without a bearer token of the server's own, or tokens with --no-auth."""
    try:
        clients = settings.http_clients()
    except ValueError as exc:
        raise StartupError(f"POLAR_MCP_HTTP_TOKENS {exc}.") from exc
    if settings.no_auth and clients:
        raise StartupError(
            "--no-auth and an HTTP token (POLAR_MCP_HTTP_TOKEN or POLAR_MCP_HTTP_TOKENS) at once: drop one of them."
        )
    if settings.oauth_mode != "off":
        check_oauth(settings)
    if not clients and not settings.loopback and settings.oauth_mode == "off":
        raise StartupError(
            f"Refusing to serve on {settings.host} without POLAR_MCP_HTTP_TOKEN: anyone who can reach the "
            "port could act on your Polar organization. Set POLAR_MCP_HTTP_TOKEN (a long random string "
            "clients send as 'Authorization: Bearer …') or POLAR_MCP_HTTP_TOKENS, or bind to 127.0.0.1."
            + (" --no-auth is for loopback only." if settings.no_auth else "")
        )
    known = set(clients) or ({ANONYMOUS_CLIENT} if settings.no_auth else {DEFAULT_CLIENT})
    if unknown := [name for name in settings.person_clients if name not in known]:
        raise StartupError(
            f"--person-clients names {', '.join(unknown)}, not a client of this server: it has "
            f"{', '.join(sorted(known))}. Name the HTTP clients (POLAR_MCP_HTTP_TOKENS) with a person at the screen."
        )
    if settings.http_token is not None and len(settings.http_token.get_secret_value()) < MIN_HTTP_TOKEN:
        raise StartupError(f"POLAR_MCP_HTTP_TOKEN is too short: use at least {MIN_HTTP_TOKEN} random characters.")


def check_oauth(settings: Settings) -> None:
    """OAuth needs an address clients reach (the resource and issuer), over HTTPS beyond loopback, and people."""
    flag = "--oauth-issuer" if settings.oauth_mode == "external" else "--oauth"
    if settings.no_auth:
        raise StartupError(f"--no-auth and {flag} at once: drop one of them.")
    if settings.public_url is None and not settings.loopback:
        raise StartupError(
            f"{flag} needs --public-url (POLAR_MCP_PUBLIC_URL): the https address clients reach this server at, "
            "e.g. https://mcp.example.com. It names the resource tokens are issued for."
        )
    public = urlsplit(settings.base_url())
    if public.scheme != "https" and public.hostname not in ("localhost", "127.0.0.1", "::1"):
        raise StartupError(
            f"--public-url {settings.base_url()} is not https: OAuth sends tokens and sign-ins over it. Put the "
            "server behind a proxy that terminates TLS and give its https address."
        )
    if settings.oauth_mode == "external":
        from polar_orders_mcp.oauth.external import ExternalSetupError, check_settings

        try:
            check_settings(settings)
        except ExternalSetupError as exc:
            raise StartupError(str(exc)) from exc
    if settings.oauth_console and settings.oauth_mode != "external":
        raise StartupError("--oauth-console signs approvers in through your identity provider: set --oauth-issuer too.")
    if settings.oauth_mode == "embedded" and not any("use" in roles for roles in settings.people_roles().values()):
        raise StartupError(
            "--oauth: nobody may sign in for a client. Name people and secrets in POLAR_MCP_APPROVERS "
            "(ada:SECRET,bob:SECRET) and give those who use tools the role 'use' (POLAR_MCP_ROLES=bob=use)."
        )


def credentials(settings: Settings) -> Credentials:
    """The configured clients; on loopback without any, one token made up for this run (printed at start),
    unless OAuth signs clients in."""
    clients = settings.http_clients()
    if clients or settings.no_auth or settings.oauth_mode != "off":
        return Credentials(clients, no_auth=settings.no_auth)
    return Credentials({DEFAULT_CLIENT: secrets.token_urlsafe(32)}, generated=True)


def listen(host: str, port: int, *, how_to_change: str) -> socket.socket:
    """A socket bound to host:port, or a StartupError saying why not and how to pick another.

    Bound before anything says "serving", so a port in use is reported as such rather than as a
    banner followed by uvicorn's bare errno; uvicorn then serves on this very socket.
    """
    sock = tcp_listener(socket.AF_INET6 if ":" in host else socket.AF_INET)
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


def host_rules(settings: Settings) -> HostRules:
    """Host and Origin values accepted, wherever the server binds (DNS-rebinding defence).

    `name:*` accepts `name` on any port and `name` alone (what a client of https://name/ sends through
    most proxies). An Origin of a host the server answers to is its own: accepted too.
    """
    hosts = ["127.0.0.1:*", "localhost:*", "[::1]:*"]
    origins = ["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"]
    if not settings.loopback and settings.host not in ("0.0.0.0", "::"):
        hosts.append(f"{settings.host}:*")
    if settings.public_url is not None and (public := urlsplit(settings.public_url)).hostname:
        hosts.append(f"{public.hostname}:*")  # the address OAuth sends clients and browsers to
        origins.append(f"{public.scheme}://{public.netloc}")
    hosts += settings.allowed_hosts
    for host in settings.allowed_hosts:
        origins += [f"http://{host}", f"https://{host}"]
    origins += settings.allowed_origins
    return HostRules(tuple(dict.fromkeys(hosts)), tuple(dict.fromkeys(origins)))


def transport_security(settings: Settings) -> TransportSecuritySettings:
    """The same rules for the SDK's own check behind the gate, with every accepted form spelled out for it."""
    rules = host_rules(settings)
    bare = [pattern[:-2] for pattern in rules.hosts if pattern.endswith(":*")]
    bare_origins = [pattern[:-2] for pattern in rules.origins if pattern.endswith(":*")]
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=[*rules.hosts, *bare],
        allowed_origins=[*rules.origins, *bare_origins],
    )


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


def http_app(
    mcp: MCPServer[Any],
    settings: Settings,
    extra_routes: Sequence[BaseRoute] = (),
    *,
    clients: Credentials | None = None,
) -> ASGIApp:
    """The ASGI app for `settings.transport` ("http" or "sse"), behind the gate (server/gate.py).

    `extra_routes` are served beside MCP: those under /approvals without the MCP bearer (they
    authenticate their own users), the others with it; all behind the Host and Origin checks.
    `clients`: who may call, when the caller already made them up (see `credentials`).
    """
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
        app = mcp.streamable_http_app(
            streamable_http_path=MCP_PATH,
            transport_security=security,
            host=settings.host,
            session_idle_timeout=settings.session_idle_timeout,
            max_sessions=settings.max_sessions,
        )
    sessions = Sessions(
        per_client=settings.max_sessions_per_client,
        total=settings.max_sessions,
        idle_timeout=settings.session_idle_timeout,
    )
    resource, oauth_routes = _oauth(mcp, settings)
    return Gate(
        app,
        transport="sse" if settings.transport == "sse" else "http",
        rules=host_rules(settings),
        credentials=clients or credentials(settings),
        sessions=sessions,
        extra_routes=[*extra_routes, *_approval_console(mcp)],
        oauth=resource,
        oauth_routes=oauth_routes,
    )


def _oauth(mcp: MCPServer[Any], settings: Settings) -> tuple[ResourceServer | None, Sequence[BaseRoute]]:
    """The resource server and the routes OAuth serves without a bearer, when the settings turn OAuth on."""
    from polar_orders_mcp.oauth.setup import oauth_parts
    from polar_orders_mcp.server.app import console_of, select_tools, store_of

    store = store_of(mcp)
    if settings.oauth_mode == "off" or store is None:
        return None, ()
    console = console_of(mcp)
    parts = oauth_parts(settings, store, console.slow_down if console is not None else None)
    if parts is None:
        return None, ()
    tiers = {tool.name: tool.tier for tool in select_tools(settings)}
    return ResourceServer(settings.resource_url(), parts.issuer, parts.verifiers, tiers), parts.routes


def _approval_console(mcp: MCPServer[Any]) -> list[BaseRoute]:
    """The approval console of a server made by build_parts, at /approvals (its own sign-in, no bearer)."""
    from polar_orders_mcp.approvals.console import console_routes
    from polar_orders_mcp.server.app import console_of

    console = console_of(mcp)
    return console_routes(console) if console is not None else []


def serve_http(
    mcp: MCPServer[Any],
    settings: Settings,
    sock: socket.socket | None = None,
    extra_routes: Sequence[BaseRoute] = (),
) -> None:
    """Run the HTTP transport under uvicorn until SIGINT/SIGTERM; in-flight calls get time to finish.

    `sock` is the listening socket from `listen()`; without one it is bound here.
    """
    clients = credentials(settings)
    app = InFlight(http_app(mcp, settings, extra_routes, clients=clients))
    if sock is None:
        sock = listen(settings.host, settings.port, how_to_change="--port N (or POLAR_MCP_PORT)")
    # Printed, not logged: the start line is no warning, and it must show at every log level.
    say(banner(settings, clients, sock.getsockname()[1]))
    if ANONYMOUS_CLIENT in settings.person_clients:
        log.warning(
            "--person-clients %s with --no-auth: every local process's answer to a confirmation form counts as a "
            "person's approval. Give the person's client a token of its own (POLAR_MCP_HTTP_TOKENS) instead.",
            ANONYMOUS_CLIENT,
        )
    config = uvicorn_config(app, settings)
    # uvicorn shuts down gracefully on SIGTERM/SIGINT, then re-raises the signal to the handler
    # that was there before it: make that handler a clean exit, so a stop asked for exits 0.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _exit_cleanly)
    GracefulServer(config, app).run(sockets=[sock])


def uvicorn_config(app: Any, settings: Settings) -> uvicorn.Config:
    """How uvicorn serves this app."""
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        lifespan="on",
        # uvicorn believes X-Forwarded-For from loopback by default: anyone there could pose as any address
        # (the console counts failed sign-ins per address). Only the proxies the operator names are believed.
        proxy_headers=bool(settings.trusted_proxies),
        forwarded_allow_ips=settings.trusted_proxies or None,
        http=head_timeout_protocol(settings.head_timeout),  # uvicorn's own waits for ever for a request head
    )


def banner(settings: Settings, clients: Credentials, port: int) -> str:
    """Where the server listens; with a token made up for this run, the token and a client config to paste
    (as notebook servers do); with --no-auth, a warning."""
    path = SSE_PATH if settings.transport == "sse" else MCP_PATH
    url = f"http://{_url_host(settings.host)}:{port}{path}"
    lines = [f"polar-orders-mcp: serving MCP ({settings.transport}) on {url}"]
    if clients.no_auth:
        lines.append(
            f"polar-orders-mcp: WARNING: --no-auth: no token is asked for, so every local user and process that "
            f"can reach {_url_host(settings.host)}:{port} can use your Polar organization through this server."
        )
    elif clients.generated:
        token = clients.clients[DEFAULT_CLIENT]
        entry = {
            "type": "sse" if settings.transport == "sse" else "http",
            "url": url,
            "headers": {"Authorization": f"Bearer {token}"},
        }
        lines += [
            "polar-orders-mcp: no POLAR_MCP_HTTP_TOKEN is set, so clients must send this token, made for this run:",
            f"    Authorization: Bearer {token}",
            "  A client configuration to paste (Claude Code's .mcp.json, Cursor's mcp.json):",
            "    " + json.dumps({"mcpServers": {"polar-orders": entry}}),
            "  VS Code's mcp.json names them servers:",
            "    " + json.dumps({"servers": {"polar-orders": entry}}),
            "  Set POLAR_MCP_HTTP_TOKEN to keep one token across restarts; --no-auth serves without any.",
        ]
        if DEFAULT_CLIENT not in settings.person_clients:
            lines.append(
                f"  Its confirmation forms approve nothing unless a person uses it: add --person-clients "
                f"{DEFAULT_CLIENT} if one does; else charges are approved in the approval console."
            )
    return "\n".join(lines)


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _exit_cleanly(signum: int, frame: object) -> None:
    log.info("stopped by signal %s", signal.Signals(signum).name)
    raise SystemExit(0)
