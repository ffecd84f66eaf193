"""The facts an irreversible call's audit record holds, whole, for each way the call can end."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from mcp.client import Client

from polar_orders_mcp.approvals.audit_facts import AuditFacts
from polar_orders_mcp.emulator.seed import SeedInfo
from polar_orders_mcp.emulator.state import EmulatorState
from tests.approvals.console_client import Person
from tests.approvals.form_person import person as approving_in_the_client
from tests.approvals.test_pinning import Window, parts_with
from tests.tools.conftest import call, fail

pytestmark = pytest.mark.anyio

# What changes from run to run, or is pinned by other tests (the chain: tests/approvals/test_audit.py).
VARYING = ("time", "seq", "prev", "hash", "sig", "writer", "session")


async def records(log: Path) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    return [{k: v for k, v in line.items() if k not in VARYING} for line in lines]


async def asked_and_decided(
    make_parts: Any, tmp_path: Path, tool: str, args: dict[str, Any], *, approve: bool, reason: str | None = None
) -> tuple[list[dict[str, Any]], str]:
    """Ask, a person decides in the console, call again: the call's records and the approval id."""
    log = tmp_path / "audit.jsonl"
    parts = make_parts(audit_log=str(log))
    async with Client(parts.server) as client, Person(parts.console) as person:
        approval_id = (await call(client, tool, args))["approval"]["approval_id"]
        if approve:
            await person.approve(approval_id)
        else:
            await person.deny(approval_id, reason)
        await client.call_tool(tool, {**args, "approval_id": approval_id})
    return await records(log), approval_id


def asked(tool: str, target: str, args: dict[str, Any], previewed: dict[str, Any], money: dict[str, Any]) -> dict:
    return {
        "tool": tool,
        "tier": "irreversible",
        "client": "stdio",
        "target": target,
        "arguments": args,
        "channel": "console",
        **money,
        "previewed": previewed,
        "outcome": "approval_pending",
    }


def decided(first: dict[str, Any], approval_id: str, **facts: Any) -> dict[str, Any]:
    """The record of the call that came back with the console's decision: the asking call's facts, its
    arguments with the approval id, who decided, and `facts`."""
    arguments = {**first["arguments"], "approval_id": "<given>"}
    return {**first, "arguments": arguments, "approval_id": approval_id, "approver": "approver", **facts}


async def test_a_denied_charge_records_who_denied_it_and_why(make_parts: Any, seed: SeedInfo, tmp_path: Path) -> None:
    order_id = seed.draft_orders["good_card"]
    found, approval_id = await asked_and_decided(
        make_parts, tmp_path, "finalize_order", {"order_id": order_id}, approve=False, reason="not this week"
    )
    previewed = found[0]["previewed"]
    assert previewed["order_id"] == order_id and previewed["amount"] == 1500
    money = {"amount": 1500, "currency": "usd"}
    first = asked("finalize_order", order_id, {"order_id": order_id}, previewed, money)
    assert found[0] == {**first, "approval_id": approval_id}
    said = found[1].pop("reason")
    assert said.startswith(f"Order {order_id} was not charged: approver denied it in the approval console at ")
    assert found[1] == decided(first, approval_id, approver_reason="not this week", outcome="not_done")


async def test_a_done_charge_records_the_approval_and_what_polar_said(
    make_parts: Any, seed: SeedInfo, tmp_path: Path
) -> None:
    order_id = seed.draft_orders["good_card"]
    found, approval_id = await asked_and_decided(
        make_parts, tmp_path, "finalize_order", {"order_id": order_id}, approve=True
    )
    previewed = found[0]["previewed"]
    money = {"amount": 1500, "currency": "usd"}
    first = asked("finalize_order", order_id, {"order_id": order_id}, previewed, money)
    assert found[0] == {**first, "approval_id": approval_id}
    assert found[1] == decided(first, approval_id, acted=True, polar_status="paid", polar_id=order_id, outcome="done")


async def test_a_charge_polar_declines_records_polars_refusal_code(
    make_parts: Any, seed: SeedInfo, tmp_path: Path
) -> None:
    order_id = seed.draft_orders["declining_card"]
    found, approval_id = await asked_and_decided(
        make_parts, tmp_path, "finalize_order", {"order_id": order_id}, approve=True
    )
    previewed = found[0]["previewed"]
    money = {"amount": previewed["amount"], "currency": "usd"}
    first = asked("finalize_order", order_id, {"order_id": order_id}, previewed, money)
    assert found[0] == {**first, "approval_id": approval_id}
    assert found[1] == decided(
        first,
        approval_id,
        acted=True,
        outcome="polar_error",
        status=found[1]["status"],
        error_code=found[1]["error_code"],
    )
    assert (found[1]["status"], found[1]["error_code"]) == (402, "PaymentFailed")


async def test_a_revocation_whose_outcome_is_unknown_records_it_so(
    make_parts: Any, seed: SeedInfo, state: EmulatorState, tmp_path: Path
) -> None:
    subscription_id = seed.subscriptions["active"]
    state.faults.add("status", "/v1/subscriptions/{id}", method="PATCH", status=503)
    found, approval_id = await asked_and_decided(
        make_parts, tmp_path, "revoke_subscription", {"subscription_id": subscription_id}, approve=True
    )
    previewed = found[0]["previewed"]
    first = asked("revoke_subscription", subscription_id, {"subscription_id": subscription_id}, previewed, {})
    assert found[0] == {**first, "approval_id": approval_id}
    said = found[1].pop("reason")
    assert said.startswith(f"Subscription {subscription_id} is still active, but Polar answered HTTP 503")
    assert found[1] == decided(first, approval_id, acted=True, outcome="unknown")


async def test_a_charge_under_confirm_off_records_that_nobody_was_asked(
    make_parts: Any, seed: SeedInfo, tmp_path: Path
) -> None:
    order_id = seed.draft_orders["good_card"]
    log = tmp_path / "audit.jsonl"
    parts = make_parts(audit_log=str(log), confirm="off")
    async with Client(parts.server) as client:
        await call(client, "finalize_order", {"order_id": order_id})
    found = await records(log)
    previewed = found[0]["previewed"]
    assert previewed["order_id"] == order_id
    assert found == [
        {
            "tool": "finalize_order",
            "tier": "irreversible",
            "client": "stdio",
            "target": order_id,
            "arguments": {"order_id": order_id},
            "channel": "off",
            "amount": 1500,
            "currency": "usd",
            "approver": "none (--confirm off)",
            "previewed": previewed,
            "acted": True,
            "polar_status": "paid",
            "polar_id": order_id,
            "outcome": "done",
        }
    ]


async def test_a_revocation_read_back_as_done_records_how_it_was_settled(
    make_parts: Any, seed: SeedInfo, state: EmulatorState, tmp_path: Path
) -> None:
    subscription_id = seed.subscriptions["active"]
    state.faults.add("drop_after", "/v1/subscriptions/{id}", method="PATCH")
    log = tmp_path / "audit.jsonl"
    parts = make_parts(audit_log=str(log), confirm="off")
    async with Client(parts.server) as client:
        await call(client, "revoke_subscription", {"subscription_id": subscription_id})
    [found] = await records(log)
    assert found == {
        "tool": "revoke_subscription",
        "tier": "irreversible",
        "client": "stdio",
        "target": subscription_id,
        "arguments": {"subscription_id": subscription_id},
        "channel": "off",
        "approver": "none (--confirm off)",
        "previewed": found["previewed"],
        "acted": True,
        "settled": "the answer was lost, and reading it back from Polar showed it was done",
        "polar_status": found["polar_status"],
        "polar_id": subscription_id,
        "outcome": "done",
    }
    assert found["previewed"]["subscription_id"] == subscription_id and found["polar_status"] == "canceled"


async def test_a_charge_approved_in_the_clients_form_records_both_rounds(
    make_parts: Any, seed: SeedInfo, tmp_path: Path
) -> None:
    order_id = seed.draft_orders["good_card"]
    log = tmp_path / "audit.jsonl"
    parts = make_parts(audit_log=str(log), confirm="elicit")
    async with Client(parts.server, elicitation_callback=approving_in_the_client) as client:
        await call(client, "finalize_order", {"order_id": order_id})
    found = await records(log)
    previewed = found[0]["previewed"]
    approval_id = found[0]["approval_id"]
    first = asked("finalize_order", order_id, {"order_id": order_id}, previewed, {"amount": 1500, "currency": "usd"})
    assert found == [
        {**first, "channel": "form", "approval_id": approval_id, "outcome": "approval_requested"},
        {
            **first,
            "channel": "form",
            "approval_id": approval_id,
            "approver": "stdio: the person approved it in the client",
            "acted": True,
            "polar_status": "paid",
            "polar_id": order_id,
            "outcome": "done",
        },
    ]


def test_a_fact_learnt_stays_when_a_later_step_learns_nothing_of_it() -> None:
    facts = AuditFacts()
    facts.note(approver="ada", approver_reason="fine")
    facts.note(approver=None, approver_reason=None, polar_id="order-1")
    assert facts.recorded() == {"approver": "ada", "approver_reason": "fine", "polar_id": "order-1"}


async def test_a_checkout_confirmed_by_its_secret_is_recorded_under_the_checkouts_id(
    make_parts: Any, seed: SeedInfo, tmp_path: Path
) -> None:
    secret = seed.open_checkout_client_secret
    log = tmp_path / "audit.jsonl"
    parts = make_parts(audit_log=str(log))
    address = {"country": "US", "state": "US-NY", "line1": "1 Main St", "city": "New York", "postal_code": "10001"}
    async with Client(parts.server) as client:
        await call(
            client,
            "update_checkout_by_secret",
            {
                "client_secret": secret,
                "customer_email": "p@example.com",
                "customer_billing_address": address,
            },
        )
        await call(client, "confirm_checkout", {"client_secret": secret, "payment_token": "tok_visa"})
    [asking] = [r for r in await records(log) if r["tool"] == "confirm_checkout"]
    assert (asking["target"], asking["outcome"]) == (seed.open_checkout_id, "approval_pending")
    assert asking["arguments"] == {"client_secret": "<given>", "payment_token": "<given>"}


async def test_a_charge_polar_made_otherwise_records_the_differences(
    emulator: Any, seed: SeedInfo, state: EmulatorState, tmp_path: Path
) -> None:
    order_id = seed.draft_orders["good_card"]

    async def polar_changes_the_amount() -> None:
        state.store.order(order_id).subtotal_amount += 5_998_500

    log = tmp_path / "audit.jsonl"
    parts = parts_with(emulator, Window(emulator, "/finalize", polar_changes_the_amount), tmp_path, audit_log=str(log))
    async with Client(parts.server) as client, Person(parts.console) as person:
        approval_id = (await call(client, "finalize_order", {"order_id": order_id}))["approval"]["approval_id"]
        await person.approve(approval_id)
        await fail(client, "finalize_order", {"order_id": order_id, "approval_id": approval_id})
    done = (await records(log))[-1]
    assert (done["outcome"], done["differences"]) == ("mismatch", ["approved $15.00, Polar charged $60,000.00"])
    assert (done["acted"], done["polar_id"], done["approval_id"]) == (True, order_id, approval_id)
