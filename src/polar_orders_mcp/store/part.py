"""What each part of the SQL store works through (its transactions, clock and key), and the helpers they share."""

from __future__ import annotations

from abc import ABC, abstractmethod
from contextlib import AbstractAsyncContextManager

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from polar_orders_mcp.signing import SigningKey
from polar_orders_mcp.store.schema import locks

DAY = 86_400.0


class StorePart(ABC):
    """One concern of SqlStore (approvals, acts and spend, the audit chain, console sessions, passkeys): its
    operations, each in one transaction of the database that store.database.Database opens. An operation that
    spans concerns calls the other concern's steps (functions taking the connection) in that same transaction."""

    boot: str
    """This run of the server, recorded with each approval it asks for."""
    _signer: SigningKey | None
    """The key that signs each decision and audit record as it is written (None: unsigned)."""

    @abstractmethod
    def now(self) -> float: ...

    @abstractmethod
    def _tx(self, *, write: bool = True) -> AbstractAsyncContextManager[AsyncConnection]:
        """A transaction: IMMEDIATE on SQLite when it writes; StoreUnavailable when the database fails."""


def storable(value: str) -> str:
    """Free text as both databases store it: PostgreSQL refuses NUL characters (SQLite keeps them), and
    neither can encode a lone surrogate."""
    return value.encode("utf-8", "replace").decode("utf-8").replace("\x00", "\N{REPLACEMENT CHARACTER}")


def may_be_id(value: str) -> bool:
    return len(value) <= 64 and value.isascii() and value.isprintable()


async def take_lock(conn: AsyncConnection, name: str) -> None:
    """Take the named lock row for the rest of the transaction, creating it on first use."""
    insert = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(locks)
    await conn.execute(insert.values(name=name, n=0).on_conflict_do_nothing(index_elements=["name"]))
    await conn.execute(locks.update().where(locks.c.name == name).values(n=locks.c.n + 1))
