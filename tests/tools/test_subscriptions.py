"""Subscription tools through the MCP protocol: list, get, cancel at period end, undo it."""

from __future__ import annotations

import json
from typing import Any

import httpx2
import pytest
from mcp.client import Client
from mcp.server.mcpserver import MCPServer

from polar_orders_mcp.emulator.seed import SeedInfo
from polar_orders_mcp.emulator.state import EmulatorState
from polar_orders_mcp.server.app import build_server
from polar_orders_mcp.settings import Settings
from tests.polar.scripted import json_response
from tests.tools.conftest import call, fail

pytestmark = pytest.mark.anyio


async def test_list_and_get_subscriptions(server: MCPServer[Any], seed: SeedInfo, mode: str) -> None:
    async with Client(server, mode=mode) as client:
        ada = await call(
            client,
            "list_subscriptions",
            {"customer_id": seed.customers["good_card"], "status": ["active"], "limit": 100},
        )
        ending = await call(client, "list_subscriptions", {"cancel_at_period_end": True})
        one = await call(client, "get_subscription", {"subscription_id": seed.subscriptions["active"]})
    assert seed.subscriptions["active"] in {s["id"] for s in ada["items"]}
    assert {s["status"] for s in ada["items"]} == {"active"}
    assert [s["id"] for s in ending["items"]] == [seed.subscriptions["canceled_at_period_end"]]
    assert (one["price"], one["customer_supplied"]["email"], one["product"]["name"]) == (
        "$29.00 / month",
        "good-card@example.com",
        "Pro Monthly",
    )
    assert one["cancel_at_period_end"] is False and one["ends_at"] is None and one["current_period_end"]


async def test_cancel_at_period_end_is_idempotent_and_can_be_undone(
    server: MCPServer[Any], seed: SeedInfo, state: EmulatorState, mode: str
) -> None:
    subscription_id = seed.subscriptions["active"]
    args = {"subscription_id": subscription_id, "reason": "too_expensive", "comment": "Budget cuts"}
    async with Client(server, mode=mode) as client:
        first = await call(client, "cancel_subscription", args)
        again = await call(client, "cancel_subscription", {"subscription_id": subscription_id})
        undone = await call(client, "uncancel_subscription", {"subscription_id": subscription_id})
        nothing = await call(client, "uncancel_subscription", {"subscription_id": subscription_id})
    assert first["outcome"] == "scheduled" and first["subscription"]["cancel_at_period_end"] is True
    assert first["subscription"]["cancellation_reason"] == "too_expensive"
    assert first["subscription"]["ends_at"] == first["subscription"]["current_period_end"]
    assert "access lasts until then" in first["next_step"]
    assert again["outcome"] == "already_scheduled" and again["subscription"] == first["subscription"]
    assert undone["outcome"] == "resumed" and undone["subscription"]["cancel_at_period_end"] is False
    assert nothing["outcome"] == "not_scheduled" and "nothing changed" in nothing["next_step"]
    # Two cancels and two uncancels reached Polar as one PATCH each: the repeats changed nothing.
    assert len(state.faults.received("PATCH", "/v1/subscriptions/{id}")) == 2
    assert state.store.subscription(subscription_id).status == "active"


async def test_an_ended_subscription_can_be_neither_canceled_nor_resumed(
    server: MCPServer[Any], seed: SeedInfo, state: EmulatorState
) -> None:
    subscription_id = seed.subscriptions["revoked"]
    async with Client(server) as client:
        cancel = await fail(client, "cancel_subscription", {"subscription_id": subscription_id})
        resume = await fail(client, "uncancel_subscription", {"subscription_id": subscription_id})
    ended = state.store.subscription(subscription_id).ended_at
    assert ended is not None
    assert cancel == (
        f"Error executing tool cancel_subscription: Subscription {subscription_id} was not "
        f"canceled: it is canceled and has already ended ({ended.isoformat()}); there is nothing "
        "to cancel."
    )
    assert resume == (
        f"Error executing tool uncancel_subscription: Subscription {subscription_id} was not "
        f"resumed: it has already ended ({ended.isoformat()}), so it cannot be uncanceled. The "
        "customer must subscribe again."
    )
    assert state.faults.received("PATCH") == []


async def test_a_cancel_whose_answer_is_lost_is_read_back_not_repeated(
    emulator: Any, seed: SeedInfo, state: EmulatorState, mode: str
) -> None:
    subscription_id = seed.subscriptions["active"]
    state.faults.add("drop_after", "/v1/subscriptions/{id}", method="PATCH")
    server = build_server(Settings(emulator=True), transport=httpx2.ASGITransport(app=emulator))
    async with Client(server, mode=mode) as client:
        result = await call(client, "cancel_subscription", {"subscription_id": subscription_id})
    assert result["outcome"] == "already_scheduled" and result["subscription"]["cancel_at_period_end"] is True
    assert len(state.faults.received("PATCH", "/v1/subscriptions/{id}")) == 1


async def test_a_cancel_refused_by_polar_before_acting_says_it_is_safe_to_call_again(
    emulator: Any, seed: SeedInfo, state: EmulatorState
) -> None:
    subscription_id = seed.subscriptions["active"]
    state.faults.add("status", "/v1/subscriptions/{id}", method="PATCH", status=503)
    server = build_server(Settings(emulator=True), transport=httpx2.ASGITransport(app=emulator))
    async with Client(server) as client:
        message = await fail(client, "cancel_subscription", {"subscription_id": subscription_id})
    assert message == (
        f"Error executing tool cancel_subscription: Subscription {subscription_id} was not "
        f"canceled: Polar answered HTTP 503, and it is "
        "unchanged. It is safe to call again."
    )


class UncancelledFirst(httpx2.AsyncBaseTransport):
    """Another caller takes the cancellation back between the tool's read and its own PATCH. Polar then
    refuses the tool's uncancel: `answer` "polar" is the emulator's own answer (the bare 400 of Polar's server
    code), "sdk" the 409 `SubscriptionNotScheduledToCancel` that polar-sdk 1.0.2 declares for it."""

    def __init__(self, app: Any, state: EmulatorState, answer: str) -> None:
        self.inner = httpx2.ASGITransport(app=app)
        self.state, self.answer = state, answer

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        if request.method != "PATCH" or json.loads(request.content) != {"cancel_at_period_end": False}:
            return await self.inner.handle_async_request(request)
        self.state.subscriptions.uncancel(request.url.path.rsplit("/", 1)[-1])
        if self.answer == "polar":
            return await self.inner.handle_async_request(request)
        return json_response(
            409, {"error": "SubscriptionNotScheduledToCancel", "detail": "The subscription is not scheduled to cancel."}
        )


@pytest.mark.parametrize("answer", ["polar", "sdk"])
async def test_an_uncancel_that_another_caller_did_first_reports_it_resumed(
    emulator: Any, seed: SeedInfo, state: EmulatorState, answer: str
) -> None:
    subscription_id = seed.subscriptions["canceled_at_period_end"]
    server = build_server(Settings(emulator=True), transport=UncancelledFirst(emulator, state, answer))
    async with Client(server) as client:
        result = await call(client, "uncancel_subscription", {"subscription_id": subscription_id})
    assert result["outcome"] == "resumed" and result["subscription"]["cancel_at_period_end"] is False
    assert result["next_step"].startswith("The scheduled cancellation is undone: it renews")
