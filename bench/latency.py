"""2. Per-call latency of get_order and list_orders: each server against the same emulator, interleaved."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx2

from bench import procs as p
from bench import rpc, stats

LIST_LIMIT = 20
BLOCK = 25  # calls per series before moving to the next one, so drift hits every series alike


def order_ids(emulator_url: str, count: int = 50) -> list[str]:
    response = httpx2.get(
        f"{emulator_url}/v1/orders/", params={"limit": count}, headers={"authorization": f"Bearer {p.ORG_TOKEN}"}
    )
    response.raise_for_status()
    return [o["id"] for o in response.json()["items"]]


def direct_calls(client: httpx2.Client) -> dict[str, Callable[[str], Any]]:
    """The same requests our client sends, straight to the emulator: what the API call costs at all."""

    def get_order(order_id: str) -> Any:
        client.get(f"/v1/orders/{order_id}").raise_for_status()

    def list_orders(_: str) -> Any:
        client.get("/v1/orders/", params={"limit": LIST_LIMIT}).raise_for_status()

    return {"get_order": get_order, "list_orders": list_orders}


def ours_calls(session: Any) -> dict[str, Callable[[str], Any]]:
    return {
        "get_order": lambda oid: session.call("get_order", {"order_id": oid}),
        "list_orders": lambda _: session.call("list_orders", {"limit": LIST_LIMIT}),
    }


def polar_calls(session: Any) -> dict[str, Callable[[str], Any]]:
    return {
        "get_order": lambda oid: session.call("orders-get", {"request": {"id": oid}}),
        "list_orders": lambda _: session.call("orders-list", {"request": {"limit": LIST_LIMIT}}),
    }


def floor_calls(session: Any) -> dict[str, Callable[[str], Any]]:
    return {"echo": lambda _: session.call("echo", {"text": "x"})}


def polar_shim_cost(log: Path) -> dict[str, float] | None:
    """What the compatibility preload spent in Polar's process (it prints this on exit)."""
    found = re.findall(r"polar-compat: (\{.*\})", log.read_text(errors="replace")) if log.exists() else []
    if not found:
        return None
    data = json.loads(found[-1])
    return {"calls": data["calls"], "us_per_call": 1000 * data["millis"] / max(data["calls"], 1)}


def run(procs: p.Processes, emulator_url: str, calls: int) -> dict[str, Any]:
    ids = order_ids(emulator_url)
    direct = httpx2.Client(
        base_url=emulator_url,
        headers={"authorization": f"Bearer {p.ORG_TOKEN}", "polar-version": "2026-10"},
        timeout=rpc.TIMEOUT,
    )
    closers: list[Callable[[], None]] = [direct.close]
    try:
        ours_http_url, _ = procs.ours_http(emulator_url, "http")
        ours_sse_url, _ = procs.ours_http(emulator_url, "sse")
        floor_http_url, _ = procs.floor_http()
        polar_sse_url, polar_sse_proc = procs.polar_sse(emulator_url)
        polar_stdio = procs.stdio("polar-stdio", procs.polar_stdio_argv(emulator_url), p.clean_env())
        ours_http = rpc.HttpSession(f"{ours_http_url}/mcp")
        floor_http = rpc.HttpSession(f"{floor_http_url}/mcp")
        ours_sse = rpc.SseSession(ours_sse_url)
        polar_sse = rpc.SseSession(polar_sse_url)
        closers += [ours_http.close, floor_http.close, ours_sse.close, polar_sse.close]
        for session in (ours_http, floor_http, ours_sse, polar_sse):
            session.initialize()
        peers: dict[str, dict[str, Callable[[str], Any]]] = {
            "direct": direct_calls(direct),
            "floor-stdio": floor_calls(procs.stdio("floor-stdio", procs.floor_stdio_argv(), p.clean_env())),
            "ours-stdio": ours_calls(procs.stdio("ours-stdio", procs.ours_stdio_argv(), procs.ours_env(emulator_url))),
            "polar-stdio": polar_calls(polar_stdio),
            "node-floor-stdio": floor_calls(
                procs.stdio("node-floor-stdio", procs.node_floor_stdio_argv(), p.clean_env())
            ),
            "floor-http": floor_calls(floor_http),
            "ours-http": ours_calls(ours_http),
            "ours-sse": ours_calls(ours_sse),
            "polar-sse": polar_calls(polar_sse),
        }
        series = [(peer, tool, fn) for peer, tools in peers.items() for tool, fn in tools.items()]
        for _, _, fn in series:  # warm up every path (connections, caches, JIT); not counted
            for oid in ids[:10]:
                fn(oid)
        samples: dict[tuple[str, str], list[float]] = {(peer, tool): [] for peer, tool, _ in series}
        errors: dict[tuple[str, str], int] = dict.fromkeys(samples, 0)
        blocks = max(calls // BLOCK, 1)
        n = 0
        for block in range(blocks):
            shift = block % len(series)
            for peer, tool, fn in series[shift:] + series[:shift]:
                for _ in range(BLOCK):
                    oid = ids[n % len(ids)]
                    n += 1
                    started = time.perf_counter()
                    try:
                        fn(oid)
                    except (rpc.RpcError, httpx2.HTTPError):
                        errors[(peer, tool)] += 1
                        if errors[(peer, tool)] > 10:
                            raise
                        continue
                    samples[(peer, tool)].append((time.perf_counter() - started) * 1000)
    finally:
        for close in closers:
            close()
    procs.stop(polar_sse_proc)
    procs.stop(polar_stdio.proc)
    result: dict[str, Any] = {"calls_per_series": blocks * BLOCK, "list_limit": LIST_LIMIT, "series": {}}
    for (peer, tool), values in samples.items():
        result["series"][f"{peer}/{tool}"] = {**stats.summary(values), "errors": errors[(peer, tool)]}
    s = result["series"]
    derived: dict[str, float] = {}
    for tool in ("get_order", "list_orders"):
        base = s[f"direct/{tool}"]["median"]
        for peer in ("ours-stdio", "ours-http", "ours-sse", "polar-stdio", "polar-sse"):
            derived[f"{peer}/{tool} p50 overhead ms"] = s[f"{peer}/{tool}"]["median"] - base
        derived[f"ours/polar stdio {tool} p50"] = s[f"ours-stdio/{tool}"]["median"] / s[f"polar-stdio/{tool}"]["median"]
        derived[f"ours/polar sse {tool} p50"] = s[f"ours-sse/{tool}"]["median"] / s[f"polar-sse/{tool}"]["median"]
        derived[f"ours-http/polar-sse {tool} p50"] = s[f"ours-http/{tool}"]["median"] / s[f"polar-sse/{tool}"]["median"]
        derived[f"ours/polar stdio {tool} p99"] = s[f"ours-stdio/{tool}"]["p99"] / s[f"polar-stdio/{tool}"]["p99"]
        # What is left of ours once the SDK's own per-call cost (the floor's trivial tool over the same
        # transport) and the API call itself are taken out: our tool code, client and views.
        for transport in ("stdio", "http"):
            derived[f"ours-{transport}/{tool} p50 beyond the SDK floor and the API call, ms"] = (
                s[f"ours-{transport}/{tool}"]["median"] - s[f"floor-{transport}/echo"]["median"] - base
            )
    result["derived"] = derived
    result["polar_shim"] = {
        "stdio": polar_shim_cost(procs.logdir / "polar-stdio.log"),
        "sse": polar_shim_cost(next(procs.logdir.glob("polar-sse-*.log"), Path("/nonexistent"))),
    }
    return result
