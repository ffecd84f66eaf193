"""stdio's approval console against another local process: a port taken first, a restart, a squatter's page.

Real processes throughout: the stdio server as its command runs, and a second process that listens on a
loopback port as any local program can (with SO_REUSEADDR, as a server would).
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp.client import Client
from mcp.client.stdio import StdioServerParameters

from tests.approvals.console_client import APPROVER_SECRET, Person
from tests.approvals.test_console_browser import chromium  # the one way this project starts a browser
from tests.reliability.processes import STARTUP_SECONDS, clean_env, listening_port

pytestmark = pytest.mark.anyio
__all__ = ["chromium"]

# Listens on a free loopback port (or the one given), prints it, and answers every GET with 200, writing
# the path and Cookie header of each request to stdout: a process squatting where the console could be.
SQUATTER = """
import http.server, socket, sys
class Page(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        print(self.path, "cookie=" + (self.headers.get("Cookie") or ""), flush=True)
        self.send_response(200); self.send_header("Content-Type", "text/html"); self.end_headers()
        self.wfile.write(b"<form><input type=password name=secret></form>")
    def log_message(self, *args): pass
http.server.ThreadingHTTPServer.allow_reuse_address = True
server = http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Page)
print(server.server_address[1], flush=True)
server.serve_forever()
"""


@contextmanager
def squatter(port: int = 0) -> Iterator[tuple[int, subprocess.Popen[str]]]:
    proc = subprocess.Popen([sys.executable, "-c", SQUATTER, str(port)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        yield int(proc.stdout.readline()), proc
    finally:
        proc.kill()
        proc.wait()


def stdio_server(tmp_path: Path, port: int) -> tuple[StdioServerParameters, Path]:
    """The stdio server as a desktop client starts it, its console asked on `port`; and where its stderr goes."""
    stderr = tmp_path / f"stderr-{time.monotonic_ns()}.txt"
    env = clean_env(POLAR_MCP_APPROVER_TOKEN=APPROVER_SECRET)
    command = [
        sys.executable,
        "-m",
        "polar_orders_mcp",
        "serve",
        "--emulator",
        "--approvals-port",
        str(port),
        "--approval-wait",
        "0",
        "--state-dir",
        str(tmp_path / "state"),
    ]
    shell = ['exec "$0" "$@" 2>>' + str(stderr), *command]
    return StdioServerParameters(command="/bin/sh", args=["-c", *shell], env=env), stderr


async def ask_for_a_charge(client: Client) -> dict[str, Any]:
    drafts = await client.call_tool("list_orders", {"status": ["draft"], "limit": 50})
    order_id = next(
        o["id"]
        for o in drafts.structured_content["items"]  # type: ignore[index]
        if o["customer_supplied"]["email"] == "good-card@example.com"
    )
    first = await client.call_tool("finalize_order", {"order_id": order_id})
    return first.structured_content  # type: ignore[return-value]


def split_link(link: str) -> tuple[str, str]:
    """("http://localhost:PORT", "/approvals/<segment>") of a request's link."""
    found = re.fullmatch(r"(http://localhost:\d+)(/approvals/[A-Za-z0-9_-]{20,})/apr_[\w-]+", link)
    assert found, link
    return found.group(1), found.group(2)


async def test_a_taken_port_is_said_wherever_the_link_appears(tmp_path: Path) -> None:
    """The finding: the server moved to a random port and said so only in a stderr warning at a level desktop
    clients hide. The console still starts (two stdio servers, sandbox and production, are both configured with
    the default port), but the start-up message, the instructions and every result that gives the link say so."""
    with squatter() as (taken, _):
        params, stderr = stdio_server(tmp_path, taken)
        async with Client(params, mode="legacy") as client:
            asked = await ask_for_a_charge(client)
            instructions = client.instructions or ""
            origin, path = split_link(asked["approval"]["approve_at"])
            port = int(origin.rsplit(":", 1)[1])
            async with Person(base_url=origin, path=path) as person:
                assert (await person.approve(asked["approval"]["approval_id"])).status_code == 303
    warning = f"port {taken} was taken by another process, so this run's approval console is on port {port}"
    assert port != taken
    assert f"This run's approval console is at {origin}{path} " in instructions and warning in instructions
    assert warning in asked["next_step"]
    said = stderr.read_text()
    assert f"polar-orders-mcp: approval console on {origin}{path}\n" in said and warning in said


async def test_the_console_answers_as_localhost_and_127_0_0_1_and_only_under_its_own_path(tmp_path: Path) -> None:
    """Links name localhost (a browser's WebAuthn accepts it, not an IP literal); the socket is loopback only."""
    params, _ = stdio_server(tmp_path, 0)
    async with Client(params, mode="legacy") as client:
        asked = await ask_for_a_charge(client)
        origin, path = split_link(asked["approval"]["approve_at"])
        port = int(origin.rsplit(":", 1)[1])
        async with httpx2.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            as_localhost = await http.get(f"{path}/login", headers={"Host": f"localhost:{port}"})
            as_ip = await http.get(f"{path}/login", headers={"Host": f"127.0.0.1:{port}"})
            as_other = await http.get(f"{path}/login", headers={"Host": f"evil.example:{port}"})
            outside = [(await http.get(p)).status_code for p in ("/approvals", "/approvals/login", "/")]
        with pytest.raises(OSError):
            socket.create_connection((_non_loopback_address(), port), timeout=2).close()
    assert as_localhost.status_code == as_ip.status_code == 200 and as_other.status_code == 421
    assert outside == [404, 404, 404]


def _non_loopback_address() -> str:
    """An address of this machine other than loopback; skips when it has none."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET: no packet is sent, the route picks the source address
        except OSError:
            pytest.skip("no network interface besides loopback")
        address = str(probe.getsockname()[0])
    if address.startswith("127."):
        pytest.skip("no network interface besides loopback")
    return address


async def test_each_start_has_its_own_path_and_its_cookies_are_scoped_to_it(tmp_path: Path) -> None:
    """The finding: cookies of 127.0.0.1 are sent to every port of it. Scoped to a path only this process knows,
    neither a squatter on another port nor the next run of the server receives them."""
    paths, cookies = [], []
    for _ in range(2):  # a restart
        params, _ = stdio_server(tmp_path, 0)
        async with Client(params, mode="legacy") as client:
            origin, path = split_link((await ask_for_a_charge(client))["approval"]["approve_at"])
            async with Person(base_url=origin, path=path) as person:
                signed = await person.sign_in()
        paths.append(path)
        cookies.append(signed.headers["set-cookie"])
    assert paths[0] != paths[1]
    for path, cookie in zip(paths, cookies, strict=True):
        assert cookie.startswith("pom_console=") and f"Path={path};" in cookie + ";"


def test_no_second_process_takes_a_listening_console_port_and_a_restart_gets_it_back(tmp_path: Path) -> None:
    """SO_REUSEADDR: a restart is not moved off its port by the last run's connections in TIME_WAIT, and on Linux
    it never lets a second socket bind a port that is being listened on."""
    with stdio_process(tmp_path, 0) as (first, _):
        port = _wait_listening(first)
        refused = _bind_in_another_process(port)
        client = socket.create_connection(("127.0.0.1", port), timeout=10)
        client.sendall(f"GET /approvals HTTP/1.1\r\nHost: localhost:{port}\r\n\r\n".encode())
        assert client.recv(65536).startswith(b"HTTP/1.1 ")
        first.kill()  # its end of the connection closes first: that end waits in TIME_WAIT
        first.wait()
        client.close()
    assert "Address already in use" in refused
    assert _time_wait_on(port), "no connection in TIME_WAIT: the restart below would prove nothing"
    with stdio_process(tmp_path, port) as (again, stderr):
        assert _wait_listening(again) == port
        assert "taken" not in stderr.read_text()


def _bind_in_another_process(port: int) -> str:
    """What another process gets binding 127.0.0.1:port with SO_REUSEADDR, as any server would."""
    code = (
        "import socket, sys; s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); "
        "s.bind(('127.0.0.1', int(sys.argv[1]))); s.listen(); print('bound')"
    )
    done = subprocess.run([sys.executable, "-c", code, str(port)], capture_output=True, text=True, timeout=30)
    return done.stdout + done.stderr


@contextmanager
def stdio_process(tmp_path: Path, port: int) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    """The stdio server with stdin held open, its console asked on `port`; its stderr in a file."""
    stderr = tmp_path / f"stderr-{time.monotonic_ns()}.txt"
    env = clean_env(POLAR_MCP_APPROVER_TOKEN=APPROVER_SECRET)
    command = [
        sys.executable,
        "-m",
        "polar_orders_mcp",
        "serve",
        "--emulator",
        "--approvals-port",
        str(port),
        "--state-dir",
        str(tmp_path / "state"),
    ]
    with stderr.open("wb") as err:
        proc = subprocess.Popen(command, env=env, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=err)
    try:
        yield proc, stderr
    finally:
        proc.kill()
        proc.wait()


def _wait_listening(proc: subprocess.Popen[bytes]) -> int:
    deadline = time.monotonic() + STARTUP_SECONDS
    while (port := listening_port(proc.pid)) is None:
        assert proc.poll() is None and time.monotonic() < deadline, "the console did not start listening"
        time.sleep(0.05)
    return port


def _time_wait_on(port: int) -> bool:
    with open("/proc/net/tcp") as table:
        rows = [line.split() for line in table.readlines()[1:]]
    return any(row[3] == "06" and int(row[1].rsplit(":", 1)[1], 16) == port for row in rows)  # 06: TIME_WAIT


async def test_a_squatters_page_never_receives_the_consoles_cookie(chromium: Any, tmp_path: Path) -> None:
    """The finding, in a real browser: signed in to the console, the person follows links to pages of another
    process on a loopback port (what any site or the agent could link to); none of them gets the session cookie."""
    params, _ = stdio_server(tmp_path, 0)
    async with Client(params, mode="legacy") as client:
        link = str((await ask_for_a_charge(client))["approval"]["approve_at"])
        sign_in(chromium, link)
        with squatter() as (port, proc):
            for path in ("/approvals", "/approvals/login", f"/approvals/{link.rsplit('/', 1)[1]}", "/"):
                chromium.get(f"http://localhost:{port}{path}")
                chromium.get(f"http://127.0.0.1:{port}{path}")
            proc.kill()
            assert proc.stdout is not None
            seen = [line for line in proc.stdout.read().splitlines() if not line.startswith("/favicon.ico ")]
        chromium.get(link)
        still_signed_in = chromium.current_url == link  # the browser holds the cookie: it was not sent there
    assert still_signed_in
    assert len(seen) == 8, seen
    assert [line for line in seen if "pom_" in line] == []


def sign_in(driver: Any, link: str) -> None:
    from selenium.webdriver.common.by import By

    driver.delete_all_cookies()
    driver.get(link)
    assert "/login" in driver.current_url, driver.current_url
    driver.find_element(By.ID, "secret").send_keys(APPROVER_SECRET)
    driver.find_element(By.CSS_SELECTOR, "form.login button[type=submit]").click()
    deadline = time.monotonic() + 10
    while driver.current_url != link:
        assert time.monotonic() < deadline, driver.current_url
        time.sleep(0.05)
    assert "button" in driver.page_source and "approve" in driver.page_source
