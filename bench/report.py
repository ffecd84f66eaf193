"""The results as Markdown tables, the targets met or missed, and a chart of the headline ratios."""
# ruff: noqa: RUF001  (the multiplication sign and the en dash are meant)

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import task_report


@dataclass
class Target:
    benchmark: str
    label: str
    value: float
    limit: float
    at_most: bool = True  # False: the value must be at least the limit
    unit: str = "×"

    @property
    def met(self) -> bool:
        if math.isnan(self.value):
            return False
        return self.value <= self.limit if self.at_most else self.value >= self.limit

    def shown(self) -> str:
        sign = "≤" if self.at_most else "≥"
        return f"{_num(self.value)}{self.unit} (target {sign} {_num(self.limit)}{self.unit})"


def _num(value: float) -> str:
    if isinstance(value, int):
        return f"{value:,}"
    if math.isnan(value):
        return "n/a"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def targets(r: dict[str, Any]) -> list[Target]:
    """Every target of the issue, evaluated on these results (benchmarks that failed are left out)."""
    b = r["benchmarks"]
    out: list[Target] = []
    if c := b.get("cold_start"):
        out.append(
            Target("cold start", "ours / minimal-server floor (median of per-round ratios)", c["ours_over_floor"], 1.15)
        )
    if lat := b.get("latency"):
        d = lat["derived"]
        for tool in ("get_order", "list_orders"):
            for peer in ("ours-stdio", "ours-http"):
                out.append(
                    Target(
                        "latency",
                        f"{peer} {tool}: p50 overhead over the direct request",
                        d[f"{peer}/{tool} p50 overhead ms"],
                        2.0,
                        unit=" ms",
                    )
                )
        for tool in ("get_order", "list_orders"):
            out.append(Target("latency", f"{tool} p50, ours / Polar's, stdio", d[f"ours/polar stdio {tool} p50"], 1.0))
            out.append(Target("latency", f"{tool} p50, ours / Polar's, SSE", d[f"ours/polar sse {tool} p50"], 1.0))
    if t := b.get("throughput"):
        out.append(
            Target("throughput", "ours / emulator direct, calls per second", t["ours_over_direct"], 0.5, at_most=False)
        )
        out.append(Target("throughput", "errors", t["peers"]["ours-http"]["errors"], 0, unit=""))
    if ctx := b.get("context"):
        q = ctx["ratios"]
        out.append(
            Target(
                "context",
                "tools/list per tool, model-visible, ours / Polar's",
                q["tools_list visible per tool ours/polar"],
                0.5,
            )
        )
        out.append(Target("context", "get_order text / raw API JSON", q["get_order text ours/raw"], 0.25))
        out.append(Target("context", "list_orders (50) text / raw API JSON", q["list_orders text ours/raw"], 0.25))
        out.append(Target("context", "support-agent fields missing", len(ctx["support_fields"]["missing"]), 0, unit=""))
    if tk := b.get("tasks"):
        for t in task_report.targets(tk):
            out.append(Target("tasks", t.label, t.value, t.limit, unit=t.unit))
    if s := b.get("scale"):
        d = s["derived"]
        large = str(max(s["sizes"]))
        small = str(min(s["sizes"]))
        for op in ("export", "walk"):
            out.append(
                Target(
                    "scale", f"{op}: peak RSS at {int(large):,} orders", d[f"{op} peak RSS MB {large}"], 150, unit=" MB"
                )
            )
            out.append(
                Target(
                    "scale",
                    f"{op}: peak RSS growth {int(small):,} → {int(large):,}",
                    d[f"{op} RSS growth {small}->{large}"],
                    1.2,
                )
            )
            out.append(
                Target(
                    "scale",
                    f"{op}: time per row, {int(large):,} vs {int(small):,} (1 = linear)",
                    d[f"{op} time linearity"],
                    1.25,
                )
            )
    return out


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return [*lines, ""]


def _ms(s: dict[str, float], *keys: str) -> list[str]:
    return [_num(s[k]) for k in keys]


def headline(r: dict[str, Any]) -> list[str]:
    """The short table for the README."""
    rows = [[t.benchmark, t.label, t.shown(), "met" if t.met else "**missed**"] for t in targets(r)]
    return _table(["benchmark", "measure", "result", ""], rows)


def cold_start_section(c: dict[str, Any]) -> list[str]:
    rows = []
    names = {
        "floor": "floor: minimal `mcp` server, one tool",
        "ours": "polar-orders-mcp",
        "polar": "Polar's server (Node, @polar-sh/sdk)",
    }
    for name, peer in c["peers"].items():
        ratio = peer["ms"]["median"] / c["peers"]["floor"]["ms"]["median"]
        rows.append(
            [
                names[name],
                str(peer["tools"]),
                *_ms(peer["ms"], "median", "min", "max"),
                f"{ratio:.2f}×",
                _num(peer["rss_mb"]["median"]),
            ]
        )
    imp = c["imports"]
    lines = [f"## 1. Cold start over stdio (spawn → first `tools/list` answer, {c['runs']} runs each, interleaved)", ""]
    lines += _table(["server", "tools", "median ms", "min ms", "max ms", "vs floor", "peak RSS MB"], rows)
    per = c["ours_over_floor_per_round"]
    lines += [
        f"Ours / floor within each round: median {per['median']:.2f}×, min {per['min']:.2f}×, max {per['max']:.2f}×; "
        f"ratio of the medians {c['ours_over_floor_of_medians']:.2f}×, of the minimums "
        f"{c['ours_over_floor_of_minimums']:.2f}×. Polar's / floor, per round: {c['polar_over_floor']:.2f}×.",
        "",
        f"Imports (`python -X importtime`, self time): the floor imports {imp['floor_modules']} modules "
        f"({imp['floor_import_ms']:.0f} ms); ours {imp['ours_modules']} ({imp['ours_import_ms']:.0f} ms), "
        f"{imp['extra_modules']} of them beyond the floor ({imp['extra_import_ms']:.0f} ms):",
        "",
    ]
    lines += _table(["package", "ms"], [[f"`{k}`", f"{v:.1f}"] for k, v in imp["extra_by_package_ms"].items()])
    lines += [f"Not imported by a stdio session: {', '.join(f'`{m}`' for m in imp['not_imported']) or 'none'}.", ""]
    if phases := c.get("phases_ms"):
        floor, ours = phases["floor"], phases["ours"]
        rows = [
            [phase, _num(floor[phase]) if phase in floor else "—", _num(ours[phase]) if phase in ours else "—"]
            for phase in dict.fromkeys([*floor, *ours])
        ]
        lines += ["Startup phases measured inside a fresh process (`bench/startup_phases.py`, median ms):", ""]
        lines += _table(["phase", "floor", "ours"], rows)
    return lines


def latency_section(lat: dict[str, Any]) -> list[str]:
    names = {
        "direct": "direct httpx2 request to the emulator",
        "floor-stdio": "floor server, trivial tool, stdio",
        "ours-stdio": "ours, stdio",
        "polar-stdio": "Polar's, stdio",
        "node-floor-stdio": "Node floor: minimal server on Polar's MCP SDK, trivial tool, stdio",
        "floor-http": "floor server, trivial tool, streamable HTTP",
        "ours-http": "ours, streamable HTTP",
        "ours-sse": "ours, SSE",
        "polar-sse": "Polar's, SSE (it has no streamable HTTP)",
    }
    rows = []
    for key, s in lat["series"].items():
        peer, tool = key.split("/")
        rows.append([names[peer], f"`{tool}`", *_ms(s, "median", "p99", "min", "max"), str(s["errors"])])
    lines = [
        f"## 2. Per-call latency ({lat['calls_per_series']} calls per row, interleaved in blocks; "
        f"`list_orders` with limit {lat['list_limit']})",
        "",
    ]
    lines += _table(["path", "call", "p50 ms", "p99 ms", "min ms", "max ms", "errors"], rows)
    lines += _table(["derived", "value"], [[k, _num(v)] for k, v in lat["derived"].items()])
    shim = lat.get("polar_shim") or {}
    if shim.get("stdio"):
        lines += [
            "Polar's server ran with `bench/polar_preload.cjs`, which adapts the emulator's 2026-10 orders to its "
            f"older SDK; that adaptation cost it {shim['stdio']['us_per_call']:.0f} µs per API call over stdio "
            "(included in its times above).",
            "",
        ]
    return lines


def throughput_section(t: dict[str, Any]) -> list[str]:
    names = {
        "direct": "emulator, direct httpx2 requests",
        "ours-http": "ours, `get_order`, streamable HTTP",
        "floor-http": "floor server, trivial tool, streamable HTTP",
    }
    rows = []
    for name, peer in t["peers"].items():
        rows.append(
            [
                names[name],
                *_ms(peer["calls_per_s"], "median", "min", "max"),
                _num(peer["p50_ms"]["median"]),
                _num(peer["p99_ms"]["median"]),
                str(peer["errors"]),
            ]
        )
    lines = [f"## 3. Throughput ({t['sessions']} concurrent sessions, {t['seconds']:.0f} s, {t['reps']} runs each)", ""]
    lines += _table(["peer", "calls/s median", "min", "max", "p50 ms", "p99 ms", "errors"], rows)
    per = t["ours_over_direct_per_rep"]
    lines += [
        f"Ours / direct, calls per second: {t['ours_over_direct']:.2f}× "
        f"(per run: {per['min']:.2f}×–{per['max']:.2f}×).",
        "",
    ]
    rows = []
    for name, peer in t["peers"].items():
        cpu = peer.get("cpu_ms_per_call", {})
        cells = [_num(cpu[k]) if k in cpu else "—" for k in ("server", "emulator", "load generator")]
        rows.append([names[name], *cells])
    lines += ["CPU time per call, by process (ms; the 2 cores are shared by all three):", ""]
    lines += _table(["peer", "MCP server", "emulator", "load generator"], rows)
    lines += [
        f"All processes together spend {t['direct_over_ours_cpu_per_call']:.2f}× as much CPU on a direct call as "
        "on a call through our server: if CPU were the only limit, that would be the throughput ratio.",
        "",
    ]
    return lines


def context_section(ctx: dict[str, Any]) -> list[str]:
    tl = ctx["tools_list"]
    bpt = ctx["bytes_per_token"]
    rows = []
    for name, label in (("ours", "ours"), ("polar", "Polar's")):
        x = tl[name]
        rows.append(
            [
                label,
                str(x["tools"]),
                f"{x['whole_bytes']:,}",
                f"{x['visible_bytes']:,}",
                f"{x['visible_bytes'] // bpt:,}",
                f"{x['whole_per_tool']:,.0f}",
                f"{x['visible_per_tool']:,.0f}",
                f"{x['visible_per_tool_median']:,.0f}",
            ]
        )
    lines = [f"## 4. Context cost (bytes of compact JSON; tokens at {bpt} bytes each)", "", "`tools/list`:", ""]
    lines += _table(
        [
            "server",
            "tools",
            "whole bytes",
            "model-visible bytes",
            "visible tokens",
            "whole per tool",
            "visible per tool",
            "visible per tool (median)",
        ],
        rows,
    )
    lines += [
        "Model-visible: each tool's name, description and input schema. Whole: everything, including "
        "our output schemas and annotations (Polar's server sends neither).",
        "",
    ]
    rows = []
    for call in ("get_order", "list_orders"):
        c = ctx[call]
        label = f"`{call}`" + (f" ({c['orders']} orders)" if call == "list_orders" else "")
        rows.append(
            [
                label,
                f"{c['raw']:,}",
                f"{c['ours']['text']:,}",
                f"{c['ours']['text'] // bpt:,}",
                f"{c['ours']['whole']:,}",
                f"{c['polar']['text']:,}",
                f"{c['ours']['text'] / c['raw']:.2f}",
                f"{c['ours']['text'] / c['polar']['text']:.2f}",
            ]
        )
    lines += ["Tool results:", ""]
    lines += _table(
        [
            "call",
            "raw API JSON",
            "ours: text the model reads",
            "tokens",
            "ours: whole result",
            "Polar's: text",
            "ours / raw",
            "ours / Polar's",
        ],
        rows,
    )
    sf = ctx["support_fields"]
    missing = ", ".join(sf["missing"]) or "none"
    lines += [
        f"Support-agent fields checked against the API's own values, in {sf['orders_checked']} orders: "
        f"{sf['checked_per_order']} per order; missing or different: {missing}.",
        "",
        "What the model reads for one order (`get_order`):",
        "",
        "```json",
        ctx["sample_get_order_text"],
        "```",
        "",
    ]
    return lines


def scale_section(s: dict[str, Any]) -> list[str]:
    rows = []
    for n, run in s["runs"].items():
        for op, label in (("export", "`export_orders`"), ("walk", f"`list_orders` walk ({s['page']} per page)")):
            x = run[op]
            rows.append(
                [
                    f"{int(n):,}",
                    label,
                    *_ms(x["seconds"], "median", "min", "max"),
                    _num(x["direct_seconds"]["median"]),
                    _num(x["server_cpu_seconds"]["median"]),
                    _num(x["emulator_cpu_seconds"]["median"]),
                    _num(x["rss_start_mb"]["median"]),
                    _num(x["rss_peak_mb"]["max"]),
                    "yes" if x["rows_ok"] else "**no**",
                ]
            )
    lines = [f"## 5. Scale (our server over stdio, a fresh process per operation, {s['reps']} run(s) each)", ""]
    lines += _table(
        [
            "orders",
            "operation",
            "seconds median",
            "min",
            "max",
            "direct s",
            "server CPU s",
            "emulator CPU s",
            "RSS at start MB",
            "peak RSS MB",
            "all rows",
        ],
        rows,
    )
    lines += _table(["derived", "value"], [[k, _num(v)] for k, v in s["derived"].items()])
    d = s["derived"]
    lines += [
        "Direct: the same export download or page walk straight from the emulator with httpx2. Per row, from the "
        f"smaller size to the larger, the walk's time grows {d['walk time linearity']:.2f}×, the emulator's CPU "
        f"{d['walk emulator CPU linearity']:.2f}× and our server's CPU {d['walk server CPU linearity']:.2f}× "
        f"({_num(d[next(k for k in d if k.startswith('walk server CPU µs per row'))])} µs per order); the export "
        "streams through the server, which keeps only the part of the CSV it returns.",
        "",
    ]
    return lines


def profile_section(prof: dict[str, Any]) -> list[str]:
    lines = ["## Profiles: where our server's busy time goes (py-spy, sampling the live server)", ""]
    if "skipped" in prof:
        return [*lines, f"Skipped: {prof['skipped']}.", ""]
    names = [k for k in prof if k != "rate"]
    parts = list(dict.fromkeys(part for name in names for part in prof[name]["parts"]))
    rows = [[part] + [_num(prof[name]["parts"].get(part, 0.0)) for name in names] for part in parts]
    rows.append(["(server busy, % of the time)"] + [_num(100 * prof[name]["busy_share"]) for name in names])
    lines += _table(["part", *[f"{name} %" for name in names]], rows)
    lines += [
        f"{prof['rate']} samples per second; each sample goes to the first part, in the order above, that "
        "one of its frames belongs to (`bench/profile.py`).",
        "",
    ]
    return lines


NOTES = [
    "Polar's server is `@polar-sh/sdk` 0.36.2 (`bin/mcp-server.js start`), pinned in `bench/package.json`. It was "
    "generated for Polar's API before 2026-10 and sends no `Polar-Version` header; the emulator answers such requests "
    "as 2026-10, whose orders that SDK rejects (`Response validation failed`: it requires `user_id`, a non-null "
    "`customer.avatar_url` and `invoice_number`, and knows neither `draft` nor `void`). `bench/polar_preload.cjs` "
    "rewrites the emulator's JSON into that older shape inside Polar's process and times itself (see section 2); "
    "it adds about 50 bytes (`user_id`) to each order in Polar's answers.",
    "Polar's server only offers stdio and SSE, and binds SSE to 0.0.0.0; the same preload keeps it on 127.0.0.1. "
    "Over HTTP it is compared with our SSE transport, which is the like-for-like pair.",
    "Clients are minimal JSON-RPC clients (`bench/rpc.py`), protocol 2025-03-26 for every server "
    "(Polar's answers 2024-11-05), so that what is timed is the server rather than a client library.",
    "Found with these measurements and fixed in the package: the HTTP client is made on first use and the API "
    "models build their validators on first use (cold start); `Page[Order]` and mcp's `AcceptedElicitation[Any]` "
    "are kept alive, because pydantic caches parametrized generics weakly and rebuilt them as new classes on "
    "most calls (16% of a list call); the client and guard resolvers are async, because mcp runs a plain-function "
    "resolver on a worker thread; input schemas and result text are compact; `clean_text` skips its "
    "per-character pass for printable text; startup objects are frozen out of the cyclic collector (a full "
    "collection had stalled calls for 35-40 ms).",
    "Worth reporting to the `mcp` SDK (2.3.0): the two per-call costs above (a resolver's result wrapped in a "
    "parametrized generic; plain-function resolvers on a thread), and registration building every output schema "
    "eagerly (23 ms of our cold start).",
]


def tasks_section(tk: dict[str, Any]) -> list[str]:
    lines = [
        f"## 6. Support tasks, 0.1.0 and this tree ({len(tk['tasks'])} tasks; every call: "
        f"[{tk.get('file', 'tasks.md')}]({tk.get('file', 'tasks.md')}))",
        "",
        "The shortest correct sequence of calls for each support task, replayed on both versions against the "
        "emulator (`bench/task_steps.py`). Total = tool list × calls + results: the model-visible tool list "
        "is sent on every turn, one turn per call.",
        "",
    ]
    return [*lines, *task_report.summary_table(tk)]


SECTIONS: dict[str, Callable[[dict[str, Any]], list[str]]] = {
    "cold_start": cold_start_section,
    "latency": latency_section,
    "profile": profile_section,
    "throughput": throughput_section,
    "context": context_section,
    "scale": scale_section,
    "tasks": tasks_section,
}


def _pct(part: float, whole: float) -> str:
    return f"{100 * part / whole:.0f}%" if whole else "n/a"


def limits(r: dict[str, Any]) -> list[str]:
    """For each missed target, what this run's own measurements say limits it."""
    b, missed = r["benchmarks"], {t.benchmark for t in targets(r) if not t.met}
    out: list[str] = []
    c = b.get("cold_start")
    if "cold start" in missed and c and "phases_ms" in c:
        ours, floor = c["phases_ms"]["ours"], c["phases_ms"]["floor"]
        args = ours["  of which SDK: argument models and input schemas (warm, all tools)"]
        outs = ours["  of which SDK: output schemas (warm, all tools)"]
        whole = sum(v for k, v in floor.items())
        imports = ours["import polar_orders_mcp"]
        build = ours["build_server (tool registration in the SDK)"]
        extra_build = build - floor["build_server (tool registration in the SDK)"]
        out.append(
            f"**Cold start** ({c['ours_over_floor']:.2f}×): importing our package costs {_num(imports)} ms "
            f"({_pct(imports, whole)} of the floor's whole start in-process, against a 15% budget): some 80 "
            "pydantic model classes (their validators are built on first use, but pydantic still collects their "
            "fields), pydantic-settings and the package's modules. Registering our "
            f"{c['peers']['ours']['tools']} tools adds {_num(extra_build)} ms to the SDK's own: their schemas come "
            f"from the per-user cache; deriving them (what the first launch after an upgrade pays, {_num(args + outs)} "
            f"ms: {_num(args)} ms argument models and input schemas, {_num(outs)} ms output schemas) is done after "
            "`tools/list`, while the model reads it. Polar's Node server starts in "
            f"{c['polar_over_floor']:.2f}× the Python floor: Python and the `mcp` import are most of any Python "
            "server's start."
        )
    lat = b.get("latency")
    if "latency" in missed and lat:
        s, d = lat["series"], lat["derived"]
        sdk_http = s["floor-http/echo"]["median"] - s["floor-stdio/echo"]["median"]
        out.append(
            f"**Per-call overhead**: a trivial tool on the SDK costs {_num(s['floor-stdio/echo']['median'])} ms "
            f"over stdio and {_num(s['floor-http/echo']['median'])} ms over streamable HTTP, so the SDK's HTTP "
            f"transport alone takes {_num(sdk_http)} ms of the 2 ms budget. Beyond the SDK floor and the API call, "
            f"ours adds {_num(d['ours-stdio/get_order p50 beyond the SDK floor and the API call, ms'])} ms to "
            f"`get_order` and {_num(d['ours-stdio/list_orders p50 beyond the SDK floor and the API call, ms'])} ms "
            f"to `list_orders` ({lat['list_limit']} orders) over stdio: the HTTP client call to Polar, then per "
            "order pydantic validation of Polar's object, the view and its two dumps (see the profiles). "
            f"Against Polar's server on `get_order` over stdio ({d['ours/polar stdio get_order p50']:.2f}×): the "
            f"same trivial tool costs {_num(s['node-floor-stdio/echo']['median'])} ms on Node's MCP SDK and "
            f"{_num(s['floor-stdio/echo']['median'])} ms on Python's, a head start Polar's server keeps on a "
            "single small call and loses on lists, where the work per order dominates."
        )
    t = b.get("throughput")
    if "throughput" in missed and t:
        peers = t["peers"]
        floor_ratio = peers["floor-http"]["calls_per_s"]["median"] / peers["direct"]["calls_per_s"]["median"]
        out.append(
            f"**Throughput** ({t['ours_over_direct']:.2f}×): a trivial tool on the same SDK transport reaches "
            f"{floor_ratio:.2f}× of the emulator's direct rate. Our server spends "
            f"{_num(peers['ours-http']['cpu_ms_per_call']['server'])} ms CPU per call, the floor server "
            f"{_num(peers['floor-http']['cpu_ms_per_call']['server'])} ms (the SDK's streamable HTTP transport) and "
            f"the emulator {_num(peers['direct']['cpu_ms_per_call']['emulator'])} ms; one server process is one "
            "core, and the load generator and the emulator share the two cores with it. All processes together "
            f"spend {t['direct_over_ours_cpu_per_call']:.2f}× the CPU on a direct call that they spend on ours."
        )
    ctx = b.get("context")
    if "context" in missed and ctx:
        o, q = ctx["tools_list"]["ours"], ctx["tools_list"]["polar"]
        g, li = ctx["get_order"], ctx["list_orders"]
        out.append(
            f"**Context**: our tools average {o['visible_per_tool']:,.0f} model-visible bytes, "
            f"{o['description_bytes'] / o['tools']:,.0f} of them the description written for the model (Polar's: "
            f"{q['description_bytes'] / q['tools']:,.0f}) and the rest typed, constrained parameters; Polar's "
            f"average ({q['visible_per_tool']:,.0f}) is raised by a few very large create/update tools, its median "
            f"tool is {q['visible_per_tool_median']:,.0f} bytes. Whole lists: ours {o['visible_bytes']:,} bytes for "
            f"{o['tools']} tools, Polar's {q['visible_bytes']:,} for {q['tools']} "
            f"({o['visible_bytes'] / q['visible_bytes']:.2f}×). One order as the model reads it is "
            f"{g['ours']['text']:,} bytes, {g['ours']['text_uuid_bytes']:,} of them ids (order, customer, "
            f"product, checkout) that later calls need; a 50-order page is {li['ours']['text']:,} bytes "
            f"({li['ours']['text_uuid_bytes']:,} of ids)."
        )
    tk = b.get("tasks")
    if "tasks" in missed and tk and (note := task_report.where(tk)):
        out.append(f"**Support tasks**: {note}")
    return out


def markdown(r: dict[str, Any], chart: str | None) -> str:
    m, v = r["machine"], r["versions"]
    lines = [
        "# Benchmarks" + (" (quick smoke run: small N, short runs; not the published numbers)" if r["quick"] else ""),
        "",
        f"Run {r['started']} with `{r['command']}`, in {r['elapsed_s'] / 60:.1f} min. Every comparison is a ratio "
        "measured in the same run: absolute times on a shared machine drift, ratios much less.",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gb']:.1f} GB, {m['system']}; load average "
        f"{m['load_start']} at the start, {m['load_end']} at the end (the cores are shared with other work).",
        "",
        "Versions: " + ", ".join(f"{k} {val}" for k, val in v.items()) + ".",
        "",
        "All peers ran on 127.0.0.1 against one emulator process (`polar-orders-mcp emulator`, "
        f"{r['config']['orders']} orders unless stated), started and stopped by the bench.",
        "",
        "## Targets",
        "",
    ]
    lines += headline(r)
    if chart:
        lines += [f"![headline ratios]({chart})", ""]
    for name, failure in r["failures"].items():
        lines += [f"**{name} failed:** `{failure}`", ""]
    if found := limits(r):
        lines += ["## What limits the missed targets", "", *[f"- {line}" for line in found], ""]
    for name, section in SECTIONS.items():
        if name in r["benchmarks"]:
            lines += section(r["benchmarks"][name])
    lines += ["## Notes", "", *[f"- {note}" for note in NOTES], ""]
    return "\n".join(lines)


def chart(r: dict[str, Any], path: Path) -> bool:
    """Each headline ratio beside its target; False when matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    ratios = [t for t in targets(r) if t.unit == "×"]
    if not ratios:
        return False
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(ratios) + 1.4))
    labels = [f"{t.benchmark}: {t.label}" for t in ratios]
    values = [0.0 if math.isnan(t.value) else t.value for t in ratios]
    colors = ["#2e7d32" if t.met else "#c62828" for t in ratios]
    y = list(range(len(ratios)))[::-1]
    ax.barh(y, values, color=colors, height=0.6)
    for yi, t, value in zip(y, ratios, values, strict=True):
        ax.plot([t.limit, t.limit], [yi - 0.4, yi + 0.4], color="black", linewidth=2)
        ax.text(max(value, t.limit) * 1.01, yi, f" {value:.2f}×", va="center", fontsize=8)
    ax.set_yticks(y, labels, fontsize=8)
    ax.set_xlabel("ratio (black line: target; green: met, red: missed)")
    ax.set_title("polar-orders-mcp: headline ratios, measured in one run", fontsize=10)
    ax.set_xlim(0, max(max(values), max(t.limit for t in ratios)) * 1.2)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True
