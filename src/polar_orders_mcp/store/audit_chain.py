"""The audit chain in the store: records appended in the transaction that does what they record, and its head.

Each record holds the hash of the one before it; the head row holds the last hash. An append first UPDATEs the
head row, which serializes appends on both databases (see store/sql.py), so no two records share a number.
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from polar_orders_mcp.signing import SigningKey
from polar_orders_mcp.store import signed
from polar_orders_mcp.store.part import StorePart
from polar_orders_mcp.store.records import GENESIS, AuditHead, AuditRecord, chain_hash
from polar_orders_mcp.store.schema import audit, audit_head


def record_from_row(row: sa.Row[Any]) -> AuditRecord:
    return AuditRecord(row.seq, row.prev_hash, row.hash, json.loads(row.entry), row.signature)


async def _head(conn: AsyncConnection) -> sa.Row[Any]:
    return (await conn.execute(audit_head.select().where(audit_head.c.id == 1))).one()


async def append_record(conn: AsyncConnection, entry: dict[str, Any], signer: SigningKey | None) -> AuditRecord:
    """Chain one record, signed with the head, in the caller's transaction."""
    await conn.execute(audit_head.update().where(audit_head.c.id == 1).values(seq=audit_head.c.seq + 1))
    head = await _head(conn)
    seq, prev = int(head.seq), str(head.hash)
    digest = chain_hash(prev, seq, entry)
    signature = head_signature = None
    if signer is not None:
        signature = signer.sign(signed.record_claims(seq, digest), signed.RECORD)
        head_signature = signer.sign(signed.record_claims(seq, digest), signed.HEAD)
    await conn.execute(
        audit.insert().values(
            seq=seq, prev_hash=prev, hash=digest, entry=json.dumps(entry, sort_keys=True), signature=signature
        )
    )
    await conn.execute(audit_head.update().where(audit_head.c.id == 1).values(hash=digest, signature=head_signature))
    return AuditRecord(seq=seq, prev_hash=prev, hash=digest, entry=entry, signature=signature)


async def start_chain(conn: AsyncConnection, signer: SigningKey | None) -> None:
    """The head of a new, empty chain (a new database's)."""
    await conn.execute(audit_head.insert().values(id=1, seq=0, hash=GENESIS))
    await sign_head(conn, signer)


async def sign_head(conn: AsyncConnection, signer: SigningKey | None) -> None:
    """Sign the head as it stands (a new chain's, or one an upgrade found unsigned)."""
    if signer is None:
        return
    head = await _head(conn)
    signature = signer.sign(signed.record_claims(int(head.seq), str(head.hash)), signed.HEAD)
    await conn.execute(audit_head.update().where(audit_head.c.id == 1).values(signature=signature))


class AuditChain(StorePart):
    """The audit chain's operations."""

    async def append_audit(self, entry: dict[str, Any]) -> AuditRecord:
        async with self._tx() as conn:
            return await append_record(conn, entry, self._signer)

    async def audit_records(self, *, after: int = 0, limit: int | None = None) -> list[AuditRecord]:
        query = audit.select().where(audit.c.seq > after).order_by(audit.c.seq)
        if limit is not None:
            query = query.limit(limit)
        async with self._tx(write=False) as conn:
            rows = (await conn.execute(query)).all()
        return [record_from_row(r) for r in rows]

    async def audit_tail(self, count: int) -> list[AuditRecord]:
        async with self._tx(write=False) as conn:
            rows = (await conn.execute(audit.select().order_by(audit.c.seq.desc()).limit(count))).all()
        return [record_from_row(r) for r in reversed(rows)]

    async def audit_head(self) -> tuple[int, str]:
        head = await self.signed_head()
        return head.seq, head.hash

    async def signed_head(self) -> AuditHead:
        async with self._tx(write=False) as conn:
            head = await _head(conn)
        return AuditHead(int(head.seq), str(head.hash), head.signature)
