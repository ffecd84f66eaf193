"""The store on SQLAlchemy Core: one implementation for SQLite (embedded) and PostgreSQL (shared).

Atomicity comes from the database, never from a process lock: single-row state changes are
conditional UPDATEs (`... WHERE state = 'approved'`, one winner), and the two read-then-write
operations (spend limits, the audit chain) first UPDATE a lock row, which serializes them in
PostgreSQL (row lock) and in SQLite (transactions begin IMMEDIATE, taking the write lock).
PostgreSQL runs at its default isolation, READ COMMITTED: a conditional UPDATE that waited for
another transaction's row lock re-reads the row before deciding, and each statement after the lock
row is taken sees everything its previous holder committed.

Its parts, each a module: database.py (connections, transactions, the schema at open), approvals.py,
spending.py (acts and limits), audit_chain.py, console_sessions.py and passkeys.py; mandates.py and oauth.py
work on the same database through a SqlStore.
"""

from __future__ import annotations

from polar_orders_mcp.store.approvals import Approvals
from polar_orders_mcp.store.audit_chain import AuditChain
from polar_orders_mcp.store.console_sessions import ConsoleSessions
from polar_orders_mcp.store.database import Database
from polar_orders_mcp.store.passkeys import Passkeys
from polar_orders_mcp.store.spending import Spending


class SqlStore(Approvals, Spending, AuditChain, ConsoleSessions, Passkeys, Database):
    """The store (base.Store) on one database URL: each concern's operations over the one database.
    See Database for its connections and its arguments."""
