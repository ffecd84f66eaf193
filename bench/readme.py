"""The docs' benchmark figures, written from bench/results/ (latest.md, tasks.md, replicas.md) into
docs/performance.md and docs/deployment.md (the replica figures): `python -m bench.readme [--check]`."""
# ruff: noqa: RUF001  (the multiplication sign is meant)

from __future__ import annotations

import argparse
import re
import sys
import textwrap
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
DOCS = Path(__file__).resolve().parents[1] / "docs"
PERFORMANCE = DOCS / "performance.md"  # the benchmark figures
DEPLOYMENT = DOCS / "deployment.md"  # the replica figures, beside what they measure
FILES = (PERFORMANCE, DEPLOYMENT)
BEGIN = "<!-- benchmark figures: written by `python -m bench.readme` from bench/results/; do not edit by hand -->"
END = "<!-- end of benchmark figures -->"
REPLICAS_BEGIN = (
    "<!-- replica figures: written by `python -m bench.readme` from bench/results/replicas.md; do not edit by hand -->"
)
REPLICAS_END = "<!-- end of replica figures -->"


def tables(markdown: str) -> dict[str, list[list[str]]]:
    """The tables of a results file, keyed "heading / first header cell" (the first of a kind under a heading)."""
    found: dict[str, list[list[str]]] = {}
    heading = ""
    lines = markdown.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("#"):
            heading = line.lstrip("# ").strip()
        elif line.startswith("|") and (i == 0 or not lines[i - 1].startswith("|")):
            rows = []
            for row in lines[i + 2 :]:
                if not row.startswith("|"):
                    break
                rows.append([cell.strip() for cell in row.strip().strip("|").split("|")])
            found.setdefault(f"{heading} / {line.strip('| ').split('|')[0].strip()}", rows)  # the first such table
    return found


def table(found: dict[str, list[list[str]]], heading: str, first: str) -> list[list[str]]:
    key = next((k for k in found if k.startswith(heading) and k.endswith(f"/ {first}")), None)
    if key is None:
        raise KeyError(f"no table under {heading!r} starting with {first!r}: has the results format changed?")
    return found[key]


def row(rows: list[list[str]], *cells: str) -> list[str]:
    """The row whose leading cells are `cells`."""
    for r in rows:
        if r[: len(cells)] == list(cells):
            return r
    raise KeyError(f"no row {cells!r}: has the results format changed?")


def first_number(text: str) -> str:
    match = re.search(r"[\d,.]+", text)
    if match is None:
        raise ValueError(f"no number in {text!r}")
    return match.group(0)


def tasks_block(md: str) -> list[str]:
    found = tables(md)
    run = re.search(r"^`python -m bench\.(?:tasks|run)[^`]*`, (.+? UTC)", md, re.M)
    rows = table(found, "Tasks", "task")
    out = [
        f"Figures of the run of {run.group(1) if run else '?'}:",
        "",
        "| task | calls (0.1.0 → now) | bytes now / 0.1.0 | Polar requests (0.1.0 → now) |",
        "|---|---|---|---|",
    ]
    for i, r in enumerate(rows):
        if r[1] != "current":
            continue
        title, old = rows[i - 1][0], rows[i - 1]
        notes = [] if old[2] != "—" else ["new"]
        notes += [] if r[7] in ("default toolsets", "customer session") else [f"`{r[7]}`"]
        named = f"{title} ({', '.join(notes)})" if notes else title
        if old[2] == "—":
            out.append(f"| {named} | {r[2]} | — | {first_number(r[6])} |")
        else:
            ratio = rows[i + 1][5].strip("*")
            out.append(f"| {named} | {old[2]} → {r[2]} | {ratio} | {first_number(old[6])} → {first_number(r[6])} |")
    targets = table(found, "Targets", "target")
    listing = next(r for r in targets if r[0].startswith("default tool list"))
    tools = re.search(r"\((\d+) tools\)", listing[0])
    row_bytes = next(r for r in targets if r[0].startswith("one `list_orders` row"))[1]
    charge = next(r for r in targets if r[0].startswith("Polar requests per confirmed charge"))[1]
    old_list = next(r for r in rows if r[1] == "0.1.0" and r[7] == "--confirm token")[3]
    over = table(found, "Tools over", "tool")
    largest = ", ".join(f"{r[0]} ({r[1]} bytes)" for r in over)
    listed = listing[1].replace(" B", " bytes")
    out += [
        "",
        *wrap(
            f"Default tool list {listed} ({tools.group(1) if tools else '?'} tools; "
            f"0.1.0's was {old_list}); a `list_orders` row {row_bytes.replace(' B', ' bytes')}; a confirmed charge "
            f"costs {first_number(charge)} requests to Polar. Tools over 600 bytes, profiled argument by argument "
            f"in the full table: {largest}."
        ),
    ]
    return out


def latest_block(md: str) -> list[str]:
    found = tables(md)
    run = re.search(r"^Run (.+?) with `(.+?)`", md, re.M)
    machine = re.search(r"^Machine: (.+?), (\d+) cores", md, re.M)
    cold = table(found, "1. Cold start", "server")
    floor, ours, polar = (row(cold, name) for name in cold_names(cold))
    lat = table(found, "2. Per-call latency", "path")

    def p50(path: str, call: str) -> str:
        return row(lat, path, call)[2]

    get_ours, get_polar = p50("ours, stdio", "`get_order`"), p50("Polar's, stdio", "`get_order`")
    list_ours, list_polar = p50("ours, stdio", "`list_orders`"), p50("Polar's, stdio", "`list_orders`")
    get_direct = p50("direct httpx2 request to the emulator", "`get_order`")
    thr = table(found, "3. Throughput", "peer")
    direct, ours_http, trivial = thr[0], row(thr, "ours, `get_order`, streamable HTTP"), thr[2]
    ctx = table(found, "4. Context cost", "server")
    ctx_ours, ctx_polar = row(ctx, "ours"), row(ctx, "Polar's")
    results = table(found, "4. Context cost", "call")
    one, page = row(results, "`get_order`"), row(results, "`list_orders` (50 orders)")
    scale = table(found, "5. Scale", "orders")
    walk_s, export_s = (row(scale, "10,000", op) for op in ("`list_orders` walk (100 per page)", "`export_orders`"))
    walk_l, export_l = (row(scale, "100,000", op) for op in ("`list_orders` walk (100 per page)", "`export_orders`"))
    derived = dict((r[0], r[1]) for r in table(found, "5. Scale", "derived"))
    growth = lambda op: f"{float(derived[f'{op} RSS growth 10000->100000']):.2f}×"  # noqa: E731
    kb = lambda b: f"{int(b.replace(',', '')) / 1000:.1f} KB"  # noqa: E731
    targets = table(found, "Targets", "benchmark")
    missed = [f"- {r[0]}, {r[1]}: {r[2]}" for r in targets if r[3] == "**missed**"]
    cold_ratio = row(targets, "cold start")[2].split(" ")[0]
    return [
        *wrap(
            f"From the run of {run.group(1) if run else '?'} (`{run.group(2) if run else '?'}`) on a shared "
            f"{machine.group(2) if machine else '?'}-core machine:"
        ),
        "",
        "| measure | polar-orders-mcp | beside it | ratio |",
        "|---|---|---|---|",
        f"| cold start over stdio, to the first `tools/list` | {ours[2]} ms | minimal `mcp` server {floor[2]} ms; "
        f"Polar's (Node) {polar[2]} ms | {cold_ratio} the floor |",
        f"| `get_order` p50, stdio | {get_ours} ms | Polar's {get_polar} ms; the API call alone {get_direct} ms | "
        f"{ratio(get_ours, get_polar)} Polar's |",
        f"| `list_orders` (20 orders) p50, stdio | {list_ours} ms | Polar's {list_polar} ms | "
        f"{ratio(list_ours, list_polar)} Polar's |",
        f"| throughput, 16 sessions, streamable HTTP | {ours_http[1]} calls/s, {ours_http[6]} errors | the emulator "
        f"direct {direct[1]}/s; a trivial tool {trivial[1]}/s | {ratio(ours_http[1], direct[1])} direct |",
        f"| `tools/list`, what the model reads | {kb(ctx_ours[3])} for {ctx_ours[1]} tools | Polar's "
        f"{kb(ctx_polar[3])} for {ctx_polar[1]} tools | {ratio(ctx_ours[3], ctx_polar[3])} "
        f"({ratio(ctx_ours[6], ctx_polar[6])} per tool) |",
        f"| one order, what the model reads | {one[2]} bytes | raw API JSON {one[1]}; Polar's {one[5]} | "
        f"{ratio(one[2], one[1])} raw |",
        f"| 50 orders, what the model reads | {kb(page[2])} | raw API JSON {kb(page[1])}; Polar's {kb(page[5])} | "
        f"{ratio(page[2], page[1])} raw |",
        f"| peak RSS, 100,000-order walk / export | {walk_l[9]} MB / {export_l[9]} MB | {walk_s[9]} MB / "
        f"{export_s[9]} MB at 10,000 orders | {growth('walk')} / {growth('export')} |",
        f"| `export_orders`, 100,000 orders | {export_l[2]} s | a direct export {export_l[5]} s | "
        f"{float(derived['export ours/direct time 100000']):.2f}× direct |",
        "",
        *wrap(
            "Missed targets in that run (what limits them is in [the results]"
            "(../bench/results/latest.md#what-limits-the-missed-targets)):"
            if missed
            else "No target missed."
        ),
        "",
        *missed,
    ]


def replicas_block(md: str) -> list[str]:
    """What one and two replicas and each store cost, from a `python -m bench.replicas` run."""
    found = tables(md)
    run = re.search(r"^`(python -m bench\.replicas[^`]*)` on (.+? UTC)", md, re.M)
    operations = re.search(r": (\d+) per charge \(", md)
    store = table(found, "The store's cost", "charges at once")
    one_at_a_time, eight = row(store, "1"), row(store, "8")
    e2e = table(found, "One approved charge end to end", "store")
    sqlite, postgres = row(e2e, "SQLite file"), row(e2e, "PostgreSQL")
    calls = table(found, "Calls per second", "workload")
    bound = next((line for line in md.splitlines() if line.startswith("A read costs the whole system")), "")
    names = ("reads", "reads (`get_order`)"), ("approved charges", "approved charges (two calls each)")
    throughput = [
        f"| {label} | {' | '.join(first_number(c) + ' calls/s' for c in r[1:4])} | {r[4]} | {r[5]} |"
        for kind, label in names
        for r in [row(calls, kind)]
    ]
    p50 = lambda r: r[1].split(" / ")[0]  # noqa: E731
    return [
        *wrap(
            f"From the run of {run.group(2) if run else '?'} (`{run.group(1) if run else '?'}`, "
            "[full results](../bench/results/replicas.md)):"
        ),
        "",
        "| measure | SQLite | PostgreSQL | ratio |",
        "|---|---|---|---|",
        f"| ms in the store for one console-approved charge ({operations.group(1) if operations else '?'} "
        f"transactions) | {one_at_a_time[1]} ms | {one_at_a_time[2]} ms | PostgreSQL {one_at_a_time[3]} |",
        f"| the same, eight charges at once | {eight[4]} charges/s | {eight[5]} charges/s | PostgreSQL {eight[6]} |",
        f"| one approved charge end to end (two calls and the console's click), p50 | {p50(sqlite)} ms | "
        f"{p50(postgres)} ms | PostgreSQL {ratio(p50(postgres), p50(sqlite))} |",
        "",
        "| 16 sessions, PostgreSQL | one replica | two replicas | two behind deploy/proxy.py | two / one | "
        "proxy / one |",
        "|---|---|---|---|---|---|",
        *throughput,
        "",
        *wrap(bound),
    ]


def wrap(text: str) -> list[str]:
    return textwrap.wrap(text, 100, break_on_hyphens=False, break_long_words=False)


def cold_names(rows: list[list[str]]) -> tuple[str, str, str]:
    return (
        next(r[0] for r in rows if r[0].startswith("floor")),
        "polar-orders-mcp",
        next(r[0] for r in rows if r[0].startswith("Polar's")),
    )


def ratio(a: str, b: str) -> str:
    value = float(a.replace(",", "")) / float(b.replace(",", ""))
    return f"{value:.2f}×"


def block(results: Path = RESULTS) -> str:
    """docs/performance.md's generated block, markers included."""
    tasks = tasks_block((results / "tasks.md").read_text())
    latest = latest_block((results / "latest.md").read_text())
    lines = [
        BEGIN,
        "",
        "**What the model reads, per support task** ([full table](../bench/results/tasks.md)).",
        "",
        *tasks,
        "",
        *wrap(
            "**Beside the floors and Polar's own server** ([full results: every table, the "
            "machine, the versions, the profiles](../bench/results/latest.md))."
        ),
        "",
        *latest,
        "",
        END,
    ]
    return "\n".join(lines)


def replicas(results: Path = RESULTS) -> str:
    """docs/deployment.md's generated block of replica figures, markers included."""
    lines = replicas_block((results / "replicas.md").read_text())
    return "\n".join([REPLICAS_BEGIN, "", *lines, "", REPLICAS_END])


def replaced(readme: str, new_block: str, begin: str = BEGIN, end_marker: str = END) -> str:
    start, end = readme.index(begin), readme.index(end_marker) + len(end_marker)
    return readme[:start] + new_block + readme[end:]


def updated(text: str, results: Path = RESULTS) -> str:
    """A doc with the generated blocks it holds written from `results`."""
    if BEGIN in text:
        text = replaced(text, block(results))
    if REPLICAS_BEGIN in text:
        text = replaced(text, replicas(results), REPLICAS_BEGIN, REPLICAS_END)
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.readme", description=__doc__)
    parser.add_argument("--check", action="store_true", help="exit 1 if a doc's figures differ, change nothing")
    args = parser.parse_args(argv)
    for doc in FILES:
        text = doc.read_text()
        new = updated(text)
        if new == text:
            continue
        if args.check:
            print(
                f"{doc.name}'s benchmark figures differ from bench/results/: run python -m bench.readme",
                file=sys.stderr,
            )
            return 1
        doc.write_text(new)
        print(f"bench: wrote {doc.name}'s benchmark figures", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
