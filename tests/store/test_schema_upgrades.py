"""A store written by 0.1 (schema 4) upgrades to this version's schema and keeps what it held; OAuth's tables,
who asked, and standing approvals then work on it."""

from __future__ import annotations

import logging
from dataclasses import replace

import pytest

from polar_orders_mcp.store import migrations
from polar_orders_mcp.store.mandates import MandateStore
from polar_orders_mcp.store.records import SCHEMA_VERSION, MandateTerms
from polar_orders_mcp.store.sql import SqlStore
from tests.store.test_sql_store import clock, execute, request, store_url

pytestmark = pytest.mark.anyio
__all__ = ["clock", "store_url"]  # fixtures of the store tests, on both backends


async def test_a_schema_4_store_upgrades_keeping_its_approvals(
    store_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    old = SqlStore(store_url)
    kept = await old.create_approval(request("order-1"))
    await old.close()
    await execute(
        store_url,
        "DROP INDEX pom_approvals_target",
        "ALTER TABLE pom_approvals DROP COLUMN reason",
        "ALTER TABLE pom_approvals DROP COLUMN client_name",
        "DROP INDEX pom_approvals_mandate",
        "ALTER TABLE pom_approvals DROP COLUMN mandate",
        "ALTER TABLE pom_approvals DROP COLUMN asked_by",
        "DROP TABLE pom_mandates",
        "DROP TABLE pom_oauth_tokens",
        "UPDATE pom_meta SET value = '4' WHERE key = 'schema_version'",
    )
    caplog.set_level(logging.WARNING)
    upgraded = SqlStore(store_url)
    try:
        before = await upgraded.get_approval(kept.id)
        asked = await upgraded.create_approval(replace(request("order-2"), asked_by="ada"))
        terms = MandateTerms(tools=("create_refund",), currency="usd", max_per_act=2000)
        made = await MandateStore(upgraded).create(terms, by="bob", ttl=60)
        listed = await MandateStore(upgraded).listed()
        denied = await upgraded.decide(asked.id, approve=False, by="bob", redeem_window=60, reason="not this one")
    finally:
        await upgraded.close()
    assert before == kept and asked.asked_by == "ada" and [m.id for m, _ in listed] == [made.id]
    assert denied.reason == "not this one"
    assert f"from schema 4 to {SCHEMA_VERSION}" in caplog.text
    version = await execute(store_url, "SELECT value FROM pom_meta WHERE key = 'schema_version'")
    assert version == [[(str(SCHEMA_VERSION),)]]


def test_the_newest_schema_step_is_the_version_every_server_records() -> None:
    # One fact: the version a new database records, and the one older servers compare against, is the head of
    # the steps; a new step without a new SCHEMA_VERSION (or the reverse) fails here.
    assert migrations.head() == SCHEMA_VERSION


async def test_a_store_from_before_the_migration_tool_upgrades_and_records_its_version(store_url: str) -> None:
    # A schema 5 store as 0.2.0's predecessors left it: no record of the migration tool's, no mandates.
    old = SqlStore(store_url)
    kept = await old.create_approval(request("order-1"))
    await old.close()
    await execute(
        store_url,
        "DROP TABLE pom_alembic_version",
        "DROP INDEX pom_approvals_mandate",
        "ALTER TABLE pom_approvals DROP COLUMN mandate",
        "UPDATE pom_meta SET value = '5' WHERE key = 'schema_version'",
    )
    upgraded = SqlStore(store_url)
    try:
        assert await upgraded.get_approval(kept.id) == kept
        terms = MandateTerms(tools=("create_refund",), currency="usd", max_per_act=2000)
        made = await MandateStore(upgraded).create(terms, by="bob", ttl=60)
        assert [m.id for m, _ in await MandateStore(upgraded).listed()] == [made.id]
    finally:
        await upgraded.close()
    recorded = await execute(store_url, "SELECT version_num FROM pom_alembic_version")
    assert recorded == [[(str(SCHEMA_VERSION),)]]


async def test_the_database_s_own_version_decides_which_steps_run(store_url: str) -> None:
    # The migration tool's record says 6 but the database says 5 (its column gone): the step to 6 runs again,
    # guarded, rather than trusting a record that is not the one every server reads.
    old = SqlStore(store_url)
    await old.open()
    await old.close()
    await execute(
        store_url,
        "DROP INDEX pom_approvals_mandate",
        "ALTER TABLE pom_approvals DROP COLUMN mandate",
        "UPDATE pom_meta SET value = '5' WHERE key = 'schema_version'",
    )
    upgraded = SqlStore(store_url)
    try:
        terms = MandateTerms(tools=("create_refund",), currency="usd", max_per_act=2000)
        await MandateStore(upgraded).create(terms, by="bob", ttl=60)
        granted = await upgraded.create_approval(replace(request("order-2")))
    finally:
        await upgraded.close()
    assert granted.mandate is None
