"""What `audit verify` checks: the store's chain against its signed head, and an audit file against the store.

A problem is said in words naming the first bad record and what it means; None means intact.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from polar_orders_mcp.signing import PublicKey
from polar_orders_mcp.store import signed
from polar_orders_mcp.store.records import GENESIS, AuditHead, AuditRecord, chain_hash

REWRITTEN = (
    "someone who could write the {where} changed it and recomputed the hashes; what the key signed is not "
    "what is there now"
)


def _signature_problem(
    record: AuditRecord, keys: list[PublicKey] | None, signed_before: bool, where: str
) -> str | None:
    """Why a record's signature does not vouch for it, or None. Unsigned records are accepted only before the
    first signed one (records written before signing began)."""
    if keys is None:
        return None
    if record.signature is None:
        if signed_before:
            return f"record {record.seq} is not signed, though the records before it are: its signature was removed"
        if "writer" in record.entry:  # named its writer: written by a server that signs every record
            return (
                f"record {record.seq} is not signed, though the server that wrote it signs every record: its "
                "signature was removed"
            )
        return None
    why = signed.matches(keys, record.signature, signed.RECORD, signed.record_claims(record.seq, record.hash))
    if why is None:
        return None
    if why.startswith("it was signed by another key"):
        return f"record {record.seq} is not signed by the key given: {why} (pass that key's public half too)"
    return f"record {record.seq} was rewritten: {why} ({REWRITTEN.format(where=where)})"


def check_chain(
    records: Iterable[AuditRecord],
    head: tuple[int, str] | AuditHead | None = None,
    keys: list[PublicKey] | None = None,
) -> tuple[int, str | None]:
    """(records checked, the first break in words or None). `head` is the store's own last (seq, hash), with
    its signature; `keys` check every signature (None: hashes only)."""
    expected_prev, expected_seq, checked, signed_before = GENESIS, 1, 0, False
    for record in records:
        if record.seq != expected_seq:
            missing = f"{expected_seq}" if record.seq == expected_seq + 1 else f"{expected_seq} to {record.seq - 1}"
            return checked, f"record {missing} is missing: the chain jumps from {expected_seq - 1} to {record.seq}"
        if record.prev_hash != expected_prev:
            return checked, f"record {record.seq} does not follow record {record.seq - 1} (its previous hash differs)"
        if chain_hash(record.prev_hash, record.seq, record.entry) != record.hash:
            return checked, f"record {record.seq} was changed after it was written (its hash does not match it)"
        if problem := _signature_problem(record, keys, signed_before, "database"):
            return checked, problem
        signed_before = signed_before or record.signature is not None
        expected_prev, expected_seq, checked = record.hash, record.seq + 1, checked + 1
    if head is None:
        return checked, None
    last = expected_seq - 1
    if (head[0], head[1]) != (last, expected_prev):
        if head[0] > last:
            return checked, (
                f"the chain ends at record {last}, but {head[0]} were written: records were removed from the end"
            )
        return checked, f"the store's chain head ({head[0]}) does not match its last record ({last})"
    if keys is not None and isinstance(head, AuditHead):
        why = signed.matches(keys, head.signature, signed.HEAD, signed.record_claims(head.seq, head.hash))
        if why == "it is not signed":
            return checked, (
                f"the chain's head (record {last}) is not signed: no server that signs has written to this store "
                "since, or its signature was removed"
            )
        if why is not None:
            return checked, (
                f"the chain's head (record {last}) was rewritten: {why} ({REWRITTEN.format(where='database')})"
            )
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
            signature = data.pop("sig", None)
            yield AuditRecord(int(seq), str(prev), str(digest), data, str(signature) if signature else None)


@dataclass(frozen=True)
class StoreView:
    """The store's chain as `audit verify` read it (checked on its own first)."""

    records: dict[int, AuditRecord]
    head: AuditHead


def check_file(
    lines: Iterable[AuditRecord], keys: list[PublicKey] | None, store: StoreView | None
) -> tuple[int, str | None]:
    """(records checked, the first problem or None) of one process's audit file.

    A file holds the records its writer (`writer` in each entry) chained, in the order it wrote them: every
    record of a process that shares its store with others (replicas) is in the chain, but not every record of
    the chain is in its file. Each line must be genuine (its hash, its signature), lines that follow each other
    in the chain must link, and against the store: each line equal to the store's record, and every record
    of the file's writers from its first line on in the file."""
    ordered = sorted(lines, key=lambda record: record.seq)
    previous: AuditRecord | None = None
    signed_before = False
    for checked, record in enumerate(ordered):
        if problem := _line_problem(record, previous, keys, signed_before, gaps=store is None):
            return checked, problem
        signed_before = signed_before or record.signature is not None
        previous = record
    if store is None or not ordered:
        return len(ordered), None
    return len(ordered), _against_store(ordered, store)


def _line_problem(
    record: AuditRecord, previous: AuditRecord | None, keys: list[PublicKey] | None, signed_before: bool, gaps: bool
) -> str | None:
    """Why one line of a file (in chain order) is not genuine, or does not follow the line before it."""
    if previous is not None and record.seq == previous.seq:
        return f"record {record.seq} is in the file twice"
    if chain_hash(record.prev_hash, record.seq, record.entry) != record.hash:
        return f"record {record.seq} was changed after it was written (its hash does not match it)"
    if problem := _signature_problem(record, keys, signed_before, "audit file"):
        return problem
    linked = previous.hash if previous is not None else GENESIS
    follows = previous.seq + 1 if previous is not None else 1
    if record.seq == follows and record.prev_hash != linked:
        return f"record {record.seq} does not follow record {follows - 1} (its previous hash differs)"
    if gaps and record.seq > follows:
        gap = f"{follows}" if record.seq == follows + 1 else f"{follows} to {record.seq - 1}"
        return (
            f"record {gap} is missing: the chain jumps from {follows - 1} to {record.seq} (a replica's file skips "
            "the records other replicas wrote: check it against their store)"
        )
    return None


def _against_store(ordered: list[AuditRecord], store: StoreView) -> str | None:
    for record in ordered:
        kept = store.records.get(record.seq)
        if kept is None:
            if record.seq > store.head.seq:
                return (
                    f"record {record.seq} is in the file but the store's chain ends at {store.head.seq}: the store was "
                    "rolled back or cut after the file was written"
                )
            return f"record {record.seq} is in the file but not in the store"
        if kept.hash != record.hash:
            return f"record {record.seq} differs between the file and the store (the hash in each is another)"
    writers = {record.entry.get("writer") for record in ordered}
    have = {record.seq for record in ordered}
    mine = [
        seq
        for seq, record in sorted(store.records.items())
        if seq >= ordered[0].seq and record.entry.get("writer") in writers and seq not in have
    ]
    if not mine:
        return None
    last = ordered[-1].seq
    cut = [seq for seq in mine if seq > last]
    if len(cut) == len(mine):
        span = f"record {cut[0]}" if len(cut) == 1 else f"records {cut[0]} to {cut[-1]}"
        verb = "is" if len(cut) == 1 else "are"
        return (
            f"{span}, written by the process that wrote this file, {verb} in the store but not in it: its last lines "
            "were removed"
        )
    return (
        f"record {mine[0]}, written by the process that wrote this file, is in the store but not in it: a line was "
        "removed"
    )
