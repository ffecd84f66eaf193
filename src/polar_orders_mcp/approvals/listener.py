"""stdio mode's approval console: a loopback-only HTTP listener beside the stdio server."""

from __future__ import annotations

import contextlib
import errno
import logging
import socket
from collections.abc import Iterator

import uvicorn

from polar_orders_mcp.approvals.console import Console, console_app
from polar_orders_mcp.sockets import tcp_listener

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"


class _Embedded(uvicorn.Server):
    """uvicorn inside a process that is busy with something else: the stdio server owns the signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class ConsoleListener:
    """Binds 127.0.0.1:port (any free port when that one is taken, saying so) and serves the console."""

    def __init__(self, console: Console, port: int) -> None:
        self.console = console
        self.port = port
        self._socket: socket.socket | None = None
        self._server: _Embedded | None = None

    def bind(self) -> int:
        """Take the port now, so the links handed out name the real one. Returns it."""
        sock = tcp_listener()
        try:
            sock.bind((LOOPBACK, self.port))
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE or self.port == 0:
                sock.close()
                raise
            log.warning(
                "approval console: port %s is taken (another server?); using a free port instead. "
                "Set --approvals-port to choose one.",
                self.port,
            )
            sock.bind((LOOPBACK, 0))
        sock.listen(64)
        sock.setblocking(False)
        self._socket = sock
        port = int(sock.getsockname()[1])
        if self.console.base_url is None:
            # A name, not the IP literal: browsers accept passkeys for `localhost`, never for an IP address.
            self.console.base_url = f"http://localhost:{port}{self.console.path}"
        log.info("approval console on %s", self.console.base_url)
        return port

    async def serve(self) -> None:
        assert self._socket is not None, "bind() first"
        config = uvicorn.Config(
            console_app(self.console),
            log_config=None,  # never uvicorn's own handlers: its access log writes to stdout, the protocol's channel
            access_log=False,
            lifespan="off",
            log_level="warning",
            proxy_headers=False,  # nothing stands in front of this loopback listener: no header is believed
        )
        self._server = _Embedded(config)
        await self._server.serve(sockets=[self._socket])

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
