"""Where our server's time goes per call: py-spy samples of the live server, sorted into parts.

Each stack is put in the first part (in the order of PARTS) that one of its frames belongs to, so
the shares add up to 100% of the samples in which the server was busy (not waiting on a socket).
"""

from __future__ import annotations

import asyncio
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench import procs as p
from bench import throughput
from bench.latency import LIST_LIMIT, order_ids

RATE = 1000  # samples per second

# (part, pattern matched against "function (file)" frames), most specific first.
PARTS: tuple[tuple[str, str], ...] = (
    ("ours: agent views (tools/views.py)", r"\(polar_orders_mcp/tools/views\.py"),
    ("ours: JSON decode and API model validation", r"^(decode_json|parse_model|page_model) \("),
    ("ours: HTTP client to Polar (httpx2, httpcore2, h11)", r"^Requester\.(send|_build) \("),
    ("ours: other tool code", r"\(polar_orders_mcp/(tools|polar)/"),
    ("ours: result text and structured content", r"\(polar_orders_mcp/server/compact\.py"),
    ("SDK: result conversion and validation", r"^FuncMetadata\.convert_result \("),
    ("SDK: argument validation and resolvers", r"^(FuncMetadata\.validate_arguments|resolve_arguments) \("),
    ("SDK: stdio transport (reader and writer threads)", r"\(mcp/server/stdio\.py"),
    ("SDK: HTTP transport (uvicorn, starlette, SSE)", r"\((uvicorn|starlette|sse_starlette)/|streamable_http"),
    ("SDK: JSON-RPC dispatch, serialization, middleware", r"\((mcp|mcp_types)/"),
)
# A leaf frame waiting (for I/O, or a worker thread for work; a worker's own leaf is its blocking C
# call, such as reading stdin): the thread was idle, not busy.
IDLE = re.compile(
    r"^(select|poll|epoll_wait|_run_once|wait|_wait_for_tstate_lock|Condition\.wait|Queue\.get|WorkerThread\.run) \("
    r"|\(selectors\.py"
)


def py_spy() -> str | None:
    found = shutil.which("py-spy") or (str(p.VENV_BIN / "py-spy") if (p.VENV_BIN / "py-spy").exists() else None)
    return found


def _frames(stack: str) -> list[str]:
    return [re.sub(r":\d+\)$", ")", frame) for frame in stack.split(";")]


def breakdown(raw: Path) -> dict[str, Any]:
    """Shares of busy samples per part, from py-spy's raw (collapsed stacks) output."""
    counts: dict[str, int] = {}
    total = idle = 0
    for line in raw.read_text().splitlines():
        stack, _, number = line.rpartition(" ")
        if not stack:
            continue
        n = int(number)
        total += n
        frames = _frames(stack)
        if IDLE.search(frames[-1]):
            idle += n
            continue
        part = next(
            (name for name, pattern in PARTS if any(re.search(pattern, f) for f in frames)),
            "Python runtime: event loop, threads",
        )
        counts[part] = counts.get(part, 0) + n
    busy = max(total - idle, 1)
    return {
        "samples": total,
        "busy_share": busy / max(total, 1),
        "parts": {name: 100 * n / busy for name, n in sorted(counts.items(), key=lambda kv: -kv[1])},
    }


@contextmanager
def sampling(pid: int, spy: str) -> Iterator[Path]:
    """py-spy attached to `pid` for the duration of the block; yields the path of its raw output."""
    out = Path(tempfile.mkdtemp(prefix="bench-profile-")) / "profile.txt"
    recorder = subprocess.Popen(
        [
            spy,
            "record",
            "--pid",
            str(pid),
            "--rate",
            str(RATE),
            "--format",
            "raw",
            "--output",
            str(out),
            "--nonblocking",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(0.5)  # attached
        yield out
    finally:
        recorder.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
        try:
            recorder.wait(timeout=30)
        except subprocess.TimeoutExpired:
            recorder.kill()
            recorder.wait(timeout=10)


def _profile_calls(spy: str, pid: int, call: Callable[[int], Any], calls: int) -> dict[str, Any]:
    for i in range(20):  # warm
        call(i)
    with sampling(pid, spy) as out:
        for i in range(calls):
            call(i)
    result = breakdown(out)
    shutil.rmtree(out.parent, ignore_errors=True)
    return result


def run(procs: p.Processes, emulator_url: str, calls: int, load_seconds: float) -> dict[str, Any]:
    spy = py_spy()
    if spy is None:
        return {"skipped": "py-spy is not installed (pip install -e '.[bench]')"}
    ids = order_ids(emulator_url)
    session = procs.stdio("profile-ours", procs.ours_stdio_argv(), procs.ours_env(emulator_url))
    pid = session.proc.pid
    result: dict[str, Any] = {
        "rate": RATE,
        "stdio get_order": _profile_calls(
            spy, pid, lambda i: session.call("get_order", {"order_id": ids[i % len(ids)]}), calls
        ),
        "stdio list_orders": _profile_calls(
            spy, pid, lambda i: session.call("list_orders", {"limit": LIST_LIMIT}), calls
        ),
    }
    procs.stop(session.proc)
    url, proc = procs.ours_http(emulator_url, "http")
    start = throughput._mcp_session(f"{url}/mcp", "get_order")
    asyncio.run(throughput.load(start, ids, 16, 1.0))
    with sampling(proc.pid, spy) as out:
        asyncio.run(throughput.load(start, ids, 16, load_seconds))
    result["streamable HTTP get_order, 16 sessions"] = breakdown(out)
    shutil.rmtree(out.parent, ignore_errors=True)
    procs.stop(proc)
    return result
