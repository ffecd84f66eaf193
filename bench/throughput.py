"""3. Throughput over streamable HTTP: concurrent client sessions calling get_order for a fixed time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx2

from bench import procs as p
from bench import rpc, stats
from bench.latency import order_ids

Call = Callable[[str], Awaitable[Any]]


async def _direct_session(emulator_url: str) -> tuple[Call, Callable[[], Awaitable[None]]]:
    client = httpx2.AsyncClient(
        base_url=emulator_url,
        headers={"authorization": f"Bearer {p.ORG_TOKEN}", "polar-version": "2026-10"},
        timeout=rpc.TIMEOUT,
    )

    async def call(order_id: str) -> None:
        (await client.get(f"/v1/orders/{order_id}")).raise_for_status()

    return call, client.aclose


def _mcp_session(url: str, tool: str) -> Callable[[], Awaitable[tuple[Call, Callable[[], Awaitable[None]]]]]:
    async def start() -> tuple[Call, Callable[[], Awaitable[None]]]:
        session = rpc.AsyncHttpSession(url)
        await session.initialize()

        async def call(order_id: str) -> None:
            await session.call(tool, {"order_id": order_id} if tool == "get_order" else {"text": "x"})

        return call, session.aclose

    return start


async def load(
    start_session: Callable[[], Awaitable[tuple[Call, Callable[[], Awaitable[None]]]]],
    ids: list[str],
    sessions: int,
    seconds: float,
    pids: dict[str, int] | None = None,
) -> dict[str, Any]:
    """`sessions` clients calling back-to-back for `seconds`; sessions are opened before the clock starts.

    `pids` names processes whose CPU time per call is reported (the load generator is this process).
    """
    opened = await asyncio.gather(*(start_session() for _ in range(sessions)))
    pids = pids or {}
    cpu_before = {name: p.cpu_seconds(pid) for name, pid in pids.items()}
    own_before = time.process_time()
    latencies: list[float] = []
    errors: list[str] = []
    deadline = time.monotonic() + seconds

    async def worker(index: int, call: Call) -> None:
        n = index
        while time.monotonic() < deadline:
            began = time.perf_counter()
            try:
                await call(ids[n % len(ids)])
            except (rpc.RpcError, httpx2.HTTPError) as exc:
                errors.append(repr(exc)[:200])
            else:
                latencies.append((time.perf_counter() - began) * 1000)
            n += sessions

    began = time.perf_counter()
    await asyncio.wait_for(
        asyncio.gather(*(worker(i, call) for i, (call, _) in enumerate(opened))), timeout=seconds + 120
    )
    elapsed = time.perf_counter() - began
    cpu = {name: p.cpu_seconds(pid) - cpu_before[name] for name, pid in pids.items()}
    cpu["load generator"] = time.process_time() - own_before
    await asyncio.gather(*(close() for _, close in opened), return_exceptions=True)
    calls = max(len(latencies), 1)
    return {
        "cpu_ms_per_call": {name: 1000 * used / calls for name, used in cpu.items()},
        "seconds": elapsed,
        "calls": len(latencies),
        "calls_per_s": len(latencies) / elapsed,
        "p50_ms": stats.percentile(latencies, 50),
        "p99_ms": stats.percentile(latencies, 99),
        "errors": len(errors),
        "first_errors": errors[:3],
    }


def run(procs: p.Processes, emulator_url: str, sessions: int, seconds: float, reps: int) -> dict[str, Any]:
    ids = order_ids(emulator_url)
    ours_url, ours_proc = procs.ours_http(emulator_url, "http")
    floor_url, floor_proc = procs.floor_http()
    emulator_pid = procs.by_url[emulator_url].pid
    peers = {
        "direct": (lambda: _direct_session(emulator_url), {"emulator": emulator_pid}),
        "ours-http": (
            _mcp_session(f"{ours_url}/mcp", "get_order"),
            {"server": ours_proc.pid, "emulator": emulator_pid},
        ),
        "floor-http": (_mcp_session(f"{floor_url}/mcp", "echo"), {"server": floor_proc.pid}),
    }
    for start, _ in peers.values():  # warm-up: connections, caches; not counted
        asyncio.run(load(start, ids, sessions, min(seconds, 2.0)))
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in peers}
    names = list(peers)
    for rep in range(reps):
        for name in names[rep % len(names) :] + names[: rep % len(names)]:
            start, pids = peers[name]
            runs[name].append(asyncio.run(load(start, ids, sessions, seconds, pids)))
    result: dict[str, Any] = {"sessions": sessions, "seconds": seconds, "reps": reps, "peers": {}}
    for name, rows in runs.items():
        result["peers"][name] = {
            "calls_per_s": stats.summary([r["calls_per_s"] for r in rows]),
            "p50_ms": stats.summary([r["p50_ms"] for r in rows]),
            "p99_ms": stats.summary([r["p99_ms"] for r in rows]),
            "errors": sum(r["errors"] for r in rows),
            "calls": sum(r["calls"] for r in rows),
            "first_errors": [e for r in rows for e in r["first_errors"]][:3],
            "cpu_ms_per_call": {
                name: stats.summary([r["cpu_ms_per_call"][name] for r in rows])["median"]
                for name in rows[0]["cpu_ms_per_call"]
            },
        }
    per_rep = [o["calls_per_s"] / d["calls_per_s"] for o, d in zip(runs["ours-http"], runs["direct"], strict=True)]
    result["ours_over_direct"] = stats.ratio(
        result["peers"]["ours-http"]["calls_per_s"]["median"], result["peers"]["direct"]["calls_per_s"]["median"]
    )
    result["ours_over_direct_per_rep"] = stats.summary(per_rep)
    # Less sensitive to other work on the machine: the CPU each call costs all processes together.
    cpu = {name: sum(peer["cpu_ms_per_call"].values()) for name, peer in result["peers"].items()}
    result["cpu_ms_per_call_total"] = cpu
    result["direct_over_ours_cpu_per_call"] = cpu["direct"] / cpu["ours-http"]
    return result
