"""Standing approvals (mandates) in the store: made and revoked by approvers, taken by acts atomically.

An act under a mandate is an approval like any other, granted by the store instead of asked: in one transaction,
under the mandate's lock, the store checks the mandate is active and its budgets hold the act, then records the
approval as decided by the mandate's approver. Redeeming it (store/approvals.py) checks the mandate again, in the
transaction that starts the act: a revocation stops even a call past its checks and about to act. What an act
used is counted from the approvals granted under the mandate that are not expired unused and whose act did
not fail: budgets are never exceeded, across sessions, processes and replicas sharing the database.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from polar_orders_mcp.store import signed
from polar_orders_mcp.store.approvals import insert_approval
from polar_orders_mcp.store.audit_chain import append_record
from polar_orders_mcp.store.part import DAY, take_lock
from polar_orders_mcp.store.records import (
    Approval,
    AuditRecord,
    Mandate,
    MandateTerms,
    MandateUsage,
    NewApproval,
    new_approval_id,
)
from polar_orders_mcp.store.schema import acts, approvals, mandates
from polar_orders_mcp.store.sql import SqlStore

Fit = Callable[[Mandate, MandateUsage], str | None]
"""Why an act does not fit a mandate (its terms against the act's facts, its budgets against what was used), or
None when it fits."""


@dataclass(frozen=True)
class Granted:
    """An act granted under `mandate`: its approval (approved, to redeem now), and what was used with it."""

    approval: Approval
    mandate: Mandate
    used: MandateUsage
    record: AuditRecord | None


@dataclass(frozen=True)
class Missed:
    """No mandate covered the act: each active mandate for the tool, and why it did not fit."""

    reasons: Sequence[tuple[Mandate, str]]


def _mandate(row: sa.Row[Any]) -> Mandate:
    return Mandate(
        id=row.id,
        terms=MandateTerms.of_json(json.loads(row.terms)),
        digest=row.digest,
        created_by=row.created_by,
        created_at=row.created_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
        revoked_by=row.revoked_by,
        proof=json.loads(row.proof) if row.proof else None,
        signature=row.signature,
    )


class MandateStore:
    """The mandates' operations on the store's database, in its transactions."""

    def __init__(self, store: SqlStore) -> None:
        self._store = store

    def now(self) -> float:
        return self._store.now()

    def _tx(self, *, write: bool = True) -> Any:
        return self._store._tx(write=write)

    async def create(
        self,
        terms: MandateTerms,
        *,
        by: str,
        ttl: float,
        proof: dict[str, Any] | None = None,
        audit: Callable[[Mandate], dict[str, Any]] | None = None,
    ) -> Mandate:
        """Record a mandate an approver signed, its signature made in the same transaction."""
        now = self.now()
        mandate = Mandate(
            id="mdt_" + secrets.token_urlsafe(12),
            terms=terms,
            digest=terms.digest(),
            created_by=by,
            created_at=now,
            expires_at=now + ttl,
            proof=proof,
        )
        signer = self._store._signer
        signature = signer.sign(signed.mandate_claims(mandate), signed.MANDATE) if signer is not None else None
        async with self._tx() as conn:
            await conn.execute(
                mandates.insert().values(
                    id=mandate.id,
                    terms=json.dumps(terms.as_json(), sort_keys=True),
                    digest=mandate.digest,
                    created_by=by,
                    created_at=now,
                    expires_at=mandate.expires_at,
                    proof=json.dumps(proof, sort_keys=True) if proof is not None else None,
                    signature=signature,
                )
            )
            if audit is not None:
                await append_record(conn, audit(mandate), self._store._signer)
        return replace(mandate, signature=signature)

    async def get(self, mandate_id: str) -> Mandate | None:
        if not mandate_id.startswith("mdt_") or len(mandate_id) > 64:
            return None
        async with self._tx(write=False) as conn:
            row = (await conn.execute(mandates.select().where(mandates.c.id == mandate_id))).first()
        return _mandate(row) if row else None

    async def listed(self, *, ended: bool = False, limit: int = 200) -> list[tuple[Mandate, MandateUsage]]:
        """The active mandates (with `ended`, the revoked and expired ones too), newest first, with their use."""
        now = self.now()
        query = mandates.select().order_by(mandates.c.created_at.desc()).limit(limit)
        if not ended:
            query = query.where(mandates.c.revoked_at.is_(None), mandates.c.expires_at > now)
        async with self._tx(write=False) as conn:
            rows = (await conn.execute(query)).all()
            return [(_mandate(row), await self._usage(conn, row.id, now)) for row in rows]

    async def revoke(
        self, mandate_id: str, *, by: str, audit: Callable[[Mandate], dict[str, Any]] | None = None
    ) -> Mandate | None:
        """End a mandate now; None when there is no active one of that id. Approvals granted under it and not yet
        redeemed are refused from now on (store/approvals.py)."""
        now = self.now()
        async with self._tx() as conn:
            await take_lock(conn, _lock(mandate_id))
            done = await conn.execute(
                mandates.update()
                .where(mandates.c.id == mandate_id, mandates.c.revoked_at.is_(None), mandates.c.expires_at > now)
                .values(revoked_at=now, revoked_by=by)
            )
            if done.rowcount != 1:
                return None
            row = (await conn.execute(mandates.select().where(mandates.c.id == mandate_id))).one()
            mandate = _mandate(row)
            if audit is not None:
                await append_record(conn, audit(mandate), self._store._signer)
            return mandate

    async def take(
        self,
        new: NewApproval,
        fit: Fit,
        *,
        window: float,
        audit: Callable[[Approval, Mandate, MandateUsage], dict[str, Any]] | None = None,
    ) -> Granted | Missed:
        """Grant `new` under the first active mandate for its tool that it fits, budgets included, in one
        transaction under that mandate's lock; else say why each one did not fit. The approval is approved for
        `window` seconds, to be redeemed by this very call."""
        async with self._tx() as conn:
            return await self.grant_in(conn, new, self.now(), fit=fit, window=window, audit=audit)

    async def grant_in(
        self,
        conn: AsyncConnection,
        new: NewApproval,
        now: float,
        *,
        fit: Fit,
        window: float,
        audit: Callable[[Approval, Mandate, MandateUsage], dict[str, Any]] | None = None,
    ) -> Granted | Missed:
        """`take`, in the caller's transaction (SqlStore.request_approval's: one transaction per request)."""
        missed: list[tuple[Mandate, str]] = []
        rows = (
            await conn.execute(
                mandates.select()
                .where(mandates.c.revoked_at.is_(None), mandates.c.expires_at > now)
                .order_by(mandates.c.created_at)
            )
        ).all()
        for row in rows:
            mandate = _mandate(row)
            if new.tool not in mandate.terms.tools:
                continue
            await take_lock(conn, _lock(mandate.id))
            if not await _still_active(conn, mandate.id, now):
                # Revoked (or ended) while this request waited for its lock: the revocation came first.
                missed.append((mandate, "it was revoked while this request was being checked"))
                continue
            used = await self._usage(conn, mandate.id, now)
            why = fit(mandate, used)
            if why is not None:
                missed.append((mandate, why))
                continue
            approval = await self._grant(conn, new, mandate, now, window)
            after = await self._usage(conn, mandate.id, now)
            entry = audit(approval, mandate, after) if audit is not None else None
            record = await append_record(conn, entry, self._store._signer) if entry is not None else None
            return Granted(approval, mandate, after, record)
        return Missed(missed)

    async def _grant(
        self, conn: AsyncConnection, new: NewApproval, mandate: Mandate, now: float, window: float
    ) -> Approval:
        approval = Approval(
            id=new_approval_id(),
            tool=new.tool,
            target=new.target,
            digest=new.digest,
            facts=new.facts,
            summary=new.summary,
            message=new.message,
            display=new.display,
            amount=new.amount,
            currency=new.currency,
            client=new.client,
            session=new.session,
            channel="mandate",
            state="approved",
            created_at=now,
            expires_at=now + window,
            decided_by=mandate.created_by,
            decided_at=now,
            boot=self._store.boot,
            asked_by=new.asked_by,
            mandate=mandate.id,
            client_name=new.client_name,
        )
        signer = self._store._signer
        signature = signer.sign(signed.decision_claims(approval), signed.DECISION) if signer is not None else None
        approval = replace(approval, signature=signature)
        await insert_approval(conn, approval)
        return approval

    async def usage(self, mandate_id: str) -> MandateUsage:
        async with self._tx(write=False) as conn:
            return await self._usage(conn, mandate_id, self.now())

    @staticmethod
    async def _usage(conn: AsyncConnection, mandate_id: str, now: float) -> MandateUsage:
        """Acts under the mandate that count: granted and used, or granted and still redeemable; not those whose
        act failed (Polar did nothing). An act's amount is what Polar reported moving once settled."""
        moved = sa.func.coalesce(acts.c.amount, approvals.c.amount, 0)
        counted = (
            sa.select(approvals.c.decided_at, moved.label("moved"))
            .select_from(approvals.outerjoin(acts, acts.c.approval_id == approvals.c.id))
            .where(
                approvals.c.mandate == mandate_id,
                sa.or_(
                    approvals.c.state == "used", sa.and_(approvals.c.state == "approved", approvals.c.expires_at > now)
                ),
                sa.or_(acts.c.state.is_(None), acts.c.state != "failed"),
                # Used up without an act: the server's own limit refused it at the act, and Polar was never asked.
                sa.or_(approvals.c.outcome.is_(None), approvals.c.outcome != "refused_limit"),
            )
            .subquery()
        )
        recent = counted.c.decided_at > now - DAY
        today = sa.func.coalesce(sa.func.sum(sa.case((recent, counted.c.moved), else_=0)), 0)
        acts_today = sa.func.coalesce(sa.func.sum(sa.case((recent, 1), else_=0)), 0)
        found = (
            await conn.execute(
                sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(counted.c.moved), 0), today, acts_today)
            )
        ).one()
        return MandateUsage(acts=int(found[0]), total=int(found[1]), today=int(found[2]), acts_today=int(found[3]))


async def _still_active(conn: AsyncConnection, mandate_id: str, now: float) -> bool:
    """Whether the mandate is neither revoked nor ended, read under its lock (a revocation takes it too)."""
    found = await conn.execute(
        sa.select(mandates.c.id).where(
            mandates.c.id == mandate_id, mandates.c.revoked_at.is_(None), mandates.c.expires_at > now
        )
    )
    return found.first() is not None


def _lock(mandate_id: str) -> str:
    return "mandate:" + mandate_id[:48]
