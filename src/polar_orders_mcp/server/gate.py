"""The one door of the HTTP app: scope types, Host/Origin, bearer credentials, and whose session is whose.

Every request passes here before the SDK's transports see it, in this order:

1. only `lifespan` and `http` scopes pass (a websocket would otherwise skip every check below);
2. `/healthz` is answered without any check (load balancers send their own Host);
3. Host and Origin are checked (DNS rebinding, cross-site requests), with a hint naming the option;
4. paths under `/approvals` (extra routes that authenticate their own users) and OAuth's public routes
   (RFC 9728 metadata; the embedded authorization server's) skip the bearer;
5. the bearer names the client: a static token (constant-time comparison against every configured one), or an
   OAuth access token (oauth/resource.py), whose scopes must cover the request (403 `insufficient_scope`);
6. a session belongs to the principal that opened it (the client, and the person an OAuth token names): its
   id with another credential is refused, and new sessions are admitted within the per-principal and total
   caps (server/sessions.py).

What the bearer grants, the client's name and the session id are left in the scope for tools
(server/identity.py). The principal also goes in as `scope["user"]`, an SDK `AuthenticatedUser`, so the SDK's
transports bind their sessions to it too.
"""

from __future__ import annotations

import hmac
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal
from uuid import UUID

import anyio
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS
from starlette.datastructures import Headers, QueryParams
from starlette.routing import BaseRoute, Match, Router
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from polar_orders_mcp.oauth.grants import SCOPES, WHAT_SCOPE_ALLOWS, Grant
from polar_orders_mcp.oauth.resource import ResourceServer
from polar_orders_mcp.server.identity import ANONYMOUS, CLIENT_KEY, GRANT_KEY, SESSION_KEY
from polar_orders_mcp.server.sessions import Closer, Sessions

MCP_PATH = "/mcp"
SSE_PATH = "/sse"
MESSAGES_PATH = "/messages/"
HEALTH_PATH = "/healthz"
APPROVALS_PATH = "/approvals"
"""Paths under this one are served by extra routes without the MCP bearer (they authenticate their own
users, e.g. an approval console), but still behind the Host and Origin checks."""

_SSE_SESSION = re.compile(rb"session_id=([0-9a-fA-F]{32})")
CLOSE_SECONDS = 5
_SHOWN = 100
MAX_BODY = 4 * 1024 * 1024
"""The largest request body read to learn the scope it needs (the SDK's own limit)."""


@dataclass(frozen=True)
class Credentials:
    """Who may call: client name -> bearer token. `generated`: the one token was made up for this run.
    `no_auth`: nobody needs a token (loopback only), and every caller is "anonymous"."""

    clients: dict[str, str]
    generated: bool = False
    no_auth: bool = False


@dataclass(frozen=True)
class HostRules:
    hosts: tuple[str, ...]
    origins: tuple[str, ...]


def _matches(value: str, patterns: Sequence[str]) -> bool:
    """Exact, or `base:*` for `base` on any port (and `base` alone: a default port is left out)."""
    for pattern in patterns:
        if value == pattern:
            return True
        if pattern.endswith(":*"):
            base = pattern[:-2]
            if value == base or (value.startswith(base + ":") and value[len(base) + 1 :].isdigit()):
                return True
    return False


class Gate:
    """The ASGI app in front of the SDK's app. See the module docstring for what it checks, in order."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        transport: Literal["http", "sse"],
        rules: HostRules,
        credentials: Credentials,
        sessions: Sessions,
        extra_routes: Sequence[BaseRoute] = (),
        oauth: ResourceServer | None = None,
        oauth_routes: Sequence[BaseRoute] = (),
    ) -> None:
        self.app = app
        self.transport = transport
        self.rules = rules
        self.credentials = credentials
        self.sessions = sessions
        self.oauth = oauth
        self._expected = [(f"Bearer {token}".encode(), name) for name, token in credentials.clients.items()]
        self._extra = Router(routes=list(extra_routes)) if extra_routes else None
        public = [*oauth.routes(), *oauth_routes] if oauth is not None else []
        self._public = Router(routes=public) if public else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http":
            await _refuse_other(scope, send)
            return
        path: str = scope["path"]
        if path == HEALTH_PATH:
            await self.app(scope, receive, send)
            return
        refusal = self._check_host_and_origin(Headers(scope=scope))
        if refusal is not None:
            await _json(send, *refusal)
            return
        if self._extra is not None and (path == APPROVALS_PATH or path.startswith(APPROVALS_PATH + "/")):
            await self._extra(scope, receive, send)
            return
        if self._public is not None and any(r.matches(scope)[0] is Match.FULL for r in self._public.routes):
            await self._public(scope, receive, send)
            return
        presented = _bearer(scope)
        grant = await self._authenticate(presented)
        if grant is None:
            await self._unauthorized(send, presented)
            return
        if self.oauth is not None and grant.scopes is not None and scope["method"] == "POST":
            body = await _body(receive)
            if body is None:
                await _json(send, 413, "too_large", f"Request bodies are limited to {MAX_BODY} bytes.")
                return
            needed = self.oauth.missing_scope(grant, body)
            if needed is not None:
                await self._insufficient(send, grant, needed)
                return
            receive = _replay(body, receive)
        scope = {**scope, CLIENT_KEY: grant.client, GRANT_KEY: grant, "user": _user(grant)}
        client = _principal(grant)  # whose sessions are whose
        if self._extra is not None and any(r.matches(scope)[0] is not Match.NONE for r in self._extra.routes):
            await self._extra(scope, receive, send)
        elif self.transport == "sse" and path == SSE_PATH and scope["method"] == "GET":
            await self._sse_stream(scope, receive, send, client)
        elif self.transport == "sse" and path.startswith(MESSAGES_PATH):
            await self._sse_message(scope, receive, send, client)
        elif self.transport == "http" and path == MCP_PATH:
            await self._streamable(scope, receive, send, client)
        else:
            await self.app(scope, receive, send)

    # -- who is asking ---------------------------------------------------------------------------------

    def _check_host_and_origin(self, headers: Headers) -> tuple[int, str, str] | None:
        host = headers.get("host", "")
        if not _matches(host, self.rules.hosts):
            name = host.rsplit(":", 1)[0] if host.rsplit(":", 1)[-1].isdigit() else host
            return (
                421,
                "invalid_host",
                (
                    f"This server does not answer to Host {_shown(host)}. If clients reach it by that name (a proxy, "
                    f"a DNS name), start it with --allowed-hosts {_shown(name, quote=False) or 'NAME'}:* (or "
                    "POLAR_MCP_ALLOWED_HOSTS). Accepted now: " + ", ".join(self.rules.hosts) + "."
                ),
            )
        origin = headers.get("origin")
        if origin is not None and not _matches(origin, self.rules.origins):
            return (
                403,
                "invalid_origin",
                (
                    f"Requests from web pages at Origin {_shown(origin)} are refused. If that page is yours, start the "
                    f"server with --allowed-origins {_shown(origin, quote=False)} (or POLAR_MCP_ALLOWED_ORIGINS)."
                ),
            )
        return None

    async def _authenticate(self, given: bytes) -> Grant | None:
        if self.credentials.no_auth:
            return Grant(ANONYMOUS)
        # The scheme is case-insensitive and may be followed by more than one space (RFC 7235, 2.1 and 7.1).
        scheme, _, rest = given.partition(b" ")
        if scheme.lower() != b"bearer":
            return None
        given = b"Bearer " + rest.strip()
        found = None
        for expected, name in self._expected:
            # Every token is compared, in constant time, whichever matches: the time says nothing of which.
            if hmac.compare_digest(given, expected) and found is None:
                found = name
        if found is not None:
            return Grant(found)
        if self.oauth is None:
            return None
        try:
            token = given[len(b"Bearer ") :].decode("ascii")
        except UnicodeDecodeError:
            return None
        return await self.oauth.verify(token) if token else None

    async def _unauthorized(self, send: Send, presented: bytes) -> None:
        if self.oauth is None:
            await _json(send, 401, "unauthorized", _UNAUTHORIZED, [(b"www-authenticate", b'Bearer realm="mcp"')])
            return
        if presented:
            error, text = "invalid_token", _INVALID_TOKEN
        else:
            error, text = "unauthorized", _SIGN_IN
        challenge = self.oauth.challenge("invalid_token" if presented else None)
        await _json(send, 401, error, text, [(b"www-authenticate", challenge)])

    async def _insufficient(self, send: Send, grant: Grant, needed: str) -> None:
        assert self.oauth is not None and grant.scopes is not None
        wanted = " ".join(scope for scope in SCOPES if scope in grant.scopes or scope == needed)
        challenge = self.oauth.challenge("insufficient_scope", scope=wanted)
        text = (
            f"This token does not grant {needed} ({WHAT_SCOPE_ALLOWS[needed]}), which this request needs: sign in "
            f"again and allow {needed}, or ask for it to be granted. Nothing was done."
        )
        await _json(send, 403, "insufficient_scope", text, [(b"www-authenticate", challenge)])

    # -- sessions ----------------------------------------------------------------------------------------

    async def _streamable(self, scope: Scope, receive: Receive, send: Send, client: str) -> None:
        headers = Headers(scope=scope)
        session_id = headers.get("mcp-session-id")
        if session_id is not None:
            owner = self.sessions.owner(session_id)
            if owner is not None and owner != client:
                # As if the session did not exist: another client learns nothing of it.
                await _jsonrpc_error(send, 404, -32600, "Session not found")
                return
            await self._in_session(session_id, {**scope, SESSION_KEY: session_id}, receive, send, closes_on_delete=True)
            return
        version = headers.get("mcp-protocol-version")
        if version is not None and version not in HANDSHAKE_PROTOCOL_VERSIONS:
            await self.app(scope, receive, send)  # the stateless 2026 era: no session to keep
            return
        refusal = await self.sessions.admit(client)
        if refusal is not None:
            await _jsonrpc_error(send, 429, -32603, refusal, [(b"retry-after", b"30")])
            return
        opened: list[str] = []

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] < 400:
                new_id = Headers(raw=message.get("headers", [])).get("mcp-session-id")
                if new_id:
                    self.sessions.opened(new_id, client, "http", self._closer(scope, new_id))
                    self.sessions.begin(new_id)
                    opened.append(new_id)
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            if opened:
                self.sessions.end(opened[0])
            else:
                self.sessions.release(client)

    async def _in_session(
        self, session_id: str, scope: Scope, receive: Receive, send: Send, *, closes_on_delete: bool
    ) -> None:
        status: list[int] = []

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])
            await send(message)

        self.sessions.begin(session_id)
        try:
            await self.app(scope, receive, watch)
        finally:
            self.sessions.end(session_id)
            answered = status[0] if status else None
            if answered == 404 or (closes_on_delete and scope["method"] == "DELETE" and answered == 200):
                self.sessions.closed(session_id)

    def _closer(self, scope: Scope, session_id: str) -> Closer:
        """Ends a streamable HTTP session the way its client would: a DELETE with its id, as its owner."""
        keep = {k: scope[k] for k in ("http_version", "scheme", "server", "client", "root_path", "user") if k in scope}
        host = [(b"host", value) for key, value in scope["headers"] if key == b"host"]

        async def close() -> None:
            delete = {
                **keep,
                "type": "http",
                "method": "DELETE",
                "path": MCP_PATH,
                "raw_path": MCP_PATH.encode(),
                "query_string": b"",
                "headers": [*host, (b"mcp-session-id", session_id.encode())],
            }
            received = False

            async def receive() -> Message:
                nonlocal received
                if received:
                    await anyio.sleep_forever()
                received = True
                return {"type": "http.request", "body": b"", "more_body": False}

            async def ignore(_: Message) -> None:
                return None

            with anyio.move_on_after(CLOSE_SECONDS):  # bounded: making room must never hang the new session
                await self.app(delete, receive, ignore)

        return close

    async def _sse_stream(self, scope: Scope, receive: Receive, send: Send, client: str) -> None:
        """One SSE session is one GET stream: admitted within the caps, ended when idle or to make room."""
        refusal = await self.sessions.admit(client)
        if refusal is not None:
            await _json(send, 429, "too_many_sessions", refusal, [(b"retry-after", b"30")])
            return
        session: list[str] = []
        started = finished = False
        async with anyio.create_task_group() as group:

            async def close() -> None:
                group.cancel_scope.cancel()

            async def watchdog(session_id: str) -> None:
                timeout = self.sessions.idle_timeout
                while True:
                    idle = self.sessions.idle_for(session_id)
                    if idle is not None and idle >= timeout:
                        group.cancel_scope.cancel()
                        return
                    await anyio.sleep(timeout - idle if idle is not None else timeout)

            async def watch(message: Message) -> None:
                nonlocal started, finished
                if message["type"] == "http.response.start":
                    started = True
                elif message["type"] == "http.response.body":
                    finished = not message.get("more_body", False)
                    found = _SSE_SESSION.search(message.get("body", b"")) if not session else None
                    if found:
                        session.append(found[1].decode().lower())
                        self.sessions.opened(session[0], client, "sse", close)
                        group.start_soon(watchdog, session[0])
                    elif session:
                        # An answer or a request on the stream (an elicitation): the session is in use.
                        self.sessions.touch(session[0])
                await send(message)

            async def stream() -> None:
                try:
                    await self.app(scope, receive, watch)
                finally:
                    group.cancel_scope.cancel()

            group.start_soon(stream)
        if session:
            self.sessions.closed(session[0])
        else:
            self.sessions.release(client)
        if started and not finished:
            # Ended here (idle, or to make room): close the event stream properly.
            await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _sse_message(self, scope: Scope, receive: Receive, send: Send, client: str) -> None:
        raw = QueryParams(scope.get("query_string", b"")).get("session_id")
        try:
            session_id = UUID(hex=raw).hex if raw else None
        except ValueError:
            session_id = None
        if session_id is None:
            await self.app(scope, receive, send)  # the SDK says what is wrong with it
            return
        owner = self.sessions.owner(session_id)
        if owner is not None and owner != client:
            await _plain(send, 404, "Could not find session")
            return
        await self._in_session(session_id, {**scope, SESSION_KEY: session_id}, receive, send, closes_on_delete=False)


_UNAUTHORIZED = (
    "Send 'Authorization: Bearer <token>' with the server's token: POLAR_MCP_HTTP_TOKEN, one of "
    "POLAR_MCP_HTTP_TOKENS, or the token the server printed at start when neither is set."
)


_INVALID_TOKEN = (
    "The bearer token is not valid here: unknown, expired, revoked, or issued for another server. Sign in "
    "again (the client starts OAuth from this answer's WWW-Authenticate header), or send a static token."
)
_SIGN_IN = (
    "Sign in with OAuth (the client starts it from this answer's WWW-Authenticate header), or send "
    "'Authorization: Bearer <token>' with a static token of the server (POLAR_MCP_HTTP_TOKEN(S))."
)


def _bearer(scope: Scope) -> bytes:
    return next((value for key, value in scope["headers"] if key == b"authorization"), b"")


def _principal(grant: Grant) -> str:
    """Who a session belongs to: the client, and the person its OAuth token names (one client app, such as a
    desk's connector, serves many people, and none may use another's session)."""
    if grant.person is None:
        return grant.client
    return f"{grant.client}|{grant.person.issuer}|{grant.person.subject}"


def _user(grant: Grant) -> AuthenticatedUser:
    # The SDK binds its sessions to this principal; the token field never holds the real token.
    person = grant.person
    return AuthenticatedUser(
        AccessToken(
            token=f"client:{_principal(grant)}",
            client_id=grant.client,
            scopes=sorted(grant.scopes or ()),
            subject=person.subject if person is not None else None,
            claims={"iss": person.issuer} if person is not None else None,
        )
    )


async def _body(receive: Receive) -> bytes | None:
    """The whole request body, or None past MAX_BODY."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive that gives `body` once, then what the connection says (a disconnect)."""
    given = False

    async def replay() -> Message:
        nonlocal given
        if not given:
            given = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _shown(value: str, *, quote: bool = True) -> str:
    text = value if len(value) <= _SHOWN else value[: _SHOWN - 1] + "…"
    return repr(text) if quote else "".join(ch for ch in text if ch.isprintable() and not ch.isspace())


async def _refuse_other(scope: Scope, send: Send) -> None:
    """Only HTTP is served: a websocket is closed before it is accepted (the client sees HTTP 403)."""
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1008, "reason": "Only HTTP is served here."})


async def _json(
    send: Send, status: int, error: str, description: str, headers: Sequence[tuple[bytes, bytes]] = ()
) -> None:
    body = json.dumps({"error": error, "error_description": description}).encode()
    await _send(send, status, b"application/json", body, headers)


async def _jsonrpc_error(
    send: Send, status: int, code: int, message: str, headers: Sequence[tuple[bytes, bytes]] = ()
) -> None:
    body = json.dumps({"jsonrpc": "2.0", "id": None, "error": {"code": code, "message": message}}).encode()
    await _send(send, status, b"application/json", body, headers)


async def _plain(send: Send, status: int, text: str) -> None:
    await _send(send, status, b"text/plain; charset=utf-8", text.encode(), ())


async def _send(send: Send, status: int, kind: bytes, body: bytes, headers: Sequence[tuple[bytes, bytes]]) -> None:
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", kind), *headers]})
    await send({"type": "http.response.body", "body": body})
