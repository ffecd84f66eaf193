"""The store on SQLAlchemy Core: one implementation for SQLite (embedded) and PostgreSQL (shared).

Atomicity comes from the database, never from a process lock: single-row state changes are
conditional UPDATEs (`... WHERE state = 'approved'`, one winner), and the two read-then-write
operations (spend limits, the audit chain) first UPDATE a lock row, which serializes them in
PostgreSQL (row lock) and in SQLite (transactions begin IMMEDIATE, taking the write lock).
PostgreSQL runs at its default isolation, READ COMMITTED: a conditional UPDATE that waited for
another transaction's row lock re-reads the row before deciding, and each statement after the lock
row is taken sees everything its previous holder committed.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import itertools
import json
import logging
import os
import secrets
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool

from polar_orders_mcp.signing import SigningKey
from polar_orders_mcp.store import migrations, signed
from polar_orders_mcp.store.base import Standing
from polar_orders_mcp.store.records import (
    GENESIS,
    IN_FLIGHT,
    MANDATE_ENDED,
    PASSKEY_REMOVED,
    POSTGRES_DRIVER_MISSING,
    SCHEMA_VERSION,
    Act,
    ActState,
    Approval,
    ApprovalState,
    AuditHead,
    AuditRecord,
    ConsoleSession,
    DriverMissing,
    Earlier,
    Enrolment,
    LimitExceeded,
    Loaded,
    NewApproval,
    NotPending,
    NotRedeemable,
    OwnRequest,
    Passkey,
    PasskeyChanged,
    Proven,
    Requested,
    SchemaTooNew,
    StoreBelongsElsewhere,
    StoreUnavailable,
    TargetBusy,
    chain_hash,
    new_approval_id,
)
from polar_orders_mcp.store.schema import (
    acts,
    approvals,
    audit,
    audit_head,
    console_sessions,
    locks,
    mandates,
    meta,
    metadata,
    passkey_nonces,
    passkeys,
)

log = logging.getLogger(__name__)

DAY = 86_400.0



def async_url(url: str) -> sa.URL:
    """The SQLAlchemy URL with this project's async driver for `sqlite://` and `postgresql://` URLs. Raises
    DriverMissing for a PostgreSQL URL when asyncpg (the postgres extra) is not installed."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return parsed.set(drivername="sqlite+aiosqlite")
    if backend in ("postgresql", "postgres"):
        if importlib.util.find_spec("asyncpg") is None:
            raise DriverMissing(POSTGRES_DRIVER_MISSING)
        return parsed.set(drivername="postgresql+asyncpg")
    raise ValueError(f"unsupported database URL scheme {parsed.drivername!r}: use sqlite:/// or postgresql://")


def _text(value: str) -> str:
    """Free text as both databases store it: PostgreSQL refuses NUL characters (SQLite keeps them), and
    neither can encode a lone surrogate."""
    return value.encode("utf-8", "replace").decode("utf-8").replace("\x00", "\N{REPLACEMENT CHARACTER}")


def _may_be_id(value: str) -> bool:
    return len(value) <= 64 and value.isascii() and value.isprintable()


# Database failures turned into StoreUnavailable; asyncpg raises its own errors while connecting.
FAILURES = (sa.exc.SQLAlchemyError, OSError, asyncio.TimeoutError)


def _failure(exc: BaseException) -> bool:
    return isinstance(exc, FAILURES) or type(exc).__module__.startswith("asyncpg")


def _reason(exc: BaseException) -> str:
    """What failed, in one line, without the statement or its parameters."""
    cause = exc.orig if isinstance(exc, sa.exc.DBAPIError) and exc.orig is not None else exc
    text = str(cause).strip().splitlines()[0] if str(cause).strip() else ""
    return f"{type(cause).__name__}: {text[:200]}" if text else type(cause).__name__


def _private_file(path: str | None) -> None:
    """The SQLite file readable by its owner alone, made so before SQLite first opens it (its -wal and -shm
    files take its mode): it holds customers' emails and names, and whoever can write it can forge a console
    session. A file found readable by others is tightened."""
    if not path or path == ":memory:" or path.startswith("file:"):
        return
    try:
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        if os.stat(path).st_mode & 0o077:
            os.chmod(path, 0o600)
    except OSError as exc:  # SQLite says more precisely what is wrong when it opens it
        log.debug("could not make %s private: %s", path, exc)


def _target_lock(target: str) -> str:
    """The lock row of one target (an order, a checkout…): its `n` is the target's version."""
    name = f"target:{target}"
    return name if len(name) <= 64 else "target#" + hashlib.sha256(target.encode()).hexdigest()[:57]


def _approval(row: sa.Row[Any]) -> Approval:
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


def _passkey(row: sa.Row[Any]) -> Passkey:
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


def _record(row: sa.Row[Any]) -> AuditRecord:
    return AuditRecord(row.seq, row.prev_hash, row.hash, json.loads(row.entry), row.signature)


def _act(row: sa.Row[Any]) -> Act:
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


class SqlStore:
    """The store on one database URL. Connects on first use (or `open()`); safe to share between tasks.

    Its connections belong to the event loop that opened them, as asyncpg's and aiosqlite's do, and are
    kept in a pool between transactions on both backends. A server process has one loop. A store used
    again from a new loop (a command calling anyio.run twice, tests) opens a new engine there; the old
    one is closed on its own loop if that loop still runs, else let go: SQLite's connections are closed
    on their own threads, PostgreSQL's sockets when collected.
    """

    def __init__(
        self,
        url: str,
        *,
        clock: Callable[[], float] = time.time,
        owner: str | None = None,
        signer: SigningKey | None = None,
    ) -> None:
        """`owner`: the Polar server whose approvals and spend this database holds; a database recorded as
        another's is refused (StoreBelongsElsewhere). None: not checked (the audit command only reads).
        `signer`: the key that signs each decision and audit record as it is written (None: unsigned, for
        the audit command, which only reads)."""
        self._url = async_url(url)
        self._owner = owner
        self._signer = signer
        self.url_for_humans = make_url(url).render_as_string(hide_password=True)
        self.dialect = self._url.get_backend_name()
        self._clock = clock
        self._engine: AsyncEngine | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._opening: asyncio.Future[AsyncEngine] | None = None
        self._ready = False
        self._sqlite_open: set[Any] = set()  # the SQLite engine's open connections
        # This run of the server: recorded with every approval it asks for, so that the console can tell a
        # person which requests an earlier run asked for (whose agent may be gone).
        self.boot = secrets.token_urlsafe(12)
        self.started_at = clock()

    def now(self) -> float:
        return self._clock()

    # Connections ----------------------------------------------------------------------------------

    def _make_engine(self) -> AsyncEngine:
        if self.dialect == "sqlite":
            _private_file(self._url.database)
            # Kept connections: opening one (a thread, the file, four pragmas) cost more than the transaction.
            # The engine is this loop's alone (see _get_engine); _let_go closes them when the loop changes.
            engine = create_async_engine(
                self._url, poolclass=AsyncAdaptedQueuePool, pool_size=5, max_overflow=10, pool_timeout=30,
                connect_args={"timeout": 30},
            )  # fmt: skip
            self._sqlite_open = _sqlite_pragmas(engine)
            return engine
        # asyncpg reads the URL itself, as libpq does (sslmode, sslrootcert, several hosts, passfile…):
        # SQLAlchemy would pass each query parameter as a keyword, and asyncpg takes no `sslmode=`.
        dsn = self._url.set(drivername="postgresql").render_as_string(hide_password=False)
        return create_async_engine(
            "postgresql+asyncpg://",
            connect_args={"dsn": dsn, "timeout": 10},
            pool_size=5,
            max_overflow=10,
            pool_timeout=30,
            pool_pre_ping=True,
        )

    async def _get_engine(self) -> AsyncEngine:
        loop = asyncio.get_running_loop()
        if self._engine is not None and self._loop is loop:
            return self._engine
        if self._opening is None or self._opening.get_loop() is not loop:
            # The first caller on this loop opens the engine (and checks the schema); the others wait for it.
            self._opening = loop.create_future()
            try:
                await self._let_go()
                engine = self._make_engine()
                if not self._ready:
                    try:
                        await self._ensure_schema(engine)
                    except BaseException:
                        await engine.dispose()
                        raise
                    self._ready = True
            except BaseException as exc:
                failure = self._unavailable(exc) if _failure(exc) else exc
                self._opening.set_exception(failure)
                self._opening.exception()  # retrieved: the callers see it, asyncio does not log it
                self._opening = None
                if failure is exc:
                    raise
                raise failure from exc
            self._engine, self._loop = engine, loop
            self._opening.set_result(engine)
            return engine
        return await asyncio.shield(self._opening)

    async def _let_go(self) -> None:
        """Release the engine of another event loop (see the class's docstring)."""
        old, old_loop = self._engine, self._loop
        self._engine = self._loop = None
        if old is None:
            return
        if old_loop is not None and old_loop.is_running() and not old_loop.is_closed():
            asyncio.run_coroutine_threadsafe(old.dispose(), old_loop)
            return
        if self.dialect == "sqlite":
            # aiosqlite closes a connection on the thread it was opened on: asked from here, no loop needed.
            for kept in list(self._sqlite_open):
                kept.driver_connection.stop()
            self._sqlite_open.clear()
        await old.dispose(close=False)

    def _unavailable(self, exc: BaseException) -> StoreUnavailable:
        cause = exc.orig if isinstance(exc, sa.exc.DBAPIError) and exc.orig is not None else exc
        return StoreUnavailable(f"the store at {self.url_for_humans} failed ({_reason(exc)})", type(cause).__name__)

    @asynccontextmanager
    async def _tx(self, *, write: bool = True) -> AsyncIterator[AsyncConnection]:
        engine = await self._get_engine()
        try:
            async with engine.connect() as conn:
                if write and self.dialect == "sqlite":
                    conn = await conn.execution_options(sqlite_immediate=True)
                async with conn.begin():
                    yield conn
        except BaseException as exc:
            if _failure(exc):
                raise self._unavailable(exc) from exc
            raise

    async def _ensure_schema(self, engine: AsyncEngine) -> None:
        """Create the schema, or bring an older one up to date; refuse a newer one, changing nothing."""
        async with engine.connect() as conn:
            conn = await conn.execution_options(sqlite_immediate=True)
            async with conn.begin():
                if self.dialect == "postgresql":
                    # Replicas starting at once must not both create or upgrade the tables.
                    await conn.execute(sa.text("SELECT pg_advisory_xact_lock(7420113)"))
                version = await self._schema_version(conn)
                if version is not None and version > SCHEMA_VERSION:
                    raise SchemaTooNew(
                        f"The database at {self.url_for_humans} has schema version {version}, newer than this "
                        f"server's {SCHEMA_VERSION}: upgrade polar-orders-mcp, or point it at another database."
                    )
                await conn.run_sync(metadata.create_all)
                if version is None:
                    await conn.execute(meta.insert().values(key="schema_version", value=str(SCHEMA_VERSION)))
                    await conn.execute(audit_head.insert().values(id=1, seq=0, hash=GENESIS))
                    await conn.run_sync(migrations.stamp, SCHEMA_VERSION)
                    await self._sign_head(conn)
                elif version < SCHEMA_VERSION:
                    await conn.run_sync(migrations.upgrade, version)
                    if version < 4:  # the head of the unsigned chain so far, signed once, as the upgrade found it
                        await self._sign_head(conn)
                    await conn.execute(
                        meta.update().where(meta.c.key == "schema_version").values(value=str(SCHEMA_VERSION))
                    )
                    log.warning("upgraded the store at %s from schema %s to %s", self.url_for_humans, version,
                                SCHEMA_VERSION)  # fmt: skip
                if self._owner is not None:
                    await self._claim_ownership(conn, self._owner)

    async def _claim_ownership(self, conn: AsyncConnection, owner: str) -> None:
        """Record whose approvals and spend this database holds, or refuse it if it is another Polar server's:
        two servers sharing one store would approve each other's requests and share each other's limits."""
        recorded = (await conn.execute(sa.select(meta.c.value).where(meta.c.key == "polar_server"))).scalar()
        if recorded is None:
            await conn.execute(meta.insert().values(key="polar_server", value=owner[:256]))
        elif recorded != owner[:256]:
            raise StoreBelongsElsewhere(
                f"The store at {self.url_for_humans} holds the approvals and spend of {recorded}, and this server "
                f"talks to {owner}: give each Polar server its own store (--state-dir DIR, or its own "
                "POLAR_MCP_DATABASE_URL)."
            )

    @staticmethod
    async def _schema_version(conn: AsyncConnection) -> int | None:
        if not await conn.run_sync(lambda sync: sa.inspect(sync).has_table(meta.name)):
            return None
        found = (await conn.execute(sa.select(meta.c.value).where(meta.c.key == "schema_version"))).scalar()
        return None if found is None else int(found)

    async def open(self) -> None:
        """Connect now, creating or upgrading the schema. Raises SchemaTooNew for a database of a newer
        version, StoreUnavailable when it cannot be reached."""
        await self._get_engine()

    async def close(self) -> None:
        self._opening = None
        if self._engine is not None:
            engine, self._engine, self._loop = self._engine, None, None
            await engine.dispose()

    # Approvals ------------------------------------------------------------------------------------

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
        approval = Approval(
            id=new_approval_id(),
            tool=new.tool,
            target=_text(new.target),
            digest=new.digest,
            facts=new.facts,
            summary=_text(new.summary),
            message=_text(new.message),
            display=new.display,
            amount=new.amount,
            currency=new.currency,
            client=_text(new.client),
            session=None if new.session is None else _text(new.session),
            channel=new.channel,
            state="pending",
            created_at=now,
            expires_at=now + new.ttl,
            boot=self.boot,
            asked_by=None if new.asked_by is None else _text(new.asked_by),
            client_name=None if new.client_name is None else _text(new.client_name),
        )
        async with self._tx() as conn:
            if daily is not None and new.currency and new.amount is not None:
                # Before anyone is asked; the act checks again, atomically (start_act, redeem_and_start).
                used = await self._spent(conn, new.currency, now - DAY)
                if used + new.amount > daily:
                    raise LimitExceeded("daily", new.currency, daily, used, new.amount)
            checked = await standing(conn, new, now) if standing is not None else None
            granted = getattr(checked, "approval", None)
            if granted is not None or not ask:
                version = await self._target_version(conn, approval.target)
                return Requested(granted, getattr(checked, "record", None), version, checked)
            await conn.execute(
                approvals.insert().values(
                    id=approval.id,
                    tool=approval.tool,
                    target=approval.target,
                    digest=approval.digest,
                    facts=json.dumps(approval.facts, sort_keys=True),
                    summary=approval.summary,
                    message=approval.message,
                    display=json.dumps(approval.display),
                    amount=approval.amount,
                    currency=approval.currency,
                    client=approval.client,
                    session=approval.session,
                    channel=approval.channel,
                    state="pending",
                    created_at=approval.created_at,
                    expires_at=approval.expires_at,
                    boot=approval.boot,
                    asked_by=approval.asked_by,
                    client_name=approval.client_name,
                )
            )
            entry = audit(approval) if audit is not None else None
            record = await self._append(conn, entry) if entry is not None else None
            version = await self._target_version(conn, approval.target)
        return Requested(approval, record, version, checked)

    async def get_approval(self, approval_id: str) -> Approval | None:
        if not _may_be_id(approval_id):
            return None  # a made-up id (the model's, a URL's): PostgreSQL would refuse some as parameters
        async with self._tx(write=False) as conn:
            row = (await conn.execute(approvals.select().where(approvals.c.id == approval_id))).first()
        return _approval(row) if row else None

    async def approval_with_spent(self, approval_id: str, *, window: float = DAY) -> Loaded:
        if not _may_be_id(approval_id):
            return Loaded(None, 0, 0)
        async with self._tx(write=False) as conn:
            row = (await conn.execute(approvals.select().where(approvals.c.id == approval_id))).first()
            approval = _approval(row) if row else None
            currency = approval.currency if approval else None
            used = await self._spent(conn, currency, self.now() - window) if currency else 0
            version = await self._target_version(conn, approval.target) if approval else 0
        return Loaded(approval, used, version)

    async def list_approvals(
        self,
        *,
        states: Sequence[ApprovalState],
        limit: int = 50,
        channels: Sequence[str] | None = None,
        offset: int = 0,
    ) -> list[Approval]:
        now = self.now()
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
        query = approvals.select().where(wanted).order_by(*order).limit(limit).offset(offset)
        async with self._tx(write=False) as conn:
            rows = (await conn.execute(query)).all()
        return [_approval(row) for row in rows]

    async def decide(
        self, approval_id: str, *, approve: bool, by: str, redeem_window: float, reason: str | None = None
    ) -> Approval:
        async with self._tx() as conn:
            return await self._decide(conn, approval_id, approve, by, self.now(), redeem_window, reason=reason)

    async def earlier_on(self, approval: Approval, *, window: float = DAY, limit: int = 5) -> Earlier:
        async with self._tx(write=False) as conn:
            return await self._earlier(conn, approval, window, limit)

    async def _earlier(self, conn: AsyncConnection, approval: Approval, window: float, limit: int) -> Earlier:
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
        decided = [_approval(row) for row in (await conn.execute(query)).all()]
        refused = [act for act in map(_act, (await conn.execute(failed)).all()) if act.detail.get("refusal")]
        return Earlier(decided, refused[:limit])

    async def _decide(
        self,
        conn: AsyncConnection,
        approval_id: str,
        approve: bool,
        by: str,
        now: float,
        redeem_window: float,
        proof: dict[str, Any] | None = None,
        *,
        reason: str | None = None,
    ) -> Approval:
        """The decision, signed in the transaction that records it, whatever the channel that made it, with the
        decider's reason when they gave one. Nobody approves a request they asked for themselves (OwnRequest);
        they may deny it."""
        until = now + redeem_window
        pending = [approvals.c.id == approval_id, approvals.c.state == "pending", approvals.c.expires_at > now]
        if approve:
            pending.append(sa.or_(approvals.c.asked_by.is_(None), approvals.c.asked_by != _text(by)))
        result = await conn.execute(
            approvals.update()
            .where(*pending)
            .values(
                state="approved" if approve else "denied",
                decided_by=_text(by),
                decided_at=now,
                expires_at=sa.case((approvals.c.expires_at < until, until), else_=approvals.c.expires_at),
                **({} if proof is None else {"proof": json.dumps(proof, sort_keys=True)}),
                **({} if reason is None else {"reason": reason}),
            )
        )
        row = (await conn.execute(approvals.select().where(approvals.c.id == approval_id))).first()
        approval = _approval(row) if row else None
        if result.rowcount != 1:
            if approval is not None and approve and approval.state_at(now) == "pending":
                raise OwnRequest(approval)
            raise NotPending(approval, approval.state_at(now) if approval else "unknown")
        assert approval is not None
        if self._signer is None:
            return approval
        signature = self._signer.sign(signed.decision_claims(approval), signed.DECISION)
        await conn.execute(approvals.update().where(approvals.c.id == approval_id).values(signature=signature))
        return replace(approval, signature=signature)

    async def redeem(self, approval_id: str, *, digest: str) -> Approval:
        async with self._tx() as conn:
            return await self._redeem(conn, approval_id, digest, self.now())

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
        now, target = self.now(), _text(target)
        refused: LimitExceeded | None = None
        async with self._tx() as conn:
            approval = await self._redeem(conn, approval_id, digest, now)
            # Busy: the whole transaction rolls back, the approval stays approved for the next call.
            await self._claim(conn, target, seen, now)
            try:
                await self._start(conn, approval_id, tool, target, currency, amount, per_charge, daily, now)
            except LimitExceeded as exc:
                # Used all the same, as when the two were separate steps: committed, then raised.
                refused = exc
                await conn.execute(
                    approvals.update().where(approvals.c.id == approval_id).values(outcome="refused_limit")
                )
        if refused is not None:
            raise refused
        return approval

    @staticmethod
    async def _redeem(conn: AsyncConnection, approval_id: str, digest: str, now: float) -> Approval:
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
        row = (await conn.execute(approvals.select().where(approvals.c.id == approval_id))).first()
        approval = _approval(row) if row else None
        if result.rowcount != 1:
            state: str = "unknown" if approval is None else approval.state_at(now)
            if approval is not None and state == "approved" and approval.digest != digest:
                state = "for other facts"
            raise NotRedeemable(approval, state)
        assert approval is not None
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
        return approval

    async def set_outcome(self, approval_id: str, outcome: str) -> None:
        async with self._tx() as conn:
            await conn.execute(approvals.update().where(approvals.c.id == approval_id).values(outcome=_text(outcome)))

    # Acts and spend -------------------------------------------------------------------------------

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
        now, target = self.now(), _text(target)
        async with self._tx() as conn:
            await self._claim(conn, target, seen, now)
            await self._start(conn, approval_id, tool, target, currency, amount, per_charge, daily, now)
        return Act(approval_id, tool, target, currency, amount, "started", now)

    async def _start(
        self,
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
        """Check the limits and count the act, under the currency's lock row."""
        await self._lock(conn, f"spend:{currency or '-'}")
        if per_charge is not None and currency and amount > per_charge:
            raise LimitExceeded("per_charge", currency, per_charge, 0, amount)
        if daily is not None and currency:
            used = await self._spent(conn, currency, now - DAY)
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

    async def target_version(self, target: str) -> int:
        async with self._tx(write=False) as conn:
            return await self._target_version(conn, _text(target))

    @staticmethod
    async def _target_version(conn: AsyncConnection, target: str) -> int:
        found = await conn.execute(sa.select(locks.c.n).where(locks.c.name == _target_lock(target)))
        return int(found.scalar() or 0)

    async def _claim(self, conn: AsyncConnection, target: str, seen: int, now: float) -> None:
        """Take the target's lock row and refuse (TargetBusy) when another act on it is in flight, or when
        one started or settled since the caller read `seen`."""
        await self._lock(conn, _target_lock(target))
        flying = await conn.execute(
            sa.select(acts.c.approval_id)
            .where(acts.c.target == target, acts.c.state == "started", acts.c.started_at > now - IN_FLIGHT)
            .limit(1)
        )
        if flying.first() is not None:
            raise TargetBusy(target, "in flight")
        if await self._target_version(conn, target) != seen + 1:
            raise TargetBusy(target, "acted on since")

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
                await self._lock(conn, _target_lock(target))
            await conn.execute(
                acts.update()
                .where(acts.c.approval_id == approval_id)
                .values(**settled, detail=json.dumps(detail or {}, sort_keys=True))
            )
            if outcome is not None:
                await conn.execute(
                    approvals.update().where(approvals.c.id == approval_id).values(outcome=_text(outcome))
                )
            return await self._append(conn, audit) if audit is not None else None

    async def spent(self, currency: str | None, *, window: float = DAY) -> int:
        if not currency:
            return 0
        async with self._tx(write=False) as conn:
            return await self._spent(conn, currency, self.now() - window)

    @staticmethod
    async def _spent(conn: AsyncConnection, currency: str, since: float) -> int:
        total = await conn.execute(
            sa.select(sa.func.coalesce(sa.func.sum(acts.c.amount), 0)).where(
                acts.c.currency == currency, acts.c.started_at > since, acts.c.state != "failed"
            )
        )
        return int(total.scalar() or 0)

    async def acts_for(self, tool: str, target: str, *, window: float = DAY) -> list[Act]:
        async with self._tx(write=False) as conn:
            rows = (
                await conn.execute(
                    acts.select()
                    .where(acts.c.tool == tool, acts.c.target == target, acts.c.started_at > self.now() - window)
                    .order_by(acts.c.started_at)
                )
            ).all()
        return [_act(r) for r in rows]

    async def _lock(self, conn: AsyncConnection, name: str) -> None:
        """Take the named lock row for the rest of the transaction, creating it on first use."""
        insert = (postgresql.insert if self.dialect == "postgresql" else sqlite.insert)(locks)
        await conn.execute(insert.values(name=name, n=0).on_conflict_do_nothing(index_elements=["name"]))
        await conn.execute(locks.update().where(locks.c.name == name).values(n=locks.c.n + 1))

    # Audit chain ----------------------------------------------------------------------------------

    async def append_audit(self, entry: dict[str, Any]) -> AuditRecord:
        async with self._tx() as conn:
            return await self._append(conn, entry)

    async def _append(self, conn: AsyncConnection, entry: dict[str, Any]) -> AuditRecord:
        """Chain one record, signed with the head; the head row's update serializes appends (see the module's
        docstring)."""
        await conn.execute(audit_head.update().where(audit_head.c.id == 1).values(seq=audit_head.c.seq + 1))
        head = (await conn.execute(audit_head.select().where(audit_head.c.id == 1))).one()
        seq, prev = int(head.seq), str(head.hash)
        digest = chain_hash(prev, seq, entry)
        signature = head_signature = None
        if self._signer is not None:
            signature = self._signer.sign(signed.record_claims(seq, digest), signed.RECORD)
            head_signature = self._signer.sign(signed.record_claims(seq, digest), signed.HEAD)
        await conn.execute(
            audit.insert().values(
                seq=seq, prev_hash=prev, hash=digest, entry=json.dumps(entry, sort_keys=True), signature=signature
            )
        )
        await conn.execute(
            audit_head.update().where(audit_head.c.id == 1).values(hash=digest, signature=head_signature)
        )
        return AuditRecord(seq=seq, prev_hash=prev, hash=digest, entry=entry, signature=signature)

    async def _sign_head(self, conn: AsyncConnection) -> None:
        if self._signer is None:
            return
        head = (await conn.execute(audit_head.select().where(audit_head.c.id == 1))).one()
        claims = signed.record_claims(int(head.seq), str(head.hash))
        signature = self._signer.sign(claims, signed.HEAD)
        await conn.execute(audit_head.update().where(audit_head.c.id == 1).values(signature=signature))

    async def audit_records(self, *, after: int = 0, limit: int | None = None) -> list[AuditRecord]:
        query = audit.select().where(audit.c.seq > after).order_by(audit.c.seq)
        if limit is not None:
            query = query.limit(limit)
        async with self._tx(write=False) as conn:
            rows = (await conn.execute(query)).all()
        return [_record(r) for r in rows]

    async def audit_tail(self, count: int) -> list[AuditRecord]:
        async with self._tx(write=False) as conn:
            rows = (await conn.execute(audit.select().order_by(audit.c.seq.desc()).limit(count))).all()
        return [_record(r) for r in reversed(rows)]

    async def audit_head(self) -> tuple[int, str]:
        head = await self.signed_head()
        return head.seq, head.hash

    async def signed_head(self) -> AuditHead:
        async with self._tx(write=False) as conn:
            head = (await conn.execute(audit_head.select().where(audit_head.c.id == 1))).one()
        return AuditHead(int(head.seq), str(head.hash), head.signature)

    async def evidence(self, approval_id: str) -> tuple[Approval | None, Act | None, list[AuditRecord], str | None]:
        """One approval, its act, the audit records that name it, and whose store this is, in one transaction."""
        if not _may_be_id(approval_id):
            return None, None, [], None
        async with self._tx(write=False) as conn:
            row = (await conn.execute(approvals.select().where(approvals.c.id == approval_id))).first()
            act = (await conn.execute(acts.select().where(acts.c.approval_id == approval_id))).first()
            # The entry's JSON as _append writes it (sorted keys, default separators); checked again below.
            naming = audit.c.entry.like(f'%"approval_id": "{approval_id}"%')
            rows = (await conn.execute(audit.select().where(naming).order_by(audit.c.seq))).all()
            owner = (await conn.execute(sa.select(meta.c.value).where(meta.c.key == "polar_server"))).scalar()
        records = [r for r in map(_record, rows) if r.entry.get("approval_id") == approval_id]
        return (_approval(row) if row else None), (_act(act) if act else None), records, owner

    # Console sessions -----------------------------------------------------------------------------

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
            row = (
                await conn.execute(console_sessions.select().where(console_sessions.c.token_hash == token_hash))
            ).first()
        if row is None or row.expires_at <= self.now():
            return None
        return ConsoleSession(approver=row.approver, csrf=row.csrf, expires_at=row.expires_at)

    async def console_view(
        self, token_hash: str, approval_id: str
    ) -> tuple[ConsoleSession | None, Approval | None, Earlier | None]:
        async with self._tx(write=False) as conn:
            session, approval = await self._console_rows(conn, token_hash, approval_id)
            waiting = session is not None and approval is not None and approval.state_at(self.now()) == "pending"
            earlier = await self._earlier(conn, approval, DAY, 5) if waiting and approval is not None else None
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
            session, approval = await self._console_rows(conn, token_hash, approval_id)
            approve = judge(session, approval)
            if approve is None or session is None or approval is None:
                return session, approval
            decided = await self._decide(
                conn, approval_id, approve, session.approver, now, redeem_window, reason=reason
            )
            return session, decided

    async def _console_rows(
        self, conn: AsyncConnection, token_hash: str, approval_id: str
    ) -> tuple[ConsoleSession | None, Approval | None]:
        found = (
            await conn.execute(console_sessions.select().where(console_sessions.c.token_hash == token_hash))
        ).first()
        session = None
        if found is not None and found.expires_at > self.now():
            session = ConsoleSession(approver=found.approver, csrf=found.csrf, expires_at=found.expires_at)
        row = None
        if _may_be_id(approval_id):
            row = (await conn.execute(approvals.select().where(approvals.c.id == approval_id))).first()
        return session, _approval(row) if row else None

    async def delete_console_session(self, token_hash: str) -> None:
        async with self._tx() as conn:
            await conn.execute(console_sessions.delete().where(console_sessions.c.token_hash == token_hash))

    # Passkeys -------------------------------------------------------------------------------------

    async def add_passkey(self, passkey: Passkey) -> None:
        async with self._tx() as conn:
            await self._insert_passkey(conn, passkey)

    @staticmethod
    async def _insert_passkey(conn: AsyncConnection, passkey: Passkey) -> None:
        await conn.execute(
            passkeys.insert().values(
                credential_id=passkey.credential_id,
                approver=passkey.approver,
                public_key=passkey.public_key,
                sign_count=passkey.sign_count,
                name=_text(passkey.name),
                created_at=passkey.created_at,
            )
        )

    async def enrol_passkey(self, passkey: Passkey, *, audit: dict[str, Any]) -> Enrolment:
        async with self._tx() as conn:
            await self._lock(conn, "passkeys")  # one enrolment or reset at a time, on every replica
            since = await self._since_reset(conn, passkey.approver)
            if since:
                return "has_one" if any(k.removed_at is None for k in since) else "had_one"
            known = passkeys.select().where(passkeys.c.credential_id == passkey.credential_id)
            if (await conn.execute(known)).first() is not None:
                return "registered"
            await self._insert_passkey(conn, passkey)
            await self._append(conn, audit)
        return "added"

    async def passkeys_since_reset(self, approver: str) -> list[Passkey]:
        async with self._tx(write=False) as conn:
            return await self._since_reset(conn, approver)

    async def _since_reset(self, conn: AsyncConnection, approver: str) -> list[Passkey]:
        reset = (await conn.execute(sa.select(meta.c.value).where(meta.c.key == _reset_key(approver)))).scalar()
        query = passkeys.select().where(passkeys.c.approver == approver)
        if reset is not None:
            query = query.where(passkeys.c.created_at > float(reset))
        return [_passkey(row) for row in (await conn.execute(query.order_by(passkeys.c.created_at))).all()]

    async def all_passkeys(self, approver: str | None = None) -> list[Passkey]:
        query = passkeys.select().order_by(passkeys.c.approver, passkeys.c.created_at)
        if approver is not None:
            query = query.where(passkeys.c.approver == approver)
        async with self._tx(write=False) as conn:
            return [_passkey(row) for row in (await conn.execute(query)).all()]

    async def reset_passkeys(
        self, approver: str, *, audit: Callable[[Passkey | None], dict[str, Any]]
    ) -> list[Passkey]:
        now = self.now()
        async with self._tx() as conn:
            await self._lock(conn, "passkeys")
            active = passkeys.c.approver == approver, passkeys.c.removed_at.is_(None)
            rows = (await conn.execute(passkeys.select().where(*active).order_by(passkeys.c.created_at))).all()
            await conn.execute(passkeys.update().where(*active).values(removed_at=now))
            key = _reset_key(approver)
            if (await conn.execute(meta.update().where(meta.c.key == key).values(value=repr(now)))).rowcount == 0:
                await conn.execute(meta.insert().values(key=key, value=repr(now)))
            removed = [replace(_passkey(row), removed_at=now) for row in rows]
            for passkey in removed or (None,):
                await self._append(conn, audit(passkey))
        return removed

    async def list_passkeys(self, approver: str) -> list[Passkey]:
        query = passkeys.select().where(passkeys.c.approver == approver, passkeys.c.removed_at.is_(None))
        async with self._tx(write=False) as conn:
            rows = (await conn.execute(query.order_by(passkeys.c.created_at))).all()
        return [_passkey(row) for row in rows]

    async def get_passkey(self, credential_id: str) -> Passkey | None:
        if len(credential_id) > 1400 or not credential_id.isascii():
            return None
        async with self._tx(write=False) as conn:
            row = (await conn.execute(passkeys.select().where(passkeys.c.credential_id == credential_id))).first()
        return _passkey(row) if row else None

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
            return await self._take_nonce(conn, nonce, token_hash, purpose)

    async def _take_nonce(self, conn: AsyncConnection, nonce: str, token_hash: str, purpose: str) -> bool:
        """Use a nonce up, whatever comes of it: True when it was served to this session for this purpose and is
        still fresh. Once only: a second use finds it gone."""
        if not _may_be_id(nonce):
            return False
        taken = await conn.execute(
            passkey_nonces.delete().where(
                passkey_nonces.c.nonce == nonce,
                passkey_nonces.c.token_hash == token_hash,
                passkey_nonces.c.purpose == purpose,
                passkey_nonces.c.expires_at > self.now(),
            )
        )
        await conn.execute(passkey_nonces.delete().where(passkey_nonces.c.nonce == nonce))
        return bool(taken.rowcount == 1)

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
            session, approval = await self._console_rows(conn, token_hash, approval_id)
            fresh = await self._take_nonce(conn, nonce, token_hash, f"decide:{approval_id}")
            row = None
            if len(credential_id) <= 1400 and credential_id.isascii():
                row = (
                    await conn.execute(passkeys.select().where(passkeys.c.credential_id == credential_id))
                ).first()
            proven = judge(session, approval, _passkey(row) if row else None, fresh)
            if proven is None or session is None or approval is None:
                return session, approval
            # The count the assertion was checked against must still be the passkey's: one use per count.
            moved = await conn.execute(
                passkeys.update()
                .where(
                    passkeys.c.credential_id == proven.credential_id,
                    passkeys.c.approver == session.approver,
                    passkeys.c.removed_at.is_(None),
                    passkeys.c.sign_count == proven.seen,
                )
                .values(sign_count=proven.sign_count, last_used_at=now)
            )
            if moved.rowcount != 1:
                raise PasskeyChanged("the passkey was used or removed while this decision was checked")
            decided = await self._decide(
                conn, approval_id, proven.approve, session.approver, now, redeem_window, proof=proven.proof
            )
            return session, decided


def _sqlite_pragmas(engine: AsyncEngine) -> set[Any]:
    """WAL (readers never wait for the writer), a generous busy wait for other processes on the same
    file, full fsync (a redeemed approval must survive a power cut), and IMMEDIATE write transactions.
    Returns the set of the engine's open connections, kept up to date."""
    opened: set[Any] = set()

    @event.listens_for(engine.sync_engine, "close")
    def _on_close(dbapi_connection: Any, _record: Any) -> None:
        opened.discard(dbapi_connection)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        opened.add(dbapi_connection)
        dbapi_connection.isolation_level = None  # SQLAlchemy's "begin" event below issues BEGIN itself
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA busy_timeout=30000")
        _wal(cursor)
        for pragma in ("synchronous=FULL", "foreign_keys=ON"):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        immediate = conn.get_execution_options().get("sqlite_immediate")
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return opened


def _wal(cursor: Any) -> None:
    """Switch the file to WAL. Connections converting a new file at once (replicas starting together) can
    be refused "database is locked" at once, without SQLite's busy wait: that one is tried again."""
    for attempt in itertools.count():
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt >= 300:
                raise
            time.sleep(0.01)

