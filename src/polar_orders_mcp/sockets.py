"""Listening TCP sockets for every server the project runs (MCP over HTTP, the console, the emulator)."""

from __future__ import annotations

import socket


def tcp_listener(family: socket.AddressFamily = socket.AF_INET) -> socket.socket:
    """An unbound TCP socket whose accepted connections send at once (Nagle off), reusable after a restart.

    The protocol is named: asyncio turns TCP_NODELAY on for accepted connections only when the
    listening socket's `proto` is IPPROTO_TCP, and `socket.socket(family, SOCK_STREAM)` leaves it 0.
    With Nagle on, uvicorn's body (written after the headers) waits for the client's delayed ACK:
    about 40 ms added to every answer.
    """
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    return sock
