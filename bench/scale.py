"""5. Scale: export_orders and a full list_orders walk over many orders; time and the server's peak RSS."""

from __future__ import annotations

import time
from functools import partial
from typing import Any

import httpx2

from bench import procs as p
from bench import rpc, stats

PAGE = 100  # the most Polar returns per page
# export_orders is in the opt-in reports toolset.
TOOLSETS = ("default", "reports")
CALL_TIMEOUT = 600.0


def _direct_client(emulator_url: str) -> httpx2.Client:
    return httpx2.Client(
        base_url=emulator_url,
        headers={"authorization": f"Bearer {p.ORG_TOKEN}", "polar-version": "2026-10"},
        timeout=CALL_TIMEOUT,
    )


def direct_export(emulator_url: str) -> tuple[float, int]:
    """Download the whole CSV straight from the emulator: seconds and rows."""
    with _direct_client(emulator_url) as client:
        started = time.perf_counter()
        lines = 0
        with client.stream("GET", "/v1/orders/export") as response:
            response.raise_for_status()
            for chunk in response.iter_bytes():
                lines += chunk.count(b"\n")
        return time.perf_counter() - started, lines - 1


def direct_walk(emulator_url: str) -> tuple[float, int]:
    """Every page of GET /v1/orders/ straight from the emulator: seconds and orders seen."""
    with _direct_client(emulator_url) as client:
        started = time.perf_counter()
        page, seen = 1, 0
        while True:
            body = client.get("/v1/orders/", params={"limit": PAGE, "page": page}).json()
            seen += len(body["items"])
            if page >= body["pagination"]["max_page"]:
                break
            page += 1
        return time.perf_counter() - started, seen


def ours_export(session: rpc.StdioSession) -> int:
    result = session.call("export_orders", {}, timeout=CALL_TIMEOUT)
    row_count: int = result["structuredContent"]["row_count"]
    return row_count


def ours_walk(session: rpc.StdioSession) -> int:
    page, seen = 1, 0
    while True:
        result = session.call("list_orders", {"limit": PAGE, "page": page}, timeout=CALL_TIMEOUT)
        body = result["structuredContent"]
        seen += len(body["items"])
        if body["next_page"] is None:
            return seen
        page = body["next_page"]


def measure_ours(procs: p.Processes, emulator_url: str, op: str) -> dict[str, Any]:
    """A fresh server per operation, so that its peak RSS belongs to that operation alone."""
    session = procs.stdio(f"scale-{op}", procs.ours_stdio_argv(TOOLSETS), procs.ours_env(emulator_url))
    emulator_pid = procs.by_url[emulator_url].pid
    try:
        rss_start = p.rss_peak_kb(session.proc.pid)
        cpu_start = p.cpu_seconds(session.proc.pid)
        emulator_cpu_start = p.cpu_seconds(emulator_pid)
        started = time.perf_counter()
        rows = ours_export(session) if op == "export" else ours_walk(session)
        seconds = time.perf_counter() - started
        rss_peak = p.rss_peak_kb(session.proc.pid)
        cpu = p.cpu_seconds(session.proc.pid) - cpu_start
        emulator_cpu = p.cpu_seconds(emulator_pid) - emulator_cpu_start
    finally:
        procs.stop(session.proc)
    return {
        "seconds": seconds,
        "rows": rows,
        "rss_start_mb": rss_start / 1024,
        "rss_peak_mb": rss_peak / 1024,
        "server_cpu_seconds": cpu,
        "emulator_cpu_seconds": emulator_cpu,
    }


def linearity(small: dict[str, Any], large: dict[str, Any], growth: float, key: str) -> float:
    """1.0 is perfectly linear; 2.0 means each row costs twice as much at the larger size. NaN when the smaller
    size took no measurable time (a tiny run: CPU time counts in clock ticks)."""
    return stats.ratio(large[key]["median"], small[key]["median"]) / growth


def run(procs: p.Processes, sizes: list[int], reps: int) -> dict[str, Any]:
    result: dict[str, Any] = {"sizes": sizes, "reps": reps, "page": PAGE, "runs": {}}
    for n in sizes:
        seeding = time.perf_counter()
        emulator_url = procs.emulator(n, timeout=900)
        emulator_proc = procs.started[-1]
        seed_seconds = time.perf_counter() - seeding
        rows: dict[str, list[dict[str, Any]]] = {"export": [], "walk": []}
        for _ in range(reps):
            for op in ("export", "walk"):
                direct_seconds, direct_rows = (direct_export if op == "export" else direct_walk)(emulator_url)
                ours = measure_ours(procs, emulator_url, op)
                rows[op].append({**ours, "direct_seconds": direct_seconds, "direct_rows": direct_rows})
        procs.stop(emulator_proc)
        result["runs"][str(n)] = {"seed_seconds": seed_seconds}
        for op, samples in rows.items():
            result["runs"][str(n)][op] = {
                "seconds": stats.summary([s["seconds"] for s in samples]),
                "direct_seconds": stats.summary([s["direct_seconds"] for s in samples]),
                "rss_start_mb": stats.summary([s["rss_start_mb"] for s in samples]),
                "rss_peak_mb": stats.summary([s["rss_peak_mb"] for s in samples]),
                "server_cpu_seconds": stats.summary([s["server_cpu_seconds"] for s in samples]),
                "emulator_cpu_seconds": stats.summary([s["emulator_cpu_seconds"] for s in samples]),
                "rows": samples[0]["rows"],
                "direct_rows": samples[0]["direct_rows"],
                "rows_ok": all(s["rows"] == n and s["direct_rows"] == n for s in samples),
            }
    small, large = str(min(sizes)), str(max(sizes))
    growth = max(sizes) / min(sizes)
    derived: dict[str, float] = {}
    for op in ("export", "walk"):
        a, b = result["runs"][small][op], result["runs"][large][op]
        per_row = partial(linearity, a, b, growth)
        derived[f"{op} time linearity"] = per_row("seconds")
        derived[f"{op} direct time linearity"] = per_row("direct_seconds")
        derived[f"{op} ours/direct time {large}"] = stats.ratio(b["seconds"]["median"], b["direct_seconds"]["median"])
        derived[f"{op} peak RSS MB {large}"] = b["rss_peak_mb"]["max"]
        derived[f"{op} RSS growth {small}->{large}"] = b["rss_peak_mb"]["max"] / a["rss_peak_mb"]["max"]
        derived[f"{op} server CPU linearity"] = per_row("server_cpu_seconds")
        derived[f"{op} emulator CPU linearity"] = per_row("emulator_cpu_seconds")
        derived[f"{op} server CPU µs per row {large}"] = 1e6 * b["server_cpu_seconds"]["median"] / int(large)
    result["derived"] = derived
    return result
