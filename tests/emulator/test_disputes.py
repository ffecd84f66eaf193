"""Disputes: the seeded ones, the list, and accepting only while a response is awaited."""

from __future__ import annotations

import httpx2
import pytest

from polar_orders_mcp.emulator.models import Dispute
from polar_orders_mcp.emulator.seed import SeedInfo
from polar_orders_mcp.emulator.state import EmulatorState

pytestmark = pytest.mark.anyio
UNKNOWN = "0b6a7f5e-3f0e-4c2b-9a53-8f7b2b9d1c11"


async def test_accepting_an_open_dispute_settles_it_as_lost_and_only_once(
    client: httpx2.AsyncClient, info: SeedInfo
) -> None:
    dispute_id = info.disputes["needs_response"]
    before = (await client.get(f"/v1/disputes/{dispute_id}")).json()
    assert (before["status"], before["resolved"], before["closed"], before["order_id"]) == (
        "needs_response",
        False,
        False,
        info.disputed_orders["needs_response"],
    )
    assert (before["amount"], before["tax_amount"], before["currency"]) == (1250, 250, "usd")
    assert before["evidence_due_by"] is not None and before["customer"]["id"] == info.customers["good_card"]
    accepted = await client.post(f"/v1/disputes/{dispute_id}/accept")
    assert accepted.status_code == 200
    assert (accepted.json()["status"], accepted.json()["resolved"], accepted.json()["closed"]) == ("lost", True, True)
    again = await client.post(f"/v1/disputes/{dispute_id}/accept")
    assert again.status_code == 409
    detail = f"Dispute {dispute_id} is not awaiting a response."
    assert again.json() == {"error": "DisputeNotOpenError", "detail": detail}


@pytest.mark.parametrize("status", ["under_review", "won", "lost"])
async def test_a_dispute_not_awaiting_a_response_cannot_be_accepted(
    client: httpx2.AsyncClient, info: SeedInfo, status: str
) -> None:
    dispute_id = info.disputes[status]
    response = await client.post(f"/v1/disputes/{dispute_id}/accept")
    assert response.status_code == 409 and response.json()["error"] == "DisputeNotOpenError"
    assert (await client.get(f"/v1/disputes/{dispute_id}")).json()["status"] == status


async def test_accepting_a_dispute_on_a_subscription_order_revokes_the_subscription(
    client: httpx2.AsyncClient, info: SeedInfo, state: EmulatorState
) -> None:
    order = state.store.order(info.subscription_orders["active"])
    dispute = Dispute(
        state.store.new_id(),
        state.now(),
        order,
        "needs_response",
        order.net_amount,
        order.tax_amount,
        state.store.derived_id("payment", order.id),
    )
    state.store.disputes[dispute.id] = dispute
    assert (await client.post(f"/v1/disputes/{dispute.id}/accept")).status_code == 200
    subscription = (await client.get(f"/v1/subscriptions/{info.subscriptions['active']}")).json()
    assert subscription["status"] == "canceled" and subscription["ended_at"] is not None


async def test_list_filters_sorting_and_unknown_ids(client: httpx2.AsyncClient, info: SeedInfo) -> None:
    every = (await client.get("/v1/disputes/")).json()
    assert {d["id"] for d in every["items"]} == set(info.disputes.values())
    stamps = [d["created_at"] for d in every["items"]]
    assert stamps == sorted(stamps, reverse=True)
    open_ = (await client.get("/v1/disputes/", params={"status": ["needs_response", "under_review"]})).json()
    assert {d["status"] for d in open_["items"]} == {"needs_response", "under_review"}
    one = (await client.get("/v1/disputes/", params={"order_id": info.disputed_orders["won"]})).json()
    assert [d["id"] for d in one["items"]] == [info.disputes["won"]]
    assert (await client.get("/v1/disputes/", params={"status": "open"})).status_code == 422
    for method, path in (("GET", f"/v1/disputes/{UNKNOWN}"), ("POST", f"/v1/disputes/{UNKNOWN}/accept")):
        response = await client.request(method, path)
        assert response.status_code == 404 and response.json()["error"] == "ResourceNotFound"
    assert (await client.post("/v1/disputes/x/accept")).status_code == 422
