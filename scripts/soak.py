"""Soak: mixed MCP calls over streamable HTTP against a server process for a while, with faults injected
into the emulator behind it, sampling the server's resident memory.

    python scripts/soak.py                      # ten minutes (make soak)
    python scripts/soak.py --duration 60        # a quick look

The server (`polar-orders-mcp serve --transport http`) talks over loopback to the emulator in a second
process, as it would to Polar, so the server's memory holds only what the server keeps. Sessions open,
make calls and close, all the time; reads, creates, approved charges and exports are mixed (each worker
starts with every step of the mix once, so that even a short run takes each path). A charge goes as an
agent and a person do it: finalize_order answers approval_pending, a person signed in to the approval
console approves the request over HTTP, finalize_order again with the approval_id charges. Every
FAULT_EVERY seconds (a third of a shorter run, at least MIN_FAULT_GAP) the emulator is told to fail a few
requests in ways the server must absorb (retried reads, a charge whose answer is lost). Any tool error,
protocol error or failed request is counted as an error. Exit 1 if there was an error or if the server's
memory grew past the bound after the warm-up. Figures go to stdout and to bench/results/soak.md.
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx2

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.approvals.console_client import Person  # noqa: E402
from tests.reliability.processes import Session, clean_env, emulator_process, server_process  # noqa: E402

from polar_orders_mcp.emulator.seed import ORG_TOKEN  # noqa: E402

SAMPLE_EVERY = 5.0
FAULT_EVERY = 20.0  # seconds between rounds of faults (a third of the run, if shorter)
# A read retried three times backs off for up to 3.5 s: rounds closer than that could fail one call more
# often than its retries absorb (two rounds' faults in a row), an error of the soak, not of the server.
MIN_FAULT_GAP = 5.0
WARM_UP_FRACTION = 0.2  # the first part of the run, where caches and pools fill, is not judged
SESSION_CALLS = 40  # calls per session before it is closed and a new one opened
# The mix calls export_orders, in the opt-in reports toolset.
TOOLSETS = ("default", "reports")


@dataclass
class Run:
    calls: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    error_samples: list[str] = field(default_factory=list)
    faults: Counter[str] = field(default_factory=Counter)
    sessions: int = 0
    approvals: int = 0  # console decisions made by a signed-in person
    samples: list[tuple[float, int, int, int]] = field(default_factory=list)  # (s, server KiB, emulator KiB, calls)

    def error(self, kind: str, detail: str) -> None:
        self.errors[kind] += 1
        if len(self.error_samples) < 10:
            self.error_samples.append(f"{kind}: {detail[:300]}")


class Pacer:
    """Spaces the agents' steps to a total rate, whatever the number of sessions: the machine is shared."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate
        self.next = time.monotonic()

    async def wait(self) -> None:
        now = time.monotonic()
        slot = max(self.next, now)
        self.next = slot + self.interval
        if slot > now:
            await anyio.sleep(slot - now)


@dataclass
class Catalog:
    """Ids to call with, read from the emulator's seed."""

    orders: list[str]
    uninvoiced: list[str]  # billing details can still change
    customers: list[str]
    emails: list[str]
    products: list[str]
    checkouts: list[str]
    good_customer: str
    one_time_product: str


async def catalog(emulator_url: str) -> Catalog:
    async with httpx2.AsyncClient(base_url=emulator_url, headers={"Authorization": f"Bearer {ORG_TOKEN}"}) as http:
        seed = (await http.get("/_emulator/state")).json()
        orders = (await http.get("/v1/orders/", params={"limit": 100})).json()["items"]
        customers = (await http.get("/v1/customers/", params={"limit": 100})).json()["items"]
        checkouts = (await http.get("/v1/checkouts/", params={"limit": 100})).json()["items"]
    return Catalog(
        orders=[o["id"] for o in orders if o["status"] == "paid"],
        uninvoiced=[o["id"] for o in orders if o["status"] == "paid" and not o["is_invoice_generated"]],
        customers=[c["id"] for c in customers],
        emails=[c["email"] for c in customers],
        products=list(seed["products"].values()),
        checkouts=[c["id"] for c in checkouts],
        good_customer=seed["customers"]["good_card"],
        one_time_product=seed["products"]["one_time_fixed"],
    )


@dataclass
class Agent:
    """One worker's means: its MCP session (reopened every SESSION_CALLS calls), the person at the console who
    approves its charges, the ids to call with and its random source."""

    session: Session
    person: Person
    ids: Catalog
    rng: random.Random

    async def call(self, run: Run, tool: str, args: dict[str, Any]) -> dict[str, Any] | None:
        return await checked(self.session, run, tool, args)


async def get_order(agent: Agent, run: Run) -> None:
    await agent.call(run, "get_order", {"order_id": agent.rng.choice(agent.ids.orders)})


async def list_orders(agent: Agent, run: Run) -> None:
    await agent.call(run, "list_orders", {"limit": 20, "page": agent.rng.randint(1, 5)})


async def get_customer(agent: Agent, run: Run) -> None:
    await agent.call(run, "get_customer", {"customer_id": agent.rng.choice(agent.ids.customers)})


async def find_customers(agent: Agent, run: Run) -> None:
    await agent.call(run, "find_customers", {"email": agent.rng.choice(agent.ids.emails)})


async def list_products(agent: Agent, run: Run) -> None:
    await agent.call(run, "list_products", {})


async def list_checkouts(agent: Agent, run: Run) -> None:
    await agent.call(run, "list_checkouts", {"limit": 10})


async def get_checkout(agent: Agent, run: Run) -> None:
    await agent.call(run, "get_checkout", {"checkout_id": agent.rng.choice(agent.ids.checkouts)})


async def get_receipt(agent: Agent, run: Run) -> None:
    await agent.call(run, "get_receipt", {"order_id": agent.rng.choice(agent.ids.orders)})


async def update_order(agent: Agent, run: Run) -> None:
    args = {"order_id": agent.rng.choice(agent.ids.uninvoiced), "billing_name": f"Soak {agent.rng.randint(1, 9)}"}
    await agent.call(run, "update_order", args)


async def create_checkout(agent: Agent, run: Run) -> None:
    await agent.call(run, "create_checkout", {"products": [agent.rng.choice(agent.ids.products)]})


async def export_orders(agent: Agent, run: Run) -> None:
    await agent.call(run, "export_orders", {"status": ["paid"], "columns": ["email", "status"]})


async def charge(agent: Agent, run: Run) -> None:
    """create_order; finalize_order, answered approval_pending; the person approves in the console;
    finalize_order again with the approval_id, which charges."""
    ids = agent.ids
    draft = await agent.call(
        run, "create_order", {"customer_id": ids.good_customer, "product_id": ids.one_time_product}
    )
    if draft is None:
        return
    order_id = draft["id"]
    first = await agent.call(run, "finalize_order", {"order_id": order_id})
    if first is None:
        return
    if first.get("status") != "approval_pending" or not (first.get("approval") or {}).get("approve_at"):
        run.error("finalize_order: not waiting for the console", str(first))
        return
    approval_id = first["approval"]["approval_id"]
    if not await approve(agent.person, approval_id, run):
        return
    done = await agent.call(run, "finalize_order", {"order_id": order_id, "approval_id": approval_id})
    if done is not None and done.get("status") != "charged":
        run.error("finalize_order: not charged", str(done))


async def approve(person: Person, approval_id: str, run: Run) -> bool:
    """The person opens the request in the console and approves it (signing in first if need be)."""
    try:
        decided = await person.approve(approval_id)
    except (AssertionError, httpx2.HTTPError) as exc:
        run.error(f"console: {type(exc).__name__}", str(exc))
        return False
    if decided.status_code != 303:  # the console redirects to its list after a decision
        run.error("console: decision refused", f"HTTP {decided.status_code}: {decided.text}")
        return False
    run.approvals += 1
    return True


Step = Callable[[Agent, Run], Awaitable[None]]
# An agent's work: mostly reads, some creates, now and then an approved charge (weights sum to 1).
MIX: tuple[tuple[Step, float], ...] = (
    (get_order, 0.30),
    (list_orders, 0.15),
    (get_customer, 0.07),
    (find_customers, 0.05),
    (list_products, 0.05),
    (list_checkouts, 0.05),
    (get_checkout, 0.05),
    (get_receipt, 0.05),
    (update_order, 0.03),
    (create_checkout, 0.06),
    (export_orders, 0.02),
    (charge, 0.12),
)


def next_step(done: int, rng: random.Random) -> Step:
    """The worker's `done`-th step: every step of the mix once, in order, then steps drawn by weight."""
    if done < len(MIX):
        return MIX[done][0]
    return rng.choices([step for step, _ in MIX], weights=[weight for _, weight in MIX])[0]


async def checked(session: Session, run: Run, tool: str, args: dict[str, Any]) -> dict[str, Any] | None:
    """Call a tool; its structured result, or None after counting the error."""
    run.calls[tool] += 1
    try:
        result = await session.call(tool, args)
    except (AssertionError, httpx2.HTTPError) as exc:
        run.error(f"{tool}: {type(exc).__name__}", str(exc))
        return None
    if result.get("isError"):
        text = " ".join(c.get("text", "") for c in result.get("content", []))
        run.error(f"{tool}: tool error", text)
        return None
    return result.get("structuredContent")  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Server:
    """The server under soak: where it listens, the agents' bearer token and the approver's secret."""

    url: str
    token: str
    approver: str


async def worker(number: int, server: Server, ids: Catalog, pacer: Pacer, until: float, run: Run) -> None:
    rng = random.Random(number)
    headers = {"Authorization": f"Bearer {server.token}"}
    done = 0
    async with (
        httpx2.AsyncClient(headers=headers, timeout=60) as http,
        Person(base_url=server.url, secret=server.approver) as person,
    ):
        while time.monotonic() < until:
            try:
                async with Session(http, server.url) as session:
                    run.sessions += 1
                    agent = Agent(session, person, ids, rng)
                    for _ in range(SESSION_CALLS):
                        if time.monotonic() >= until:
                            break
                        await pacer.wait()
                        await next_step(done, rng)(agent, run)
                        done += 1
            except (AssertionError, httpx2.HTTPError) as exc:
                run.error(f"session: {type(exc).__name__}", str(exc))
                await anyio.sleep(1)


async def inject_faults(emulator_url: str, every: float, until: float, run: Run) -> None:
    """Every `every` seconds, faults the server must absorb without an error reaching the agent."""
    plan = [
        {"kind": "status", "status": 503, "path": "/v1/orders/{id}", "method": "GET", "count": 2},
        {"kind": "status", "status": 502, "path": "/v1/orders/", "method": "GET", "count": 2},
        {"kind": "rate_limit", "retry_after": 0.2, "path": "/v1/customers/*", "method": "GET", "count": 2},
        {"kind": "drop_after", "path": "/v1/products/", "method": "GET", "count": 1},
        {"kind": "drop_after", "path": "/v1/orders/{id}/finalize", "method": "POST", "count": 1},
        {"kind": "truncate", "path": "/v1/checkouts/{id}", "method": "GET", "count": 1},
    ]
    async with httpx2.AsyncClient(base_url=emulator_url, timeout=30) as http:

        async def count_applied() -> None:
            for fault in (await http.get("/_emulator/faults")).json()["faults"]:
                run.faults[fault["kind"]] += fault["applied"]

        while time.monotonic() + every < until:
            await anyio.sleep(every)
            await count_applied()
            await http.delete("/_emulator/faults")
            await http.delete("/_emulator/requests")  # keep the emulator's journal from mattering
            for fault in plan:
                response = await http.post("/_emulator/faults", json=fault)
                assert response.status_code == 201, response.text
        await anyio.sleep(max(0.0, until - time.monotonic()))  # the last round counted at the end
        await count_applied()


async def sample(server: Any, emulator: Any, started: float, until: float, run: Run) -> None:
    while True:
        run.samples.append((time.monotonic() - started, server.rss_kb(), emulator.rss_kb(), sum(run.calls.values())))
        if time.monotonic() + SAMPLE_EVERY > until:
            return
        await anyio.sleep(SAMPLE_EVERY)


def fault_every(duration: float) -> float:
    """Seconds between rounds of faults: FAULT_EVERY, or a third of a shorter run (so that it has some), but
    never less than MIN_FAULT_GAP."""
    return max(MIN_FAULT_GAP, min(FAULT_EVERY, duration / 3))


def slope_mib_per_min(points: list[tuple[float, int]]) -> float:
    """Least-squares slope of (seconds, KiB) points, in MiB per minute."""
    if len(points) < 2:
        return 0.0
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    mean_x, mean_y = statistics.fmean(xs), statistics.fmean(ys)
    var = sum((x - mean_x) ** 2 for x in xs)
    cov = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True))
    return (cov / var) * 60 / 1024 if var else 0.0


def report(args: argparse.Namespace, run: Run, elapsed: float) -> tuple[str, bool]:
    samples = run.samples
    warm_from = elapsed * WARM_UP_FRACTION
    judged = [(t, rss) for t, rss, _, _ in samples if t >= warm_from]
    mib = [rss / 1024 for _, rss, _, _ in samples]
    warm = judged[0][1] / 1024 if judged else mib[0]
    end, peak = mib[-1], max(mib)
    growth = max(r for _, r in judged) / 1024 - warm if judged else 0.0
    slope = slope_mib_per_min(judged)
    calls, errors = sum(run.calls.values()), sum(run.errors.values())
    ok = errors == 0 and growth <= args.max_growth
    lines = [
        "# Soak",
        "",
        f"`python scripts/soak.py --duration {args.duration:g} --sessions {args.sessions} --rate {args.rate:g}` "
        f"({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} CPUs, shared).",
        "",
        "| figure | value |",
        "|---|---|",
        f"| duration | {elapsed:.0f} s |",
        f"| concurrent sessions | {args.sessions} (each closed and reopened every {SESSION_CALLS} calls; "
        f"{run.sessions} sessions in all) |",
        f"| tool calls | {calls} ({calls / elapsed:.0f}/s) |",
        f"| charges approved by a person in the approval console, over HTTP | {run.approvals} |",
        f"| errors | {errors} |",
        f"| faults injected | a round every {fault_every(args.duration):g} s |",
        f"| faults applied (all absorbed: no error reached the agent) | {sum(run.faults.values())}: "
        + ", ".join(f"{k} {v}" for k, v in sorted(run.faults.items()))
        + " |",
        f"| server RSS at start | {mib[0]:.1f} MiB |",
        f"| server RSS after warm-up ({warm_from:.0f} s) | {warm:.1f} MiB |",
        f"| server RSS max | {peak:.1f} MiB |",
        f"| server RSS at end | {end:.1f} MiB |",
        f"| growth after warm-up (max - warm) | {growth:+.1f} MiB (bound {args.max_growth:g} MiB) |",
        f"| slope after warm-up | {slope:+.3f} MiB/min |",
        f"| emulator RSS start → end (holds every order and checkout created) | "
        f"{samples[0][2] / 1024:.1f} → {samples[-1][2] / 1024:.1f} MiB |",
        f"| verdict | {'PASS' if ok else 'FAIL'} |",
        "",
        "Calls by tool: " + ", ".join(f"{k} {v}" for k, v in sorted(run.calls.items())) + ".",
        "",
    ]
    if run.errors:
        lines += [
            "Errors by kind: " + ", ".join(f"{k} {v}" for k, v in sorted(run.errors.items())) + ".",
            "",
            "First errors:",
            "",
            *[f"- {e}" for e in run.error_samples],
            "",
        ]
    lines += ["| t (s) | server RSS (MiB) | calls |", "|---:|---:|---:|"]
    every = max(1, round(30 / SAMPLE_EVERY))
    for index, (t, rss, _, done) in enumerate(samples):
        if index % every == 0 or index == len(samples) - 1:
            lines.append(f"| {t:.0f} | {rss / 1024:.1f} | {done} |")
    return "\n".join(lines) + "\n", ok


async def soak(args: argparse.Namespace) -> int:
    run = Run()
    token, approver = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    # The server keeps its approvals and audit in a store of its own, not in the user's state directory.
    with tempfile.TemporaryDirectory(prefix="soak-state-") as state, emulator_process("--orders", "200") as emulator:
        env = clean_env(POLAR_ACCESS_TOKEN=ORG_TOKEN, POLAR_MCP_HTTP_TOKEN=token, POLAR_MCP_APPROVER_TOKEN=approver)
        # --approval-wait 0: finalize_order answers approval_pending at once, instead of holding the call
        # for up to a minute while it waits for the person; the person approves, the second call charges.
        with server_process(
            "--server",
            emulator.url,
            "--confirm",
            "console",
            "--approval-wait",
            "0",
            "--state-dir",
            state,
            "--toolsets",
            ",".join(TOOLSETS),
            env=env,
        ) as server:
            ids = await catalog(emulator.url)
            target = Server(server.url, token, approver)
            pacer = Pacer(args.rate)
            started = time.monotonic()
            until = started + args.duration
            print(
                f"soaking {args.duration:g} s: server pid {server.pid} on {server.url}, emulator on {emulator.url}",
                flush=True,
            )
            with anyio.fail_after(args.duration + 120):
                async with anyio.create_task_group() as group:
                    group.start_soon(sample, server, emulator, started, until, run)
                    group.start_soon(inject_faults, emulator.url, fault_every(args.duration), until, run)
                    for number in range(args.sessions):
                        group.start_soon(worker, number, target, ids, pacer, until, run)
            elapsed = time.monotonic() - started
            if server.proc.poll() is not None:
                run.error("server", f"exited with {server.proc.returncode}: {server.output()[-500:]}")
    text, ok = report(args, run, elapsed)
    print(text)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(f"written to {out}")
    return 0 if ok else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=600, help="seconds of calls (default 600)")
    parser.add_argument("--sessions", type=int, default=16, help="concurrent sessions (default 16)")
    parser.add_argument(
        "--rate",
        type=float,
        default=150,
        help="agent steps per second, all sessions together (default 150; a charge is 3 calls and a console approval)",
    )
    parser.add_argument(
        "--max-growth", type=float, default=16, help="MiB the server's RSS may grow after the warm-up (default 16)"
    )
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "soak.md"))
    sys.exit(anyio.run(soak, parser.parse_args()))


if __name__ == "__main__":
    main()
