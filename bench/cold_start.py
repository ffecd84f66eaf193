"""1. Cold start: spawn a server over stdio until its first `tools/list` answer; what our imports cost."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from typing import Any

from bench import procs as p
from bench import rpc, stats


def spawn_to_tools_list(procs: p.Processes, name: str, argv: list[str], env: dict[str, str]) -> dict[str, Any]:
    """Seconds from spawn to the `tools/list` answer (initialize handshake included), and peak RSS."""
    started = time.perf_counter()
    proc = procs.start(name, argv, env, pipes=True)
    try:
        session = rpc.StdioSession(proc)
        session.initialize()
        tools = rpc.check(session.request("tools/list"))["tools"]
        seconds = time.perf_counter() - started
        rss = p.rss_peak_kb(proc.pid)
    finally:
        procs.stop(proc)
    return {"seconds": seconds, "rss_kb": rss, "tools": len(tools)}


def import_costs(argv: list[str], env: dict[str, str]) -> dict[str, int]:
    """Self import time (µs) of every module a server imports before it reads stdin (-X importtime)."""
    script = argv[1:] if argv[0] == sys.executable else argv  # a Python script and its arguments
    done = subprocess.run(
        [sys.executable, "-X", "importtime", *script],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        cwd=p.ROOT,
    )
    modules: dict[str, int] = {}
    for line in done.stderr.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+\d+ \| (\s*)(\S+)", line)
        if match:
            modules[match.group(3)] = int(match.group(1))
    return modules


def _group(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] in ("polar_orders_mcp", "mcp") else parts[0]


def import_breakdown(procs: p.Processes, emulator_url: str) -> dict[str, Any]:
    """What our server imports beyond the floor, grouped by package, largest first."""
    floor = import_costs(procs.floor_stdio_argv(), p.clean_env())
    ours = import_costs(procs.ours_stdio_argv(), procs.ours_env(emulator_url))
    extra = {name: us for name, us in ours.items() if name not in floor}
    groups: dict[str, int] = {}
    for name, us in extra.items():
        groups[_group(name)] = groups.get(_group(name), 0) + us
    return {
        "floor_modules": len(floor),
        "ours_modules": len(ours),
        "extra_modules": len(extra),
        "floor_import_ms": sum(floor.values()) / 1000,
        "ours_import_ms": sum(ours.values()) / 1000,
        "extra_import_ms": sum(extra.values()) / 1000,
        "extra_by_package_ms": {k: v / 1000 for k, v in sorted(groups.items(), key=lambda kv: -kv[1])[:15]},
        "not_imported": [
            m
            for m in ("polar_orders_mcp.emulator", "polar_orders_mcp.server.http", "uvicorn", "httpcore2", "h11", "ssl")
            if m not in ours
        ],
    }


def startup_phases(env: dict[str, str], runs: int) -> dict[str, dict[str, float]]:
    """Median milliseconds of each startup phase (bench/startup_phases.py), ours and the floor."""
    result: dict[str, dict[str, float]] = {}
    for which in ("floor", "ours"):
        samples: list[dict[str, float]] = []
        for _ in range(runs):
            done = subprocess.run(
                [sys.executable, "-m", "bench.startup_phases", which],
                capture_output=True,
                text=True,
                env=env,
                timeout=60,
                cwd=p.ROOT,
                check=True,
            )
            samples.append(json.loads(done.stdout))
        result[which] = {phase: stats.summary([s[phase] for s in samples])["median"] for phase in samples[0]}
    return result


def run(procs: p.Processes, emulator_url: str, runs: int) -> dict[str, Any]:
    peers = {
        "floor": (procs.floor_stdio_argv(), p.clean_env()),
        "ours": (procs.ours_stdio_argv(), procs.ours_env(emulator_url)),
        "polar": (procs.polar_stdio_argv(emulator_url, preload=False), p.clean_env()),
    }
    for name, (argv, env) in peers.items():  # warm the file cache and .pyc files; not counted
        spawn_to_tools_list(procs, f"cold-{name}", argv, env)
    samples: dict[str, list[dict[str, Any]]] = {name: [] for name in peers}
    names = list(peers)
    for i in range(runs):
        # Rotate the order every round so that no peer always runs right after another.
        for name in names[i % 3 :] + names[: i % 3]:
            argv, env = peers[name]
            samples[name].append(spawn_to_tools_list(procs, f"cold-{name}", argv, env))
    ratios = [o["seconds"] / f["seconds"] for o, f in zip(samples["ours"], samples["floor"], strict=True)]
    result: dict[str, Any] = {"runs": runs, "peers": {}}
    for name, rows in samples.items():
        result["peers"][name] = {
            "ms": stats.summary([r["seconds"] * 1000 for r in rows]),
            "rss_mb": stats.summary([r["rss_kb"] / 1024 for r in rows]),
            "tools": rows[0]["tools"],
        }
    # The headline ratios are per round (the three spawns of a round run back to back), then the median:
    # drift from other work on the machine moves a round's three numbers together.
    polar_ratios = [o["seconds"] / f["seconds"] for o, f in zip(samples["polar"], samples["floor"], strict=True)]
    result["ours_over_floor"] = stats.summary(ratios)["median"]
    result["ours_over_floor_per_round"] = stats.summary(ratios)
    result["ours_over_floor_of_medians"] = stats.ratio(
        result["peers"]["ours"]["ms"]["median"], result["peers"]["floor"]["ms"]["median"]
    )
    result["ours_over_floor_of_minimums"] = stats.ratio(
        result["peers"]["ours"]["ms"]["min"], result["peers"]["floor"]["ms"]["min"]
    )
    result["polar_over_floor"] = stats.summary(polar_ratios)["median"]
    result["imports"] = import_breakdown(procs, emulator_url)
    result["phases_ms"] = startup_phases(procs.ours_env(emulator_url), max(runs // 3, 2))
    return result
