"""Which run of the server asked for each approval (schema 4), and the pending list read a page at a time."""

from __future__ import annotations

from dataclasses import replace

import pytest

from polar_orders_mcp.store.records import SCHEMA_VERSION
from polar_orders_mcp.store.sql import SqlStore
from tests.store.test_sql_store import Clock, clock, execute, request, store, store_url

pytestmark = pytest.mark.anyio
__all__ = ["clock", "store", "store_url"]  # fixtures of the store tests, on both backends


async def test_each_approval_records_the_run_that_asked_for_it(store_url: str) -> None:
    first = SqlStore(store_url)
    asked_first = await first.create_approval(request("order-1"))
    await first.close()
    restarted = SqlStore(store_url)
    try:
        asked_after = await restarted.create_approval(request("order-2"))
        read = [await restarted.get_approval(a.id) for a in (asked_first, asked_after)]
    finally:
        await restarted.close()
    assert first.boot != restarted.boot and first.started_at <= restarted.started_at
    assert [a.boot for a in read if a] == [first.boot, restarted.boot]


async def test_a_database_of_schema_3_gains_the_runs_and_keeps_its_approvals(store_url: str) -> None:
    old = SqlStore(store_url)
    kept = await old.create_approval(request("order-1"))
    await old.close()
    await execute(
        store_url,
        "ALTER TABLE pom_approvals DROP COLUMN boot",
        "UPDATE pom_meta SET value = '3' WHERE key = 'schema_version'",
    )
    upgraded = SqlStore(store_url)
    try:
        before = await upgraded.get_approval(kept.id)
        new = await upgraded.create_approval(request("order-2"))
    finally:
        await upgraded.close()
    assert before == replace(kept, boot=None) and new.boot == upgraded.boot
    version = await execute(store_url, "SELECT value FROM pom_meta WHERE key = 'schema_version'")
    assert version == [[(str(SCHEMA_VERSION),)]]


async def test_pending_requests_are_read_in_pages_that_together_hold_each_once(store: SqlStore, clock: Clock) -> None:
    made = []
    for n in range(7):
        made.append((await store.create_approval(request(f"order-{n}"))).id)
        clock.now += 1 if n != 3 else 0  # two asked at the same instant still keep one order
    pages = [await store.list_approvals(states=["pending"], limit=3, offset=at) for at in (0, 3, 6, 9)]
    assert [len(page) for page in pages] == [3, 3, 1, 0]
    read = [a for page in pages for a in page]
    assert sorted(a.id for a in read) == sorted(made)  # each once: the id orders those asked at one instant
    assert [a.created_at for a in read] == sorted(a.created_at for a in read)  # the longest waiting first
