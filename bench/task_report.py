"""bench/results/tasks.md from the results of `bench.tasks`: the targets, the tasks' table, each call."""
# ruff: noqa: RUF001, RUF003  (the multiplication sign is meant)

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

from bench.task_steps import DIFFERENCES

OLD, CURRENT = "0.1.0", "current"
TOOL_LIST_LIMIT = 10_000  # "10 KB", read strictly
TOOL_LIMIT = 600
ROW_LIMIT = 300
TASK_RATIO_LIMIT = 0.5
CHARGE_REQUESTS_LIMIT = 3
ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@dataclass(frozen=True)
class Target:
    label: str
    value: float
    limit: float
    unit: str  # " B", a ratio ("×") or "" (a count)
    detail: str = ""  # what the value is made of

    @property
    def met(self) -> bool:
        return not math.isnan(self.value) and self.value <= self.limit

    def measured(self) -> str:
        value = _x(self.value) if self.unit == "×" else f"{_b(self.value)}{self.unit}"
        return f"{value} ({self.detail})" if self.detail else value

    def wanted(self) -> str:
        return f"≤ {_x(self.limit) if self.unit == '×' else _b(self.limit) + self.unit}"


def _b(value: float) -> str:
    return f"{value:,.0f}"


def _x(value: float) -> str:
    return "—" if math.isnan(value) else f"{value:.2f}×"


def ok(run: dict[str, Any] | None) -> bool:
    return run is not None and "failed" not in run


def calls(run: dict[str, Any]) -> int:
    return len(run["calls"])


def results_bytes(run: dict[str, Any]) -> int:
    return sum(c["result_bytes"] for c in run["calls"])


def total_bytes(run: dict[str, Any]) -> int:
    """What the model reads over the task: the tool list on every turn (one turn per call), and every result."""
    return int(run["tool_list_bytes"]) * calls(run) + results_bytes(run)


def requests(run: dict[str, Any], tool: str | None = None) -> Counter[str]:
    return Counter(r.split(" ", 1)[0] for c in run["calls"] if tool in (None, c["tool"]) for r in c["requests"])


def by_method(counted: Counter[str]) -> str:
    shown = " + ".join(f"{n} {method}" for method, n in sorted(counted.items(), key=lambda kv: (-kv[1], kv[0])))
    return f"{sum(counted.values())} ({shown})" if len(counted) > 1 else (shown or "0")


def ratio(new: float, old: float) -> float:
    return new / old if old else math.nan


def targets(r: dict[str, Any]) -> list[Target]:
    """Issue 17's targets, on this run's figures."""
    out: list[Target] = []
    if current := r["figures"].get(CURRENT):
        tools = current["tools"]
        out.append(
            Target(
                f"default tool list, model-visible ({len(tools)} tools)",
                current["tool_list_bytes"],
                TOOL_LIST_LIMIT,
                " B",
            )
        )
        name, largest = max(tools.items(), key=lambda kv: kv[1])
        over = sum(size > TOOL_LIMIT for size in tools.values())
        out.append(
            Target(
                "largest tool, model-visible",
                largest,
                TOOL_LIMIT,
                " B",
                f"{name}; {over} of {len(tools)} tools over {TOOL_LIMIT} B, profiled below",
            )
        )
        out.append(
            Target(
                f"one `list_orders` row (median of a page of {current['list_orders_rows']})",
                current["list_orders_row_bytes"]["median"],
                ROW_LIMIT,
                " B",
            )
        )
    for task in r["tasks"].values():
        old, new = task.get(OLD), task.get(CURRENT)
        if old is not None and ok(new):
            assert new is not None
            q = ratio(total_bytes(new), total_bytes(old)) if ok(old) else math.nan
            detail = f"{_b(total_bytes(new))} B / {_b(total_bytes(old))} B" if ok(old) else "0.1.0 failed"
            out.append(Target(f"bytes read, {task['title']}: current / 0.1.0", q, TASK_RATIO_LIMIT, "×", detail))
    charge = r["tasks"].get("confirmed_charge", {}).get(CURRENT)
    if ok(charge):
        sent = requests(charge, "finalize_order")
        detail = f"{by_method(sent).partition(' ')[2].strip('()')}; the whole task {sum(requests(charge).values())}"
        out.append(
            Target(
                "Polar requests per confirmed charge (both `finalize_order` calls)",
                sum(sent.values()),
                CHARGE_REQUESTS_LIMIT,
                "",
                detail,
            )
        )
    return out


def where(r: dict[str, Any]) -> str:
    """Where the model's bytes go over every task that ran on both versions: tool list or results."""
    both = [t for t in r["tasks"].values() if ok(t.get(OLD)) and ok(t.get(CURRENT))]
    if not both:
        return ""
    parts = []
    for label in (OLD, CURRENT):
        listed = sum(t[label]["tool_list_bytes"] * calls(t[label]) for t in both)
        whole = sum(total_bytes(t[label]) for t in both)
        parts.append(f"{label} {_b(whole)} B, {100 * listed / whole:.0f}% of it the tool list")
    return (
        f"Over the {len(both)} tasks both versions can do, the model reads "
        + "; ".join(parts)
        + ". The tool list is paid once per call, so it weighs most in the tasks with the most calls."
    )


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return [*lines, *("| " + " | ".join(row) + " |" for row in rows), ""]


def target_table(r: dict[str, Any]) -> list[str]:
    rows = [[t.label, t.measured(), t.wanted(), "met" if t.met else "**not met**"] for t in targets(r)]
    return _table(["target", "measured", "limit", ""], rows)


def summary_table(r: dict[str, Any]) -> list[str]:
    """One row per task and version, and the ratios current / 0.1.0."""
    rows = []
    for task in r["tasks"].values():
        old, new = task.get(OLD), task.get(CURRENT)
        for label, run in ((OLD, old), (CURRENT, new)):
            name = task["title"] if label == OLD else ""
            if run is None:
                rows.append([name, label, "—", "—", "—", "—", "—", "did not exist"])
            elif not ok(run):
                rows.append([name, label, "—", "—", "—", "—", "—", f"failed: {run['failed'][:120]}"])
            else:
                rows.append(
                    [
                        name,
                        label,
                        str(calls(run)),
                        _b(run["tool_list_bytes"]),
                        _b(results_bytes(run)),
                        _b(total_bytes(run)),
                        by_method(requests(run)),
                        run["configured"],
                    ]
                )
        if ok(old) and ok(new):
            assert old is not None and new is not None
            rows.append(
                [
                    "",
                    "current / 0.1.0",
                    _x(ratio(calls(new), calls(old))),
                    _x(ratio(new["tool_list_bytes"], old["tool_list_bytes"])),
                    _x(ratio(results_bytes(new), results_bytes(old))),
                    f"**{_x(ratio(total_bytes(new), total_bytes(old)))}**",
                    _x(ratio(sum(requests(new).values()), sum(requests(old).values()))),
                    "",
                ]
            )
    header = ["task", "version", "calls", "tool list B", "results B", "total B", "Polar requests", "server"]
    return _table(header, rows)


def _args(arguments: dict[str, Any]) -> str:
    def short(value: Any) -> str:
        text = ID.sub(lambda m: m.group(0)[:8] + "…", repr(value) if not isinstance(value, str) else value)
        return text if len(text) <= 40 else text[:37] + "…"

    return ", ".join(f"{k}={short(v)}" for k, v in arguments.items())


def _paths(sent: list[str]) -> str:
    counted = Counter(ID.sub("{id}", r) for r in sent)
    return "<br>".join(f"{path}{f' ×{n}' if n > 1 else ''}" for path, n in counted.items()) or "—"


def calls_section(r: dict[str, Any]) -> list[str]:
    lines = ["## Each task, call by call", ""]
    for task in r["tasks"].values():
        lines += [f"### {task['title']}", "", f"*{task['asked']}*", ""]
        for label in (OLD, CURRENT):
            run = task.get(label)
            if run is None:
                lines += [f"{label}: the tools did not exist.", ""]
                continue
            if not ok(run):
                lines += [f"{label}: **failed**: {run['failed']}", ""]
                continue
            rows = [
                [
                    str(i),
                    f"`{c['tool']}`({_args(c['arguments'])})" + (" → error" if c["error"] else ""),
                    _b(c["result_bytes"]),
                    _paths(c["requests"]),
                ]
                for i, c in enumerate(run["calls"], 1)
            ]
            lines += [
                f"{label} ({run['configured']}, {run['tools']} tools, {_b(run['tool_list_bytes'])} B of tool "
                f"list); checked: {run['checked']}",
                "",
            ]
            lines += _table(["#", "call", "result B", "requests to Polar"], rows)
    return lines


def tools_section(r: dict[str, Any]) -> list[str]:
    lines = ["## The tool lists", ""]
    rows = []
    for label in (OLD, CURRENT):
        f = r["figures"].get(label)
        if not f:
            continue
        largest = sorted(f["tools"].items(), key=lambda kv: -kv[1])[:5]
        row = f["list_orders_row_bytes"]
        rows.append(
            [
                label,
                f["configured"],
                str(len(f["tools"])),
                _b(f["tool_list_bytes"]),
                ", ".join(f"{name} {_b(size)}" for name, size in largest),
                f"{_b(row['median'])} ({_b(row['min'])}–{_b(row['max'])})",
            ]
        )
    lines += _table(
        ["version", "server", "tools", "model-visible B", "largest tools (B)", "`list_orders` row B, median (min–max)"],
        rows,
    )
    return lines + profile_section(r)


def profile_section(r: dict[str, Any]) -> list[str]:
    """The current tools over the per-tool limit, byte by byte: what each argument costs."""
    profiles = (r["figures"].get(CURRENT) or {}).get("profiles") or {}
    if not profiles:
        return []
    lines = [
        f"### Tools over {TOOL_LIMIT} B, argument by argument",
        "",
        "Each argument's bytes are its `\"name\":{…}` in the input schema; the rest is the tool's name "
        "and the schema's envelope (type, required, additionalProperties: false).",
        "",
    ]
    rows = []
    for name, p in sorted(profiles.items(), key=lambda kv: -r["figures"][CURRENT]["tools"][kv[0]]):
        arguments = sorted(p["arguments"].items(), key=lambda kv: -kv[1])
        rows.append(
            [
                f"`{name}`",
                _b(r["figures"][CURRENT]["tools"][name]),
                _b(p["description"]),
                ", ".join(f"{arg} {_b(size)}" for arg, size in arguments),
                _b(p["rest"]),
            ]
        )
    lines += _table(["tool", "B", "description B", "arguments (B)", "rest B"], rows)
    return lines


def markdown(r: dict[str, Any]) -> str:
    failed = [
        f"{t['title']} ({label})"
        for t in r["tasks"].values()
        for label in (OLD, CURRENT)
        if t.get(label) is not None and not ok(t[label])
    ]
    lines = [
        "# Support tasks: what the model reads, the calls it makes, the requests Polar gets",
        "",
        f"`{r['command']}`, {r['started']}: 0.1.0 is commit {r['commits'][OLD]}, current is "
        f"{r['commits'][CURRENT]}. Both ran as stdio server processes, a new one for each task, against one "
        f"emulator seeded with {r['seed_orders']:,} orders and reset to that seed before each task. The run "
        f"took {r['elapsed_s']:.0f} s on {r['load']['cores']} cores (load average {r['load']['start']:.1f} at the "
        f"start, {r['load']['end']:.1f} at the end: they are shared), most of it the servers' starts.",
        "",
        "Each task is the shortest correct sequence of calls an agent makes for it with that version's tools "
        "(`bench/task_steps.py`), reading ids from the answers; its answer is then checked against the emulator.",
        "",
        "- **tool list**: the model-visible bytes of the tool list the server serves as configured for the task "
        "(each tool's name, description and input schema, as compact JSON). A client sends it to the model on "
        "every turn, and each call is one turn, so it is paid once per call.",
        "- **results**: the bytes of every tool result the model reads in the task (text content, and attached "
        "resources such as `export_orders`' CSV), errors included.",
        "- **total** = tool list × calls + results: what the model reads over the whole task.",
        "- **Polar requests**: what reached Polar's API during the task's calls, from the emulator's request "
        "journal (each is real latency, and counts against Polar's rate limit: 100 a minute on sandbox).",
        "- Approvals: 0.1.0 previews an irreversible call and the model passes its `confirmation_token` back "
        "(`--confirm token`); the current version records a pending approval, a person approves it in the "
        "approval console, and the agent calls again with the approval id. The person's sign-in and click are "
        "not counted: only the agent's calls.",
        "",
    ]
    if failed:
        lines += [f"**Failed:** {', '.join(failed)}.", ""]
    starting = [
        f"{t['title']} ({label}): {', '.join(t[label]['startup_requests'])}"
        for t in r["tasks"].values()
        for label in (OLD, CURRENT)
        if ok(t.get(label)) and t[label]["startup_requests"]
    ]
    if starting:
        lines += [
            "**Requests a server sent while it started** (not counted in the task):",
            "",
            *[f"- {line}" for line in starting],
            "",
        ]
    lines += ["## Targets (issue 17)", "", *target_table(r)]
    if note := where(r):
        lines += [note, ""]
    lines += ["## Tasks", "", *summary_table(r)]
    lines += ["How the sequences differ:", "", *[f"- {line}" for line in DIFFERENCES], ""]
    lines += tools_section(r)
    lines += calls_section(r)
    return "\n".join(lines).rstrip() + "\n"
