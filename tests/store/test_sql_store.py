"""The store's atomic operations: one winner for every decision and redemption, limits no race can pass."""

from __future__ import annotations

import multiprocessing
import sqlite3
from pathlib import Path
from typing import Any

import anyio
import pytest

from polar_orders_mcp.store.records import (
    SCHEMA_VERSION,
    LimitExceeded,
    NewApproval,
    NotPending,
    NotRedeemable,
    SchemaTooNew,
)
from polar_orders_mcp.store.sql import SqlStore

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


@pytest.fixture
async def store(tmp_path: Path, clock: Clock) -> Any:
    opened = SqlStore(f"sqlite:///{tmp_path / 'state.db'}", clock=clock)
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


async def test_a_request_cannot_be_decided_after_it_expired(store: SqlStore, clock: Clock) -> None:
    approval = await store.create_approval(request(ttl=60))
    clock.now += 61
    with pytest.raises(NotPending) as late:
        await store.decide(approval.id, approve=True, by="ada", redeem_window=300)
    assert late.value.state == "expired"
    assert [a.id for a in await store.list_approvals(states=["expired"])] == [approval.id]


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
            )
            outcomes.append("started")
        except LimitExceeded as exc:
            outcomes.append(exc.kind)

    async with anyio.create_task_group() as group:
        for n in range(20):
            group.start_soon(act, n)
    assert outcomes.count("started") == 6 and outcomes.count("daily") == 14
    assert await store.spent("usd") == 9000


async def test_a_failed_act_frees_its_amount_and_old_acts_age_out(store: SqlStore, clock: Clock) -> None:
    await store.start_act(
        approval_id="a", tool="t", target="o", currency="usd", amount=1500, per_charge=None, daily=None
    )
    await store.start_act(
        approval_id="b", tool="t", target="o", currency="usd", amount=700, per_charge=None, daily=None
    )
    await store.finish_act("b", "failed")
    assert await store.spent("usd") == 1500
    clock.now += 86_401
    assert await store.spent("usd") == 0


async def test_the_audit_chain_stays_one_chain_under_concurrent_appends(store: SqlStore) -> None:
    async with anyio.create_task_group() as group:
        for n in range(30):
            group.start_soon(store.append_audit, {"n": n})
    from polar_orders_mcp.audit_cli import check_chain

    records = await store.audit_records()
    assert [r.seq for r in records] == list(range(1, 31))
    assert check_chain(records, await store.audit_head()) == (30, None)


async def test_a_database_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    first = SqlStore(f"sqlite:///{path}")
    await first.create_approval(request())
    await first.close()
    with sqlite3.connect(path) as connection:
        connection.execute("UPDATE pom_meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),))
    newer = SqlStore(f"sqlite:///{path}")
    with pytest.raises(SchemaTooNew, match=rf"schema version {SCHEMA_VERSION + 1}, newer than this server's"):
        await newer.get_approval("apr_x")


def _redeem_all(path: str, ids: list[str], digest: str, go: Any, results: Any) -> None:
    async def run() -> int:
        store = SqlStore(f"sqlite:///{path}")
        await store.get_approval(ids[0])  # connected and ready before the start
        go.wait(30)
        won = 0
        for approval_id in ids:
            try:
                await store.redeem(approval_id, digest=digest)
                won += 1
            except NotRedeemable:
                pass
        await store.close()
        return won

    results.put(anyio.run(run))


async def test_two_processes_sharing_one_file_redeem_each_approval_once(tmp_path: Path) -> None:
    path = str(tmp_path / "state.db")
    store = SqlStore(f"sqlite:///{path}")
    ids = []
    for n in range(40):
        approval = await store.create_approval(request(f"order-{n}"))
        await store.decide(approval.id, approve=True, by="ada", redeem_window=300)
        ids.append(approval.id)
    await store.close()
    context = multiprocessing.get_context("spawn")
    results, go = context.Queue(), context.Event()
    # The two go through the same approvals from opposite ends, so they meet in the middle and race there.
    processes = [
        context.Process(target=_redeem_all, args=(path, order, "d" * 64, go, results)) for order in (ids, ids[::-1])
    ]
    for process in processes:
        process.start()
    go.set()
    for process in processes:
        process.join(timeout=60)
    wins = [results.get(timeout=5) for _ in processes]
    assert sum(wins) == 40 and min(wins) > 0, wins
