"""Two replicas behave as one server: approvals, charges, limits and the audit live in the one database,
so which replica a call lands on changes nothing, and a replica killed mid-call loses nothing."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys

import anyio
import asyncpg
import httpx2
import mcp_types as types
import pytest
from deploy.local import Topology
from mcp.client import Client

from polar_orders_mcp.audit_cli import check_chain
from polar_orders_mcp.signing import SigningKey
from polar_orders_mcp.store.records import SCHEMA_VERSION
from polar_orders_mcp.store.sql import SqlStore
from tests.conftest import Postgres
from tests.reliability.processes import Session
from tests.replicas.conftest import DAILY_LIMIT, Polar, agent, person
from tests.tools.conftest import call, error_text

pytestmark = pytest.mark.anyio

USED = re.compile(r"was not charged by this call: approval apr_\S+ (was already used at \S+ |is used \(another call)")


async def ask(client: Client, order_id: str) -> str:
    """The first call of a charge: nothing is done, a person is asked in the console. The approval id."""
    first = await call(client, "finalize_order", {"order_id": order_id})
    assert first["status"] == "approval_pending", first
    return str(first["approval"]["approval_id"])


async def charge(client: Client, order_id: str, approval_id: str) -> types.CallToolResult:
    return await client.call_tool("finalize_order", {"order_id": order_id, "approval_id": approval_id})


async def test_an_approval_granted_on_one_replica_is_used_once_wherever_the_call_lands(
    topology: Topology, polar: Polar
) -> None:
    a, b = (r.url for r in topology.replicas)
    order_id = polar.seed.draft_orders["good_card"]
    async with agent(topology, a) as on_a, agent(topology, b) as on_b, person(topology, a) as approver:
        approval_id = await ask(on_a, order_id)
        assert (await approver.sign_in()).status_code == 303  # signed in on replica A …
        approver.http.base_url = approver.origin = b  # … and deciding on replica B's console, same cookie
        assert (await approver.decide(approval_id, "approve")).status_code == 303
        charged = await charge(on_b, order_id, approval_id)
        again = await charge(on_a, order_id, approval_id)
    assert not charged.is_error, error_text(charged)
    assert charged.structured_content["status"] == "charged"  # type: ignore[index]
    assert USED.search(error_text(again)), error_text(again)
    assert (await polar.order(order_id))["status"] == "paid"
    assert await polar.charges(order_id) == 1


async def test_the_same_approval_raced_on_both_replicas_charges_once(topology: Topology, polar: Polar) -> None:
    a, b = (r.url for r in topology.replicas)
    order_id = polar.seed.draft_orders["good_card"]
    results: list[types.CallToolResult] = []
    async with agent(topology, a) as on_a, agent(topology, b) as on_b, person(topology, b) as approver:
        approval_id = await ask(on_a, order_id)
        await approver.approve(approval_id)

        async def race(client: Client) -> None:
            results.append(await charge(client, order_id, approval_id))

        async with anyio.create_task_group() as group:
            for client in (on_a, on_b) * 4:
                group.start_soon(race, client)
    won = [r for r in results if not r.is_error]
    lost = [error_text(r) for r in results if r.is_error]
    assert len(won) == 1 and len(lost) == 7
    assert all(USED.search(text) for text in lost), lost
    assert await polar.charges(order_id) == 1


async def test_a_daily_limit_holds_when_concurrent_charges_land_on_both_replicas(
    topology: Topology, polar: Polar
) -> None:
    a, b = (r.url for r in topology.replicas)
    orders = [await polar.new_draft() for _ in range(6)]
    results: dict[str, types.CallToolResult] = {}
    async with agent(topology, a) as on_a, agent(topology, b) as on_b, person(topology, a) as approver:
        clients = [on_a, on_b] * 3
        approvals = [await ask(client, order_id) for client, order_id in zip(clients, orders, strict=True)]
        for approval_id in approvals:
            await approver.approve(approval_id)

        async def act(client: Client, order_id: str, approval_id: str) -> None:
            results[order_id] = await charge(client, order_id, approval_id)

        async with anyio.create_task_group() as group:
            for client, order_id, approval_id in zip(clients, orders, approvals, strict=True):
                group.start_soon(act, client, order_id, approval_id)
    charged = [o for o, r in results.items() if not r.is_error]
    refused = {o: error_text(r) for o, r in results.items() if r.is_error}
    assert len(charged) == DAILY_LIMIT // 1500 == 3
    for order_id, text in refused.items():
        assert text.startswith(
            f"Error executing tool finalize_order: Order {order_id} was not charged: $15.00 would take the money "
            "moved in USD in the last 24 hours to $60.00, over this server's limit of $45.00 (--max-daily); "
            "$0.00 is left"
        ), text
    assert [await polar.charges(o) for o in orders] == [1 if o in charged else 0 for o in orders]
    store = SqlStore(topology.database_url)
    try:
        assert await store.spent("usd") == DAILY_LIMIT
    finally:
        await store.close()


async def test_the_audit_of_both_replicas_is_one_unbroken_chain(topology: Topology, polar: Polar) -> None:
    store = SqlStore(topology.database_url)
    try:
        before, _ = await store.audit_head()
        a, b = (agent(topology, r.url) for r in topology.replicas)
        async with a as on_a, b as on_b, anyio.create_task_group() as group:
            for n in range(20):
                arguments = {"order_id": polar.seed.paid_order_id, "billing_name": f"Desk {n}"}
                group.start_soon(call, (on_a, on_b)[n % 2], "update_order", arguments)
        records = await store.audit_records()
        head = await store.audit_head()
    finally:
        await store.close()
    assert head[0] == before + 20
    assert check_chain(records, head) == (before + 20, None)
    assert sorted(r.entry["arguments"]["billing_name"] for r in records[before:]) == sorted(
        f"Desk {n}" for n in range(20)
    )
    key = SigningKey.from_text(topology.secrets.signing_key, "the replicas' key")
    verified = subprocess.run(
        [sys.executable, "-m", "polar_orders_mcp", "audit", "verify", "--public-key", json.dumps(key.public.jwk)],
        env={**os.environ, "POLAR_MCP_DATABASE_URL": topology.database_url},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert verified.returncode == 0, verified.stderr
    assert verified.stdout == (
        f"audit chain intact in {topology.database_url}: {before + 20} records, every hash matches, and every "
        f"signature (key {key.kid}) up to the head, record {before + 20}.\n"
    )


async def test_the_proxy_spreads_2026_calls_and_keeps_legacy_sessions_on_their_replica(
    topology: Topology, polar: Polar
) -> None:
    proxy = topology.proxy
    assert proxy is not None
    served = dict(proxy.served)
    async with agent(topology, topology.proxy_url) as through_proxy:
        for _ in range(6):
            await call(through_proxy, "list_orders", {"limit": 1})
    assert all(proxy.served[i] > served.get(i, 0) for i in (0, 1)), proxy.served
    auth = {"Authorization": f"Bearer {topology.secrets.http_token}"}
    owners = []
    async with httpx2.AsyncClient(headers=auth, timeout=30) as http:
        for _ in range(4):  # a request reaching another replica than the session's would be answered 404
            async with Session(http, topology.proxy_url) as legacy:
                for _ in range(3):
                    result = await legacy.call("get_order", {"order_id": polar.seed.paid_order_id})
                    assert not result["isError"], result
                owners.append(proxy.sessions[legacy.headers["mcp-session-id"]])
    assert sorted(owners) == [0, 0, 1, 1]  # the sessions themselves were spread
    assert proxy.sessions == {}  # each forgotten with its DELETE


async def test_a_charge_approved_through_the_proxy_is_done_once(topology: Topology, polar: Polar) -> None:
    order_id = polar.seed.draft_orders["good_card"]
    async with agent(topology, topology.proxy_url) as client, person(topology, topology.proxy_url) as approver:
        first = await call(client, "finalize_order", {"order_id": order_id})
        approval = first["approval"]
        assert approval["approve_at"] == f"{topology.proxy_url}/approvals/{approval['approval_id']}"
        await approver.approve(approval["approval_id"])
        charged = await charge(client, order_id, approval["approval_id"])
    assert not charged.is_error, error_text(charged)
    assert await polar.charges(order_id) == 1


async def test_a_replica_on_a_database_of_a_newer_schema_refuses_to_start(
    topology: Topology, postgres: Postgres
) -> None:
    url = postgres.new_database()
    store = SqlStore(url)
    try:
        await store.open()
    finally:
        await store.close()
    connection = await asyncpg.connect(url)
    try:
        await connection.execute("UPDATE pom_meta SET value = '99' WHERE key = 'schema_version'")
    finally:
        await connection.close()
    started = subprocess.run(
        [sys.executable, "-m", "polar_orders_mcp", "serve", "--transport", "http", "--port", "0"],
        env={**topology.env(), "POLAR_MCP_DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert started.returncode == 2
    assert started.stderr.endswith(
        f"polar-orders-mcp: The database at {url} has schema version 99, newer than this server's "
        f"{SCHEMA_VERSION}: upgrade polar-orders-mcp, or point it at another database.\n"
    )


async def test_a_replica_killed_mid_charge_loses_nothing_and_nothing_is_charged_twice(
    topology: Topology, polar: Polar
) -> None:
    """Killed once its charge request reached Polar: the approval is used and the act recorded as started,
    so the call retried on the other replica is refused, not sent again; Polar's charge stands, once."""
    a, b = topology.replicas
    order_id = polar.seed.draft_orders["good_card"]
    async with agent(topology, a.url) as on_a, person(topology, a.url) as approver:
        approval_id = await ask(on_a, order_id)
        await approver.approve(approval_id)
        await polar.fault(kind="latency", path="/v1/orders/{id}/finalize", method="POST", seconds=1.0)
        failed: list[BaseException] = []

        async def doomed() -> None:
            try:
                async with agent(topology, b.url) as on_b:
                    await charge(on_b, order_id, approval_id)
            except BaseException as exc:  # the server died under the call
                failed.append(exc)

        async with anyio.create_task_group() as group:
            group.start_soon(doomed)
            with anyio.fail_after(20):
                while await polar.charges(order_id) == 0:  # the charge request has reached Polar
                    await anyio.sleep(0.02)
            b.proc.send_signal(signal.SIGKILL)
            # Retried at once on the other replica, while Polar has not charged yet and the order is still
            # a draft: only the store stands between this call and a second charge.
            retried = await charge(on_a, order_id, approval_id)
            assert (await polar.order(order_id))["status"] == "draft"
        assert failed, "the call should have lost its server"
        with anyio.fail_after(20):
            while (await polar.order(order_id))["status"] != "paid":  # Polar finishes what it was sent
                await anyio.sleep(0.05)
    assert retried.is_error and USED.search(error_text(retried)), error_text(retried)
    assert await polar.charges(order_id) == 1
    store = SqlStore(topology.database_url)
    try:
        approval = await store.get_approval(approval_id)
        acts = await store.acts_for("finalize_order", order_id)
    finally:
        await store.close()
    assert approval is not None and approval.state == "used" and approval.outcome is None
    assert [(act.approval_id, act.state, act.amount) for act in acts] == [(approval_id, "started", 1500)]


async def test_parallel_refunds_on_both_replicas_stay_within_a_mandates_daily_budget(
    topology: Topology, polar: Polar
) -> None:
    """Eight refunds at once, spread over both replicas, under one standing approval whose daily budget holds
    three of them: three are done under it, the other five are asked about, and the budget is never exceeded."""
    from polar_orders_mcp.store.mandates import MandateStore
    from polar_orders_mcp.store.records import MandateTerms

    orders = [await polar.new_draft() for _ in range(8)]
    for order_id in orders:  # paid at Polar directly: $12.50 + $2.50 tax each
        assert (await polar.http.post(f"/v1/orders/{order_id}/finalize", json={})).status_code == 200
    store = SqlStore(topology.database_url)
    mandates = MandateStore(store)
    terms = MandateTerms(tools=("create_refund",), currency="usd", max_per_act=2000, daily_budget=360)
    standing = await mandates.create(terms, by="ada", ttl=3600)  # three refunds of $1.00 + $0.20 tax
    a, b = (r.url for r in topology.replicas)
    answers: dict[str, dict[str, object]] = {}
    try:
        async with agent(topology, a) as on_a, agent(topology, b) as on_b:

            async def refund(client: Client, order_id: str) -> None:
                answers[order_id] = await call(client, "create_refund", {"order_id": order_id, "amount": 100})

            async with anyio.create_task_group() as group:
                for n, order_id in enumerate(orders):
                    group.start_soon(refund, (on_a, on_b)[n % 2], order_id)
        used = await mandates.usage(standing.id)
    finally:
        await mandates.revoke(standing.id, by="ada")  # the module's later tests act with no mandate
        await store.close()
    done = sorted(o for o, answer in answers.items() if answer["status"] == "refunded")
    asked = sorted(o for o, answer in answers.items() if answer["status"] == "approval_pending")
    assert len(done) == 3 and len(asked) == 5
    assert all(standing.id in str(answers[o]["decided"]) for o in done)
    why = f"No standing approval covers it: {standing.id} (ada): $3.60 of its $3.60 a day is used, and this is $1.20."
    assert all(str(answers[o]["next_step"]).endswith(why) for o in asked)
    sent = (await polar.http.get("/_emulator/requests", params={"method": "POST", "path": "/v1/refunds/"})).json()
    assert sent["count"] == 3
    assert [(await polar.order(o))["refunded_amount"] for o in done] == [100] * 3
    assert (used.acts, used.today) == (3, 360)
