"""Starting the peers: the emulator, our server, the floor server and Polar's server; all on 127.0.0.1.

`Processes` remembers every process it starts and stops each of them by its own id on exit,
also when a benchmark fails or times out.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import httpx2

from bench import rpc

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
VENV_BIN = Path(sys.executable).parent
OUR_COMMAND = str(VENV_BIN / "polar-orders-mcp")
FLOOR_SERVER = str(BENCH / "floor_server.py")
NODE_FLOOR_SERVER = str(BENCH / "floor_server.mjs")
POLAR_SERVER_JS = BENCH / "node_modules" / "@polar-sh" / "sdk" / "bin" / "mcp-server.js"
# Keeps Polar's server on loopback and adapts the emulator's 2026-10 orders to its older SDK (see the file).
POLAR_PRELOAD = BENCH / "polar_preload.cjs"
ORG_TOKEN = "polar_oat_emulator_full_access"
HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


_STATE_HOME: list[str] = []


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without any POLAR_* of the caller's: no real token ever reaches a peer, and no
    server keeps (or upgrades) its store in the caller's own state directory; bytecode is written."""
    if not _STATE_HOME:
        _STATE_HOME.append(tempfile.mkdtemp(prefix="polar-orders-mcp-bench-state-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("POLAR")}
    # Peers run as installed software does: they keep bytecode caches. With PYTHONDONTWRITEBYTECODE set in the
    # caller's environment, every spawn of a freshly edited tree would compile its modules again, and the cold
    # start would measure the compiler (the tree with more modules more so).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["XDG_STATE_HOME"] = _STATE_HOME[0]
    env.update(extra)
    return env


def toolsets_option(toolsets: Sequence[str]) -> list[str]:
    """`--toolsets …` for our server; nothing for the default toolsets. A benchmark that calls a tool outside
    them says so in its module's TOOLSETS (tests/test_bench_tools.py checks every tool it names is served)."""
    return ["--toolsets", ",".join(toolsets)] if toolsets else []


def wait_http(url: str, timeout: float = 120.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    """Poll until `url` answers (any status below 500)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode} before answering")
        try:
            if httpx2.get(url, timeout=2).status_code < 500:
                return
        except httpx2.HTTPError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s")


def rss_peak_kb(pid: int) -> int:
    """VmHWM, the resident-set high-water mark of a live process, in kB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmHWM for {pid}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a live process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_seconds_tree(pid: int) -> float:
    """CPU time of a process, its children that have ended (reaped) and, recursively, those still running.

    For PostgreSQL: the postmaster's backends are its children.
    """
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    own = sum(int(fields[i]) for i in (11, 12, 13, 14)) / os.sysconf("SC_CLK_TCK")
    children = Path(f"/proc/{pid}/task/{pid}/children")
    for child in children.read_text().split() if children.exists() else ():
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            own += cpu_seconds_tree(int(child))
    return own


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


class Processes:
    """Every process a benchmark starts; `close()` stops them all (SIGTERM, then SIGKILL)."""

    def __init__(self, logdir: Path) -> None:
        self.logdir = logdir
        logdir.mkdir(parents=True, exist_ok=True)
        self.started: list[subprocess.Popen[bytes]] = []
        self.by_url: dict[str, subprocess.Popen[bytes]] = {}  # the HTTP peers, by base URL
        self._logs: list[IO[bytes]] = []

    def start(
        self, name: str, argv: Sequence[str], env: dict[str, str], *, pipes: bool = False
    ) -> subprocess.Popen[bytes]:
        log = open(self.logdir / f"{name}.log", "ab")  # noqa: SIM115 - closed in close()
        self._logs.append(log)
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.PIPE if pipes else subprocess.DEVNULL,
            stdout=subprocess.PIPE if pipes else log,
            stderr=log,
            env=env,
            cwd=ROOT,
        )
        self.started.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen[bytes], timeout: float = 5.0) -> None:
        if proc.poll() is None:
            if proc.stdin is not None:
                with contextlib.suppress(OSError):
                    proc.stdin.close()  # a stdio server exits on EOF
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=1)
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=timeout)
        for stream in (proc.stdin, proc.stdout):
            if stream is not None and not stream.closed:
                with contextlib.suppress(OSError):
                    stream.close()
        if proc in self.started:
            self.started.remove(proc)

    def close(self) -> None:
        for proc in reversed(list(self.started)):
            try:
                self.stop(proc)
            except Exception as exc:  # keep stopping the others
                print(f"bench: could not stop {proc.pid}: {exc}", file=sys.stderr)
        for log in self._logs:
            log.close()
        self._logs.clear()

    def __enter__(self) -> Processes:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the peers ------------------------------------------------------------------------------

    def emulator(self, orders: int, timeout: float = 300.0) -> str:
        """The emulator under uvicorn, as its own process; its base URL once it answers."""
        port = free_port()
        argv = [OUR_COMMAND, "emulator", "--host", HOST, "--port", str(port), "--orders", str(orders)]
        proc = self.start(f"emulator-{orders}", argv, clean_env())
        url = f"http://{HOST}:{port}"
        wait_http(f"{url}/_emulator/state", timeout, proc)
        self.by_url[url] = proc
        return url

    def ours_stdio_argv(self, toolsets: Sequence[str] = ()) -> list[str]:
        """Our server over stdio, with the default toolsets unless `toolsets` names others."""
        return [OUR_COMMAND, "serve", *toolsets_option(toolsets)]

    def ours_env(self, emulator_url: str) -> dict[str, str]:
        return clean_env(POLAR_ACCESS_TOKEN=ORG_TOKEN, POLAR_SERVER=emulator_url)

    def floor_stdio_argv(self) -> list[str]:
        return [sys.executable, FLOOR_SERVER]

    def node_floor_stdio_argv(self) -> list[str]:
        return ["node", NODE_FLOOR_SERVER]

    def polar_stdio_argv(self, emulator_url: str, *, preload: bool = True) -> list[str]:
        """Polar's server over stdio; without the preload for cold starts (no API call is made)."""
        node = ["node", "--require", str(POLAR_PRELOAD)] if preload else ["node"]
        return [
            *node,
            str(POLAR_SERVER_JS),
            "start",
            "--access-token",
            ORG_TOKEN,
            "--server-url",
            emulator_url,
            "--log-level",
            "error",
        ]

    def stdio(self, name: str, argv: Sequence[str], env: dict[str, str]) -> rpc.StdioSession:
        """A started, initialized stdio session."""
        session = rpc.StdioSession(self.start(name, argv, env, pipes=True))
        session.initialize()
        return session

    def ours_http(
        self, emulator_url: str, transport: str = "http", toolsets: Sequence[str] = ()
    ) -> tuple[str, subprocess.Popen[bytes]]:
        """Our server over streamable HTTP (`http`) or SSE; its base URL."""
        port = free_port()
        argv = [
            OUR_COMMAND,
            "serve",
            "--transport",
            transport,
            "--no-auth",
            "--host",
            HOST,
            "--port",
            str(port),
            *toolsets_option(toolsets),
        ]
        proc = self.start(f"ours-{transport}-{port}", argv, self.ours_env(emulator_url))
        url = f"http://{HOST}:{port}"
        wait_http(f"{url}/healthz", 60, proc)
        self.by_url[url] = proc
        return url, proc

    def floor_http(self) -> tuple[str, subprocess.Popen[bytes]]:
        port = free_port()
        proc = self.start(f"floor-http-{port}", [sys.executable, FLOOR_SERVER, "--port", str(port)], clean_env())
        url = f"http://{HOST}:{port}"
        wait_http(f"{url}/healthz", 60, proc)
        self.by_url[url] = proc
        return url, proc

    def polar_sse(self, emulator_url: str) -> tuple[str, subprocess.Popen[bytes]]:
        """Polar's server over its SSE transport (it has no streamable HTTP), kept on loopback."""
        port = free_port()
        argv = [
            "node",
            "--require",
            str(POLAR_PRELOAD),
            str(POLAR_SERVER_JS),
            "start",
            "--transport",
            "sse",
            "--port",
            str(port),
            "--access-token",
            ORG_TOKEN,
            "--server-url",
            emulator_url,
            "--log-level",
            "error",
        ]
        proc = self.start(f"polar-sse-{port}", argv, clean_env())
        url = f"http://{HOST}:{port}"
        wait_http(f"{url}/nothing-here", 60, proc)  # express answers 404 once it listens
        return url, proc


@contextmanager
def time_limit(seconds: float, what: str) -> Iterator[None]:
    """Raise TimeoutError in the main thread after `seconds` (the `finally` blocks still clean up)."""

    def expire(*_: Any) -> None:
        raise TimeoutError(f"{what} took longer than {seconds:.0f} s")

    previous: Callable[..., Any] | int | None = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
