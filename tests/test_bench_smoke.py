"""bench/ still runs: its process handling, its client, its context check and its benchmarks, tiny.

Every benchmark at its tiny size costs about 40 s of CPU, most of it starting the peers, and needs Node and
Polar's server (bench/node_modules): it runs with POLAR_MCP_BENCH_SMOKE=1, as `make bench` does before
measuring. make test runs the rest: the scale benchmark (the one that starts our server with an opt-in
toolset), one task, and tests/test_bench_tools.py checks every tool each benchmark names.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from pathlib import Path

import httpx2
import pytest
from bench import context, rpc, run, scale
from bench import procs as p

pytestmark = pytest.mark.slow  # make test-slow


def test_bench_measures_our_server_over_stdio(tmp_path: Path) -> None:
    with p.Processes(tmp_path) as procs:
        url = procs.emulator(orders=12)
        session = procs.stdio("ours", procs.ours_stdio_argv(), procs.ours_env(url))
        listing = context.tools_list(rpc.check(session.request("tools/list")))
        ours = session.call("list_orders", {"limit": 10})
        raw = httpx2.get(f"{url}/v1/orders/", params={"limit": 10}, headers={"authorization": f"Bearer {p.ORG_TOKEN}"})
        summaries = context.text_json(ours)["items"]
        whole = context.text_json(session.call("list_orders", {"limit": 10, "fields": context.ALL_ROW_FIELDS}))
        checks = [context.row_fields(s, r) for s, r in zip(summaries, raw.json()["items"], strict=True)]
        checks += [
            context.support_fields(context.as_summary(s), r)
            for s, r in zip(whole["items"], raw.json()["items"], strict=True)
        ]
    assert procs.started == []  # every process it started is stopped
    assert listing["tools"] >= 5 and listing["visible_bytes"] < listing["whole_bytes"]
    assert len(summaries) == 10
    assert [c["missing"] for c in checks] == [[]] * 20


def test_the_replica_benchmark_times_the_store_operations_of_an_approved_charge(tmp_path: Path) -> None:
    from bench import replicas

    timed = asyncio.run(replicas._store_run(f"sqlite:///{tmp_path / 'state.db'}", charges=2, concurrency=2))
    assert timed["ms_per_charge"]["n"] == 2 and timed["charges_per_s"] > 0
    assert timed["operations_per_charge"] == 6  # counted from the real charges, under --max-daily


def test_the_task_benchmark_counts_calls_bytes_and_the_requests_polar_gets(tmp_path: Path) -> None:
    from bench import task_report, tasks

    with p.Processes(tmp_path) as procs:
        url = procs.emulator(orders=12)
        results = tasks.run(procs, url, only=["receipt"], old=False)
    assert procs.started == []
    assert tasks.failures(results) == []
    receipt = results["tasks"]["receipt"]["current"]
    order_id = receipt["calls"][2]["arguments"]["order_id"]
    customer_id = receipt["calls"][1]["arguments"]["customer_id"]
    assert [(c["tool"], c["requests"]) for c in receipt["calls"]] == [
        # The customer's default card, for its label in the row.
        ("find_customers", ["GET /v1/customers/", f"GET /v1/customers/{customer_id}/payment-methods"]),
        ("list_orders", ["GET /v1/orders/"]),
        ("get_receipt", [f"GET /v1/orders/{order_id}/receipt"]),
    ]
    # The one request of the start's token check, not counted in the task.
    assert receipt["startup_requests"] == ["GET /v1/orders/"]
    assert receipt["tools"] >= 5 and receipt["tool_list_bytes"] > 1000
    assert all(c["result_bytes"] > 100 and not c["error"] for c in receipt["calls"])
    results_bytes = sum(c["result_bytes"] for c in receipt["calls"])
    assert task_report.total_bytes(receipt) == 3 * receipt["tool_list_bytes"] + results_bytes


def test_the_scale_benchmark_exports_and_walks_every_order(tmp_path: Path) -> None:
    with p.Processes(tmp_path) as procs:
        result = scale.run(procs, [20], reps=1)
    # Each operation on our server (export_orders in the reports toolset) and directly saw every order.
    seen = {op: (r["rows"], r["direct_rows"]) for op, r in result["runs"]["20"].items() if op != "seed_seconds"}
    assert (procs.started, seen) == ([], {"export": (20, 20), "walk": (20, 20)})


# Not the tasks: whatever the size, each replays its whole sequence on 0.1.0 and on this tree. The task test
# above replays one, and tests/test_bench_tools.py checks the tools of every task against its toolsets.
TINY = [name for name in run.BENCHMARKS if name != "tasks"]


@pytest.mark.skipif(os.environ.get("POLAR_MCP_BENCH_SMOKE") != "1", reason="POLAR_MCP_BENCH_SMOKE=1 runs it")
@pytest.mark.timeout(600, method="thread")  # the benchmarks keep SIGALRM for their own time limits
def test_every_benchmark_runs_tiny(tmp_path: Path) -> None:
    assert p.POLAR_SERVER_JS.exists() and shutil.which("node"), "Polar's server: run `npm ci` in bench/"
    code = run.main(["--tiny", "--only", *TINY, "--out", str(tmp_path)])
    results = json.loads((tmp_path / "tiny.json").read_text())
    errors = results["benchmarks"]["throughput"]["peers"]["ours-http"]["errors"]
    assert (code, results["failures"], sorted(results["benchmarks"]), errors) == (0, {}, sorted(TINY), 0)
