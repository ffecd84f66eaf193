"""The store's database: one engine per event loop, its transactions, and the schema made or upgraded at open."""

from __future__ import annotations

import asyncio
import importlib.util
import itertools
import logging
import os
import secrets
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool

from polar_orders_mcp.signing import SigningKey
from polar_orders_mcp.store import migrations
from polar_orders_mcp.store.audit_chain import sign_head, start_chain
from polar_orders_mcp.store.part import StorePart
from polar_orders_mcp.store.records import (
    POSTGRES_DRIVER_MISSING,
    SCHEMA_VERSION,
    DriverMissing,
    SchemaTooNew,
    StoreBelongsElsewhere,
    StoreUnavailable,
)
from polar_orders_mcp.store.schema import meta, metadata

log = logging.getLogger(__name__)


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


class Database(StorePart):
    """The store's database at one URL. Connects on first use (or `open()`); safe to share between tasks.

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
                self._url,
                poolclass=AsyncAdaptedQueuePool,
                pool_size=5,
                max_overflow=10,
                pool_timeout=30,
                connect_args={"timeout": 30},
            )
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
                    await conn.run_sync(migrations.stamp, SCHEMA_VERSION)
                    await start_chain(conn, self._signer)
                elif version < SCHEMA_VERSION:
                    await conn.run_sync(migrations.upgrade, version)
                    if version < 4:  # the head of the unsigned chain so far, signed once, as the upgrade found it
                        await sign_head(conn, self._signer)
                    await conn.execute(
                        meta.update().where(meta.c.key == "schema_version").values(value=str(SCHEMA_VERSION))
                    )
                    log.warning(
                        "upgraded the store at %s from schema %s to %s", self.url_for_humans, version, SCHEMA_VERSION
                    )
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
