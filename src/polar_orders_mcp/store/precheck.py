"""What can be told of the store before the database layer is loaded: a newer schema, a missing driver."""

from __future__ import annotations

import importlib.util
import sqlite3
from contextlib import closing
from pathlib import Path
from urllib.parse import quote

from polar_orders_mcp.store.records import POSTGRES_DRIVER_MISSING, SCHEMA_VERSION, DriverMissing, SchemaTooNew


def check_store(url: str) -> None:
    """Raise SchemaTooNew for a SQLite store written by a newer version, DriverMissing for a PostgreSQL URL without
    its driver; otherwise nothing (what else is wrong, the full open says). Reads the SQLite file with the standard
    library only, so that a stdio server starts without loading SQLAlchemy (about 0.3 s)."""
    if url.startswith(("postgresql", "postgres:")):
        if importlib.util.find_spec("asyncpg") is None:
            raise DriverMissing(POSTGRES_DRIVER_MISSING)
        return
    if not url.startswith("sqlite:///"):
        return
    path = Path(url.removeprefix("sqlite:///").split("?", 1)[0])
    if not path.is_file():
        return
    try:
        with closing(sqlite3.connect(f"file:{quote(str(path))}?mode=ro", uri=True, timeout=5)) as conn:
            row = conn.execute("SELECT value FROM pom_meta WHERE key = 'schema_version'").fetchone()
    except sqlite3.Error:
        return
    if row is not None and str(row[0]).isdigit() and int(row[0]) > SCHEMA_VERSION:
        raise SchemaTooNew(
            f"The database at {url} has schema version {row[0]}, newer than this server's {SCHEMA_VERSION}: "
            "upgrade polar-orders-mcp, or point it at another database."
        )
