"""The approval console's sessions in the store, and the decisions made in them (read and decided in one
transaction, so that a session signed out or a request decided meanwhile is seen)."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncConnection

from polar_orders_mcp.store.approvals import decide_pending, earlier_decisions, read_approval
from polar_orders_mcp.store.part import DAY, StorePart, may_be_id
from polar_orders_mcp.store.records import Approval, ConsoleSession, Earlier
from polar_orders_mcp.store.schema import console_sessions


async def _read_session(conn: AsyncConnection, token_hash: str, now: float) -> ConsoleSession | None:
    """The session, or None when unknown or expired at `now`."""
    row = (await conn.execute(console_sessions.select().where(console_sessions.c.token_hash == token_hash))).first()
    if row is None or row.expires_at <= now:
        return None
    return ConsoleSession(approver=row.approver, csrf=row.csrf, expires_at=row.expires_at)


async def session_and_approval(
    conn: AsyncConnection, token_hash: str, approval_id: str, now: float
) -> tuple[ConsoleSession | None, Approval | None]:
    """The session (None when unknown or expired at `now`) and the approval (None when unknown)."""
    session = await _read_session(conn, token_hash, now)
    approval = await read_approval(conn, approval_id) if may_be_id(approval_id) else None
    return session, approval


class ConsoleSessions(StorePart):
    """The console sessions' operations."""

    async def create_console_session(self, *, token_hash: str, approver: str, csrf: str, ttl: float) -> None:
        now = self.now()
        async with self._tx() as conn:
            await conn.execute(console_sessions.delete().where(console_sessions.c.expires_at <= now))
            await conn.execute(
                console_sessions.insert().values(
                    token_hash=token_hash, approver=approver, csrf=csrf, created_at=now, expires_at=now + ttl
                )
            )

    async def get_console_session(self, token_hash: str) -> ConsoleSession | None:
        async with self._tx(write=False) as conn:
            return await _read_session(conn, token_hash, self.now())

    async def console_view(
        self, token_hash: str, approval_id: str
    ) -> tuple[ConsoleSession | None, Approval | None, Earlier | None]:
        async with self._tx(write=False) as conn:
            session, approval = await session_and_approval(conn, token_hash, approval_id, self.now())
            waiting = session is not None and approval is not None and approval.state_at(self.now()) == "pending"
            earlier = await earlier_decisions(conn, approval, DAY, 5) if waiting and approval is not None else None
            return session, approval, earlier

    async def decide_in_console(
        self,
        token_hash: str,
        approval_id: str,
        judge: Callable[[ConsoleSession | None, Approval | None], bool | None],
        *,
        redeem_window: float,
        reason: str | None = None,
    ) -> tuple[ConsoleSession | None, Approval | None]:
        now = self.now()
        async with self._tx() as conn:
            session, approval = await session_and_approval(conn, token_hash, approval_id, self.now())
            approve = judge(session, approval)
            if approve is None or session is None or approval is None:
                return session, approval
            decided = await decide_pending(
                conn,
                approval_id,
                approve=approve,
                by=session.approver,
                now=now,
                redeem_window=redeem_window,
                signer=self._signer,
                reason=reason,
            )
            return session, decided

    async def delete_console_session(self, token_hash: str) -> None:
        async with self._tx() as conn:
            await conn.execute(console_sessions.delete().where(console_sessions.c.token_hash == token_hash))
