"""stdio mode's approval console: a loopback-only HTTP listener beside the stdio server."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator

import uvicorn

from polar_orders_mcp.approvals.console import Console, console_app
from polar_orders_mcp.head_timeout import head_timeout_protocol


class _Embedded(uvicorn.Server):
    """uvicorn inside a process that is busy with something else: the stdio server owns the signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class ConsoleListener:
    """Serves the console on a socket bind_console (approvals/address.py) made."""

    def __init__(self, console: Console, sock: socket.socket, *, head_timeout: float) -> None:
        self.console = console
        self._socket = sock
        self.head_timeout = head_timeout
        self._server: _Embedded | None = None

    async def serve(self) -> None:
        config = uvicorn.Config(
            console_app(self.console),
            log_config=None,  # never uvicorn's own handlers: its access log writes to stdout, the protocol's channel
            access_log=False,
            lifespan="off",
            log_level="warning",
            proxy_headers=False,  # nothing stands in front of this loopback listener: no header is believed
            http=head_timeout_protocol(self.head_timeout),  # uvicorn's own waits for ever for a request head
        )
        self._server = _Embedded(config)
        await self._server.serve(sockets=[self._socket])

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
