"""Approvers' passkeys in the store, their single-use nonces, and the decisions a passkey proves.

Enrolments and resets take the `passkeys` lock row, one at a time on every replica. A decision with a passkey
moves the passkey's count on only from the count its assertion was checked against: one use per count.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from polar_orders_mcp.store.approvals import decide_pending
from polar_orders_mcp.store.audit_chain import append_record
from polar_orders_mcp.store.console_sessions import session_and_approval
from polar_orders_mcp.store.part import StorePart, may_be_id, storable, take_lock
from polar_orders_mcp.store.records import Approval, ConsoleSession, Enrolment, Passkey, PasskeyChanged, Proven
from polar_orders_mcp.store.schema import meta, passkey_nonces, passkeys


def passkey_from_row(row: sa.Row[Any]) -> Passkey:
    return Passkey(
        credential_id=row.credential_id,
        approver=row.approver,
        public_key=row.public_key,
        sign_count=int(row.sign_count),
        name=row.name,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        removed_at=row.removed_at,
    )


def _reset_key(approver: str) -> str:
    """The meta row recording when the operator last reset an approver's passkeys (names may be long)."""
    return "passkeys_reset:" + hashlib.sha256(approver.encode()).hexdigest()[:48]


async def _insert(conn: AsyncConnection, passkey: Passkey) -> None:
    await conn.execute(
        passkeys.insert().values(
            credential_id=passkey.credential_id,
            approver=passkey.approver,
            public_key=passkey.public_key,
            sign_count=passkey.sign_count,
            name=storable(passkey.name),
            created_at=passkey.created_at,
        )
    )


async def _read(conn: AsyncConnection, credential_id: str) -> Passkey | None:
    """One passkey by its credential id, removed or not; None for an id no passkey can have."""
    if len(credential_id) > 1400 or not credential_id.isascii():
        return None
    row = (await conn.execute(passkeys.select().where(passkeys.c.credential_id == credential_id))).first()
    return passkey_from_row(row) if row else None


async def _since_reset(conn: AsyncConnection, approver: str) -> list[Passkey]:
    reset = (await conn.execute(sa.select(meta.c.value).where(meta.c.key == _reset_key(approver)))).scalar()
    query = passkeys.select().where(passkeys.c.approver == approver)
    if reset is not None:
        query = query.where(passkeys.c.created_at > float(reset))
    return [passkey_from_row(row) for row in (await conn.execute(query.order_by(passkeys.c.created_at))).all()]


async def _take_nonce(conn: AsyncConnection, nonce: str, token_hash: str, purpose: str, now: float) -> bool:
    """Use a nonce up, whatever comes of it: True when it was served to this session for this purpose and is
    still fresh. Once only: a second use finds it gone."""
    if not may_be_id(nonce):
        return False
    taken = await conn.execute(
        passkey_nonces.delete().where(
            passkey_nonces.c.nonce == nonce,
            passkey_nonces.c.token_hash == token_hash,
            passkey_nonces.c.purpose == purpose,
            passkey_nonces.c.expires_at > now,
        )
    )
    await conn.execute(passkey_nonces.delete().where(passkey_nonces.c.nonce == nonce))
    return bool(taken.rowcount == 1)


async def _count_use(conn: AsyncConnection, proven: Proven, approver: str, now: float) -> bool:
    """Move the passkey's count on to the one its assertion carried, only from the count the assertion was checked
    against (one use per count) and only while it is the approver's and not removed. False when it was used or
    removed since."""
    moved = await conn.execute(
        passkeys.update()
        .where(
            passkeys.c.credential_id == proven.credential_id,
            passkeys.c.approver == approver,
            passkeys.c.removed_at.is_(None),
            passkeys.c.sign_count == proven.seen,
        )
        .values(sign_count=proven.sign_count, last_used_at=now)
    )
    return bool(moved.rowcount == 1)


class Passkeys(StorePart):
    """The passkeys' operations."""

    async def add_passkey(self, passkey: Passkey) -> None:
        async with self._tx() as conn:
            await _insert(conn, passkey)

    async def enrol_passkey(self, passkey: Passkey, *, audit: dict[str, Any]) -> Enrolment:
        async with self._tx() as conn:
            await take_lock(conn, "passkeys")  # one enrolment or reset at a time, on every replica
            since = await _since_reset(conn, passkey.approver)
            if since:
                return "has_one" if any(k.removed_at is None for k in since) else "had_one"
            known = passkeys.select().where(passkeys.c.credential_id == passkey.credential_id)
            if (await conn.execute(known)).first() is not None:
                return "registered"
            await _insert(conn, passkey)
            await append_record(conn, audit, self._signer)
        return "added"

    async def passkeys_since_reset(self, approver: str) -> list[Passkey]:
        async with self._tx(write=False) as conn:
            return await _since_reset(conn, approver)

    async def all_passkeys(self, approver: str | None = None) -> list[Passkey]:
        query = passkeys.select().order_by(passkeys.c.approver, passkeys.c.created_at)
        if approver is not None:
            query = query.where(passkeys.c.approver == approver)
        async with self._tx(write=False) as conn:
            return [passkey_from_row(row) for row in (await conn.execute(query)).all()]

    async def reset_passkeys(
        self, approver: str, *, audit: Callable[[Passkey | None], dict[str, Any]]
    ) -> list[Passkey]:
        now = self.now()
        async with self._tx() as conn:
            await take_lock(conn, "passkeys")
            active = passkeys.c.approver == approver, passkeys.c.removed_at.is_(None)
            rows = (await conn.execute(passkeys.select().where(*active).order_by(passkeys.c.created_at))).all()
            await conn.execute(passkeys.update().where(*active).values(removed_at=now))
            key = _reset_key(approver)
            if (await conn.execute(meta.update().where(meta.c.key == key).values(value=repr(now)))).rowcount == 0:
                await conn.execute(meta.insert().values(key=key, value=repr(now)))
            removed = [replace(passkey_from_row(row), removed_at=now) for row in rows]
            for passkey in removed or (None,):
                await append_record(conn, audit(passkey), self._signer)
        return removed

    async def list_passkeys(self, approver: str) -> list[Passkey]:
        query = passkeys.select().where(passkeys.c.approver == approver, passkeys.c.removed_at.is_(None))
        async with self._tx(write=False) as conn:
            rows = (await conn.execute(query.order_by(passkeys.c.created_at))).all()
        return [passkey_from_row(row) for row in rows]

    async def get_passkey(self, credential_id: str) -> Passkey | None:
        async with self._tx(write=False) as conn:
            return await _read(conn, credential_id)

    async def remove_passkey(self, credential_id: str, *, approver: str) -> bool:
        async with self._tx() as conn:
            result = await conn.execute(
                passkeys.update()
                .where(
                    passkeys.c.credential_id == credential_id,
                    passkeys.c.approver == approver,
                    passkeys.c.removed_at.is_(None),
                )
                .values(removed_at=self.now())
            )
        return bool(result.rowcount == 1)

    async def create_passkey_nonce(self, *, token_hash: str, purpose: str, ttl: float) -> str:
        nonce, now = secrets.token_urlsafe(24), self.now()
        async with self._tx() as conn:
            await conn.execute(passkey_nonces.delete().where(passkey_nonces.c.expires_at <= now))
            row = {"nonce": nonce, "token_hash": token_hash, "purpose": purpose, "expires_at": now + ttl}
            await conn.execute(passkey_nonces.insert().values(**row))
        return nonce

    async def take_passkey_nonce(self, nonce: str, *, token_hash: str, purpose: str) -> bool:
        async with self._tx() as conn:
            return await _take_nonce(conn, nonce, token_hash, purpose, self.now())

    async def count_passkey_use(self, proven: Proven, *, approver: str) -> bool:
        """A passkey's use outside a decision (a standing approval signed in the console): see _count_use."""
        async with self._tx() as conn:
            return await _count_use(conn, proven, approver, self.now())

    async def decide_with_passkey(
        self,
        token_hash: str,
        approval_id: str,
        *,
        credential_id: str,
        nonce: str,
        judge: Callable[[ConsoleSession | None, Approval | None, Passkey | None, bool], Proven | None],
        redeem_window: float,
    ) -> tuple[ConsoleSession | None, Approval | None]:
        now = self.now()
        async with self._tx() as conn:
            session, approval = await session_and_approval(conn, token_hash, approval_id, self.now())
            fresh = await _take_nonce(conn, nonce, token_hash, f"decide:{approval_id}", self.now())
            proven = judge(session, approval, await _read(conn, credential_id), fresh)
            if proven is None or session is None or approval is None:
                return session, approval
            if not await _count_use(conn, proven, session.approver, now):
                raise PasskeyChanged("the passkey was used or removed while this decision was checked")
            decided = await decide_pending(
                conn,
                approval_id,
                approve=proven.approve,
                by=session.approver,
                now=now,
                redeem_window=redeem_window,
                signer=self._signer,
                proof=proven.proof,
            )
            return session, decided
