"""Approvals in the store: requested, decided once, redeemed once, each change one conditional UPDATE.

A request checks the daily limit and any standing approval, records the request and its audit record in one
transaction; redeeming an approval and starting its act (spending.py) are one transaction too.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from polar_orders_mcp.signing import SigningKey
from polar_orders_mcp.store import signed
from polar_orders_mcp.store.audit_chain import append_record, record_from_row
from polar_orders_mcp.store.base import Standing
from polar_orders_mcp.store.part import DAY, StorePart, may_be_id, storable
from polar_orders_mcp.store.records import (
    MANDATE_ENDED,
    PASSKEY_REMOVED,
    Act,
    Approval,
    ApprovalState,
    AuditRecord,
    Earlier,
    LimitExceeded,
    Loaded,
    NewApproval,
    NotPending,
    NotRedeemable,
    OwnRequest,
    Requested,
    new_approval_id,
)
from polar_orders_mcp.store.schema import acts, approvals, audit, mandates, meta, passkeys
from polar_orders_mcp.store.spending import (
    act_from_row,
    claim_target,
    count_act_within_limits,
    read_target_version,
    record_outcome,
    spent_since,
)


def approval_from_row(row: sa.Row[Any]) -> Approval:
    return Approval(
        id=row.id,
        tool=row.tool,
        target=row.target,
        digest=row.digest,
        facts=json.loads(row.facts),
        summary=row.summary,
        message=row.message,
        display=[tuple(r) for r in json.loads(row.display)],
        amount=row.amount,
        currency=row.currency,
        client=row.client,
        session=row.session,
        channel=row.channel,
        state=row.state,
        created_at=row.created_at,
        expires_at=row.expires_at,
        decided_by=row.decided_by,
        decided_at=row.decided_at,
        used_at=row.used_at,
        outcome=row.outcome,
        proof=json.loads(row.proof) if row.proof else None,
        boot=row.boot,
        signature=row.signature,
        asked_by=row.asked_by,
        mandate=row.mandate,
        client_name=row.client_name,
        reason=row.reason,
    )


async def insert_approval(conn: AsyncConnection, approval: Approval) -> None:
    """Record a new approval as it stands: pending, or granted under a standing approval (store/mandates.py)."""
    row = {column.name: getattr(approval, column.name) for column in approvals.columns}
    row.update(
        facts=json.dumps(approval.facts, sort_keys=True),
        display=json.dumps(approval.display),
        proof=None if approval.proof is None else json.dumps(approval.proof, sort_keys=True),
    )
    await conn.execute(approvals.insert().values(**row))


async def read_approval(conn: AsyncConnection, approval_id: str) -> Approval | None:
    row = (await conn.execute(approvals.select().where(approvals.c.id == approval_id))).first()
    return approval_from_row(row) if row else None


async def decide_pending(
    conn: AsyncConnection,
    approval_id: str,
    *,
    approve: bool,
    by: str,
    now: float,
    redeem_window: float,
    signer: SigningKey | None,
    proof: dict[str, Any] | None = None,
    reason: str | None = None,
) -> Approval:
    """pending → approved | denied, once: the decision, signed in the transaction that records it, whatever the
    channel that made it, with the decider's reason when they gave one. Nobody approves a request they asked
    for themselves (OwnRequest); they may deny it. NotPending when it is not pending (any more)."""
    until = now + redeem_window
    pending = [approvals.c.id == approval_id, approvals.c.state == "pending", approvals.c.expires_at > now]
    if approve:
        pending.append(sa.or_(approvals.c.asked_by.is_(None), approvals.c.asked_by != storable(by)))
    result = await conn.execute(
        approvals.update()
        .where(*pending)
        .values(
            state="approved" if approve else "denied",
            decided_by=storable(by),
            decided_at=now,
            expires_at=sa.case((approvals.c.expires_at < until, until), else_=approvals.c.expires_at),
            **({} if proof is None else {"proof": json.dumps(proof, sort_keys=True)}),
            **({} if reason is None else {"reason": reason}),
        )
    )
    approval = await read_approval(conn, approval_id)
    if result.rowcount != 1:
        if approval is not None and approve and approval.state_at(now) == "pending":
            raise OwnRequest(approval)
        raise NotPending(approval, approval.state_at(now) if approval else "unknown")
    assert approval is not None
    if signer is None:
        return approval
    signature = signer.sign(signed.decision_claims(approval), signed.DECISION)
    await conn.execute(approvals.update().where(approvals.c.id == approval_id).values(signature=signature))
    return replace(approval, signature=signature)


async def redeem_approved(conn: AsyncConnection, approval_id: str, digest: str, now: float) -> Approval:
    """approved → used, once, if still valid, for these facts, and still backed by what approved it (see
    _refuse_unbacked); NotRedeemable otherwise."""
    result = await conn.execute(
        approvals.update()
        .where(
            approvals.c.id == approval_id,
            approvals.c.state == "approved",
            approvals.c.expires_at > now,
            approvals.c.digest == digest,
        )
        .values(state="used", used_at=now)
    )
    approval = await read_approval(conn, approval_id)
    if result.rowcount != 1:
        state: str = "unknown" if approval is None else approval.state_at(now)
        if approval is not None and state == "approved" and approval.digest != digest:
            state = "for other facts"
        raise NotRedeemable(approval, state)
    assert approval is not None
    await _refuse_unbacked(conn, approval, now)
    return approval


async def _refuse_unbacked(conn: AsyncConnection, approval: Approval, now: float) -> None:
    """Refuse (NotRedeemable) an approval granted under a standing approval revoked or expired since, or proven
    by a passkey removed since: checked in the transaction that starts the act, which then rolls back."""
    proof = approval.proof  # the passkey that signed it, or the standing approval it was granted under
    if approval.mandate is not None:
        # Revoking a standing approval stops what it allowed at once: also a call past its checks and about to
        # act, here, in the transaction that starts the act (which rolls back).
        ended = await conn.execute(
            sa.select(mandates.c.revoked_at, mandates.c.expires_at, mandates.c.proof).where(
                mandates.c.id == approval.mandate
            )
        )
        found = ended.first()
        if found is None or found.revoked_at is not None or found.expires_at <= now:
            raise NotRedeemable(approval, MANDATE_ENDED)
        proof = json.loads(found.proof) if found.proof else None
    if proof is not None:
        # Removing a passkey stops what it approved: also at this moment, in the transaction that starts the
        # act (which rolls back, leaving the approval unused).
        credential = str(proof.get("credential_id"))
        live = await conn.execute(
            sa.select(passkeys.c.credential_id).where(
                passkeys.c.credential_id == credential, passkeys.c.removed_at.is_(None)
            )
        )
        if live.first() is None:
            raise NotRedeemable(approval, PASSKEY_REMOVED)


async def earlier_decisions(conn: AsyncConnection, approval: Approval, window: float, limit: int) -> Earlier:
    """The decided requests for the same tool and target asked in the `window` before this one, and Polar's
    refusals of the same call on the target since then: what a person deciding this one should know."""
    query = (
        approvals.select()
        .where(
            approvals.c.target == approval.target,
            approvals.c.tool == approval.tool,
            approvals.c.id != approval.id,
            approvals.c.created_at <= approval.created_at,
            approvals.c.created_at > approval.created_at - window,
            approvals.c.decided_at.is_not(None),
        )
        .order_by(approvals.c.decided_at.desc(), approvals.c.id)
        .limit(limit)
    )
    failed = (
        acts.select()
        .where(
            acts.c.tool == approval.tool,
            acts.c.target == approval.target,
            acts.c.state == "failed",
            acts.c.started_at > approval.created_at - window,
        )
        .order_by(acts.c.started_at.desc())
        .limit(limit * 4)
    )
    decided = [approval_from_row(row) for row in (await conn.execute(query)).all()]
    refused = [act for act in map(act_from_row, (await conn.execute(failed)).all()) if act.detail.get("refusal")]
    return Earlier(decided, refused[:limit])


def _listed(states: Sequence[ApprovalState], channels: Sequence[str] | None, now: float) -> sa.Select[Any]:
    """The approvals in these states (as state_at reads them, in SQL) and channels, in the order listed."""
    live = approvals.c.expires_at > now
    # Each state as state_at reads it, in SQL: no number of newer requests can hide an older pending one.
    conditions = {
        "pending": sa.and_(approvals.c.state == "pending", live),
        "approved": sa.and_(approvals.c.state == "approved", live),
        "expired": sa.and_(approvals.c.state.in_(("pending", "approved")), sa.not_(live)),
        "denied": approvals.c.state == "denied",
        "used": approvals.c.state == "used",
    }
    wanted = sa.or_(*(conditions[state] for state in states))
    if channels is not None:
        wanted = sa.and_(wanted, approvals.c.channel.in_(tuple(channels)))
    # Pending ones oldest first (the longest waiting on top), then decided ones newest decision first.
    waiting = sa.case((conditions["pending"], 0), else_=1)
    oldest_pending = sa.case((conditions["pending"], approvals.c.created_at), else_=0)
    newest_decided = sa.func.coalesce(approvals.c.decided_at, approvals.c.created_at).desc()
    order = (waiting, oldest_pending, newest_decided, approvals.c.id)  # the id: pages that never overlap
    return approvals.select().where(wanted).order_by(*order)


class Approvals(StorePart):
    """The approvals' operations."""

    async def create_approval(self, new: NewApproval) -> Approval:
        approval = (await self.request_approval(new)).approval
        assert approval is not None  # asked, with no standing approval to check
        return approval

    async def request_approval(
        self,
        new: NewApproval,
        *,
        daily: int | None = None,
        audit: Callable[[Approval], dict[str, Any] | None] | None = None,
        standing: Standing | None = None,
        ask: bool = True,
    ) -> Requested:
        now = self.now()
        approval = self._pending(new, now)
        async with self._tx() as conn:
            if daily is not None and new.currency and new.amount is not None:
                # Before anyone is asked; the act checks again, atomically (start_act, redeem_and_start).
                used = await spent_since(conn, new.currency, now - DAY)
                if used + new.amount > daily:
                    raise LimitExceeded("daily", new.currency, daily, used, new.amount)
            checked = await standing(conn, new, now) if standing is not None else None
            granted = getattr(checked, "approval", None)
            if granted is not None or not ask:
                version = await read_target_version(conn, approval.target)
                return Requested(granted, getattr(checked, "record", None), version, checked)
            await insert_approval(conn, approval)
            entry = audit(approval) if audit is not None else None
            record = await append_record(conn, entry, self._signer) if entry is not None else None
            version = await read_target_version(conn, approval.target)
        return Requested(approval, record, version, checked)

    def _pending(self, new: NewApproval, now: float) -> Approval:
        """The request as it is recorded: a new id, its free text storable, pending until its expiry."""
        return Approval(
            id=new_approval_id(),
            tool=new.tool,
            target=storable(new.target),
            digest=new.digest,
            facts=new.facts,
            summary=storable(new.summary),
            message=storable(new.message),
            display=new.display,
            amount=new.amount,
            currency=new.currency,
            client=storable(new.client),
            session=None if new.session is None else storable(new.session),
            channel=new.channel,
            state="pending",
            created_at=now,
            expires_at=now + new.ttl,
            boot=self.boot,
            asked_by=None if new.asked_by is None else storable(new.asked_by),
            client_name=None if new.client_name is None else storable(new.client_name),
        )

    async def get_approval(self, approval_id: str) -> Approval | None:
        if not may_be_id(approval_id):
            return None  # a made-up id (the model's, a URL's): PostgreSQL would refuse some as parameters
        async with self._tx(write=False) as conn:
            return await read_approval(conn, approval_id)

    async def approval_with_spent(self, approval_id: str, *, window: float = DAY) -> Loaded:
        if not may_be_id(approval_id):
            return Loaded(None, 0, 0)
        async with self._tx(write=False) as conn:
            approval = await read_approval(conn, approval_id)
            currency = approval.currency if approval else None
            used = await spent_since(conn, currency, self.now() - window) if currency else 0
            version = await read_target_version(conn, approval.target) if approval else 0
        return Loaded(approval, used, version)

    async def list_approvals(
        self,
        *,
        states: Sequence[ApprovalState],
        limit: int = 50,
        channels: Sequence[str] | None = None,
        offset: int = 0,
    ) -> list[Approval]:
        query = _listed(states, channels, self.now()).limit(limit).offset(offset)
        async with self._tx(write=False) as conn:
            rows = (await conn.execute(query)).all()
        return [approval_from_row(row) for row in rows]

    async def decide(
        self, approval_id: str, *, approve: bool, by: str, redeem_window: float, reason: str | None = None
    ) -> Approval:
        async with self._tx() as conn:
            return await decide_pending(
                conn,
                approval_id,
                approve=approve,
                by=by,
                now=self.now(),
                redeem_window=redeem_window,
                signer=self._signer,
                reason=reason,
            )

    async def earlier_on(self, approval: Approval, *, window: float = DAY, limit: int = 5) -> Earlier:
        async with self._tx(write=False) as conn:
            return await earlier_decisions(conn, approval, window, limit)

    async def redeem(self, approval_id: str, *, digest: str) -> Approval:
        async with self._tx() as conn:
            return await redeem_approved(conn, approval_id, digest, self.now())

    async def redeem_and_start(
        self,
        approval_id: str,
        *,
        digest: str,
        tool: str,
        target: str,
        currency: str | None,
        amount: int,
        per_charge: int | None,
        daily: int | None,
        seen: int,
    ) -> Approval:
        now, target = self.now(), storable(target)
        refused: LimitExceeded | None = None
        async with self._tx() as conn:
            approval = await redeem_approved(conn, approval_id, digest, now)
            # Busy: the whole transaction rolls back, the approval stays approved for the next call.
            await claim_target(conn, target, seen, now)
            try:
                await count_act_within_limits(conn, approval_id, tool, target, currency, amount, per_charge, daily, now)
            except LimitExceeded as exc:
                # Used all the same, as when the two were separate steps: committed, then raised.
                refused = exc
                await record_outcome(conn, approval_id, "refused_limit")
        if refused is not None:
            raise refused
        return approval

    async def set_outcome(self, approval_id: str, outcome: str) -> None:
        async with self._tx() as conn:
            await record_outcome(conn, approval_id, outcome)

    async def evidence(self, approval_id: str) -> tuple[Approval | None, Act | None, list[AuditRecord], str | None]:
        """One approval, its act, the audit records that name it, and whose store this is, in one transaction."""
        if not may_be_id(approval_id):
            return None, None, [], None
        async with self._tx(write=False) as conn:
            approval = await read_approval(conn, approval_id)
            act = (await conn.execute(acts.select().where(acts.c.approval_id == approval_id))).first()
            # The entry's JSON as append_record writes it (sorted keys, default separators); checked again below.
            naming = audit.c.entry.like(f'%"approval_id": "{approval_id}"%')
            rows = (await conn.execute(audit.select().where(naming).order_by(audit.c.seq))).all()
            owner = (await conn.execute(sa.select(meta.c.value).where(meta.c.key == "polar_server"))).scalar()
        records = [r for r in map(record_from_row, rows) if r.entry.get("approval_id") == approval_id]
        return approval, (act_from_row(act) if act else None), records, owner
