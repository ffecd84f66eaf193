"""A throwaway PostgreSQL cluster for tests, benchmarks and `make replicas`: `initdb` in a temporary
directory, `pg_ctl start` on a loopback port with its own socket directory, everything removed on stop.

Debian's `postgresql` package puts the binaries under /usr/lib/postgresql/<version>/bin/, off PATH.
`initdb` refuses to run as root, so as root the cluster runs as the `postgres` user in a directory
that user owns.
"""

from __future__ import annotations

import glob
import os
import pwd
import shlex
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

USER = "pom"  # the cluster's superuser; trust authentication on loopback only
RUN_AS = "postgres"  # who runs the cluster when we are root


def find_bindir() -> Path | None:
    """The newest PostgreSQL's bin directory: Debian's /usr/lib/postgresql/*/bin, else initdb on PATH."""
    found = [Path(p).parent for p in glob.glob("/usr/lib/postgresql/*/bin/initdb")]
    if found:
        return max(found, key=lambda d: _version_key(d.parent.name))
    on_path = shutil.which("initdb")
    return Path(on_path).parent if on_path else None


def _version_key(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in name.split(".") if part.isdigit())


def missing_reason() -> str | None:
    """Why a cluster cannot be started here, or None."""
    if find_bindir() is None:
        return "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): apt-get install postgresql"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(RUN_AS)
        except KeyError:
            return f"running as root, and there is no {RUN_AS!r} user to run PostgreSQL as (initdb refuses root)"
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Cluster:
    """One PostgreSQL cluster in a temporary directory, on 127.0.0.1:`port`.

    `fast=True` turns fsync and synchronous commit off: for tests, where a power cut loses nothing of
    value. Benchmarks keep PostgreSQL's durable defaults, as production would.
    """

    def __init__(self, *, port: int | None = None, fast: bool = True, bindir: Path | None = None) -> None:
        found = bindir or find_bindir()
        if found is None:
            raise RuntimeError(missing_reason() or "PostgreSQL is not installed")
        self.bindir = found
        self.port = port or free_port()
        self.fast = fast
        self.root = Path(tempfile.mkdtemp(prefix="polar-orders-mcp-pg-"))
        self.data = self.root / "data"
        self.sockets = self.root / "sockets"
        self.log = self.root / "postgres.log"
        self._as_root = os.geteuid() == 0
        self.started = False

    @property
    def url(self) -> str:
        """The URL of the cluster's default database."""
        return self.database_url("postgres")

    def database_url(self, name: str) -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{name}"

    def _run(self, *argv: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        command = [str(self.bindir / argv[0]), *argv[1:]]
        if self._as_root:
            command = ["su", RUN_AS, "-s", "/bin/sh", "-c", shlex.join(command)]
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False, cwd=self.root)

    def start(self) -> Cluster:
        self.sockets.mkdir()
        if self._as_root:
            owner = pwd.getpwnam(RUN_AS)
            for path in (self.root, self.sockets):
                os.chown(path, owner.pw_uid, owner.pw_gid)
        made = self._run(
            "initdb", "-D", str(self.data), "-U", USER, "--auth=trust", "-E", "UTF8", "--no-sync", "--no-instructions"
        )
        if made.returncode != 0:
            raise RuntimeError(f"initdb failed ({made.returncode}): {made.stderr.strip()[-2000:]}")
        options = [f"-p {self.port}", "-c listen_addresses=127.0.0.1", f"-k {self.sockets}", "-c max_connections=200"]
        if self.fast:
            options += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
        started = self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "-o", " ".join(options), "start"
        )
        if started.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"pg_ctl start failed ({started.returncode}): {started.stderr.strip()}\n{log}")
        self.started = True
        self._wait_ready()
        return self

    def _wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while True:
            ready = self._run("pg_isready", "-h", "127.0.0.1", "-p", str(self.port), "-U", USER, timeout=10)
            if ready.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"PostgreSQL did not accept connections: {ready.stdout.strip()}")
            time.sleep(0.1)

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run SQL through psql on the loopback port; its output, or RuntimeError with psql's error."""
        done = self._run(
            "psql",
            "-X",
            "-q",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-U",
            USER,
            "-d",
            database,
            "-c",
            sql,
        )
        if done.returncode != 0:
            raise RuntimeError(f"psql failed: {done.stderr.strip()}")
        return done.stdout.strip()

    def create_database(self, name: str) -> str:
        """A new empty database; its URL."""
        self.psql(f'CREATE DATABASE "{name}"')
        return self.database_url(name)

    def stop(self) -> None:
        """Stop the cluster (immediately: nothing in it is kept) and remove its directory."""
        try:
            if self.started:
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "-t", "30", "stop", timeout=60)
                self.started = False
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> Cluster:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()
