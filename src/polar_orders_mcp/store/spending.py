"""Acts and spend in the store: each money-moving call recorded as an act, counted against the limits.

Two lock rows serialize what is read before it is written: a currency's (`spend:usd`), under which the limits
are checked and the act counted, so that concurrent acts can never together pass a limit; and a target's (an
order, a checkout), whose counter is the target's version, so that acts on one target never overlap.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from polar_orders_mcp.store.audit_chain import append_record
from polar_orders_mcp.store.part import DAY, StorePart, storable, take_lock
from polar_orders_mcp.store.records import IN_FLIGHT, Act, ActState, AuditRecord, LimitExceeded, TargetBusy
from polar_orders_mcp.store.schema import acts, approvals, locks


def act_from_row(row: sa.Row[Any]) -> Act:
    return Act(
        approval_id=row.approval_id,
        tool=row.tool,
        target=row.target,
        currency=row.currency,
        amount=row.amount,
        state=row.state,
        started_at=row.started_at,
        finished_at=row.finished_at,
        detail=json.loads(row.detail),
    )


def target_lock(target: str) -> str:
    """The lock row of one target (an order, a checkout…): its `n` is the target's version."""
    name = f"target:{target}"
    return name if len(name) <= 64 else "target#" + hashlib.sha256(target.encode()).hexdigest()[:57]


async def read_target_version(conn: AsyncConnection, target: str) -> int:
    found = await conn.execute(sa.select(locks.c.n).where(locks.c.name == target_lock(target)))
    return int(found.scalar() or 0)


async def spent_since(conn: AsyncConnection, currency: str, since: float) -> int:
    """Money moved (or possibly moved) in `currency` by acts started after `since`: every act but a failed one."""
    total = await conn.execute(
        sa.select(sa.func.coalesce(sa.func.sum(acts.c.amount), 0)).where(
            acts.c.currency == currency, acts.c.started_at > since, acts.c.state != "failed"
        )
    )
    return int(total.scalar() or 0)


async def claim_target(conn: AsyncConnection, target: str, seen: int, now: float) -> None:
    """Take the target's lock row and refuse (TargetBusy) when another act on it is in flight, or when
    one started or settled since the caller read `seen`."""
    await take_lock(conn, target_lock(target))
    flying = await conn.execute(
        sa.select(acts.c.approval_id)
        .where(acts.c.target == target, acts.c.state == "started", acts.c.started_at > now - IN_FLIGHT)
        .limit(1)
    )
    if flying.first() is not None:
        raise TargetBusy(target, "in flight")
    if await read_target_version(conn, target) != seen + 1:
        raise TargetBusy(target, "acted on since")


async def count_act_within_limits(
    conn: AsyncConnection,
    approval_id: str,
    tool: str,
    target: str,
    currency: str | None,
    amount: int,
    per_charge: int | None,
    daily: int | None,
    now: float,
) -> None:
    """Check the limits and count the act (record it started), under the currency's lock row."""
    await take_lock(conn, f"spend:{currency or '-'}")
    if per_charge is not None and currency and amount > per_charge:
        raise LimitExceeded("per_charge", currency, per_charge, 0, amount)
    if daily is not None and currency:
        used = await spent_since(conn, currency, now - DAY)
        if used + amount > daily:
            raise LimitExceeded("daily", currency, daily, used, amount)
    await conn.execute(
        acts.insert().values(
            approval_id=approval_id,
            tool=tool,
            target=target,
            currency=currency,
            amount=amount,
            state="started",
            started_at=now,
            detail="{}",
        )
    )


async def record_outcome(conn: AsyncConnection, approval_id: str, outcome: str) -> None:
    """What came of an approval's act, on the approval."""
    await conn.execute(approvals.update().where(approvals.c.id == approval_id).values(outcome=storable(outcome)))


class Spending(StorePart):
    """The acts' operations and the money they moved."""

    async def start_act(
        self,
        *,
        approval_id: str,
        tool: str,
        target: str,
        currency: str | None,
        amount: int,
        per_charge: int | None,
        daily: int | None,
        seen: int,
    ) -> Act:
        now, target = self.now(), storable(target)
        async with self._tx() as conn:
            await claim_target(conn, target, seen, now)
            await count_act_within_limits(conn, approval_id, tool, target, currency, amount, per_charge, daily, now)
        return Act(approval_id, tool, target, currency, amount, "started", now)

    async def target_version(self, target: str) -> int:
        async with self._tx(write=False) as conn:
            return await read_target_version(conn, storable(target))

    async def finish_act(
        self,
        approval_id: str,
        state: ActState,
        detail: dict[str, Any] | None = None,
        *,
        outcome: str | None = None,
        audit: dict[str, Any] | None = None,
        moved: tuple[int, str] | None = None,
    ) -> AuditRecord | None:
        settled: dict[str, Any] = {"state": state, "finished_at": self.now()}
        if moved is not None:
            settled.update(amount=moved[0], currency=moved[1].lower())
        async with self._tx() as conn:
            target = (await conn.execute(sa.select(acts.c.target).where(acts.c.approval_id == approval_id))).scalar()
            if target is not None:  # settling bumps the target's version: a call that read before acts again
                await take_lock(conn, target_lock(target))
            await conn.execute(
                acts.update()
                .where(acts.c.approval_id == approval_id)
                .values(**settled, detail=json.dumps(detail or {}, sort_keys=True))
            )
            if outcome is not None:
                await record_outcome(conn, approval_id, outcome)
            return await append_record(conn, audit, self._signer) if audit is not None else None

    async def spent(self, currency: str | None, *, window: float = DAY) -> int:
        if not currency:
            return 0
        async with self._tx(write=False) as conn:
            return await spent_since(conn, currency, self.now() - window)

    async def acts_for(self, tool: str, target: str, *, window: float = DAY) -> list[Act]:
        async with self._tx(write=False) as conn:
            rows = (
                await conn.execute(
                    acts.select()
                    .where(acts.c.tool == tool, acts.c.target == target, acts.c.started_at > self.now() - window)
                    .order_by(acts.c.started_at)
                )
            ).all()
        return [act_from_row(r) for r in rows]
