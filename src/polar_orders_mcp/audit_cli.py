"""`polar-orders-mcp audit verify|tail`: check the audit's hash chain, or show its last records."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import anyio

from polar_orders_mcp.store.records import GENESIS, AuditRecord, StoreError, chain_hash

BATCH = 1000


def check_chain(records: Iterable[AuditRecord], head: tuple[int, str] | None = None) -> tuple[int, str | None]:
    """(records checked, the first break in words or None). `head` is the store's own last (seq, hash)."""
    expected_prev, expected_seq, checked = GENESIS, 1, 0
    for record in records:
        if record.seq != expected_seq:
            missing = f"{expected_seq}" if record.seq == expected_seq + 1 else f"{expected_seq} to {record.seq - 1}"
            return checked, f"record {missing} is missing: the chain jumps from {expected_seq - 1} to {record.seq}"
        if record.prev_hash != expected_prev:
            return checked, f"record {record.seq} does not follow record {record.seq - 1} (its previous hash differs)"
        if chain_hash(record.prev_hash, record.seq, record.entry) != record.hash:
            return checked, f"record {record.seq} was changed after it was written (its hash does not match it)"
        expected_prev, expected_seq, checked = record.hash, record.seq + 1, checked + 1
    if head is not None and head != (expected_seq - 1, expected_prev):
        if head[0] > expected_seq - 1:
            return checked, (
                f"the chain ends at record {expected_seq - 1}, but {head[0]} were written: records were removed "
                "from the end"
            )
        return checked, f"the store's chain head ({head[0]}) does not match its last record ({expected_seq - 1})"
    return checked, None


def file_records(path: Path) -> Iterator[AuditRecord]:
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                data: dict[str, Any] = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"line {number} of {path} is not JSON: {exc.msg}") from exc
            if data.get("seq") is None:
                raise ValueError(f"line {number} of {path} was never chained (the store was unavailable then)")
            seq, prev, digest = data.pop("seq"), data.pop("prev", ""), data.pop("hash", "")
            yield AuditRecord(seq=int(seq), prev_hash=str(prev), hash=str(digest), entry=data)


async def _store_records(store: Any) -> list[AuditRecord]:
    found: list[AuditRecord] = []
    after = 0
    while batch := await store.audit_records(after=after, limit=BATCH):
        found.extend(batch)
        after = batch[-1].seq
    return found


def _open_store(args: argparse.Namespace) -> Any:
    from polar_orders_mcp.settings import Settings
    from polar_orders_mcp.store.sql import SqlStore

    settings = Settings(**({"state_dir": args.state_dir} if args.state_dir else {}))
    url = settings.store_url()
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        raise ValueError(f"there is no store at {url.removeprefix('sqlite:///')}: pass --state-dir or --file")
    return SqlStore(url)


def _verify(args: argparse.Namespace) -> int:
    if args.file:
        checked, problem = check_chain(file_records(Path(args.file)))
        where = args.file
    else:
        store = _open_store(args)

        async def read() -> tuple[list[AuditRecord], tuple[int, str]]:
            try:
                return await _store_records(store), await store.audit_head()
            finally:
                await store.close()

        records, head = anyio.run(read)
        checked, problem = check_chain(records, head)
        where = store.url_for_humans
    if problem:
        print(f"audit chain BROKEN in {where}: {problem} ({checked} records before it are intact).")
        return 1
    print(f"audit chain intact in {where}: {checked} records, every hash matches.")
    return 0


def _tail(args: argparse.Namespace) -> int:
    if args.file:
        records = list(file_records(Path(args.file)))[-args.lines :]
    else:
        store = _open_store(args)

        async def read() -> list[AuditRecord]:
            try:
                return list(await store.audit_tail(args.lines))
            finally:
                await store.close()

        records = anyio.run(read)
    rows = [("seq", "time (UTC)", "tool", "target", "client", "channel", "approver", "outcome")]
    for r in records:
        e = r.entry
        rows.append(
            (
                str(r.seq),
                str(e.get("time", ""))[:19].replace("T", " "),
                str(e.get("tool", "")),
                str(e.get("target") or "")[:36],
                str(e.get("client", "")),
                str(e.get("channel", "")),
                str(e.get("approver", ""))[:32],
                str(e.get("outcome", "")),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    return 0


def run_audit(args: argparse.Namespace) -> int:
    try:
        return _verify(args) if args.action == "verify" else _tail(args)
    except (ValueError, OSError, StoreError) as exc:
        print(f"polar-orders-mcp audit: {exc}", file=sys.stderr)
        return 2
