"""bench/ still runs: its process handling, its client and its context check, tiny, with no Node."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx2
from bench import context, rpc
from bench import procs as p


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
        checks += [context.support_fields(context.as_summary(s), r)
                   for s, r in zip(whole["items"], raw.json()["items"], strict=True)]
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
    assert [(c["tool"], c["requests"]) for c in receipt["calls"]] == [
        ("find_customers", ["GET /v1/customers/"]),
        ("list_orders", ["GET /v1/orders/"]),
        ("get_receipt", [f"GET /v1/orders/{order_id}/receipt"]),
    ]
    assert receipt["startup_requests"] == [] and receipt["tools"] >= 5 and receipt["tool_list_bytes"] > 1000
    assert all(c["result_bytes"] > 100 and not c["error"] for c in receipt["calls"])
    results_bytes = sum(c["result_bytes"] for c in receipt["calls"])
    assert task_report.total_bytes(receipt) == 3 * receipt["tool_list_bytes"] + results_bytes
