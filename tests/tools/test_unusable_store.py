"""A store the server cannot use (made by a newer version, its driver not installed) is named in the tool's error,
with what was not done, when a call is the first to open it: never a bare "Error executing tool". `serve` opens the
store before serving and refuses to start instead (tests/test_cli.py)."""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Callable
from typing import Any

import pytest
from mcp.client import Client

from polar_orders_mcp.emulator.seed import SeedInfo
from polar_orders_mcp.emulator.state import EmulatorState
from polar_orders_mcp.server.app import ServerParts
from polar_orders_mcp.store.records import SCHEMA_VERSION
from polar_orders_mcp.store.sql import SqlStore
from polar_orders_mcp.tools.orders import STRAY_DRAFT
from tests.tools.conftest import fail

pytestmark = pytest.mark.anyio

DRIVER_MISSING = (
    "POLAR_MCP_DATABASE_URL is a PostgreSQL URL, and the PostgreSQL driver is not installed: install the postgres "
    "extra — pipx: `pipx inject polar-orders-mcp 'asyncpg>=0.29'` (or `pipx install --force "
    "'polar-orders-mcp[postgres]'`), uv: `uv tool install 'polar-orders-mcp[postgres]'`, pip: "
    "`pip install 'polar-orders-mcp[postgres]'`."
)


async def test_a_store_made_by_a_newer_version_is_named(
    make_parts: Callable[..., ServerParts], seed: SeedInfo, state: EmulatorState, tmp_path: Any
) -> None:
    (tmp_path / "state").mkdir()
    newer = SqlStore(f"sqlite:///{tmp_path}/state/state.db")
    await newer.open()
    await newer.close()
    with sqlite3.connect(tmp_path / "state" / "state.db") as db:
        db.execute("UPDATE pom_meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),))
    parts = make_parts(state_dir=tmp_path / "state")
    order_id = seed.draft_orders["good_card"]
    async with Client(parts.server) as client:
        said = await fail(client, "finalize_order", {"order_id": order_id})
    assert said == (
        f"Error executing tool finalize_order: Order {order_id} was not charged: the server cannot use its approval "
        "store, so nothing was sent to Polar. "
        f"The database at sqlite:///{tmp_path}/state/state.db has schema version {SCHEMA_VERSION + 1}, newer than "
        f"this server's {SCHEMA_VERSION}: upgrade polar-orders-mcp, or point it at another database. Tell the "
        f"operator. {STRAY_DRAFT}"
    )
    assert state.store.order(order_id).status == "draft"


async def test_a_postgresql_store_without_its_driver_says_which_extra_to_install(
    make_parts: Callable[..., ServerParts], seed: SeedInfo, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "asyncpg", None)  # as if the postgres extra were not installed
    parts = make_parts(database_url="postgresql://pom@127.0.0.1:1/pom")
    order_id = seed.draft_orders["good_card"]
    async with Client(parts.server) as client:
        said = await fail(client, "finalize_order", {"order_id": order_id})
    assert said == (
        f"Error executing tool finalize_order: Order {order_id} was not charged: the server cannot use its approval "
        f"store, so nothing was sent to Polar. {DRIVER_MISSING} Tell the operator. {STRAY_DRAFT}"
    )
