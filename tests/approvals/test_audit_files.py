"""An audit file against the store: a line removed, a store set back to an older copy, a file stripped of
its signatures and rewritten."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from mcp.client import Client

from polar_orders_mcp.emulator.seed import SeedInfo
from polar_orders_mcp.server.app import ServerParts
from tests.approvals.test_audit import a_days_work, audit
from tests.approvals.test_audit_evidence import rewrite_file
from tests.tools.conftest import call

pytestmark = pytest.mark.anyio


def verify_file(log: Path, tmp_path: Path, *more: str) -> tuple[int, str]:
    result = audit("verify", "--file", str(log), "--state-dir", str(tmp_path / "state"), *more)
    return result.returncode, result.stdout + result.stderr


async def test_a_line_removed_from_the_middle_of_a_file_is_found(
    make_parts: Any, seed: SeedInfo, tmp_path: Path
) -> None:
    log = tmp_path / "audit.jsonl"
    await a_days_work(make_parts(audit_log=str(log)), seed)
    lines = log.read_text().splitlines()
    log.write_text("\n".join(lines[:1] + lines[2:]) + "\n")
    assert verify_file(log, tmp_path) == (
        1,
        (
            f"audit log BROKEN in {log}: record 2, written by the process that wrote this file, is in the store but "
            "not in it: a line was removed (3 records before it are intact).\n"
        ),
    )
    code, said = verify_file(log, tmp_path, "--no-store")
    assert code == 1 and "record 2 is missing: the chain jumps from 1 to 3" in said


async def test_a_store_set_back_to_an_older_copy_is_found_by_the_file(
    make_parts: Any, seed: SeedInfo, tmp_path: Path
) -> None:
    log = tmp_path / "audit.jsonl"
    parts: ServerParts = make_parts(audit_log=str(log))
    await a_days_work(parts, seed)
    db = tmp_path / "state" / "state.db"
    await (await parts.store()).close()
    shutil.copy(db, tmp_path / "copy.db")
    async with Client(parts.server) as client:
        await call(client, "update_order", {"order_id": seed.paid_order_id, "billing_name": "Later"})
    await (await parts.store()).close()
    for suffix in ("-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    shutil.copy(tmp_path / "copy.db", db)
    assert audit("verify", "--state-dir", str(tmp_path / "state")).returncode == 0  # the copy is whole, and signed
    assert verify_file(log, tmp_path) == (
        1,
        (
            f"audit log BROKEN in {log}: record 5 is in the file but the store's chain ends at 4: the store was rolled "
            "back or cut after the file was written (5 records before it are intact).\n"
        ),
    )


async def test_a_file_stripped_of_its_signatures_and_rewritten_is_found(
    make_parts: Any, seed: SeedInfo, tmp_path: Path
) -> None:
    log = tmp_path / "audit.jsonl"
    await a_days_work(make_parts(audit_log=str(log)), seed)
    rewrite_file(log, 3, {"approver": "mallory"})
    stripped = [
        {k: v for k, v in json.loads(line).items() if k not in ("sig", "writer")}
        for line in log.read_text().splitlines()
    ]
    log.write_text("".join(json.dumps(line) + "\n" for line in stripped))
    rewrite_file(log, 3, {})  # hashes recomputed without the fields removed: a file as an old server wrote it
    assert verify_file(log, tmp_path) == (
        1,
        (
            f"audit log BROKEN in {log}: record 1 differs between the file and the store (the hash in each is another) "
            "(4 records before it are intact).\n"
        ),
    )


async def test_a_line_with_its_writer_but_not_its_signature_is_found(
    make_parts: Any, seed: SeedInfo, tmp_path: Path
) -> None:
    log = tmp_path / "audit.jsonl"
    await a_days_work(make_parts(audit_log=str(log)), seed)
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    for line in lines:
        line.pop("sig")
    log.write_text("".join(json.dumps(line) + "\n" for line in lines))
    code, said = verify_file(log, tmp_path, "--no-store")
    assert (code, said) == (
        1,
        (
            f"audit log BROKEN in {log}: record 1 is not signed, though the server that wrote it signs every record: "
            "its signature was removed (0 records before it are intact).\n"
        ),
    )


async def test_a_line_edited_without_its_hash_is_found(make_parts: Any, seed: SeedInfo, tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    await a_days_work(make_parts(audit_log=str(log)), seed)
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    lines[2]["approver"] = "mallory"  # its hash and signature kept: both still those of the store's record 3
    log.write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert verify_file(log, tmp_path) == (
        1,
        (
            f"audit log BROKEN in {log}: record 3 was changed after it was written (its hash does not match it) "
            "(2 records before it are intact).\n"
        ),
    )


async def test_an_unsigned_line_that_does_not_follow_the_one_before_is_found(
    make_parts: Any, seed: SeedInfo, tmp_path: Path
) -> None:
    """A file as a server before signatures wrote it (no sig, no writer): its links are what hold it together."""
    from polar_orders_mcp.store.records import chain_hash

    log = tmp_path / "audit.jsonl"
    await a_days_work(make_parts(audit_log=str(log)), seed)
    lines = [
        {k: v for k, v in json.loads(line).items() if k not in ("sig", "writer")}
        for line in log.read_text().splitlines()
    ]
    log.write_text("".join(json.dumps(line) + "\n" for line in lines))
    rewrite_file(log, 1, {})
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    entry = {k: v for k, v in lines[2].items() if k not in ("seq", "prev", "hash")}
    lines[2]["prev"] = "f" * 64
    lines[2]["hash"] = chain_hash("f" * 64, 3, entry)
    log.write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert verify_file(log, tmp_path, "--no-store") == (
        1,
        (
            f"audit log BROKEN in {log}: record 3 does not follow record 2 (its previous hash differs) (2 records "
            "before it are intact).\n"
        ),
    )
