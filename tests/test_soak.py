"""make soak still works: the soak itself for eight seconds, each step of its mix taken, a round of faults."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # make test-slow

ROOT = Path(__file__).resolve().parents[1]
MIX_TOOLS = {
    "get_order",
    "list_orders",
    "get_customer",
    "find_customers",
    "list_products",
    "list_checkouts",
    "get_checkout",
    "get_receipt",
    "update_order",
    "create_checkout",
    "export_orders",
    "create_order",
    "finalize_order",
}


def figure(report: str, name: str) -> str:
    """A row's value in the soak's table of figures."""
    found = re.search(rf"^\| {re.escape(name)} \| (.*) \|$", report, re.MULTILINE)
    assert found, f"no {name!r} row in:\n{report}"
    return found.group(1)


def calls_by_tool(report: str) -> dict[str, int]:
    found = re.search(r"^Calls by tool: (.*)\.$", report, re.MULTILINE)
    assert found, report
    return {tool: int(count) for tool, count in (part.split() for part in found.group(1).split(", "))}


def test_a_short_soak_charges_through_the_console_and_ends_without_an_error(tmp_path: Path) -> None:
    out = tmp_path / "soak.md"
    argv = ["--duration", "8", "--sessions", "2", "--out", str(out)]  # a round of faults at 5 s
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "soak.py"), *argv], capture_output=True, text=True, timeout=100
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    report = out.read_text()
    calls = calls_by_tool(report)
    approvals = int(figure(report, "charges approved by a person in the approval console, over HTTP"))
    faults = int(figure(report, "faults applied (all absorbed: no error reached the agent)").split(":")[0])
    # Each worker takes every step once first; each charge is a draft, a call answered approval_pending,
    # the person's approval and the call that charges.
    assert (set(calls), figure(report, "errors"), faults > 0) == (MIX_TOOLS, "0", True)
    assert approvals >= 2 and (calls["create_order"], calls["finalize_order"]) == (approvals, 2 * approvals)
