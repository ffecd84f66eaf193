"""What a stdio server learns of its store before the database layer loads: a newer schema, a missing driver."""

from __future__ import annotations

import importlib.util
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from polar_orders_mcp.store import precheck
from polar_orders_mcp.store.records import POSTGRES_DRIVER_MISSING, SCHEMA_VERSION, DriverMissing, SchemaTooNew


def store_file(path: Path, version: int) -> str:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE pom_meta (key TEXT PRIMARY KEY, value TEXT)")
        conn.execute("INSERT INTO pom_meta VALUES ('schema_version', ?)", (str(version),))
    return f"sqlite:///{path}"


def test_a_sqlite_store_of_a_newer_schema_is_refused(tmp_path: Path) -> None:
    url = store_file(tmp_path / "store.db", SCHEMA_VERSION + 1)
    with pytest.raises(SchemaTooNew) as refused:
        precheck.check_store(url)
    assert str(refused.value) == (
        f"The database at {url} has schema version {SCHEMA_VERSION + 1}, newer than this server's {SCHEMA_VERSION}: "
        "upgrade polar-orders-mcp, or point it at another database."
    )


def test_a_store_of_this_schema_an_older_one_or_none_yet_passes(tmp_path: Path) -> None:
    for version in (SCHEMA_VERSION, 1):
        precheck.check_store(store_file(tmp_path / f"v{version}.db", version))
    precheck.check_store(f"sqlite:///{tmp_path / 'not-yet.db'}")
    (tmp_path / "garbage.db").write_bytes(b"not a database")
    precheck.check_store(f"sqlite:///{tmp_path / 'garbage.db'}")  # the full open says what is wrong with it


def test_a_postgresql_url_without_its_driver_says_which_extra_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "asyncpg" else real(name, *a))
    with pytest.raises(DriverMissing) as refused:
        precheck.check_store("postgresql://u@db/polar")
    assert str(refused.value) == POSTGRES_DRIVER_MISSING


def test_checking_the_store_loads_no_database_layer(tmp_path: Path) -> None:
    url = store_file(tmp_path / "store.db", SCHEMA_VERSION)
    code = (
        "import sys; from polar_orders_mcp.store.precheck import check_store; "
        f"check_store({url!r}); print(sorted(m for m in sys.modules if m.startswith(('sqlalchemy', 'aiosqlite'))))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"
