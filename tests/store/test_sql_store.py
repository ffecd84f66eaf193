"""The store's atomic operations: one winner for every decision and redemption, limits no race can pass."""

from __future__ import annotations

import gc
import multiprocessing
import threading
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

import anyio
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from polar_orders_mcp.store.database import async_url
from polar_orders_mcp.store.mandates import Granted, MandateStore
from polar_orders_mcp.store.records import (
    IN_FLIGHT,
    SCHEMA_VERSION,
    LimitExceeded,
    Mandate,
    MandateTerms,
    MandateUsage,
    NewApproval,
    NotPending,
    NotRedeemable,
    SchemaTooNew,
    StoreBelongsElsewhere,
    StoreUnavailable,
    TargetBusy,
)
from polar_orders_mcp.store.sql import SqlStore
from tests.conftest import Postgres

pytestmark = pytest.mark.anyio


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def request(target: str = "order-1", ttl: float = 900, amount: int = 1500) -> NewApproval:
    return NewApproval(
        tool="finalize_order",
        target=target,
        digest="d" * 64,
        facts={"amount": amount},
        summary="Charge $15.00",
        message="Charge $15.00",
        display=[("Amount", "$15.00", "amount")],
        amount=amount,
        currency="usd",
        client="stdio",
        session=None,
        channel="console",
        ttl=ttl,
    )


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Every store test runs on both backends: a fresh SQLite file, and a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    postgres: Postgres = request.getfixturevalue("postgres")
    return postgres.new_database()


@pytest.fixture
async def store(store_url: str, clock: Clock) -> Any:
    opened = SqlStore(store_url, clock=clock)
    yield opened
    await opened.close()


async def test_an_approval_is_decided_once(store: SqlStore) -> None:
    approval = await store.create_approval(request())
    decided = await store.decide(approval.id, approve=True, by="ada", redeem_window=300)
    with pytest.raises(NotPending) as again:
        await store.decide(approval.id, approve=False, by="bob", redeem_window=300)
    assert decided.state == "approved" and decided.decided_by == "ada"
    assert again.value.state == "approved"
    assert (await store.get_approval(approval.id)).decided_by == "ada"  # type: ignore[union-attr]


async def test_of_many_concurrent_redemptions_exactly_one_wins(store: SqlStore) -> None:
    approval = await store.create_approval(request())
    await store.decide(approval.id, approve=True, by="ada", redeem_window=300)
    outcomes: list[str] = []

    async def redeem() -> None:
        try:
            await store.redeem(approval.id, digest=approval.digest)
            outcomes.append("used it")
        except NotRedeemable as exc:
            outcomes.append(exc.state)

    async with anyio.create_task_group() as group:
        for _ in range(20):
            group.start_soon(redeem)
    assert outcomes.count("used it") == 1 and outcomes.count("used") == 19


async def test_redeeming_needs_an_approval_for_the_same_facts_in_time(store: SqlStore, clock: Clock) -> None:
    pending = await store.create_approval(request("a"))
    with pytest.raises(NotRedeemable, match="pending"):
        await store.redeem(pending.id, digest=pending.digest)
    approved = await store.create_approval(request("b"))
    await store.decide(approved.id, approve=True, by="ada", redeem_window=300)
    with pytest.raises(NotRedeemable, match="for other facts"):
        await store.redeem(approved.id, digest="e" * 64)
    clock.now += 901
    with pytest.raises(NotRedeemable, match="expired"):
        await store.redeem(approved.id, digest=approved.digest)


async def test_an_approval_is_used_up_to_its_expiry_and_not_at_it(store: SqlStore, clock: Clock) -> None:
    """The expiry is exclusive, as the approval reads it (state_at): at that very instant it is expired."""
    early, late = await _approved(store, "order-1"), await _approved(store, "order-2")
    clock.now = early.expires_at - 0.001
    assert (await store.redeem_and_start(early.id, digest=early.digest, **_act("order-1"))).state == "used"
    clock.now = late.expires_at
    with pytest.raises(NotRedeemable, match="expired"):
        await store.redeem_and_start(late.id, digest=late.digest, **_act("order-2"))
    assert await store.spent("usd") == 1500


async def test_a_request_cannot_be_decided_after_it_expired(store: SqlStore, clock: Clock) -> None:
    approval = await store.create_approval(request(ttl=60))
    clock.now += 61
    with pytest.raises(NotPending) as late:
        await store.decide(approval.id, approve=True, by="ada", redeem_window=300)
    assert late.value.state == "expired"
    assert [a.id for a in await store.list_approvals(states=["expired"])] == [approval.id]


async def test_a_request_is_decided_up_to_its_expiry_and_not_at_it(store: SqlStore, clock: Clock) -> None:
    """The expiry is exclusive for a decision too: at that very instant the request is expired, and stays pending."""
    early, late = await store.create_approval(request("order-1")), await store.create_approval(request("order-2"))
    clock.now = early.expires_at - 0.001
    assert (await store.decide(early.id, approve=True, by="ada", redeem_window=300)).state == "approved"
    clock.now = late.expires_at
    with pytest.raises(NotPending) as refused:
        await store.decide(late.id, approve=True, by="ada", redeem_window=300)
    assert (refused.value.state, (await store.get_approval(late.id)).state) == ("expired", "pending")  # type: ignore[union-attr]


async def test_an_approval_decided_late_still_has_time_to_be_used(store: SqlStore, clock: Clock) -> None:
    approval = await store.create_approval(request(ttl=60))
    clock.now += 59
    decided = await store.decide(approval.id, approve=True, by="ada", redeem_window=300)
    assert decided.expires_at == clock.now + 300
    clock.now += 200
    assert (await store.redeem(approval.id, digest=approval.digest)).state == "used"


async def test_concurrent_acts_never_pass_the_daily_limit(store: SqlStore) -> None:
    outcomes: list[str] = []

    async def act(n: int) -> None:
        try:
            await store.start_act(
                approval_id=f"a{n}",
                tool="finalize_order",
                target=f"o{n}",
                currency="usd",
                amount=1500,
                per_charge=None,
                daily=10_000,
                seen=0,
            )
            outcomes.append("started")
        except LimitExceeded as exc:
            outcomes.append(exc.kind)

    async with anyio.create_task_group() as group:
        for n in range(20):
            group.start_soon(act, n)
    assert outcomes.count("started") == 6 and outcomes.count("daily") == 14
    assert await store.spent("usd") == 9000


async def test_concurrent_acts_under_one_standing_approval_never_pass_its_budget(store: SqlStore) -> None:
    mandates = MandateStore(store)
    terms = MandateTerms(("finalize_order",), "usd", max_per_act=1500, total_budget=6000)
    mandate = await mandates.create(terms, by="ada", ttl=3600)
    granted: list[str] = []

    def fit(mandate: Mandate, used: MandateUsage) -> str | None:
        return "its budget is used" if used.total + 1500 > 6000 else None

    async def take(n: int) -> None:
        if isinstance(await mandates.take(request(f"o{n}"), fit, window=60), Granted):
            granted.append(f"o{n}")

    async with anyio.create_task_group() as group:
        for n in range(20):
            group.start_soon(take, n)
    assert len(granted) == 4
    assert (await mandates.usage(mandate.id)).total == 6000


async def test_a_failed_act_frees_its_amount_and_old_acts_age_out(store: SqlStore, clock: Clock) -> None:
    await store.start_act(
        approval_id="a", tool="t", target="o", currency="usd", amount=1500, per_charge=None, daily=None, seen=0
    )
    await store.start_act(
        approval_id="b", tool="t", target="o2", currency="usd", amount=700, per_charge=None, daily=None, seen=0
    )
    await store.finish_act("b", "failed")
    assert await store.spent("usd") == 1500
    clock.now += 86_401
    assert await store.spent("usd") == 0


async def test_an_act_counts_against_the_day_until_exactly_24_hours_after_it_started(
    store: SqlStore, clock: Clock
) -> None:
    started = clock.now
    await store.start_act(approval_id="a", **_act("order-0", 700))
    clock.now = started + 86_400 - 0.5
    counted = await store.spent("usd")
    clock.now = started + 86_400
    assert (counted, await store.spent("usd")) == (700, 0)


async def test_the_audit_chain_stays_one_chain_under_concurrent_appends(store: SqlStore) -> None:
    async with anyio.create_task_group() as group:
        for n in range(30):
            group.start_soon(store.append_audit, {"n": n})
    from polar_orders_mcp.audit_cli import check_chain

    records = await store.audit_records()
    assert [r.seq for r in records] == list(range(1, 31))
    assert check_chain(records, await store.audit_head()) == (30, None)


async def execute(url: str, *statements: str) -> list[Any]:
    """Run SQL on the store's database behind its back, as an operator (or an attacker) could."""
    engine = create_async_engine(async_url(url), poolclass=NullPool)
    rows: list[Any] = []
    try:
        async with engine.begin() as conn:
            for statement in statements:
                result = await conn.execute(sa.text(statement))
                rows.append(result.all() if result.returns_rows else None)
        return rows
    finally:
        await engine.dispose()


async def test_a_database_from_a_newer_version_is_refused(store_url: str) -> None:
    first = SqlStore(store_url)
    await first.create_approval(request())
    await first.close()
    await execute(store_url, f"UPDATE pom_meta SET value = '{SCHEMA_VERSION + 1}' WHERE key = 'schema_version'")
    newer = SqlStore(store_url)
    with pytest.raises(SchemaTooNew) as refused:
        await newer.open()
    assert str(refused.value) == (
        f"The database at {newer.url_for_humans} has schema version {SCHEMA_VERSION + 1}, newer than this "
        f"server's {SCHEMA_VERSION}: upgrade polar-orders-mcp, or point it at another database."
    )
    with pytest.raises(SchemaTooNew):  # every later use refuses too
        await newer.get_approval("apr_x")
    assert await execute(store_url, "SELECT value FROM pom_meta WHERE key = 'schema_version'") == [
        [(str(SCHEMA_VERSION + 1),)]
    ]


async def test_a_database_of_schema_1_is_upgraded_on_start(store_url: str) -> None:
    first = SqlStore(store_url)
    kept = await first.create_approval(request())
    await first.close()
    # Schema 1 as it was: VARCHAR lengths on the free-text columns (which only PostgreSQL enforces).
    downgrade = ["UPDATE pom_meta SET value = '1' WHERE key = 'schema_version'"]
    if store_url.startswith("postgresql"):
        downgrade += [
            "ALTER TABLE pom_approvals ALTER COLUMN session TYPE varchar(256), "
            "ALTER COLUMN decided_by TYPE varchar(128)",
            "ALTER TABLE pom_acts ALTER COLUMN target TYPE varchar(256)",
        ]
    downgrade.append("DROP INDEX pom_acts_by_target")  # schema 3's
    downgrade.append("ALTER TABLE pom_approvals DROP COLUMN boot")  # schema 4's
    await execute(store_url, *downgrade)
    upgraded = SqlStore(store_url)
    try:
        await upgraded.open()
        long_session = await upgraded.create_approval(replace(request(), session="s" * 1000))
        decided = await upgraded.decide(long_session.id, approve=True, by="b" * 300, redeem_window=300)
        assert (await upgraded.get_approval(kept.id)) == replace(kept, boot=None)
    finally:
        await upgraded.close()
    assert decided.session == "s" * 1000 and decided.decided_by == "b" * 300
    indexes = (
        "SELECT indexname FROM pg_indexes WHERE indexname = 'pom_acts_by_target'"
        if store_url.startswith("postgresql")
        else "SELECT name FROM sqlite_master WHERE type = 'index' AND name = 'pom_acts_by_target'"
    )
    assert await execute(store_url, indexes) == [[("pom_acts_by_target",)]]
    assert await execute(store_url, "SELECT value FROM pom_meta WHERE key = 'schema_version'") == [
        [(str(SCHEMA_VERSION),)]
    ]


async def test_replicas_starting_at_once_create_the_schema_once(store_url: str) -> None:
    stores = [SqlStore(store_url) for _ in range(6)]
    try:
        async with anyio.create_task_group() as group:
            for store in stores:
                group.start_soon(store.open)
        made = [await store.create_approval(request(f"order-{n}")) for n, store in enumerate(stores)]
        seen = await stores[0].list_approvals(states=["pending"])
    finally:
        for store in stores:
            await store.close()
    assert sorted(a.id for a in seen) == sorted(a.id for a in made)
    assert await execute(store_url, "SELECT count(*) FROM pom_meta", "SELECT seq FROM pom_audit_head") == [
        [(1,)],
        [(0,)],
    ]


async def test_text_is_kept_alike_by_both_databases(store: SqlStore) -> None:
    """Lengths, NUL characters and lone surrogates: what SQLite keeps and PostgreSQL refuses."""
    made = await store.create_approval(
        replace(request(), session="s" * 5000, client="c" * 500, summary="a\x00b", message="m\ud800")
    )
    again = await store.get_approval(made.id)
    assert again == made
    assert (again.session, again.client) == ("s" * 5000, "c" * 500)  # type: ignore[union-attr]
    assert (again.summary, again.message) == ("a\N{REPLACEMENT CHARACTER}b", "m?")  # type: ignore[union-attr]
    for made_up in ("apr_\x00", "x" * 1000, "apr_\u00e9", "\ud800"):
        assert await store.get_approval(made_up) is None


def test_a_store_used_again_from_a_new_event_loop_reconnects(store_url: str) -> None:
    with warnings.catch_warnings():
        # The first loop's idle PostgreSQL connection cannot be closed once that loop is gone: it is let
        # go, and its socket closed when collected (with a ResourceWarning). A server has one loop.
        warnings.simplefilter("ignore", ResourceWarning)
        two_loops(store_url)
        gc.collect()


def two_loops(store_url: str) -> None:
    store = SqlStore(store_url)

    async def make() -> str:
        return (await store.create_approval(request())).id

    async def read(approval_id: str) -> str | None:
        found = await store.get_approval(approval_id)
        return found.id if found else None

    made = anyio.run(make)
    assert anyio.run(read, made) == made  # a second loop: the first one's pool is gone with it

    async def last() -> str | None:
        try:
            return await read(made)
        finally:
            await store.close()

    assert anyio.run(last) == made


async def test_an_unreachable_database_is_reported_without_its_password() -> None:
    store = SqlStore("postgresql://pom:hunter2-secret@127.0.0.1:1/pom")
    with pytest.raises(StoreUnavailable) as failed:
        await store.open()
    message = str(failed.value)
    assert message.startswith("the store at postgresql://pom:***@127.0.0.1:1/pom failed (ConnectionRefusedError")
    assert "hunter2" not in message


async def test_the_postgresql_url_is_read_as_libpq_reads_it(postgres: Postgres) -> None:
    """`sslmode` and the other libpq parameters reach the driver (SQLAlchemy would pass them on as
    keywords asyncpg does not take)."""
    url = postgres.new_database()
    plain = SqlStore(url + "?sslmode=disable&application_name=pom-test")
    try:
        await plain.open()
    finally:
        await plain.close()
    required = SqlStore(url + "?sslmode=require")  # the test server speaks no TLS
    with pytest.raises(StoreUnavailable, match="rejected SSL upgrade"):
        await required.open()


def _redeem_all(url: str, ids: list[str], digest: str, go: Any, results: Any) -> None:
    async def run() -> int:
        store = SqlStore(url)
        await store.get_approval(ids[0])  # connected and ready before the start
        go.wait(30)  # both connected: neither starts before the other is ready
        won = 0
        for approval_id in ids:
            try:
                await store.redeem(approval_id, digest=digest)
                won += 1
            except NotRedeemable:
                pass
            # A breath between redeems: SQLite's busy wait backs off, so a process looping flat out can take
            # the write lock every time and leave the other none to race for.
            await anyio.sleep(0.001)
        await store.close()
        return won

    results.put(anyio.run(run))


async def test_two_processes_sharing_one_database_redeem_each_approval_once(store_url: str) -> None:
    store = SqlStore(store_url)
    ids = []
    for n in range(200):
        approval = await store.create_approval(request(f"order-{n}"))
        await store.decide(approval.id, approve=True, by="ada", redeem_window=300)
        ids.append(approval.id)
    await store.close()
    context = multiprocessing.get_context("spawn")
    results, go = context.Queue(), context.Barrier(2)
    # The two go through the same approvals from opposite ends, so they meet in the middle and race there.
    # Two hundred: a process that is late to start (a busy machine) still meets the other before the end.
    processes = [
        context.Process(target=_redeem_all, args=(store_url, order, "d" * 64, go, results))
        for order in (ids, ids[::-1])
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=60)
    wins = [results.get(timeout=5) for _ in processes]
    assert sum(wins) == len(ids) and min(wins) > 0, wins


async def test_sqlite_keeps_a_connection_between_transactions(tmp_path: Path) -> None:
    """A transaction on SQLite reuses the loop's connection instead of opening the file (a thread, four
    pragmas) again."""
    opened: list[object] = []

    def count(*_: object) -> None:
        opened.append(1)

    sa.event.listen(sa.pool.Pool, "connect", count)
    store = SqlStore(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        made = await store.create_approval(request())
        for _ in range(5):
            await store.get_approval(made.id)
            await store.set_outcome(made.id, "done")
    finally:
        sa.event.remove(sa.pool.Pool, "connect", count)
        await store.close()
    assert len(opened) == 1


def _sqlite_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if "_connection_worker_thread" in t.name}


def test_a_new_event_loop_closes_the_sqlite_connections_kept_by_the_old_one(tmp_path: Path) -> None:
    """A connection belongs to its loop: the next loop closes the ones the old loop left in the pool."""
    before = _sqlite_threads()
    store = SqlStore(f"sqlite:///{tmp_path / 'state.db'}")

    async def make() -> str:
        return (await store.create_approval(request())).id

    async def read_and_close(approval_id: str) -> bool:
        try:
            return await store.get_approval(approval_id) is not None
        finally:
            await store.close()

    made = anyio.run(make)
    kept = _sqlite_threads() - before  # the first loop's connection, kept after its loop ended
    assert anyio.run(read_and_close, made)
    for thread in kept:
        thread.join(timeout=5)
    assert (len(kept), [t for t in kept if t.is_alive()]) == (1, [])


async def _approved(store: SqlStore, target: str, amount: int = 1500) -> Any:
    made = await store.create_approval(request(target, amount=amount))
    return await store.decide(made.id, approve=True, by="ada", redeem_window=300)


def _act(target: str, amount: int = 1500, daily: int | None = None, seen: int = 0) -> dict[str, Any]:
    return {
        "tool": "finalize_order",
        "target": target,
        "currency": "usd",
        "amount": amount,
        "per_charge": None,
        "daily": daily,
        "seen": seen,
    }


async def test_of_many_concurrent_redemptions_with_their_acts_exactly_one_wins_and_counts(store: SqlStore) -> None:
    approval = await _approved(store, "order-1")
    outcomes: list[str] = []

    async def redeem() -> None:
        try:
            await store.redeem_and_start(approval.id, digest=approval.digest, **_act("order-1"))
            outcomes.append("used it")
        except NotRedeemable as exc:
            outcomes.append(exc.state)

    async with anyio.create_task_group() as group:
        for _ in range(20):
            group.start_soon(redeem)
    assert (outcomes.count("used it"), outcomes.count("used"), await store.spent("usd")) == (1, 19, 1500)


async def test_redeeming_with_the_act_refuses_other_facts_and_counts_nothing(store: SqlStore) -> None:
    approval = await _approved(store, "order-1")
    with pytest.raises(NotRedeemable, match="for other facts"):
        await store.redeem_and_start(approval.id, digest="e" * 64, **_act("order-1"))
    assert ((await store.get_approval(approval.id)).state, await store.spent("usd")) == ("approved", 0)  # type: ignore[union-attr]


async def test_concurrent_redemptions_of_many_approvals_never_pass_the_daily_limit(store: SqlStore) -> None:
    made = [await _approved(store, f"order-{n}") for n in range(20)]
    outcomes: list[str] = []

    async def redeem(n: int) -> None:
        try:
            await store.redeem_and_start(made[n].id, digest=made[n].digest, **_act(f"order-{n}", daily=10_000))
            outcomes.append("started")
        except LimitExceeded as exc:
            outcomes.append(exc.kind)

    async with anyio.create_task_group() as group:
        for n in range(20):
            group.start_soon(redeem, n)
    assert (outcomes.count("started"), outcomes.count("daily"), await store.spent("usd")) == (6, 14, 9000)


async def test_an_approval_refused_by_the_limit_at_the_act_is_used_up_and_counts_nothing(store: SqlStore) -> None:
    approval = await _approved(store, "order-1", amount=20_000)
    with pytest.raises(LimitExceeded):
        await store.redeem_and_start(approval.id, digest=approval.digest, **_act("order-1", 20_000, daily=10_000))
    after = await store.get_approval(approval.id)
    assert (after.state, after.outcome, await store.spent("usd")) == ("used", "refused_limit", 0)  # type: ignore[union-attr]


async def test_a_request_over_the_daily_limit_is_not_recorded(store: SqlStore) -> None:
    await store.start_act(approval_id="a", **_act("order-0", 9_000))
    with pytest.raises(LimitExceeded) as refused:
        await store.request_approval(request("order-1"), daily=10_000, audit=lambda a: {"approval": a.id})
    assert (refused.value.used, await store.list_approvals(states=["pending"]), await store.audit_tail(5)) == (
        9_000,
        [],
        [],
    )


async def test_a_request_and_its_audit_record_are_written_together(store: SqlStore) -> None:
    requested = await store.request_approval(request("order-1"), daily=10_000, audit=lambda a: {"approval": a.id})
    made, record = requested.approval, requested.record
    assert await store.audit_tail(5) == [record] and record is not None and made is not None
    assert record.entry == {"approval": made.id}


async def test_settling_an_act_sets_the_outcome_and_chains_the_audit_record(store: SqlStore) -> None:
    approval = await _approved(store, "order-1")
    await store.redeem_and_start(approval.id, digest=approval.digest, **_act("order-1"))
    record = await store.finish_act(approval.id, "done", outcome="done", audit={"outcome": "done"})
    after = await store.get_approval(approval.id)
    assert (after.outcome, (await store.acts_for("finalize_order", "order-1"))[0].state) == ("done", "done")  # type: ignore[union-attr]
    assert await store.audit_tail(5) == [record]


async def test_the_console_decides_only_what_its_judge_allows_by_the_sessions_approver(store: SqlStore) -> None:
    await store.create_console_session(token_hash="h" * 64, approver="ada", csrf="c", ttl=60)
    made = await store.create_approval(request())
    seen: list[tuple[Any, Any]] = []

    def leave(session: Any, approval: Any) -> None:
        seen.append((session.approver, approval.state))
        return None

    await store.decide_in_console("h" * 64, made.id, leave, redeem_window=300)
    _, decided = await store.decide_in_console("h" * 64, made.id, lambda s, a: True, redeem_window=300)
    with pytest.raises(NotPending):
        await store.decide_in_console("h" * 64, made.id, lambda s, a: False, redeem_window=300)
    assert (seen, decided.state, decided.decided_by) == ([("ada", "pending")], "approved", "ada")  # type: ignore[union-attr]


async def test_an_act_over_the_per_charge_limit_is_refused_and_counts_nothing(store: SqlStore) -> None:
    """Checked again at the act: the limit may have been lowered since the request was approved."""
    approval = await _approved(store, "order-1", amount=20_000)
    with pytest.raises(LimitExceeded) as refused:
        await store.redeem_and_start(
            approval.id, digest=approval.digest, **{**_act("order-1", 20_000), "per_charge": 10_000}
        )
    assert (refused.value.kind, await store.spent("usd")) == ("per_charge", 0)


async def test_an_approval_is_read_with_the_days_spend_in_its_currency(store: SqlStore) -> None:
    approval = await _approved(store, "order-1")
    await store.start_act(approval_id="a", **_act("order-0", 700))
    await store.start_act(approval_id="b", **{**_act("order-2", 900), "currency": "eur"})
    assert await store.approval_with_spent(approval.id) == (approval, 700, 0)


async def test_an_expired_console_session_is_read_as_signed_out(store: SqlStore, clock: Clock) -> None:
    await store.create_console_session(token_hash="h" * 64, approver="ada", csrf="c", ttl=60)
    made = await store.create_approval(request())
    clock.now += 61
    assert (await store.console_view("h" * 64, made.id)) == (None, made, None)


async def test_the_per_charge_limit_at_the_act_holds_at_its_exact_boundary(store: SqlStore) -> None:
    """A move of exactly the limit passes; one minor unit more is refused and counts nothing."""
    at, over = await _approved(store, "order-1", amount=10_000), await _approved(store, "order-2", amount=10_001)
    await store.redeem_and_start(at.id, digest=at.digest, **{**_act("order-1", 10_000), "per_charge": 10_000})
    with pytest.raises(LimitExceeded) as refused:
        await store.redeem_and_start(over.id, digest=over.digest, **{**_act("order-2", 10_001), "per_charge": 10_000})
    assert (refused.value.kind, await store.spent("usd")) == ("per_charge", 10_000)


async def test_the_daily_limit_at_the_act_holds_at_its_exact_boundary(store: SqlStore) -> None:
    """Moves that add up to exactly the day's limit pass; one minor unit more is refused and counts nothing."""
    first, second, third = [await _approved(store, f"order-{n}", amount=a) for n, a in ((1, 6_000), (2, 4_000), (3, 1))]
    await store.redeem_and_start(first.id, digest=first.digest, **_act("order-1", 6_000, daily=10_000))
    await store.redeem_and_start(second.id, digest=second.digest, **_act("order-2", 4_000, daily=10_000))
    with pytest.raises(LimitExceeded) as refused:
        await store.redeem_and_start(third.id, digest=third.digest, **_act("order-3", 1, daily=10_000))
    assert (refused.value.kind, refused.value.used, await store.spent("usd")) == ("daily", 10_000, 10_000)


async def test_an_act_on_a_target_with_another_act_in_flight_is_refused_and_its_approval_kept(
    store: SqlStore, clock: Clock
) -> None:
    first, second = await _approved(store, "order-1"), await _approved(store, "order-1")
    seen = await store.target_version("order-1")
    await store.redeem_and_start(first.id, digest=first.digest, **_act("order-1", seen=seen))
    with pytest.raises(TargetBusy) as busy:
        await store.redeem_and_start(second.id, digest=second.digest, **_act("order-1", seen=seen + 1))
    assert busy.value.why == "in flight"
    assert (await store.get_approval(second.id)).state == "approved"  # type: ignore[union-attr]
    assert await store.spent("usd") == 1500
    # An act started and never settled (its process died) stops holding the target after IN_FLIGHT seconds.
    clock.now += IN_FLIGHT
    third = await _approved(store, "order-1")
    later = await store.redeem_and_start(third.id, digest=third.digest, **_act("order-1", seen=seen + 1))
    assert later.state == "used"


async def test_an_act_on_a_target_acted_on_since_its_version_was_read_is_refused(store: SqlStore) -> None:
    first, second = await _approved(store, "order-1"), await _approved(store, "order-1")
    seen = await store.target_version("order-1")
    await store.redeem_and_start(first.id, digest=first.digest, **_act("order-1", seen=seen))
    await store.finish_act(first.id, "done")
    with pytest.raises(TargetBusy) as busy:
        await store.redeem_and_start(second.id, digest=second.digest, **_act("order-1", seen=seen + 1))
    assert busy.value.why == "acted on since"
    with pytest.raises(TargetBusy):  # an off-mode act, with no approval, is held to the same rule
        await store.start_act(approval_id="off_1", **_act("order-1", seen=seen))
    fresh = await store.target_version("order-1")
    assert fresh == seen + 2  # started, then settled
    redeemed = await store.redeem_and_start(second.id, digest=second.digest, **_act("order-1", seen=fresh))
    assert redeemed.state == "used"


async def test_acts_on_other_targets_do_not_hold_each_other(store: SqlStore) -> None:
    one, other = await _approved(store, "order-1"), await _approved(store, "order-2")
    await store.redeem_and_start(one.id, digest=one.digest, **_act("order-1"))
    assert (await store.redeem_and_start(other.id, digest=other.digest, **_act("order-2"))).state == "used"
    # A long target gets a lock row of its own too (lock names are at most 64 characters).
    long_a, long_b = "x" * 80 + "a", "x" * 80 + "b"
    await store.start_act(approval_id="la", **_act(long_a))
    await store.start_act(approval_id="lb", **_act(long_b))
    assert await store.target_version(long_a) == 1 and await store.target_version(long_b) == 1


async def test_the_sqlite_file_is_readable_by_its_owner_alone(tmp_path: Path) -> None:
    """It holds customers' emails and names; whoever can write it can forge a console session."""
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    loose = tmp_path / "loose.db"
    loose.touch(mode=0o644)
    loose.chmod(0o644)
    for path in (shared / "state.db", loose):
        store = SqlStore(f"sqlite:///{path}")
        try:
            await store.create_approval(request())
        finally:
            await store.close()
        modes = {p.name: oct(p.stat().st_mode & 0o777) for p in path.parent.glob(path.name + "*")}
        assert set(modes.values()) == {"0o600"}, modes


async def test_no_number_of_newer_requests_hides_an_older_pending_one(store: SqlStore, clock: Clock) -> None:
    """The finding: the console read the newest 200 rows, so 210 new requests hid an older pending one."""
    oldest = await store.create_approval(request("order-0"))
    clock.now += 1
    for n in range(210):
        newer = await store.create_approval(replace(request(f"order-{n + 1}"), channel="form"))
        if n % 2:
            await store.decide(newer.id, approve=False, by="ada", redeem_window=300)
    pending = await store.list_approvals(states=["pending"], limit=5, channels=["console"])
    anything = await store.list_approvals(states=["pending"], limit=3)
    denied = await store.list_approvals(states=["denied"], limit=500)
    assert [a.id for a in pending] == [oldest.id]
    assert anything[0].id == oldest.id and len(anything) == 3
    assert len(denied) == 105 and all(a.state == "denied" for a in denied)
    clock.now += 900
    assert await store.list_approvals(states=["pending"], limit=5) == []
    assert oldest.id in {a.id for a in await store.list_approvals(states=["expired"], limit=500)}


async def test_a_store_of_another_polar_server_is_refused(store_url: str) -> None:
    """The finding: two servers sharing one state directory approved each other's requests, and a sandbox charge
    pushed production over its daily limit."""
    sandbox = SqlStore(store_url, owner="https://sandbox-api.polar.sh")
    await sandbox.open()
    await sandbox.close()
    production = SqlStore(store_url, owner="https://api.polar.sh")
    with pytest.raises(StoreBelongsElsewhere) as refused:
        await production.open()
    await production.close()
    reader = SqlStore(store_url)  # the audit command reads any store
    await reader.open()
    await reader.close()
    assert str(refused.value) == (
        f"The store at {production.url_for_humans} holds the approvals and spend of https://sandbox-api.polar.sh, "
        "and this server talks to https://api.polar.sh: give each Polar server its own store (--state-dir DIR, or "
        "its own POLAR_MCP_DATABASE_URL)."
    )


async def test_earlier_on_lists_the_decided_requests_for_the_same_call_and_target(
    store: SqlStore, clock: Clock
) -> None:
    denied = await store.create_approval(request("order-1"))
    await store.decide(denied.id, approve=False, by="ada", redeem_window=60, reason="not today")
    clock.now += 10
    undecided = await store.create_approval(request("order-1"))
    elsewhere = await store.create_approval(request("order-2"))
    await store.decide(elsewhere.id, approve=False, by="ada", redeem_window=60)
    clock.now += 10
    asked = await store.create_approval(request("order-1"))
    earlier = (await store.earlier_on(asked)).decided
    assert [(a.id, a.state, a.decided_by, a.reason) for a in earlier] == [(denied.id, "denied", "ada", "not today")]
    assert undecided.id not in [a.id for a in earlier] and (await store.earlier_on(denied)).decided == []
    clock.now += 86_400
    assert (await store.earlier_on(await store.create_approval(request("order-1")))).decided == []


async def test_earlier_on_keeps_to_the_same_call_on_the_same_target(store: SqlStore, clock: Clock) -> None:
    """Another tool's decision on the same target, and Polar's refusals of another call or target, are not this
    request's history; Polar's refusal of the same call on it is, once settled with its code."""
    other_tool = await store.create_approval(replace(request("order-1"), tool="create_refund"))
    await store.decide(other_tool.id, approve=False, by="ada", redeem_window=60)
    for key, tool, target, code in (
        ("a1", "finalize_order", "order-1", "PaymentFailed"),
        ("a2", "finalize_order", "order-2", "PaymentFailed"),
        ("a3", "create_refund", "order-1", "RefundsBlocked"),
        ("a4", "finalize_order", "order-1", None),
    ):
        await store.start_act(
            approval_id=key,
            tool=tool,
            target=target,
            currency="usd",
            amount=1500,
            per_charge=None,
            daily=None,
            seen=await store.target_version(target),
        )
        await store.finish_act(key, "failed", {"refusal": code} if code else None)
        clock.now += 1
    earlier = await store.earlier_on(await store.create_approval(request("order-1")))
    assert earlier.decided == [] and [(a.approval_id, a.detail) for a in earlier.refused] == [
        ("a1", {"refusal": "PaymentFailed"})
    ]


def _any_fit(mandate: Mandate, used: MandateUsage) -> str | None:
    return None


async def _holding_the_mandate_lock(store_url: str, mandate_id: str, *statements: str) -> Any:
    """A connection behind the store's back, in a transaction holding the mandate's lock (as a grant or a
    revocation in flight does), having run `statements`."""
    engine = create_async_engine(async_url(store_url), poolclass=NullPool)
    conn = await engine.connect()
    tx = await conn.begin()
    await conn.execute(sa.text("UPDATE pom_locks SET n = n + 1 WHERE name = :name"), {"name": f"mandate:{mandate_id}"})
    for statement in statements:
        await conn.execute(sa.text(statement))
    return engine, conn, tx


async def test_a_revocation_waits_for_a_grant_in_flight_under_its_mandate(store: SqlStore, store_url: str) -> None:
    # So that every grant the revocation did not stop is ordered before it (on PostgreSQL the lock does this;
    # SQLite serializes writers anyway).
    mandates = MandateStore(store)
    mandate = await mandates.create(MandateTerms(("finalize_order",), "usd", max_per_act=1500), by="ada", ttl=3600)
    assert isinstance(await mandates.take(request("o1"), _any_fit, window=60), Granted)
    engine, conn, tx = await _holding_the_mandate_lock(store_url, mandate.id)
    revoked = anyio.Event()

    async def revoke() -> None:
        await mandates.revoke(mandate.id, by="bob")
        revoked.set()

    try:
        async with anyio.create_task_group() as group:
            group.start_soon(revoke)
            await anyio.sleep(0.5)
            waited = not revoked.is_set()
            await tx.commit()
    finally:
        await conn.close()
        await engine.dispose()
    assert waited and revoked.is_set()


async def test_a_grant_that_waited_for_a_revocation_grants_nothing(
    store: SqlStore, store_url: str, clock: Clock
) -> None:
    mandates = MandateStore(store)
    mandate = await mandates.create(MandateTerms(("finalize_order",), "usd", max_per_act=1500), by="ada", ttl=3600)
    assert isinstance(await mandates.take(request("o1"), _any_fit, window=60), Granted)
    revoking = f"UPDATE pom_mandates SET revoked_at = {clock.now}, revoked_by = 'bob' WHERE id = '{mandate.id}'"
    engine, conn, tx = await _holding_the_mandate_lock(store_url, mandate.id, revoking)
    taken: list[Any] = []

    async def take() -> None:
        taken.append(await mandates.take(request("o2"), _any_fit, window=60))

    try:
        async with anyio.create_task_group() as group:
            group.start_soon(take)
            await anyio.sleep(0.5)
            await tx.commit()
    finally:
        await conn.close()
        await engine.dispose()
    assert not isinstance(taken[0], Granted)
