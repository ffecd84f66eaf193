"""The audit: a hash-chained record per write or irreversible call, which `audit verify` checks."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from mcp.client import Client

from polar_orders_mcp.audit_cli import check_chain, file_records
from polar_orders_mcp.emulator.seed import SeedInfo
from polar_orders_mcp.emulator.state import EmulatorState
from polar_orders_mcp.server.app import ServerParts
from tests.approvals.console_client import Person
from tests.tools.conftest import call, fail

pytestmark = pytest.mark.anyio


def audit(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "polar_orders_mcp", "audit", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def a_days_work(parts: ServerParts, seed: SeedInfo) -> str:
    """Reads, writes, an approved charge, a refused one: what a desk does. Returns the approval id."""
    async with Client(parts.server) as client, Person(parts.console) as person:
        await call(client, "get_order", {"order_id": seed.paid_order_id})  # a read: not audited
        await call(client, "update_order", {"order_id": seed.paid_order_id, "billing_name": "ACME"})
        order_id = seed.draft_orders["good_card"]
        approval_id = (await call(client, "finalize_order", {"order_id": order_id}))["approval"]["approval_id"]
        await person.approve(approval_id)
        await call(client, "finalize_order", {"order_id": order_id, "approval_id": approval_id})
        await fail(client, "finalize_order", {"order_id": order_id, "approval_id": approval_id})
    return approval_id


async def test_each_write_or_irreversible_call_is_one_chained_record(
    make_parts: Any, seed: SeedInfo, state: EmulatorState, tmp_path: Path
) -> None:
    log = tmp_path / "audit.jsonl"
    parts: ServerParts = make_parts(audit_log=str(log))
    approval_id = await a_days_work(parts, seed)
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(e["seq"], e["tool"], e["outcome"]) for e in lines] == [
        (1, "update_order", "ok"),
        (2, "finalize_order", "approval_pending"),
        (3, "finalize_order", "done"),
        (4, "finalize_order", "refused"),
    ]
    charge = lines[2]
    assert charge["channel"] == "console" and charge["approver"] == "approver" and charge["client"] == "stdio"
    assert charge["approval_id"] == approval_id and charge["acted"] is True and charge["polar_status"] == "paid"
    assert charge["previewed"]["amount"] == 1500 and "4242" in charge["previewed"]["payment_method"]
    assert (charge["amount"], charge["currency"]) == (1500, "usd") and "amount" not in lines[0]
    assert charge["arguments"] == {"order_id": seed.draft_orders["good_card"], "approval_id": "<given>"}
    assert [e["prev"] for e in lines[1:]] == [e["hash"] for e in lines[:-1]]
    store_records = await (await parts.store()).audit_records()
    assert [r.hash for r in store_records] == [e["hash"] for e in lines]


async def test_audit_verify_passes_on_a_real_log_and_tail_shows_it(
    make_parts: Any, seed: SeedInfo, tmp_path: Path
) -> None:
    log = tmp_path / "audit.jsonl"
    parts: ServerParts = make_parts(audit_log=str(log))
    await a_days_work(parts, seed)
    state_dir = str(tmp_path / "state")
    verified = audit("verify", "--state-dir", state_dir)
    from_file = audit("verify", "--file", str(log), "--state-dir", state_dir)
    tail = audit("tail", "-n", "2", "--state-dir", state_dir)
    assert verified.returncode == 0 and "audit chain intact" in verified.stdout and "4 records" in verified.stdout
    assert from_file.returncode == 0 and "4 records" in from_file.stdout and "against the store" in from_file.stdout
    rows = tail.stdout.splitlines()
    assert rows[0].split() == [
        "seq",
        "time",
        "(UTC)",
        "tool",
        "target",
        "amount",
        "client",
        "channel",
        "approver",
        "outcome",
    ]
    assert rows[1].split()[0] == "3" and "console" in rows[1] and rows[1].endswith("done")
    assert rows[1].split()[5] == "$15.00" and rows[2].split()[5] in ("$15.00", "-")
    assert rows[2].split()[0] == "4" and rows[2].endswith("refused")


def tamper(db: Path, sql: str) -> None:
    with sqlite3.connect(db) as connection:
        connection.execute(sql)


@pytest.mark.parametrize(
    ("sql", "said"),
    [
        (
            'UPDATE pom_audit SET entry = replace(entry, \'"approver": "approver"\', \'"approver": "mallory"\') '
            "WHERE seq = 3",
            "record 3 was changed after it was written",
        ),
        ("DELETE FROM pom_audit WHERE seq = 2", "record 2 is missing: the chain jumps from 1 to 3"),
        ("DELETE FROM pom_audit WHERE seq = 4", "the chain ends at record 3, but 4 were written"),
    ],
)
async def test_audit_verify_finds_an_edited_or_deleted_record(
    make_parts: Any, seed: SeedInfo, tmp_path: Path, sql: str, said: str
) -> None:
    await a_days_work(make_parts(), seed)
    tamper(tmp_path / "state" / "state.db", sql)
    result = audit("verify", "--state-dir", str(tmp_path / "state"))
    assert result.returncode == 1
    assert "audit chain BROKEN" in result.stdout and said in result.stdout


async def test_audit_verify_finds_an_edited_line_of_the_file(make_parts: Any, seed: SeedInfo, tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    await a_days_work(make_parts(audit_log=str(log)), seed)
    lines = log.read_text().splitlines()
    edited = json.loads(lines[2])
    edited["previewed"]["amount"] = 15
    lines[2] = json.dumps(edited, separators=(",", ":"))
    log.write_text("\n".join(lines) + "\n")
    checked, problem = check_chain(file_records(log))
    assert (checked, problem) == (2, "record 3 was changed after it was written (its hash does not match it)")


async def test_lines_are_ascii_whatever_the_arguments_hold(make_parts: Any, seed: SeedInfo, tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    parts: ServerParts = make_parts(audit_log=str(log))
    name = "Ada\u2028Lovelace\u2029Ltd\u0085 — 東京"
    async with Client(parts.server) as client:
        await call(client, "update_order", {"order_id": seed.paid_order_id, "billing_name": name})
    raw = log.read_bytes()
    assert raw.isascii()
    [line] = raw.decode().splitlines()
    assert json.loads(line)["arguments"]["billing_name"] == name


async def test_a_refusal_never_repeats_the_raw_argument(make_parts: Any, seed: SeedInfo, tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    parts: ServerParts = make_parts(audit_log=str(log))
    secret = seed.open_checkout_client_secret + "\n"
    async with Client(parts.server) as client:
        await fail(client, "confirm_checkout", {"client_secret": secret, "payment_token": "tok_visa"})
    text = log.read_text()
    entry = json.loads(text)
    assert seed.open_checkout_client_secret not in text
    assert entry["outcome"] == "refused" and entry["reason"] == "invalid arguments: client_secret"
    assert entry["arguments"]["client_secret"] == "<given>"
