"""A scripted support day under a standing approval for small refunds: what is done under it, what is asked of a
person, why each request fell back to a person, and the time an act takes each way.

    python -m bench.mandates [--seed 7] [--tasks 50]   # make bench-mandates; writes bench/results/mandates.md, .json

The day: `--tasks` support tasks drawn from a seeded generator (the same seed, the same day), run one after the
other by one agent against the embedded emulator, in one process (MCP client, server, approval console and emulator
in memory; the store a SQLite file). Most are refunds of paid orders, of various amounts and ages; a few refunds
are over $20 or of orders a month old or more; some tasks are charges of draft orders, which the mandate does not
cover. At the start of the day a supervisor signs one mandate in the store, as the approval console records it:
create_refund, up to $20.00 per act (tax included, what the customer gets back), at most 10 acts a day, orders
under 30 days old, for one day. Every request the mandate does not cover is answered by the
supervisor at the approval console (signed in over HTTP, approve clicked), and the agent calls again.

The time per act is the agent's calls (and, with a person, the console's sign-in page and approve click) as
measured here, with the person answering at once: a real person's delay (minutes, or the next morning) comes on
top of the "with a person" figure and is not measured.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import statistics
import subprocess
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import httpx2
import mcp_types as types
from mcp.client import Client
from tests.approvals.console_client import APPROVER_SECRET, Person

from bench import procs as p
from polar_orders_mcp.approvals.mandates import terms_text
from polar_orders_mcp.emulator.app import create_app
from polar_orders_mcp.emulator.state import EmulatorState
from polar_orders_mcp.server.app import build_parts
from polar_orders_mcp.settings import Settings
from polar_orders_mcp.store.mandates import MandateStore
from polar_orders_mcp.store.records import MandateTerms

SEED = 7
TASKS = 50
TOOLSETS = ["default"]  # create_refund and finalize_order are in it
SUPERVISOR = "supervisor"
TERMS = MandateTerms(
    tools=("create_refund",),
    currency="usd",
    max_per_act=2000,
    daily_acts=10,
    max_order_age_days=30,
    note="small refunds for the support desk, one day",
)
MANDATE_TTL = 86_400.0
"""A day: what the supervisor signs in the morning."""

# The constraint a fallback missed, from the reason the agent is told (approvals/mandates.py's misfit).
CONSTRAINTS = (
    (re.compile(r"is over its \S+ per act"), "over $20.00 per act"),
    (re.compile(r"acts a day are used"), "its 10 acts a day used"),
    (re.compile(r"days old, over its"), "order 30 days old or more"),
    (re.compile(r"a day is used"), "its daily budget used"),
    (re.compile(r"in all is used"), "its total budget used"),
)
NOT_COVERED = "not a refund: the mandate covers create_refund only"


@dataclass(frozen=True)
class Task:
    """One support request: refund (part of) a paid order, or charge a draft."""

    n: int
    kind: str
    """refund | charge | lookup (reading an order: no approval)"""
    order_id: str
    price: int
    """The order's amount, net of tax (minor units)."""
    refund: int | None
    """A refund's amount net of tax; None: all of it."""
    age_days: float


@dataclass(frozen=True)
class Outcome:
    task: int
    kind: str
    path: str
    """mandate: done without asking; person: approved at the console, then done; read: a lookup."""
    why: str | None
    """The constraint a fallback missed first, as the agent was told (None under the mandate)."""
    missed: list[str]
    """Every constraint of the mandate it missed, checked here from the task's facts."""
    moved: int
    """What the act moved, tax included (minor units)."""
    seconds: float
    console: float
    """Of `seconds`, the supervisor's steps at the console."""
    calls: int


async def prepare(state: EmulatorState, rng: random.Random, count: int) -> list[Task]:
    """The day's orders in the emulator and its tasks, in order: about half refunds (mostly small and recent, some
    over $20 or of old orders, full or in part), a sixth charges (of drafts, of any amount), the rest lookups."""
    seed = state.seed_info
    customer, product = seed.customers["good_card"], seed.products["one_time_fixed"]
    refunds, charges = count * 12 // 25, count * 4 // 25
    kinds = ["refund"] * refunds + ["charge"] * charges + ["lookup"] * (count - refunds - charges)
    rng.shuffle(kinds)
    tasks = []
    for n, kind in enumerate(kinds, 1):
        if kind == "lookup":
            tasks.append(Task(n, kind, rng.choice(state.store.orders).id, 0, None, 0.0))
            continue
        if kind == "charge":
            price = rng.randrange(900, 9900, 100)
            draft = state.orders.create(customer_id=customer, product_id=product, amount=price)
            tasks.append(Task(n, kind, draft.id, price, None, 0.0))
            continue
        net = rng.randrange(1700, 6000, 50) if rng.random() < 0.15 else rng.randrange(250, 1500, 50)
        whole = rng.random() < 0.6
        price = net if whole else net * 2
        age = rng.uniform(31, 120) if rng.random() < 0.15 else rng.uniform(0.2, 29)
        order = state.orders.create(customer_id=customer, product_id=product, amount=price)
        await state.orders.finalize(order.id)
        order.created_at = datetime.now(UTC) - timedelta(days=age)
        tasks.append(Task(n, kind, order.id, price, None if whole else net, age))
    return tasks


def constraint(next_step: str) -> str:
    """Which constraint a request the mandate did not cover missed, from what the agent was told."""
    said = next_step.partition("No standing approval covers it: ")[2]
    if not said:
        return NOT_COVERED
    return next((name for pattern, name in CONSTRAINTS if pattern.search(said)), said)


async def structured(client: Client, tool: str, args: dict[str, Any]) -> dict[str, Any]:
    result: types.CallToolResult = await client.call_tool(tool, args)
    if result.is_error or result.structured_content is None:
        text = " ".join(c.text for c in result.content if isinstance(c, types.TextContent))
        raise RuntimeError(f"{tool} {args}: {text}")
    return result.structured_content


def every_miss(task: Task, moved: int, acts_used: int) -> list[str]:
    """Every constraint of TERMS the task misses (the server says only the first)."""
    if task.kind != "refund":
        return [NOT_COVERED]
    missed = []
    if moved > TERMS.max_per_act:
        missed.append("over $20.00 per act")
    if TERMS.daily_acts is not None and acts_used >= TERMS.daily_acts:
        missed.append("its 10 acts a day used")
    if TERMS.max_order_age_days is not None and task.age_days > TERMS.max_order_age_days:
        missed.append("order 30 days old or more")
    return missed


async def run_task(client: Client, person: Person, task: Task, acts_used: int) -> Outcome:
    tool = {"refund": "create_refund", "charge": "finalize_order", "lookup": "get_order"}[task.kind]
    args: dict[str, Any] = {"order_id": task.order_id}
    if task.refund is not None:
        args["amount"] = task.refund
    start = time.perf_counter()
    first = await structured(client, tool, args)
    if task.kind == "lookup":
        return Outcome(task.n, task.kind, "read", None, [], 0, time.perf_counter() - start, 0.0, 1)
    if first["status"] != "approval_pending":
        seconds = time.perf_counter() - start
        return Outcome(task.n, task.kind, "mandate", None, [], _moved(first), seconds, 0.0, 1)
    approval_id = first["approval"]["approval_id"]
    clicked = time.perf_counter()
    answered = await person.approve(approval_id)
    console = time.perf_counter() - clicked
    if answered.status_code != 303:
        raise RuntimeError(f"the console answered {answered.status_code} approving {approval_id}")
    done = await structured(client, tool, {**args, "approval_id": approval_id})
    seconds, moved = time.perf_counter() - start, _moved(done)
    why = constraint(first["next_step"])
    return Outcome(task.n, task.kind, "person", why, every_miss(task, moved, acts_used), moved, seconds, console, 2)


def _moved(answer: dict[str, Any]) -> int:
    if answer["status"] == "refunded":
        return int(answer["refund"]["total_amount"])
    if answer["status"] == "charged":
        return int(answer["order"]["total_amount"])
    raise RuntimeError(f"not done: {answer['status']}")


async def day(seed: int, count: int, state_dir: Path) -> dict[str, Any]:
    emulator = create_app(orders=20)
    state: EmulatorState = emulator.state.emulator
    tasks = await prepare(state, random.Random(seed), count)
    settings = Settings(
        emulator=True,
        state_dir=state_dir,
        approver_token=APPROVER_SECRET,
        console_url="http://127.0.0.1:8765/approvals",
        approval_wait=0,
        toolsets=TOOLSETS,
    )
    parts = build_parts(settings, transport=httpx2.ASGITransport(app=emulator))
    mandates = MandateStore(await parts.store())  # type: ignore[arg-type]  # the SQL store
    mandate = await mandates.create(TERMS, by=SUPERVISOR, ttl=MANDATE_TTL)
    outcomes = []
    started = time.perf_counter()
    async with Client(parts.server) as client, Person(parts.console) as person:
        await structured(client, "get_order", {"order_id": state.seed_info.paid_order_id})  # warm: not counted
        await person.sign_in()
        for task in tasks:
            used = sum(1 for o in outcomes if o.path == "mandate")
            outcomes.append(await run_task(client, person, task, used))
    usage = await mandates.usage(mandate.id)
    under = [o for o in outcomes if o.path == "mandate"]
    if usage.acts != len(under) or (TERMS.daily_acts is not None and usage.acts_today > TERMS.daily_acts):
        raise RuntimeError(f"the mandate counts {usage.acts} acts, and {len(under)} were done under it")
    if any(o.why not in o.missed for o in outcomes if o.path == "person"):
        raise RuntimeError("a fallback's reason, as told, is not one of the constraints this benchmark finds missed")
    return {
        "seed": seed,
        "terms": terms_text(TERMS),
        "tasks": [asdict(t) for t in tasks],
        "outcomes": [asdict(o) for o in outcomes],
        "usage": asdict(usage),
        "refunds_at_polar": sum(1 for r in state.faults.journal if r.method == "POST" and r.path == "/v1/refunds/"),
        "seconds": time.perf_counter() - started,
    }


def _ms(values: list[float]) -> str:
    if not values:
        return "-"
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]
    return f"{statistics.median(values) * 1000:.0f} ms (p90 {p90 * 1000:.0f} ms, n={len(values)})"


def markdown(results: dict[str, Any]) -> str:
    outcomes = results["outcomes"]
    under = [o for o in outcomes if o["path"] == "mandate"]
    asked = [o for o in outcomes if o["path"] == "person"]
    refunds = [o for o in outcomes if o["kind"] == "refund"]
    charges = [o for o in outcomes if o["kind"] == "charge"]
    lookups = [o for o in outcomes if o["kind"] == "lookup"]
    told = Counter(o["why"] for o in asked)
    every = Counter(name for o in asked for name in o["missed"])
    usage = results["usage"]
    lines = [
        "# A support day under a standing approval (issue 26)",
        "",
        f"`python -m bench.mandates --seed {results['seed']}`, {results['date']}, commit {results['commit']}: "
        f"{len(outcomes)} support tasks run by one agent against the embedded emulator, in one process, in "
        f"{results['seconds']:.1f} s on {results['cores']} cores (load average {results['load']} at the start: "
        "they are shared).",
        "",
        f"The mandate, signed by the supervisor at the start of the day for one day: {results['terms']}. Every request "
        "it does not cover is approved by the supervisor at the approval console, and the agent calls again.",
        "",
        "| | count |",
        "|---|---|",
        f"| tasks | {len(outcomes)}: {len(refunds)} refunds, {len(charges)} charges, {len(lookups)} lookups |",
        f"| acts done under the mandate, without asking | {len(under)} |",
        f"| approvals asked of a person | {len(asked)} |",
        f"| refunds Polar received | {results['refunds_at_polar']} |",
        f"| the mandate's use at the end of the day | {usage['acts']} acts, ${usage['total'] / 100:,.2f} |",
        "",
        "## Why each request fell back to a person",
        "",
        "The server tells the agent the first constraint of the mandate a request missed (`next_step`; it checks "
        "the amount per act, then the acts used, then the order's age); this benchmark also checks every constraint "
        "each one missed, from the task's facts.",
        "",
        "| constraint | requests that missed it first (as told) | requests that missed it |",
        "|---|---|---|",
        *(f"| {name} | {told[name]} | {n} |" for name, n in every.most_common()),
        "",
        "## Time per act",
        "",
        "Median and 90th percentile of the agent's calls for one act, from its first call to Polar's answer. With a "
        "person: the first call, the supervisor's approval in the console (its page and the approve click) and the "
        "second call, with the supervisor answering at once; a real person's delay comes on top and is not measured.",
        "",
        "| | time per act | of which the console | calls per act |",
        "|---|---|---|---|",
        f"| refund under the mandate | {_ms([o['seconds'] for o in under])} | - | 1 |",
        f"| refund with a person | {_ms([o['seconds'] for o in asked if o['kind'] == 'refund'])} | "
        f"{_ms([o['console'] for o in asked if o['kind'] == 'refund'])} | 2 |",
        f"| charge with a person | {_ms([o['seconds'] for o in asked if o['kind'] == 'charge'])} | "
        f"{_ms([o['console'] for o in asked if o['kind'] == 'charge'])} | 2 |",
        f"| for scale: a lookup (get_order, no approval) | {_ms([o['seconds'] for o in lookups])} | - | 1 |",
        "",
        "## The day's acts, task by task",
        "",
        "The lookups between them are left out.",
        "",
        "| # | task | order age | amount (tax included) | done | why a person was asked (first, as told) | "
        "every constraint missed |",
        "|---|---|---|---|---|---|---|",
    ]
    tasks = {t["n"]: t for t in results["tasks"]}
    for o in outcomes:
        task = tasks[o["task"]]
        if o["kind"] == "lookup":
            continue
        kind = "charge" if o["kind"] == "charge" else ("refund in part" if task["refund"] else "refund in full")
        age = "draft" if o["kind"] == "charge" else f"{task['age_days']:.0f} days"
        done = "under the mandate" if o["path"] == "mandate" else "approved by a person"
        missed = ", ".join(o["missed"])
        lines.append(
            f"| {o['task']} | {kind} | {age} | ${o['moved'] / 100:,.2f} | {done} | {o['why'] or ''} | {missed} |"
        )
    return "\n".join(lines) + "\n"


def _commit() -> str:
    found = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=p.ROOT, capture_output=True, text=True)
    return found.stdout.strip() or "?"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.mandates", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=SEED, help="the day's generator seed")
    parser.add_argument("--tasks", type=int, default=TASKS, help="support tasks in the day")
    parser.add_argument("--out", type=Path, default=p.BENCH / "results", help="results directory")
    args = parser.parse_args(argv)
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    with tempfile.TemporaryDirectory(prefix="polar-orders-mcp-mandates-") as state_dir:
        # A short day first, not counted: the process's first calls of each kind import and build what the
        # measured day would otherwise pay for in its first acts (all of them under the mandate).
        anyio.run(day, args.seed + 1, 12, Path(state_dir) / "warm")
        results = anyio.run(day, args.seed, args.tasks, Path(state_dir) / "day")
    results.update(
        date=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), commit=_commit(), cores=os.cpu_count(), load=load
    )
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / "mandates"
    stem.with_suffix(".json").write_text(json.dumps(results, indent=2) + "\n")
    stem.with_suffix(".md").write_text(markdown(results))
    print(markdown(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
