"""The audit as evidence: a file checked against the store's signed head, each replica's own file, and a
chain rewritten by someone who can write the database and the file."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from mcp.client import Client

from polar_orders_mcp.emulator.seed import SeedInfo
from polar_orders_mcp.server.app import ServerParts
from polar_orders_mcp.store.records import GENESIS, chain_hash
from tests.approvals.test_audit import a_days_work, audit
from tests.tools.conftest import call

pytestmark = pytest.mark.anyio


def cut_tail(log: Path, lines: int) -> None:
    kept = log.read_text().splitlines()[:-lines]
    log.write_text("\n".join(kept) + "\n")


def rewrite_store(db: Path, seq: int, change: dict[str, Any]) -> None:
    """What someone who can write the database does: change one entry and recompute every hash after it."""
    with sqlite3.connect(db) as connection:
        rows = connection.execute("SELECT seq, prev_hash, entry FROM pom_audit ORDER BY seq").fetchall()
        prev = GENESIS
        for number, _, text in rows:
            entry = json.loads(text)
            if number == seq:
                entry.update(change)
            digest = chain_hash(prev, number, entry)
            connection.execute(
                "UPDATE pom_audit SET prev_hash = ?, hash = ?, entry = ? WHERE seq = ?",
                (prev, digest, json.dumps(entry, sort_keys=True), number),
            )
            prev = digest
        connection.execute("UPDATE pom_audit_head SET hash = ? WHERE id = 1", (prev,))


def rewrite_file(log: Path, seq: int, change: dict[str, Any]) -> None:
    """The same rewrite of the JSON lines: every hash from the changed record on recomputed."""
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    prev = GENESIS
    for line in sorted(lines, key=lambda line: line["seq"]):
        entry = {k: v for k, v in line.items() if k not in ("seq", "prev", "hash", "sig")}
        if line["seq"] == seq:
            line.update(change)
            entry.update(change)
        line["prev"], line["hash"] = prev, chain_hash(prev, line["seq"], entry)
        prev = line["hash"]
    log.write_text("".join(json.dumps(line, separators=(",", ":")) + "\n" for line in lines))


async def test_a_file_whose_last_records_were_cut_is_found_against_the_store(
    make_parts: Any, seed: SeedInfo, tmp_path: Path
) -> None:
    log = tmp_path / "audit.jsonl"
    await a_days_work(make_parts(audit_log=str(log)), seed)
    cut_tail(log, 2)
    result = audit("verify", "--file", str(log), "--state-dir", str(tmp_path / "state"))
    assert result.returncode == 1, result.stdout
    assert (
        f"audit log BROKEN in {log}: records 3 to 4, written by the process that wrote this file, are in the "
        "store but not in it: its last lines were removed" in result.stdout
    )


async def test_each_replicas_own_file_verifies_against_the_shared_store(
    make_parts: Any, seed: SeedInfo, tmp_path: Path
) -> None:
    logs = [tmp_path / "replica-a.jsonl", tmp_path / "replica-b.jsonl"]
    replicas: list[ServerParts] = [make_parts(audit_log=str(log)) for log in logs]
    async with Client(replicas[0].server) as a, Client(replicas[1].server) as b:
        for n in range(3):
            for client in (a, b):
                await call(client, "update_order", {"order_id": seed.paid_order_id, "billing_name": f"ACME {n}"})
    for log in logs:
        assert len(log.read_text().splitlines()) == 3
        result = audit("verify", "--file", str(log), "--state-dir", str(tmp_path / "state"))
        assert result.returncode == 0, result.stdout
        assert f"audit log intact in {log}: 3 records" in result.stdout


async def test_a_chain_rewritten_in_the_store_with_every_hash_recomputed_is_found(
    make_parts: Any, seed: SeedInfo, tmp_path: Path
) -> None:
    await a_days_work(make_parts(), seed)
    rewrite_store(tmp_path / "state" / "state.db", 3, {"approver": "mallory"})
    result = audit("verify", "--state-dir", str(tmp_path / "state"))
    assert result.returncode == 1, result.stdout
    assert "audit chain BROKEN" in result.stdout
    assert "record 3 was rewritten: its signature does not match it" in result.stdout


async def test_a_chain_rewritten_in_the_store_and_the_file_is_found(
    make_parts: Any, seed: SeedInfo, tmp_path: Path
) -> None:
    log = tmp_path / "audit.jsonl"
    await a_days_work(make_parts(audit_log=str(log)), seed)
    rewrite_store(tmp_path / "state" / "state.db", 3, {"approver": "mallory"})
    rewrite_file(log, 3, {"approver": "mallory"})
    result = audit("verify", "--file", str(log), "--state-dir", str(tmp_path / "state"))
    assert result.returncode == 1, result.stdout
    assert "record 3 was rewritten: its signature does not match it" in result.stdout
