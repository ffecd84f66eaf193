"""The store's schema steps, as Alembic revisions: `versions/` holds one per schema version, named by it.

A revision's id is the schema version it brings a database to ("2", "3" …). `pom_meta.schema_version` is
the one record of a database's version (every server, of any release, reads it to refuse a database newer
than itself): before upgrading, Alembic's own record is set from it. A new database is made whole by
`create_all` and stamped with the head. No downgrades: an older server refuses a newer database.
"""

from __future__ import annotations

import logging
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

VERSION_TABLE = "pom_alembic_version"

# Alembic says each step at INFO; the store says once, at WARNING, what an upgrade did.
logging.getLogger("alembic").setLevel(logging.WARNING)


def _config(conn: sa.Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent))
    config.attributes["connection"] = conn
    return config


def head() -> int:
    """The schema version the newest revision brings a database to."""
    return int(ScriptDirectory.from_config(_config()).get_current_head() or 0)


def recorded(conn: sa.Connection) -> int | None:
    """The schema version Alembic recorded in this database, if it recorded one."""
    found = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE}).get_current_revision()
    return None if found is None else int(found)


def stamp(conn: sa.Connection, version: int) -> None:
    """Record that the database is at `version`, running no step (a new database, made whole)."""
    command.stamp(_config(conn), str(version), purge=True)


def upgrade(conn: sa.Connection, version: int) -> None:
    """Run the steps from `version` (the database's own record of it) to the head, inside the caller's
    transaction. A database upgraded by a server from before the store used Alembic has no record of
    Alembic's, so it is set from `version` first."""
    stamp(conn, version)
    command.upgrade(_config(conn), "head")
