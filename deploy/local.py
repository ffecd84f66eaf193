"""The compose recipe's topology as local processes (`make replicas`): a PostgreSQL cluster in a temporary
directory, the Polar emulator, N replicas of the server over streamable HTTP sharing that database, and
the proxy (deploy/proxy.py) in front of them. Ctrl-C stops everything and removes the cluster.

    python -m deploy.local                 # two replicas behind http://127.0.0.1:8000
    python -m deploy.local --replicas 3 --port 9000 -- --max-daily usd=200000

The replica tests and the replica benchmark start the same `Topology`.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx2
import uvicorn

from deploy.postgres import Cluster, free_port
from deploy.proxy import Proxy
from polar_orders_mcp.signing import SigningKey

ORG_TOKEN = "polar_oat_emulator_full_access"  # the emulator's seeded organization token
HOST = "127.0.0.1"
START_SECONDS = 60.0


@dataclass
class Replica:
    """One server process."""

    name: str
    url: str
    proc: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@dataclass
class Secrets:
    """What every replica is given alike: generated for this run unless set in the environment."""

    http_token: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    approver_token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    request_state_keys: str = field(default_factory=lambda: secrets.token_hex(32))
    confirm_secret: str = field(default_factory=lambda: secrets.token_hex(32))
    signing_key: str = field(default_factory=lambda: SigningKey.generate().pem().decode())

    @classmethod
    def from_environment(cls) -> tuple[Secrets, set[str]]:
        """Secrets from POLAR_MCP_* where set; the names of those that were."""
        made, given = cls(), set()
        for name in ("http_token", "approver_token", "request_state_keys", "confirm_secret", "signing_key"):
            value = os.environ.get(f"POLAR_MCP_{name.upper()}")
            if value:
                setattr(made, name, value)
                given.add(name)
        return made, given


class Topology:
    """PostgreSQL (a throwaway cluster, or `database_url`), the emulator, `replicas` servers, the proxy.

    Every process runs from this Python; each replica gets `serve_args` after the common ones. `stop()`
    (or leaving the `with`) stops every process by its own id and removes the temporary directory.
    """

    def __init__(
        self,
        *,
        replicas: int = 2,
        serve_args: Sequence[str] = (),
        database_url: str | None = None,
        orders: int = 60,
        proxy_port: int = 0,
        fast_database: bool = True,
        secrets_: Secrets | None = None,
        proxy_process: bool = False,
    ) -> None:
        self.count = replicas
        self.serve_args = list(serve_args)
        self.orders = orders
        self.proxy_port = proxy_port or free_port()
        self.fast_database = fast_database
        self.secrets = secrets_ or Secrets()
        self.proxy_process = proxy_process  # the proxy in a process of its own, not a thread of this one
        self.root = Path(tempfile.mkdtemp(prefix="polar-orders-mcp-replicas-"))
        self.cluster: Cluster | None = None
        self.database_url = database_url or ""
        self.emulator_url = ""
        self.replicas: list[Replica] = []
        self.proxy: Proxy | None = None
        self._emulator: subprocess.Popen[bytes] | None = None
        self._proxy_proc: subprocess.Popen[bytes] | None = None
        self._proxy_server: uvicorn.Server | None = None
        self._proxy_thread: threading.Thread | None = None
        self._logs: list[IO[bytes]] = []

    @property
    def proxy_url(self) -> str:
        return f"http://{HOST}:{self.proxy_port}"

    # Starting ---------------------------------------------------------------------------------------

    def start(self) -> Topology:
        if not self.database_url:
            self.cluster = Cluster(fast=self.fast_database).start()
            self.database_url = self.cluster.create_database("polar_orders_mcp")
        port = free_port()
        self._emulator = self._spawn(
            "emulator", ["emulator", "--host", HOST, "--port", str(port), "--orders", str(self.orders)], {}
        )
        self.emulator_url = f"http://{HOST}:{port}"
        _wait(f"{self.emulator_url}/_emulator/state", self._emulator, self.root / "emulator.log")
        # One replica first: it creates the schema; the others then start at once.
        self.replicas.append(self._replica(1))
        self._await(self.replicas[0])
        more = [self._replica(n) for n in range(2, self.count + 1)]
        for replica in more:
            self._await(replica)
        self.replicas += more
        self._start_proxy()
        return self

    def env(self) -> dict[str, str]:
        """The environment of every replica (without the caller's POLAR_* settings)."""
        base = {k: v for k, v in os.environ.items() if not k.startswith("POLAR")}
        return {
            **base,
            "POLAR_ACCESS_TOKEN": ORG_TOKEN,
            "POLAR_SERVER": self.emulator_url,
            "POLAR_MCP_DATABASE_URL": self.database_url,
            "POLAR_MCP_HTTP_TOKEN": self.secrets.http_token,
            "POLAR_MCP_APPROVER_TOKEN": self.secrets.approver_token,
            "POLAR_MCP_REQUEST_STATE_KEYS": self.secrets.request_state_keys,
            "POLAR_MCP_CONFIRM_SECRET": self.secrets.confirm_secret,
            "POLAR_MCP_SIGNING_KEY": self.secrets.signing_key,
            "POLAR_MCP_CONSOLE_URL": f"{self.proxy_url}/approvals",
        }

    def _replica(self, number: int) -> Replica:
        port = free_port()
        name = f"replica-{number}"
        argv = ["serve", "--transport", "http", "--host", HOST, "--port", str(port), *self.serve_args]
        proc = self._spawn(name, argv, self.env())
        return Replica(name, f"http://{HOST}:{port}", proc, self.root / f"{name}.log")

    def _await(self, replica: Replica) -> None:
        _wait(f"{replica.url}/healthz", replica.proc, replica.log)

    def restart(self, index: int) -> Replica:
        """Start replica `index` again (after a kill), on a new port; the proxy is told."""
        old = self.replicas[index]
        if old.proc.poll() is None:
            old.proc.kill()
        old.proc.wait()
        fresh = self._replica(index + 1)
        self._await(fresh)
        self.replicas[index] = fresh
        if self.proxy is not None:
            self.proxy.upstreams[index] = fresh.url
        return fresh

    def _spawn(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        log = open(self.root / f"{name}.log", "ab")  # noqa: SIM115 - closed in stop()
        self._logs.append(log)
        command = [sys.executable, "-m", "polar_orders_mcp", *argv]
        return subprocess.Popen(command, env=env or _clean_env(), stdin=subprocess.DEVNULL, stdout=log, stderr=log)

    def _start_proxy(self) -> None:
        if self.proxy_process:
            argv = [
                sys.executable,
                "-m",
                "deploy.proxy",
                "--host",
                HOST,
                "--port",
                str(self.proxy_port),
                *(r.url for r in self.replicas),
            ]
            log = open(self.root / "proxy.log", "ab")  # noqa: SIM115 - closed in stop()
            self._logs.append(log)
            root = str(Path(__file__).resolve().parents[1])
            env = {**_clean_env(), "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
            self._proxy_proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
            _wait(f"{self.proxy_url}/healthz", self._proxy_proc, self.root / "proxy.log")
            return
        self.proxy = Proxy([r.url for r in self.replicas])
        config = uvicorn.Config(self.proxy, host=HOST, port=self.proxy_port, log_level="warning", lifespan="on")
        self._proxy_server = uvicorn.Server(config)
        self._proxy_thread = threading.Thread(target=self._proxy_server.run, name="proxy", daemon=True)
        self._proxy_thread.start()
        deadline = time.monotonic() + 10
        while not self._proxy_server.started:
            if time.monotonic() > deadline or not self._proxy_thread.is_alive():
                raise RuntimeError(f"the proxy did not start on port {self.proxy_port}")
            time.sleep(0.02)

    def processes(self) -> dict[str, int]:
        """The process id of each part this topology started, by name (the proxy only as a process of its own)."""
        found = {replica.name: replica.proc.pid for replica in self.replicas}
        if self._emulator is not None:
            found["emulator"] = self._emulator.pid
        if self._proxy_proc is not None:
            found["proxy"] = self._proxy_proc.pid
        return found

    # Stopping ---------------------------------------------------------------------------------------

    def stop(self) -> None:
        if self._proxy_server is not None and self._proxy_thread is not None:
            self._proxy_server.should_exit = True
            self._proxy_thread.join(timeout=10)
        procs = [self._proxy_proc] + [r.proc for r in self.replicas] + [self._emulator]
        for proc in procs:
            if proc is not None:
                _stop(proc)
        for log in self._logs:
            log.close()
        if self.cluster is not None:
            self.cluster.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> Topology:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("POLAR")}


def _wait(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_SECONDS
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"{url} exited with {proc.returncode} before answering:\n{_tail(log)}")
        try:
            if httpx2.get(url, timeout=5).status_code == 200:
                return
        except httpx2.TransportError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not answer within {START_SECONDS:.0f} s:\n{_tail(log)}")
        time.sleep(0.05)


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-3000:] if log.exists() else ""


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
    proc.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.local", description=__doc__.split("\n\n")[0])
    parser.add_argument("--replicas", type=int, default=2, help="how many server processes (default 2)")
    parser.add_argument("--port", type=int, default=8000, help="the proxy's port (default 8000)")
    parser.add_argument("--orders", type=int, default=60, help="orders seeded in the emulator (default 60)")
    parser.add_argument("serve_args", nargs="*", metavar="-- SERVE_ARGS", help="more options for every replica")
    args = parser.parse_args(argv)
    chosen, given = Secrets.from_environment()
    database = os.environ.get("POLAR_MCP_DATABASE_URL")
    topology = Topology(
        replicas=args.replicas,
        serve_args=args.serve_args,
        database_url=database,
        orders=args.orders,
        proxy_port=args.port,
        fast_database=False,
        secrets_=chosen,
    )

    def stop(signum: int, _: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        print("starting PostgreSQL, the emulator and the replicas…", file=sys.stderr, flush=True)
        topology.start()
        _describe(topology, given)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        print("\nstopping…", file=sys.stderr)
    except RuntimeError as exc:
        print(f"deploy.local: {exc}", file=sys.stderr)
        return 1
    finally:
        topology.stop()
    return 0


def _describe(topology: Topology, given: set[str]) -> None:
    def shown(name: str, value: str) -> str:
        return "(from your environment)" if name in given else value

    s = topology.secrets
    lines = [
        f"MCP (round robin; legacy sessions sticky): {topology.proxy_url}/mcp",
        f"   Authorization: Bearer {shown('http_token', s.http_token)}",
        f"approval console:  {topology.proxy_url}/approvals   sign in with {shown('approver_token', s.approver_token)}",
        *(f"{r.name}:         {r.url}/mcp   (log {r.log})" for r in topology.replicas),
        f"Polar emulator:    {topology.emulator_url}",
        f"PostgreSQL:        {topology.database_url}",
        f"audit:             POLAR_MCP_DATABASE_URL={topology.database_url} polar-orders-mcp audit verify "
        f"--public-key '{json.dumps(SigningKey.from_text(s.signing_key, 'the signing key').public.jwk)}'",
        "Ctrl-C stops everything.",
    ]
    print("\n".join(lines), flush=True)


if __name__ == "__main__":
    sys.exit(main())
