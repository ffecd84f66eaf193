"""A connection that sent its request head and then trickles its body is closed too, when the body is one
anybody may send: the approval console's sign-in form (its cookie is given to every GET of the form), on the
HTTP transport, where /approvals is public. The head timeout (test_head_timeout.py) stops at the head; 300
connections sending a sign-in body one byte at a time held a server limited to 256 descriptors. Each is now
answered 408 once its body is --head-timeout late, and closed (those past the server's descriptors are reset at
once, as in test_head_timeout.py)."""

from __future__ import annotations

import resource
import socket
import time

import httpx2

from tests.reliability.processes import clean_env, server_process
from tests.reliability.test_head_timeout import CONNECTIONS, DESCRIPTORS, TIMEOUT

SECRET = "body-timeout-approver-secret-0123"


def _trickling(port: int, cookie: str, n: int) -> list[socket.socket]:
    """`n` sign-ins whose head is whole and whose body promises 16000 bytes and sends one."""
    opened = []
    for _ in range(n):
        sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        sock.sendall(
            f"POST /approvals/login HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nCookie: pom_login={cookie}\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 16000\r\n\r\nc".encode()
        )
        opened.append(sock)
    return opened


def _answered_late_and_closed(socks: list[socket.socket], within: float) -> bool:
    """Whether the server closed every connection: those it read answered 408 first, the others reset."""
    deadline = time.monotonic() + within
    firsts = set()
    for sock in socks:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        got = b""
        try:
            while chunk := sock.recv(4096):
                got += chunk
        except ConnectionResetError:
            got = b"reset"
        except TimeoutError:
            return False
        finally:
            sock.close()
        firsts.add(got.split(b"\r\n", 1)[0])
    return firsts <= {b"HTTP/1.1 408 Request Timeout", b"reset"} and b"HTTP/1.1 408 Request Timeout" in firsts


def test_sign_ins_whose_body_never_arrives_are_closed_and_the_server_answers() -> None:
    env = clean_env(POLAR_MCP_APPROVER_TOKEN=SECRET)
    with server_process("--emulator", "--head-timeout", str(TIMEOUT), env=env) as server:
        port = int(server.url.rsplit(":", 1)[1])
        form = httpx2.get(f"{server.url}/approvals/login", timeout=10)
        cookie = form.cookies["pom_login"]
        resource.prlimit(server.pid, resource.RLIMIT_NOFILE, (DESCRIPTORS, DESCRIPTORS))
        held = _trickling(port, cookie, CONNECTIONS)
        time.sleep(4 * TIMEOUT)  # every head arrived long ago; every body is still on its way
        try:
            health: int | str = httpx2.get(f"{server.url}/healthz", timeout=5).status_code
        except httpx2.TransportError as exc:
            health = type(exc).__name__
        closed = _answered_late_and_closed(held, within=2)
    assert (closed, health) == (True, 200)
