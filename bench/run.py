"""Run the benchmarks and write bench/results/latest.md (+ .json and .png): `python -m bench.run [--quick | --tiny]`."""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

from bench import cold_start, context, latency, profile, readme, report, scale, tasks, throughput
from bench import procs as p


@dataclass(frozen=True)
class Config:
    orders: int  # in the emulator shared by benchmarks 1-4
    cold_runs: int
    latency_calls: int
    sessions: int
    throughput_seconds: float
    throughput_reps: int
    scale_sizes: tuple[int, ...]
    scale_reps: int
    profile_calls: int
    profile_seconds: float


FULL = Config(
    orders=1000,
    cold_runs=20,
    latency_calls=500,
    sessions=16,
    throughput_seconds=20,
    throughput_reps=3,
    scale_sizes=(10_000, 100_000),
    scale_reps=3,
    profile_calls=1000,
    profile_seconds=8,
)
QUICK = Config(
    orders=200,
    cold_runs=3,
    latency_calls=50,
    sessions=16,
    throughput_seconds=3,
    throughput_reps=1,
    scale_sizes=(1_000, 5_000),
    scale_reps=1,
    profile_calls=100,
    profile_seconds=2,
)
# Seconds per benchmark: that each still runs on this tree (tests/test_bench_smoke.py); its figures mean nothing.
TINY = Config(
    orders=60,
    cold_runs=1,
    latency_calls=25,
    sessions=2,
    throughput_seconds=0.3,
    throughput_reps=1,
    scale_sizes=(30, 60),
    scale_reps=1,
    profile_calls=10,
    profile_seconds=0.3,
)

Bench = Callable[[p.Processes, str, Config], dict[str, Any]]
BENCHMARKS: dict[str, tuple[Bench, float]] = {  # name: (function, time budget in seconds)
    "cold_start": (lambda procs, url, c: cold_start.run(procs, url, c.cold_runs), 300),
    "latency": (lambda procs, url, c: latency.run(procs, url, c.latency_calls), 600),
    "profile": (lambda procs, url, c: profile.run(procs, url, c.profile_calls, c.profile_seconds), 300),
    "throughput": (
        lambda procs, url, c: throughput.run(procs, url, c.sessions, c.throughput_seconds, c.throughput_reps),
        600,
    ),
    "context": (lambda procs, url, c: context.run(procs, url), 120),
    # Resets the shared emulator before each task: after the benchmarks that read it as seeded.
    "tasks": (lambda procs, url, c: tasks.run(procs, url), 300),
    "scale": (lambda procs, url, c: scale.run(procs, list(c.scale_sizes), c.scale_reps), 1800),
}


def _run(argv: list[str]) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=30, cwd=p.ROOT).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "?"


def machine() -> dict[str, Any]:
    cpu = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    memory_kb = next(
        int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")
    )
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": memory_kb / 1024 / 1024,
        "system": f"{platform.system()} {platform.release()}",
        "load_start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def versions() -> dict[str, str]:
    def node_package(name: str) -> str:
        path = p.BENCH / "node_modules" / name / "package.json"
        return json.loads(path.read_text())["version"] if path.exists() else "not installed"

    commit = _run(["git", "rev-parse", "--short", "HEAD"])
    dirty = _run(["git", "status", "--porcelain", "--untracked-files=no", "src"])
    return {
        "polar-orders-mcp": f"{version('polar-orders-mcp')} ({commit}{', modified' if dirty else ''})",
        "Python": platform.python_version(),
        "mcp": version("mcp"),
        "httpx2": version("httpx2"),
        "uvicorn": version("uvicorn"),
        "pydantic": version("pydantic"),
        "Node": _run(["node", "--version"]),
        "@polar-sh/sdk": node_package("@polar-sh/sdk"),
        "@modelcontextprotocol/sdk (Node)": node_package("@modelcontextprotocol/sdk"),
    }


def render(results: dict[str, Any], stem: Path) -> int:
    """Write `stem`.md and `stem`.png from the results."""
    png = stem.with_suffix(".png")
    drawn = report.chart(results, png)
    stem.with_suffix(".md").write_text(report.markdown(results, png.name if drawn else None))
    note = f" and {png.name}" if drawn else " (no chart: pip install -e '.[bench]' for matplotlib)"
    print(f"bench: wrote {stem}.md{note}", file=sys.stderr)
    print("\n".join(report.headline(results)))
    return 0


def _stop_on_sigterm() -> None:
    def stop(signum: int, _: Any) -> None:
        raise SystemExit(128 + signum)  # unwinds through every `finally`: the peers are stopped

    signal.signal(signal.SIGTERM, stop)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="a smoke run: small N, short runs (writes quick.*)")
    size.add_argument("--tiny", action="store_true", help="seconds per benchmark, to check each runs (writes tiny.*)")
    parser.add_argument("--only", nargs="+", choices=list(BENCHMARKS), help="run only these benchmarks")
    parser.add_argument("--out", type=Path, default=p.BENCH / "results", help="results directory")
    parser.add_argument("--render", type=Path, metavar="JSON", help="only write the .md and .png again from a JSON")
    args = parser.parse_args(argv)
    if args.render:
        return render(json.loads(args.render.read_text()), args.render.with_suffix(""))
    if not p.POLAR_SERVER_JS.exists():
        print("bench: Polar's server is missing: run `npm ci` in bench/ (make bench does)", file=sys.stderr)
        return 2
    if shutil.which("node") is None:
        print("bench: node is not on PATH", file=sys.stderr)
        return 2
    _stop_on_sigterm()
    config = TINY if args.tiny else QUICK if args.quick else FULL
    names = args.only or list(BENCHMARKS)
    started = time.monotonic()
    label = "tiny" if args.tiny else "quick" if args.quick else ""
    command = "python -m bench.run" + (f" --{label}" if label else "")
    if args.only:
        command += f" --only {' '.join(names)}"
    results: dict[str, Any] = {
        "started": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": command,
        "quick": bool(label),
        "config": asdict(config),
        "machine": machine(),
        "versions": versions(),
        "benchmarks": {},
        "failures": {},
    }
    logdir = Path(tempfile.mkdtemp(prefix="polar-orders-mcp-bench-"))
    print(f"bench: logs of every process in {logdir}", file=sys.stderr)
    with p.Processes(logdir) as procs:
        emulator_url = procs.emulator(config.orders) if set(names) - {"scale"} else ""
        for name in names:
            fn, budget = BENCHMARKS[name]
            print(f"bench: {name} …", file=sys.stderr, flush=True)
            began = time.monotonic()
            try:
                with p.time_limit(budget * (0.5 if label else 1), name):
                    results["benchmarks"][name] = fn(procs, emulator_url, config)
            except Exception as exc:  # record it and go on with the next benchmark
                traceback.print_exc()
                results["failures"][name] = f"{type(exc).__name__}: {exc}"[:500]
            print(f"bench: {name} done in {time.monotonic() - began:.0f} s", file=sys.stderr, flush=True)
    if "tasks" in results["benchmarks"] and (failed := tasks.failures(results["benchmarks"]["tasks"])):
        results["failures"]["tasks"] = f"tasks that no longer fit the tools: {', '.join(failed)}"
    results["machine"]["load_end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    results["elapsed_s"] = time.monotonic() - started
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / (label or "latest")
    if "tasks" in results["benchmarks"]:
        task_stem = args.out / (f"tasks-{label}" if label else "tasks")
        results["benchmarks"]["tasks"]["file"] = task_stem.with_suffix(".md").name
        tasks.write(results["benchmarks"]["tasks"], task_stem, command)
    stem.with_suffix(".json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    render(results, stem)
    if not label and not args.only and args.out == p.BENCH / "results":
        readme.main([])  # the docs' figures from the results just written
    if results["failures"]:
        print(f"bench: failures; the processes' logs are in {logdir}", file=sys.stderr)
        return 1
    shutil.rmtree(logdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
