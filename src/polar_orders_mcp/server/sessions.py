"""MCP sessions over HTTP, counted per client credential: caps, idle expiry, room made by closing the idlest.

A handshake-era streamable HTTP session (`mcp-session-id`) and an SSE session (one event stream) each
cost the server memory until they end. Without bounds one bearer holder could open thousands, and fill
the SDK's global limit so that every other client was refused. So every session is recorded here with
the client that opened it. A client at its cap makes room by closing its own idlest session (one with no
request in flight); when the server is full, the client holding the most sessions gives up its idlest.
When every candidate is busy, the new session is refused. An idle session ends after the idle timeout,
which frees what it held.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal

Closer = Callable[[], Awaitable[None]]


@dataclass
class Session:
    id: str
    client: str
    transport: Literal["http", "sse"]
    close: Closer
    last_active: float
    in_flight: int = 0


@dataclass
class Sessions:
    """The open sessions, by id, with their clients. One per HTTP app; all of it runs on one event loop."""

    per_client: int
    total: int
    idle_timeout: float
    clock: Callable[[], float] = time.monotonic
    _open: dict[str, Session] = field(default_factory=dict)
    _reserved: dict[str, int] = field(default_factory=dict)

    def owner(self, session_id: str) -> str | None:
        session = self._open.get(session_id)
        return session.client if session else None

    def count(self, client: str | None = None) -> int:
        self._forget_expired()
        return sum(1 for s in self._open.values() if client is None or s.client == client)

    async def admit(self, client: str) -> str | None:
        """Reserve room for one more session of `client`, closing its idlest session if it must.

        Returns None when there is room (call `opened` or `release` afterwards), else the refusal to send.
        """
        self._forget_expired()
        mine = sum(1 for s in self._open.values() if s.client == client) + self._reserved.get(client, 0)
        everyone = len(self._open) + sum(self._reserved.values())
        if mine >= self.per_client or everyone >= self.total:
            # At its own cap a client gives up its own idlest session; when the server is full, the client
            # holding the most sessions gives up its idlest, so one client's flood costs that client first.
            victim = self._idlest(client) if mine >= self.per_client else self._idlest_of_the_biggest()
            if victim is None:
                return self._refusal(client, mine)
            await self._close(victim)
        self._reserved[client] = self._reserved.get(client, 0) + 1
        return None

    def release(self, client: str) -> None:
        """The reserved session did not open after all."""
        left = self._reserved.get(client, 0) - 1
        if left > 0:
            self._reserved[client] = left
        else:
            self._reserved.pop(client, None)

    def opened(self, session_id: str, client: str, transport: Literal["http", "sse"], close: Closer) -> None:
        self.release(client)
        self._open[session_id] = Session(session_id, client, transport, close, self.clock())

    def closed(self, session_id: str) -> None:
        self._open.pop(session_id, None)

    def begin(self, session_id: str) -> None:
        session = self._open.get(session_id)
        if session is not None:
            session.in_flight += 1
            session.last_active = self.clock()

    def end(self, session_id: str) -> None:
        session = self._open.get(session_id)
        if session is not None:
            session.in_flight = max(0, session.in_flight - 1)
            session.last_active = self.clock()

    def touch(self, session_id: str) -> None:
        session = self._open.get(session_id)
        if session is not None:
            session.last_active = self.clock()

    def idle_for(self, session_id: str) -> float | None:
        """Seconds the session has had no request in flight; None while one is, or once it is gone."""
        session = self._open.get(session_id)
        if session is None or session.in_flight:
            return None
        return self.clock() - session.last_active

    def _idlest(self, client: str) -> Session | None:
        idle = [s for s in self._open.values() if s.client == client and not s.in_flight]
        return min(idle, key=lambda s: s.last_active, default=None)

    def _idlest_of_the_biggest(self) -> Session | None:
        held: dict[str, int] = {}
        for session in self._open.values():
            held[session.client] = held.get(session.client, 0) + 1
        idle = [s for s in self._open.values() if not s.in_flight]
        return min(idle, key=lambda s: (-held[s.client], s.last_active), default=None)

    async def _close(self, session: Session) -> None:
        self.closed(session.id)
        await session.close()

    def _forget_expired(self) -> None:
        """Streamable HTTP sessions the SDK has ended by the same idle rule (SSE ones end themselves)."""
        now = self.clock()
        for session in list(self._open.values()):
            if session.transport == "http" and not session.in_flight and now - session.last_active >= self.idle_timeout:
                self.closed(session.id)

    def _refusal(self, client: str, mine: int) -> str:
        if mine >= self.per_client:
            return (
                f"HTTP client {client!r} already has {mine} open MCP sessions, all busy: that is its limit "
                "(--max-sessions-per-client). End sessions it no longer uses (a DELETE of /mcp with their "
                "mcp-session-id, or closing an SSE stream), or try again when one ends."
            )
        return (
            f"The server has {self.total} open MCP sessions (its limit, --max-sessions), all busy: try again shortly."
        )
