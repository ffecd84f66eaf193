"""Replicas and the store: calls per second with one and with two replicas on one PostgreSQL, and what the
store costs an irreversible call on SQLite and on PostgreSQL, as ratios measured in one run.

    python -m bench.replicas [--quick]        # make bench-replicas; writes bench/results/replicas.md

1. Throughput: concurrent streamable-HTTP sessions calling `get_order` (reads: the store is not touched)
   and doing approved charges (the store on every step), against one replica, two replicas with the
   sessions split between them, and two replicas behind deploy/proxy.py.
2. The store: real console-approved charges in one process (client, console and emulator in memory),
   timing every store transaction they make, on a SQLite file and on a PostgreSQL database, one charge at
   a time and eight at once.
3. One console-approved charge end to end against a server process on each backend: the first call,
   the person's approval in the console, the second call that charges.

Everything runs on this machine, PostgreSQL with its durable defaults (fsync, synchronous commit) as
SQLite with synchronous=FULL: both wait for the disk at each commit.
"""
# ruff: noqa: RUF001  (the multiplication sign is meant)

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import secrets
import shutil
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import httpx2
from deploy.local import ORG_TOKEN, Secrets, Topology
from deploy.postgres import Cluster
from mcp.client import Client
from tests.approvals.console_client import APPROVER_SECRET, Person

from bench import procs as p
from bench import readme, rpc, stats
from bench.run import machine
from polar_orders_mcp.emulator.app import create_app
from polar_orders_mcp.server.app import build_parts
from polar_orders_mcp.settings import Settings
from polar_orders_mcp.store.records import NewApproval
from polar_orders_mcp.store.sql import SqlStore


@dataclass(frozen=True)
class Config:
    sessions: int
    seconds: float
    reps: int
    store_charges: int
    e2e_charges: int
    drafts: int


WORK: list[str] = []  # the run's temporary directory: logs, SQLite files; removed at the end

FULL = Config(sessions=16, seconds=10, reps=3, store_charges=200, e2e_charges=40, drafts=8000)
QUICK = Config(sessions=8, seconds=2, reps=1, store_charges=20, e2e_charges=5, drafts=600)


# 1. Throughput -------------------------------------------------------------------------------------------

Worker = Callable[[int], Awaitable[int]]  # one unit of work by worker n; how many calls it made


async def _timed(workers: list[Worker], seconds: float) -> dict[str, Any]:
    calls, errors, latencies = 0, [], []
    deadline = time.monotonic() + seconds

    async def loop(n: int, work: Worker) -> None:
        nonlocal calls
        while time.monotonic() < deadline:
            began = time.perf_counter()
            try:
                made = await work(n)  # not `calls += await …`: that reads `calls` before the await
            except (rpc.RpcError, httpx2.HTTPError, AssertionError) as exc:
                errors.append(repr(exc)[:200])
            else:
                calls += made
                latencies.append((time.perf_counter() - began) * 1000)

    began = time.perf_counter()
    await asyncio.wait_for(asyncio.gather(*(loop(n, w) for n, w in enumerate(workers))), seconds + 120)
    elapsed = time.perf_counter() - began
    return {
        "calls_per_s": calls / elapsed,
        "calls": calls,
        "units": len(latencies),
        "p50_ms": stats.percentile(latencies, 50),
        "errors": len(errors),
        "first_errors": errors[:3],
    }


async def _session(url: str, token: str) -> rpc.AsyncHttpSession:
    session = rpc.AsyncHttpSession(f"{url}/mcp")
    session.headers["authorization"] = f"Bearer {token}"
    await session.initialize()
    return session


class Drafts:
    """Draft orders made in the emulator beforehand, handed out one per charge."""

    def __init__(self, ids: list[str]) -> None:
        self.ids = ids

    @classmethod
    def make(cls, emulator_url: str, count: int) -> Drafts:
        async def make_all() -> list[str]:
            headers = {"authorization": f"Bearer {ORG_TOKEN}"}
            async with httpx2.AsyncClient(base_url=emulator_url, headers=headers, timeout=60) as http:
                seed = (await http.get("/_emulator/state")).json()
                body = {"customer_id": seed["customers"]["good_card"], "product_id": seed["products"]["one_time_fixed"]}
                made: list[str] = []
                for _ in range(count):
                    answer = await http.post("/v1/orders/", json=body)
                    answer.raise_for_status()
                    made.append(answer.json()["id"])
                return made

        return cls(asyncio.run(make_all()))

    def take(self) -> str:
        if not self.ids:
            raise AssertionError("out of draft orders: raise Config.drafts")
        return self.ids.pop()


@dataclass(frozen=True)
class Meter:
    """The processes whose CPU time a run counts: name -> pid; `trees` are counted with their children."""

    pids: dict[str, int]
    trees: frozenset[str] = frozenset()

    def read(self) -> dict[str, float]:
        return {
            name: (p.cpu_seconds_tree if name in self.trees else p.cpu_seconds)(pid) for name, pid in self.pids.items()
        } | {"load generator": time.process_time()}


def postmaster_pid(cluster: Cluster) -> int:
    return int((cluster.data / "postmaster.pid").read_text().split()[0])


async def _throughput(
    urls: list[str], topology: Topology, config: Config, kind: str, drafts: Drafts, order_id: str, meter: Meter
) -> dict[str, Any]:
    """`config.sessions` sessions spread over `urls`, each reading or charging back to back; with the CPU
    time each process of the system spent per call (`cpu_ms_per_call`)."""
    token = topology.secrets.http_token
    sessions = [await _session(urls[n % len(urls)], token) for n in range(config.sessions)]
    store = SqlStore(topology.database_url)

    async def read(n: int) -> int:
        await sessions[n].call("get_order", {"order_id": order_id})
        return 1

    async def approved_charge(n: int) -> int:
        target = drafts.take()
        first = (await sessions[n].call("finalize_order", {"order_id": target}))["structuredContent"]
        approval_id = first["approval"]["approval_id"]
        await store.decide(approval_id, approve=True, by="bench", redeem_window=300)  # the person's click
        done = await sessions[n].call("finalize_order", {"order_id": target, "approval_id": approval_id})
        assert done["structuredContent"]["status"] == "charged", done
        return 2

    try:
        work = read if kind == "read" else approved_charge
        await _timed([work] * config.sessions, min(2.0, config.seconds))  # warm-up
        before = meter.read()
        timed = await _timed([work] * config.sessions, config.seconds)
        after = meter.read()
        calls = max(timed["calls"], 1)
        timed["cpu_ms_per_call"] = {name: 1000 * (after[name] - before[name]) / calls for name in before}
        return timed
    finally:
        await store.close()
        await asyncio.gather(*(s.aclose() for s in sessions), return_exceptions=True)


def throughput(topology: Topology, config: Config, postgres: int) -> dict[str, Any]:
    drafts = Drafts.make(topology.emulator_url, config.drafts)
    order_id = httpx2.get(f"{topology.emulator_url}/_emulator/state", timeout=30).json()["paid_order_id"]
    shapes = {
        "one replica": [topology.replicas[0].url],
        "two replicas": [r.url for r in topology.replicas],
        "two replicas behind the proxy": [topology.proxy_url],
    }
    meter = Meter({**topology.processes(), "PostgreSQL": postgres}, trees=frozenset({"PostgreSQL"}))
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {k: {s: [] for s in shapes} for k in ("read", "charge")}
    for rep in range(config.reps):
        names = list(shapes)
        for name in names[rep % 3 :] + names[: rep % 3]:  # a different order each round
            for kind in runs:
                runs[kind][name].append(
                    asyncio.run(_throughput(shapes[name], topology, config, kind, drafts, order_id, meter))
                )
    result: dict[str, Any] = {"sessions": config.sessions, "seconds": config.seconds, "reps": config.reps}
    for kind, by_shape in runs.items():
        result[kind] = {
            name: {
                "calls_per_s": stats.summary([r["calls_per_s"] for r in rows]),
                "p50_ms": stats.summary([r["p50_ms"] for r in rows]),
                "errors": sum(r["errors"] for r in rows),
                "first_errors": [e for r in rows for e in r["first_errors"]][:3],
                "cpu_ms_per_call": {
                    process: stats.summary([r["cpu_ms_per_call"][process] for r in rows])["median"]
                    for process in rows[0]["cpu_ms_per_call"]
                },
            }
            for name, rows in by_shape.items()
        }
        one = result[kind]["one replica"]["calls_per_s"]["median"]
        result[kind]["two_over_one"] = stats.ratio(result[kind]["two replicas"]["calls_per_s"]["median"], one)
        result[kind]["proxy_over_one"] = stats.ratio(
            result[kind]["two replicas behind the proxy"]["calls_per_s"]["median"], one
        )
    return result


# 2. The store alone ------------------------------------------------------------------------------------

SPENT: list[float] = []  # ms of each store transaction while timing


def _timed_transactions() -> Callable[[], None]:
    """Time every store transaction (SqlStore._tx, which every operation goes through once); returns undo."""
    original = SqlStore._tx

    @asynccontextmanager
    async def timed(self: SqlStore, *, write: bool = True) -> AsyncIterator[Any]:
        began = time.perf_counter()
        try:
            async with original(self, write=write) as conn:
                yield conn
        finally:
            SPENT.append((time.perf_counter() - began) * 1000)

    SqlStore._tx = timed  # type: ignore[method-assign]

    def undo() -> None:
        SqlStore._tx = original  # type: ignore[method-assign]

    return undo


async def one_charge(client: Client, person: Person, order_id: str) -> None:
    """One console-approved charge as a client and a person make it: the store operations are the real ones."""
    first = (await client.call_tool("finalize_order", {"order_id": order_id})).structured_content or {}
    approval_id = first["approval"]["approval_id"]
    decided = await person.approve(approval_id)
    assert decided.status_code == 303, decided.text[:200]
    done = await client.call_tool("finalize_order", {"order_id": order_id, "approval_id": approval_id})
    assert (done.structured_content or {}).get("status") == "charged", done


async def _store_run(url: str, charges: int, concurrency: int) -> dict[str, Any]:
    """`charges` console-approved charges, `concurrency` at once, through the MCP client in memory, the
    console's pages over ASGI and the emulator in process, on a store at `url` (under --max-daily): the
    time spent in store transactions per charge, and how many there were."""
    emulator = create_app(orders=10)
    settings = Settings(
        emulator=True,
        database_url=url,
        approver_token=APPROVER_SECRET,
        approval_wait=0,
        console_url="http://127.0.0.1:8765/approvals",
        max_daily="usd=1000000000",
    )
    parts = build_parts(settings, transport=httpx2.ASGITransport(app=emulator))
    seed = emulator.state.emulator.seed_info
    body = {"customer_id": seed.customers["good_card"], "product_id": seed.products["one_time_fixed"]}
    async with httpx2.AsyncClient(
        transport=httpx2.ASGITransport(app=emulator),
        base_url="http://emulator",
        headers={"authorization": f"Bearer {ORG_TOKEN}"},
    ) as http:
        drafts = [(await http.post("/v1/orders/", json=body)).json()["id"] for _ in range(charges + 5)]
    undo = _timed_transactions()
    try:
        async with Client(parts.server) as client, Person(parts.console) as person:
            await person.sign_in()
            for _ in range(5):  # warm-up: connections, prepared statements
                await one_charge(client, person, drafts.pop())
            SPENT.clear()
            times: list[float] = []

            async def worker(w: int) -> None:
                for n in range(w, charges, concurrency):
                    began = time.perf_counter()
                    await one_charge(client, person, drafts[n])
                    times.append((time.perf_counter() - began) * 1000)

            began = time.perf_counter()
            await asyncio.gather(*(worker(w) for w in range(concurrency)))
            elapsed = time.perf_counter() - began
            spent, operations = sum(SPENT), len(SPENT)
    finally:
        undo()
        await (await parts.store()).close()
    per_charge = operations / charges
    return {
        "store_ms_per_charge": spent / charges,
        "ms_per_charge": stats.summary(times),
        "charges_per_s": charges / elapsed,
        "operations_per_charge": per_charge,
        "ms_per_operation": spent / operations,
    }


async def _one_transaction(url: str, kept: bool, n: int = 200) -> dict[str, float]:
    """ms per read (get_approval) and per write (set_outcome) transaction on SQLite, with the store as it is
    (kept connections) or, as a diagnostic, with a new connection per transaction (NullPool swapped in)."""
    store = SqlStore(url)
    if not kept:
        from sqlalchemy.ext.asyncio import create_async_engine
        from sqlalchemy.pool import NullPool

        from polar_orders_mcp.store import database

        def per_transaction() -> Any:
            engine = create_async_engine(store._url, poolclass=NullPool, connect_args={"timeout": 30})
            database._sqlite_pragmas(engine)
            return engine

        store._make_engine = per_transaction  # type: ignore[method-assign]
    approval = await store.create_approval(_request("diagnostic"))
    timed: dict[str, float] = {}
    for name, op in (
        ("read", lambda: store.get_approval(approval.id)),
        ("write", lambda: store.set_outcome(approval.id, "done")),
    ):
        for _ in range(10):
            await op()
        began = time.perf_counter()
        for _ in range(n):
            await op()
        timed[f"{name}_ms"] = (time.perf_counter() - began) * 1000 / n
    await store.close()
    return timed


def _request(target: str) -> NewApproval:
    return NewApproval(
        tool="finalize_order",
        target=target,
        digest="d" * 64,
        facts={"order_id": target, "amount": 1500},
        summary=f"Charge $15.00 for order {target}",
        message=f"Charge $15.00 for order {target}",
        display=[("Amount", "$15.00", "amount")],
        amount=1500,
        currency="usd",
        client="http",
        session="s" * 32,
        channel="console",
        ttl=900,
    )


def store_costs(sqlite_url: str, postgres_url: Callable[[], str], config: Config) -> dict[str, Any]:
    result: dict[str, Any] = {"charges": config.store_charges}
    folder = Path(tempfile.mkdtemp(prefix="diagnostic-", dir=WORK[0]))
    result["sqlite_transaction"] = {
        "per transaction": asyncio.run(_one_transaction(f"sqlite:///{folder / 'a.db'}", kept=False)),
        "kept": asyncio.run(_one_transaction(f"sqlite:///{folder / 'b.db'}", kept=True)),
    }
    for concurrency in (1, 8):
        key = f"concurrency {concurrency}"
        result[key] = {
            name: asyncio.run(_store_run(url, config.store_charges, concurrency))
            for name, url in (("sqlite", f"{sqlite_url}{concurrency}.db"), ("postgresql", postgres_url()))
        }
        rows = result[key]
        result["operations_per_charge"] = rows["sqlite"]["operations_per_charge"]
        result[key]["postgresql_over_sqlite_ms"] = stats.ratio(
            rows["postgresql"]["store_ms_per_charge"], rows["sqlite"]["store_ms_per_charge"]
        )
        result[key]["postgresql_over_sqlite_rate"] = stats.ratio(
            rows["postgresql"]["charges_per_s"], rows["sqlite"]["charges_per_s"]
        )
    return result


# 3. One approved charge end to end ------------------------------------------------------------------------


async def _e2e(url: str, token: str, approver: str, drafts: Drafts, charges: int) -> dict[str, Any]:
    session = await _session(url, token)
    times: list[float] = []
    async with Person(base_url=url, secret=approver) as person:
        await person.sign_in()
        for n in range(charges + 3):
            target = drafts.take()
            began = time.perf_counter()
            first = (await session.call("finalize_order", {"order_id": target}))["structuredContent"]
            approval_id = first["approval"]["approval_id"]
            decided = await person.decide(approval_id, "approve")
            assert decided.status_code == 303, decided.text[:200]
            done = await session.call("finalize_order", {"order_id": target, "approval_id": approval_id})
            assert done["structuredContent"]["status"] == "charged", done
            if n >= 3:  # the first three warm up
                times.append((time.perf_counter() - began) * 1000)
    await session.aclose()
    return {"ms_per_charge": stats.summary(times)}


def end_to_end(topology: Topology, procs: p.Processes, config: Config) -> dict[str, Any]:
    """The same approved charge against a replica on PostgreSQL and a server on a SQLite file."""
    drafts = Drafts.make(topology.emulator_url, 2 * (config.e2e_charges + 3))
    state = Path(tempfile.mkdtemp(prefix="sqlite-server-", dir=WORK[0]))
    env = {**topology.env(), "POLAR_MCP_STATE_DIR": str(state)}
    env.pop("POLAR_MCP_DATABASE_URL")
    env.pop("POLAR_MCP_CONSOLE_URL")
    port = p.free_port()
    argv = [
        p.OUR_COMMAND,
        "serve",
        "--transport",
        "http",
        "--host",
        p.HOST,
        "--port",
        str(port),
        "--max-daily",
        "usd=1000000000",
    ]
    sqlite_proc = procs.start("sqlite-server", argv, env)
    sqlite_url = f"http://{p.HOST}:{port}"
    p.wait_http(f"{sqlite_url}/healthz", 60, sqlite_proc)
    s = topology.secrets
    try:
        rows = {
            "sqlite": asyncio.run(_e2e(sqlite_url, s.http_token, s.approver_token, drafts, config.e2e_charges)),
            "postgresql": asyncio.run(
                _e2e(topology.replicas[0].url, s.http_token, s.approver_token, drafts, config.e2e_charges)
            ),
        }
    finally:
        procs.stop(sqlite_proc)
    return {
        **rows,
        "postgresql_over_sqlite": stats.ratio(
            rows["postgresql"]["ms_per_charge"]["median"], rows["sqlite"]["ms_per_charge"]["median"]
        ),
    }


# The report ---------------------------------------------------------------------------------------------


def _f(value: float, digits: int = 1) -> str:
    return f"{value:,.{digits}f}"


SHAPES = ("one replica", "two replicas", "two replicas behind the proxy")


def _cpu_parts(cpu: dict[str, float]) -> dict[str, float]:
    """CPU ms per call grouped as the report shows it: the replicas together, then each other process."""
    parts = {"replicas": sum(v for k, v in cpu.items() if k.startswith("replica-"))}
    parts |= {k: v for k, v in cpu.items() if not k.startswith("replica-")}
    return parts


def _cpu_section(t: dict[str, Any], cores: int) -> list[str]:
    """What bounds the calls per second: the CPU each call costs every process, against the cores there are."""
    if "cpu_ms_per_call" not in t["read"]["one replica"]:
        return []  # results from before the CPU was counted
    names = list(_cpu_parts(t["read"]["one replica"]["cpu_ms_per_call"]))
    lines = [
        "",
        "## What bounds it: the CPU each call costs",
        "",
        "CPU time (user + system) each process spent per call during the runs above, median of the rounds; "
        f"the ceiling is what {cores} cores could serve if nothing but these calls used them.",
        "",
        f"| workload | topology | {' | '.join(names)} | whole system | ceiling on {cores} cores | measured | "
        "measured / ceiling |",
        "|---|---|" + "---|" * (len(names) + 4),
    ]
    for kind, label in (("read", "reads"), ("charge", "approved charges")):
        for shape in SHAPES:
            row = t[kind][shape]
            parts = _cpu_parts(row["cpu_ms_per_call"])
            total = sum(parts.values())
            ceiling = cores * 1000 / total if total else float("nan")
            measured = row["calls_per_s"]["median"]
            cells = " | ".join(_f(parts.get(name, 0.0), 2) for name in names)
            lines.append(
                f"| {label} | {shape} | {cells} | {_f(total, 2)} ms | {_f(ceiling, 0)} calls/s | "
                f"{_f(measured, 0)} calls/s | {measured / ceiling:.0%} |"
            )
    read = t["read"]["one replica"]
    parts = _cpu_parts(read["cpu_ms_per_call"])
    total, replica = sum(parts.values()), parts["replicas"]
    single = 1000 / replica
    one, two = read["calls_per_s"]["median"], t["read"]["two replicas"]["calls_per_s"]["median"]
    two_ceiling = cores * 1000 / sum(_cpu_parts(t["read"]["two replicas"]["cpu_ms_per_call"]).values())
    lines += [
        "",
        f"A read costs the whole system {_f(total, 2)} ms of CPU, {_f(replica, 2)} ms of it in the replica. One "
        f"replica is one Python process, so one core at most: {_f(single, 0)} reads/s, and it reached "
        f"{_f(one, 0)} ({one / single:.0%} of that). Two replicas are bound by the {cores} cores, which every read "
        f"also costs in the emulator, the load generator and PostgreSQL: at most {_f(two_ceiling, 0)} reads/s at "
        f"their CPU per read, and they reached {_f(two, 0)} ({two / two_ceiling:.0%}), "
        f"{t['read']['two_over_one']:.2f}× one replica. With a core per replica and the other processes "
        "elsewhere, each replica's own CPU per read would be the bound.",
    ]
    return lines


def markdown(r: dict[str, Any]) -> str:
    t, s, e = r["throughput"], r["store"], r["end_to_end"]
    lines = [
        "# Replicas and the store",
        "",
        f"`{r['command']}` on {r['started']}: {r['machine']['cores']} cores ({r['machine']['cpu']}), load "
        f"{r['machine']['load_start']} at the start, {r['machine']['load_end']} at the end; PostgreSQL "
        f"{r['postgresql']} with its durable defaults, SQLite with synchronous=FULL; polar-orders-mcp "
        f"{r['version']}, Python {r['python']}. Everything — load generator, proxy, replicas, emulator, "
        "PostgreSQL — shares this machine's cores, so a second replica adds processes, not CPUs.",
        "",
        "## Calls per second, one and two replicas on one PostgreSQL",
        "",
        f"{t['sessions']} streamable-HTTP sessions calling back to back for {t['seconds']:.0f} s, "
        f"{t['reps']} round(s), median. *Reads*: `get_order` (the store is not touched). *Approved charges*: "
        "`finalize_order` (a request for approval), the approval written to the store as the console does, "
        "`finalize_order` again (charged): two calls each, counted as two.",
        "",
        "| workload | one replica | two replicas, sessions split | two replicas behind deploy/proxy.py | "
        "two / one | proxy / one |",
        "|---|---|---|---|---|---|",
    ]
    for kind, label in (("read", "reads"), ("charge", "approved charges")):
        row = t[kind]
        cells = [
            f"{_f(row[name]['calls_per_s']['median'], 0)} calls/s (p50 {_f(row[name]['p50_ms']['median'])} ms"
            f"{', ' + str(row[name]['errors']) + ' errors' if row[name]['errors'] else ''})"
            for name in ("one replica", "two replicas", "two replicas behind the proxy")
        ]
        lines.append(f"| {label} | {' | '.join(cells)} | {row['two_over_one']:.2f}× | {row['proxy_over_one']:.2f}× |")
    lines += _cpu_section(t, r["machine"]["cores"])
    lines += [
        "",
        "## The store's cost per irreversible call",
        "",
        f"Real console-approved charges under `--max-daily` (the MCP client in memory, the console's page and "
        "decision over ASGI, the emulator in process), timing every store transaction they make: "
        f"{s['operations_per_charge']:g} per charge (the request with its limit check and audit record; the "
        "console's page and decision; the approval with the day's spend, its redemption with the act counted, "
        f"the act settled with the outcome and audit record), {s['charges']} charges per row.",
        "",
        "| charges at once | SQLite: ms in the store per charge | PostgreSQL: ms in the store per charge | "
        "PostgreSQL / SQLite | SQLite charges/s | PostgreSQL charges/s | PostgreSQL / SQLite |",
        "|---|---|---|---|---|---|---|",
    ]
    for concurrency in (1, 8):
        row = s[f"concurrency {concurrency}"]
        q, g = row["sqlite"], row["postgresql"]
        lines.append(
            f"| {concurrency} | {_f(q['store_ms_per_charge'], 2)} | {_f(g['store_ms_per_charge'], 2)} | "
            f"{row['postgresql_over_sqlite_ms']:.2f}× | {_f(q['charges_per_s'], 0)} | {_f(g['charges_per_s'], 0)} | "
            f"{row['postgresql_over_sqlite_rate']:.2f}× |"
        )
    one = s["concurrency 1"]
    if diagnostic := s.get("sqlite_transaction"):
        each, kept = diagnostic["per transaction"], diagnostic["kept"]
        lines += [
            "",
            "One SQLite transaction on the store as it is (connections kept per event loop) takes "
            f"{kept['read_ms']:.2f} ms to read an approval and {kept['write_ms']:.2f} ms to write its outcome; with "
            f"a new connection per transaction (NullPool, swapped in for this measure only) {each['read_ms']:.2f} ms "
            f"and {each['write_ms']:.2f} ms.",
        ]
    lines += [
        "",
        "## One approved charge end to end",
        "",
        "Against a server process: the first `finalize_order`, the approver's click in the console (the page, "
        "then the POST), the second `finalize_order` that charges; one at a time, "
        f"{e['sqlite']['ms_per_charge']['n']} charges per backend, after three to warm up.",
        "",
        "| store | ms per approved charge (p50 / p99) | of which the store (from the table above) | share |",
        "|---|---|---|---|",
    ]
    for name, label in (("sqlite", "SQLite file"), ("postgresql", "PostgreSQL")):
        total = e[name]["ms_per_charge"]
        part = one[name]["store_ms_per_charge"]
        lines.append(
            f"| {label} | {_f(total['median'])} / {_f(total['p99'])} | {_f(part, 2)} | {part / total['median']:.0%} |"
        )
    lines += [
        "",
        f"PostgreSQL / SQLite, end to end: {e['postgresql_over_sqlite']:.2f}×.",
        "",
        "## Reading it",
        "",
        "- Both stores keep their connections in a pool per event loop (SQLite's through aiosqlite's own "
        "thread each). Both wait for the disk at every commit. Eight charges at once on SQLite queue for its "
        "one writer; their store time includes that wait, and the event loop's other work.",
        "- Two replicas on two cores share them with the load generator, the emulator and PostgreSQL: what a "
        "second replica adds here is a second Python process, not a CPU. deploy/proxy.py is one more Python "
        "process in every request's path; HAProxy (the compose recipe) is not measured here.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.replicas", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: short and small (writes replicas-quick.*)")
    parser.add_argument("--out", type=Path, default=p.BENCH / "results", help="results directory")
    parser.add_argument("--render", type=Path, metavar="JSON", help="only write the .md again from a JSON")
    args = parser.parse_args(argv)
    if args.render:
        args.render.with_suffix(".md").write_text(markdown(json.loads(args.render.read_text())))
        return 0
    config = QUICK if args.quick else FULL
    results: dict[str, Any] = {
        "started": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "python -m bench.replicas" + (" --quick" if args.quick else ""),
        "config": asdict(config),
        "machine": machine(),
        "version": version("polar-orders-mcp"),
        "python": platform.python_version(),
    }
    WORK.append(tempfile.mkdtemp(prefix="polar-orders-mcp-bench-replicas-"))
    logdir = Path(WORK[0]) / "logs"
    serve_args = ["--max-daily", "usd=1000000000", "--approval-wait", "0"]
    with Cluster(fast=False) as cluster, p.Processes(logdir) as procs:
        results["postgresql"] = cluster.psql("SHOW server_version")
        topology = Topology(
            replicas=2,
            database_url=cluster.create_database("bench"),
            orders=200,
            serve_args=serve_args,
            secrets_=Secrets(),
            proxy_process=True,
        )
        with topology:
            print("bench.replicas: throughput …", file=sys.stderr, flush=True)
            results["throughput"] = throughput(topology, config, postmaster_pid(cluster))
            print("bench.replicas: end to end …", file=sys.stderr, flush=True)
            results["end_to_end"] = end_to_end(topology, procs, config)
        print("bench.replicas: the store alone …", file=sys.stderr, flush=True)
        sqlite_dir = Path(tempfile.mkdtemp(prefix="store-", dir=WORK[0]))
        results["store"] = store_costs(
            f"sqlite:///{sqlite_dir}/state-", lambda: cluster.create_database(f"store_{secrets.token_hex(3)}"), config
        )
    shutil.rmtree(WORK[0], ignore_errors=True)
    results["machine"]["load_end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / ("replicas-quick" if args.quick else "replicas")
    stem.with_suffix(".json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    stem.with_suffix(".md").write_text(markdown(results))
    print(f"bench.replicas: wrote {stem}.md", file=sys.stderr)
    print(markdown(results))
    if not args.quick:
        readme.main([])  # the docs' replica figures from the results just written
    return 0


if __name__ == "__main__":
    sys.exit(main())
