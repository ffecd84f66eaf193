"""Where stdio mode's approval console listens: a loopback port, and a path no other process knows."""

from __future__ import annotations

import errno
import secrets
import socket
from dataclasses import dataclass

from polar_orders_mcp.sockets import tcp_listener

LOOPBACK = "127.0.0.1"
"""Bound: the console is reachable from this machine only."""
HOSTNAME = "localhost"
"""Named in links: a browser takes `localhost`, never an IP literal, as a WebAuthn relying party."""
CONSOLE_ROOT = "/approvals"


@dataclass(frozen=True)
class ConsoleAddress:
    """Where this process's console is: its port, its path and the link base the guard hands out.

    Every local process can listen on a loopback port, and a browser sends a cookie of `localhost` to
    every port of it. The path is what no other process knows: a segment drawn at random for each
    process, which the console's cookies are scoped to. A page on another port (a process squatting
    the configured one, a server started before) never receives them, and a link to such a page does
    not deliver them.
    """

    port: int
    asked: int
    """The configured port (0: any)."""
    path: str
    url: str

    @property
    def moved(self) -> bool:
        return self.asked not in (0, self.port)

    def notice(self) -> str | None:
        """What to tell wherever the link appears when the configured port was taken; None when it was not."""
        if not self.moved:
            return None
        return (
            f"port {self.asked} was taken by another process, so this run's approval console is on port "
            f"{self.port}: approve only through the links this server gives, never on port {self.asked}"
        )


def bind_console(port: int, public_url: str | None = None) -> tuple[socket.socket, ConsoleAddress]:
    """A listening socket on 127.0.0.1:port and the console's address there; any free port when `port` is taken.

    The socket is SO_REUSEADDR (sockets.tcp_listener): a restart gets its port back while the last run's
    connections sit in TIME_WAIT. On Linux that never lets a second socket bind a port someone listens on.
    `public_url` (--console-url) is where people reach /approvals when it is not this listener (a tunnel).
    """
    sock = tcp_listener()
    try:
        try:
            sock.bind((LOOPBACK, port))
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE or port == 0:
                raise
            sock.bind((LOOPBACK, 0))
        sock.listen(64)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    bound = int(sock.getsockname()[1])
    path = f"{CONSOLE_ROOT}/{secrets.token_urlsafe(16)}"
    root = public_url or f"http://{HOSTNAME}:{bound}{CONSOLE_ROOT}"
    return sock, ConsoleAddress(bound, port, path, root + path.removeprefix(CONSOLE_ROOT))
