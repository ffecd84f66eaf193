"""Support tasks, replayed call by call on 0.1.0 and on this tree in one run: what the model reads, how many
calls it makes, and how many requests reach Polar.

    python -m bench.tasks [--orders N] [--only receipt refund …]   # writes bench/results/tasks.md and .json

Each task (bench/task_steps.py) is the shortest correct sequence of tool calls an agent makes for one
support request, on each version's own tools. Both versions run as real stdio server processes against
one emulator (this tree's), reset to the seed before every task; 0.1.0 is commit ed87fbc's `src/`, run
with the same interpreter. The tool list the model reads is the one the server serves as configured for
the task, paid once per call (a turn each). What a person does (approving a charge in the approval console) is played
over HTTP and not counted: only the agent's calls and what the model reads.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx2
from tests.approvals.console_client import Person

from bench import context, readme, rpc, task_report
from bench import procs as p
from bench.task_steps import CHECKS, CURRENT_TOOLSETS, TASKS, Scenario, Task

OLD_COMMIT = "ed87fbc"
OLD_LABEL = "0.1.0"
CURRENT_LABEL = "current"
ORDERS = 1000  # a shop with a year of orders
LIST_PAGE = 20  # list_orders' default page, for the size of one row
SEED_FIELDS = ("organization_id", "customers", "paid_order_id", "subscriptions", "open_checkout_id")


class TaskFailed(RuntimeError):
    """A call answered other than the sequence expects: the sequence no longer fits the tools."""


def extract_old(into: Path) -> Path:
    """0.1.0's package, from git, into `into`/src (what PYTHONPATH points at)."""
    archive = subprocess.run(
        ["git", "archive", "--format=tar", OLD_COMMIT, "src"], cwd=p.ROOT, check=True, capture_output=True
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into / "src"


@dataclass(frozen=True)
class Version:
    label: str
    old_src: Path | None  # 0.1.0's package; None: this tree
    approver_secret: str

    def command(self, url: str, task: Task, token: str | None) -> tuple[list[str], dict[str, str], str]:
        """argv, environment and the configuration in words, for `task`'s server, with customer session
        `token` for a task in customer mode."""
        env = p.clean_env(POLAR_SERVER=url)
        if token is not None:
            env["POLAR_CUSTOMER_SESSION"] = token
        else:
            env["POLAR_ACCESS_TOKEN"] = p.ORG_TOKEN
        if self.old_src is not None:
            env["PYTHONPATH"] = str(self.old_src)
            argv = [sys.executable, "-m", "polar_orders_mcp", "serve"]
            return (argv, env, "customer session") if token else ([*argv, "--confirm", "token"], env, "--confirm token")
        argv = [p.OUR_COMMAND, "serve"]
        if token is not None:
            return argv, env, "customer session"
        env["POLAR_MCP_APPROVER_TOKEN"] = self.approver_secret
        argv += ["--approvals-port", "0", "--approval-wait", "0"]
        if extra := CURRENT_TOOLSETS.get(task.key):
            chosen = ",".join(["default", *extra])
            return [*argv, "--toolsets", chosen], env, f"--toolsets {chosen}"
        return argv, env, "default toolsets"


class Emulator:
    """The emulator's control plane: reset to the seed, and the journal of requests that reached the API."""

    def __init__(self, url: str) -> None:
        self.url = url
        headers = {"authorization": f"Bearer {p.ORG_TOKEN}", "polar-version": "2026-10"}
        self.http = httpx2.Client(base_url=url, timeout=30, headers=headers)

    def reset(self) -> dict[str, Any]:
        response = self.http.post("/_emulator/reset")
        response.raise_for_status()
        return dict(response.json())

    def journal(self) -> list[tuple[str, str]]:
        response = self.http.get("/_emulator/requests")
        response.raise_for_status()
        return [(r["method"], r["path"]) for r in response.json()["requests"]]

    def clear_journal(self) -> None:
        self.http.delete("/_emulator/requests").raise_for_status()

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.http.request(method, path, **kwargs)
        response.raise_for_status()
        return response.json()

    def close(self) -> None:
        self.http.close()


def model_bytes(result: dict[str, Any]) -> int:
    """What a client hands the model from a tool result: its text content and the text of attached
    resources (export_orders' CSV)."""
    total = 0
    for item in result.get("content", []):
        if item.get("type") == "text":
            total += len(item["text"].encode())
        elif item.get("type") == "resource":
            resource = item["resource"]
            total += len((resource.get("text") or resource.get("blob") or "").encode())
        else:
            total += context.size(item)
    return total


def answer_of(result: dict[str, Any]) -> dict[str, Any]:
    """The result as the agent reads it: the JSON of its text, plus any attached resources."""
    texts = [c["text"] for c in result.get("content", []) if c.get("type") == "text"]
    answer: dict[str, Any]
    try:
        parsed = json.loads(texts[0]) if texts else {}
        answer = parsed if isinstance(parsed, dict) else {"value": parsed}
    except json.JSONDecodeError:
        answer = {"text": "\n".join(texts)}
    resources = [c["resource"] for c in result.get("content", []) if c.get("type") == "resource"]
    if resources:
        answer["_resources"] = resources
    return answer


@dataclass
class Call:
    tool: str
    arguments: dict[str, Any]
    result_bytes: int
    error: bool
    requests: list[tuple[str, str]]


@dataclass
class Agent:
    """One agent session: every call it makes, what the model reads of each answer, and the Polar requests
    each call caused. Approvals are given the way the version asks for them."""

    session: rpc.StdioSession
    emulator: Emulator
    approver_secret: str
    calls: list[Call] = field(default_factory=list)
    seen: int = 0  # journal entries already attributed to a call

    def _call(self, tool: str, arguments: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        reply = self.session.request("tools/call", {"name": tool, "arguments": arguments})
        if "error" in reply:
            raise TaskFailed(f"{tool}: {json.dumps(reply['error'])[:500]}")
        result = reply["result"]
        journal = self.emulator.journal()
        self.calls.append(Call(tool, arguments, model_bytes(result), bool(result.get("isError")), journal[self.seen :]))
        self.seen = len(journal)
        return result, bool(result.get("isError"))

    def call(self, tool: str, **arguments: Any) -> dict[str, Any]:
        result, error = self._call(tool, arguments)
        if error:
            raise TaskFailed(f"{tool} failed: {json.dumps(result.get('content'))[:600]}")
        return answer_of(result)

    def refused(self, tool: str, **arguments: Any) -> str:
        """A call the sequence expects to be refused (a declined card): the text the model reads."""
        result, error = self._call(tool, arguments)
        if not error:
            raise TaskFailed(f"{tool} was expected to fail and did not: {json.dumps(result)[:600]}")
        return "\n".join(c.get("text", "") for c in result.get("content", []))

    def confirmed(self, tool: str, *, refused: bool = False, **arguments: Any) -> Any:
        """An irreversible call: the first call previews; then the approval the answer asks for — the
        user's yes relayed as the confirmation token (0.1.0), or a person's click in the approval console —
        and the call again with it. A call that needs no approval is returned as it is."""
        first = self.call(tool, **arguments)
        status = first.get("status")
        if status == "confirmation_required" and "confirmation_token" in first:  # 0.1.0's model-relayed token
            again = {**arguments, "confirmation_token": first["confirmation_token"]}
        elif status == "approval_pending":
            approval = first["approval"]
            self.approve(approval["approve_at"], approval["approval_id"])
            again = {**arguments, "approval_id": approval["approval_id"]}
        else:
            return first
        return self.refused(tool, **again) if refused else self.call(tool, **again)

    def approve(self, link: str, approval_id: str) -> None:
        """The person: signs in to the console the link names and approves (not counted: not the model's)."""
        base = link.split("/approvals/")[0]
        # The console's own path: /approvals, or on stdio's listener /approvals/<segment of this run>.
        path = link.removeprefix(base).rsplit("/", 1)[0]

        async def click() -> int:
            async with Person(base_url=base, secret=self.approver_secret, path=path) as person:
                return (await person.approve(approval_id)).status_code

        status = asyncio.run(click())
        if status != 303:
            raise TaskFailed(f"the approval console answered {status} to the approval of {approval_id}")


def profile(tool: dict[str, Any]) -> dict[str, Any]:
    """Where one tool's model-visible bytes go: its description, each argument (`"name":{…}`), and the rest
    (the name, the schema's envelope: type, required, additionalProperties)."""
    schema = tool.get("inputSchema") or {}
    arguments = {name: context.size({name: sub}) - 2 for name, sub in (schema.get("properties") or {}).items()}
    description = len((tool.get("description") or "").encode())
    whole = context.size({k: tool[k] for k in context.MODEL_VISIBLE if k in tool})
    return {"description": description, "arguments": arguments, "rest": whole - description - sum(arguments.values())}


def visible_tools(listing: dict[str, Any]) -> list[tuple[str, int]]:
    """Each tool's model-visible bytes (name, description, input schema), in the server's order."""
    return [(t["name"], context.size({k: t[k] for k in context.MODEL_VISIBLE if k in t})) for t in listing["tools"]]


def scenario(emulator: Emulator, seed: dict[str, Any]) -> Scenario:
    """The task's inputs and truths from the seed, read once (the seed is the same after every reset)."""

    def email(customer_id: str) -> str:
        return str(emulator.api("GET", f"/v1/customers/{customer_id}")["email"])

    subscription = emulator.api("GET", f"/v1/subscriptions/{seed['subscriptions']['active']}")
    ada = seed["customers"]["good_card"]
    return Scenario(
        receipt_email=email(ada),
        receipt_order_id=seed["paid_order_id"],
        declining_email=email(seed["customers"]["declining_card"]),
        good_email=email(ada),
        subscriber_email=email(subscription["customer_id"]),
        subscription_id=subscription["id"],
        subscription_product=subscription["product"]["name"],
        open_checkout_ids=frozenset(
            c["id"] for c in emulator.api("GET", "/v1/checkouts/", params={"status": "open", "limit": 100})["items"]
        ),
        portal_customer_id=ada,
    )


@dataclass
class Server:
    """The server process of one task on one version: a new agent session, started ahead of its task."""

    task: Task
    version: Version
    configured: str = ""
    session: rpc.StdioSession | None = None
    listing: dict[str, Any] = field(default_factory=dict)
    failed: str | None = None  # it did not start

    @property
    def sequence(self) -> Callable[[Agent, Scenario], Any] | None:
        return self.task.old if self.version.old_src is not None else self.task.current

    def spawn(self, procs: p.Processes, emulator: Emulator, state: Path, token: str | None = None) -> None:
        argv, env, self.configured = self.version.command(emulator.url, self.task, token)
        name = f"{self.version.label}-{self.task.key}"
        if self.version.old_src is None:  # a store of its own, as a new installation has
            argv += ["--state-dir", str(state / name)]
        self.session = rpc.StdioSession(procs.start(name, argv, env, pipes=True))

    def ready(self) -> None:
        """Initialize the session and read the tool list (the process has been starting meanwhile)."""
        assert self.session is not None
        try:
            self.session.initialize()
            self.listing = rpc.check(self.session.request("tools/list"))
        except rpc.RpcError as exc:
            self.failed = f"the server did not start ({self.configured}): {exc}"

    def stop(self, procs: p.Processes) -> None:
        if self.session is not None:
            procs.stop(self.session.proc)


def run_task(
    procs: p.Processes,
    emulator: Emulator,
    seed: dict[str, Any],
    server: Server,
    s: Scenario,
    state: Path,
    *,
    keep: bool = False,
) -> dict[str, Any]:
    """Reset the emulator, replay the task's calls on the server's session, and what they cost. The server
    is stopped afterwards unless `keep` (and it did not fail)."""
    task, sequence = server.task, server.sequence
    assert sequence is not None
    fresh = emulator.reset()
    if any(fresh[k] != seed[k] for k in SEED_FIELDS):
        raise RuntimeError("the emulator's seed changed after a reset: the tasks' inputs no longer hold")
    if server.session is None:  # not started ahead: a customer session lives in the emulator's state
        token = None
        if task.customer_mode:
            token = emulator.api("POST", "/v1/customer-sessions/", json={"customer_id": s.portal_customer_id})
        emulator.clear_journal()
        server.spawn(procs, emulator, state, token["token"] if token else None)
    try:
        server.ready()
        startup = emulator.journal()
        if server.failed:
            raise TaskFailed(server.failed)
        assert server.session is not None
        agent = Agent(server.session, emulator, server.version.approver_secret, seen=len(startup))
        answer = sequence(agent, s)
    except BaseException:
        server.stop(procs)
        raise
    if not keep:
        server.stop(procs)
    tools = visible_tools(server.listing)
    made = [
        {
            "tool": c.tool,
            "arguments": c.arguments,
            "result_bytes": c.result_bytes,
            "error": c.error,
            "requests": [" ".join(r) for r in c.requests],
        }
        for c in agent.calls
    ]
    return {
        "configured": server.configured,
        "tools": len(tools),
        "tool_list_bytes": sum(size for _, size in tools),
        "calls": made,
        "startup_requests": [" ".join(r) for r in startup],
        "checked": CHECKS[task.key](answer, s, emulator),
    }


def figures(procs: p.Processes, emulator: Emulator, server: Server) -> dict[str, Any]:
    """A version's default tool list tool by tool, and one list_orders page's rows (the seed's newest),
    on the server of its last task with the default tools, once that task is done."""
    emulator.reset()
    assert server.session is not None
    try:
        page = context.text_json(server.session.call("list_orders", {"limit": LIST_PAGE}))["items"]
    finally:
        server.stop(procs)
    tools = visible_tools(server.listing)
    rows = [context.size(row) for row in page]
    return {
        "configured": server.configured,
        "tools": dict(tools),
        "profiles": {t["name"]: profile(t) for t in server.listing["tools"] if dict(tools)[t["name"]] > 600},
        "tool_list_bytes": sum(size for _, size in tools),
        "list_orders_rows": len(rows),
        "list_orders_row_bytes": {"median": statistics.median(rows), "min": min(rows), "max": max(rows)},
    }


AHEAD = 2  # servers starting while a task runs: enough to keep two cores busy


def run(procs: p.Processes, emulator_url: str, only: list[str] | None = None, *, old: bool = True) -> dict[str, Any]:
    """Every task (or those in `only`) on both versions (on this tree only without `old`), against the
    emulator at `emulator_url`, which each task resets to its seed; then each version's default tool list
    and list row. A task whose sequence no longer fits the tools is recorded as failed; the others still run.

    Each task has a server process of its own (a new session: nothing a server remembers of earlier reads
    carries over). A version's first server starts right before its task; once it has shown that it asks
    Polar nothing while it starts, the version's next servers start while the tasks before them run."""
    started = time.monotonic()
    load = os.getloadavg()[0]
    emulator = Emulator(emulator_url)
    with tempfile.TemporaryDirectory(prefix="polar-orders-mcp-tasks-") as tmp:
        state = Path(tmp)
        secret = secrets.token_urlsafe(24)
        versions = [Version(CURRENT_LABEL, None, secret)]
        if old:
            versions.insert(0, Version(OLD_LABEL, extract_old(state / OLD_LABEL), secret))
        try:
            seed = emulator.reset()
            s = scenario(emulator, seed)
            results: dict[str, Any] = {"tasks": {}, "figures": {}}
            servers = [Server(task, version) for task in TASKS if not only or task.key in only for version in versions]
            servers = [server for server in servers if server.sequence is not None]
            shown = {
                server.version.label: server
                for server in servers
                if not server.task.customer_mode and server.task.key not in CURRENT_TOOLSETS
            }
            quiet: dict[str, bool] = {}  # by version: its servers ask Polar nothing while they start
            for i, server in enumerate(servers):
                for following in servers[i + 1 : i + 1 + AHEAD]:
                    if (
                        following.session is None
                        and not following.task.customer_mode
                        and quiet.get(following.version.label)
                    ):
                        following.spawn(procs, emulator, state)
                label, keep = server.version.label, shown.get(server.version.label) is server
                entry = results["tasks"].setdefault(
                    server.task.key, {"title": server.task.title, "asked": server.task.asked}
                )
                try:
                    entry[label] = run_task(procs, emulator, seed, server, s, state, keep=keep)
                    quiet.setdefault(label, not entry[label]["startup_requests"])
                    if keep:
                        results["figures"][label] = figures(procs, emulator, server)
                except (TaskFailed, AssertionError, rpc.RpcError, KeyError, IndexError, StopIteration) as exc:
                    entry[label] = {"failed": f"{type(exc).__name__}: {exc}"[:600]}
                    print(f"bench.tasks: {server.task.key} on {label} failed: {exc}", file=sys.stderr)
        finally:
            emulator.close()
    results["seed_orders"] = seed["orders"]
    results["elapsed_s"] = time.monotonic() - started
    results["load"] = {"start": load, "end": os.getloadavg()[0], "cores": os.cpu_count()}
    return results


def failures(results: dict[str, Any]) -> list[str]:
    return [
        f"{key} ({label})"
        for key, task in results["tasks"].items()
        for label in (OLD_LABEL, CURRENT_LABEL)
        if isinstance(task.get(label), dict) and "failed" in task[label]
    ]


def _commit() -> str:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=p.ROOT, capture_output=True, text=True, timeout=30
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "src"],
            cwd=p.ROOT,
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "?"
    return head + (", modified" if dirty else "")


def write(results: dict[str, Any], stem: Path, command: str) -> None:
    """`stem`.json and `stem`.md from a run's results."""
    results["started"] = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    results["command"] = command
    results["commits"] = {OLD_LABEL: OLD_COMMIT, CURRENT_LABEL: _commit()}
    stem.parent.mkdir(parents=True, exist_ok=True)
    stem.with_suffix(".json").write_text(json.dumps(results, indent=2) + "\n")
    stem.with_suffix(".md").write_text(task_report.markdown(results))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.tasks", description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=ORDERS, help=f"orders in the emulator's seed (default {ORDERS})")
    parser.add_argument("--only", nargs="+", choices=[t.key for t in TASKS], help="run only these tasks")
    parser.add_argument("--out", type=Path, default=p.BENCH / "results", help="results directory")
    args = parser.parse_args(argv)
    logdir = Path(tempfile.mkdtemp(prefix="polar-orders-mcp-tasks-"))
    began = time.monotonic()
    with p.Processes(logdir) as procs:
        results = run(procs, procs.emulator(args.orders), args.only)
    results["elapsed_s"] = time.monotonic() - began  # with the emulator's start
    command = "python -m bench.tasks" + (f" --orders {args.orders}" if args.orders != ORDERS else "")
    command += f" --only {' '.join(args.only)}" if args.only else ""
    # Only a whole run at the default size replaces the committed tasks.md.
    stem = args.out / ("tasks" if not args.only and args.orders == ORDERS else "tasks-partial")
    write(results, stem, command)
    print(f"bench: wrote {stem}.md and .json in {results['elapsed_s']:.0f} s", file=sys.stderr)
    if stem == p.BENCH / "results" / "tasks":
        readme.main([])  # the docs' figures from the results just written
    print("\n".join(task_report.summary_table(results)))
    if failed := failures(results):
        print(f"bench.tasks: failed: {', '.join(failed)}; the servers' logs are in {logdir}", file=sys.stderr)
        return 1
    shutil.rmtree(logdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
