"""Subscriptions as Polar changes them: cancel at period end, uncancel, revoke now, and the list."""

from __future__ import annotations

import httpx2
import pytest

from polar_orders_mcp.emulator.seed import SeedInfo
from polar_orders_mcp.emulator.state import EmulatorState

pytestmark = pytest.mark.anyio
UNKNOWN = "0b6a7f5e-3f0e-4c2b-9a53-8f7b2b9d1c11"
ALREADY = {"error": "AlreadyCanceledSubscription",
           "detail": "This subscription is already canceled or will be at the end of the period."}


def url(info: SeedInfo, state: str) -> str:
    return f"/v1/subscriptions/{info.subscriptions[state]}"


async def test_the_seed_has_one_subscription_per_state(client: httpx2.AsyncClient, info: SeedInfo) -> None:
    active, scheduled, revoked = [(await client.get(url(info, s))).json()
                                  for s in ("active", "canceled_at_period_end", "revoked")]
    assert (active["status"], active["cancel_at_period_end"], active["ends_at"]) == ("active", False, None)
    assert active["customer"]["id"] == info.customers["good_card"] and active["product"]["is_recurring"] is True
    assert (scheduled["status"], scheduled["cancel_at_period_end"]) == ("active", True)
    assert scheduled["ends_at"] == scheduled["current_period_end"] and scheduled["canceled_at"] is not None
    assert (revoked["status"], revoked["ended_at"] is not None) == ("canceled", True)


async def test_cancel_at_period_end_then_again_is_403(client: httpx2.AsyncClient, info: SeedInfo) -> None:
    response = await client.patch(url(info, "active"), json={"cancel_at_period_end": True,
                                                             "customer_cancellation_reason": "unused"})
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["cancel_at_period_end"], body["customer_cancellation_reason"]) == (
        "active", True, "unused")
    assert body["ends_at"] == body["current_period_end"] and body["ended_at"] is None
    again = await client.patch(url(info, "active"), json={"cancel_at_period_end": True})
    assert again.status_code == 403 and again.json() == ALREADY
    order = (await client.get(f"/v1/orders/{info.subscription_orders['active']}")).json()
    assert order["subscription"]["cancel_at_period_end"] is True


async def test_uncancel_undoes_a_scheduled_cancellation_only(client: httpx2.AsyncClient, info: SeedInfo) -> None:
    undone = await client.patch(url(info, "canceled_at_period_end"), json={"cancel_at_period_end": False})
    assert undone.status_code == 200
    body = undone.json()
    assert (body["cancel_at_period_end"], body["ends_at"], body["canceled_at"],
            body["customer_cancellation_reason"]) == (False, None, None, None)
    # Nothing scheduled: Polar's bare BadRequest. Ended: its ResourceUnavailable.
    nothing = await client.patch(url(info, "active"), json={"cancel_at_period_end": False})
    assert nothing.status_code == 400 and nothing.json() == {"error": "BadRequest", "detail": "Bad request"}
    ended = await client.patch(url(info, "revoked"), json={"cancel_at_period_end": False})
    assert ended.status_code == 410 and ended.json() == {"error": "ResourceUnavailable", "detail": "Unavailable"}


@pytest.mark.parametrize("how", ["DELETE", "PATCH"])
async def test_revoke_ends_it_now_and_a_second_revoke_is_403(client: httpx2.AsyncClient, info: SeedInfo,
                                                             how: str) -> None:
    body = {"revoke": True, "customer_cancellation_comment": "moved away"} if how == "PATCH" else None
    # A scheduled cancellation can still be made immediate.
    response = await client.request(how, url(info, "canceled_at_period_end"), json=body)
    assert response.status_code == 200
    revoked = response.json()
    assert revoked["status"] == "canceled" and revoked["ended_at"] == revoked["ends_at"] is not None
    if how == "PATCH":
        assert revoked["customer_cancellation_comment"] == "moved away"
    again = await client.request(how, url(info, "canceled_at_period_end"), json=body)
    assert again.status_code == 403 and again.json() == ALREADY
    cancel = await client.patch(url(info, "revoked"), json={"cancel_at_period_end": True})
    assert cancel.status_code == 403 and cancel.json() == ALREADY


async def test_unknown_ids_bad_ids_and_unsupported_updates(client: httpx2.AsyncClient, info: SeedInfo) -> None:
    for method, body in (("GET", None), ("PATCH", {"cancel_at_period_end": True}), ("DELETE", None)):
        missing = await client.request(method, f"/v1/subscriptions/{UNKNOWN}", json=body)
        assert missing.status_code == 404 and missing.json()["error"] == "ResourceNotFound"
        assert (await client.request(method, "/v1/subscriptions/nope", json=body)).status_code == 422
    for body in ({}, {"revoke": False}, {"cancel_at_period_end": True, "extra": 1}, {"product_id": UNKNOWN}):
        response = await client.patch(url(info, "active"), json=body)
        assert response.status_code == 422, body
    assert (await client.get(url(info, "active"))).json()["cancel_at_period_end"] is False


async def test_list_filters_and_sorting(client: httpx2.AsyncClient, info: SeedInfo, state: EmulatorState) -> None:
    listed = (await client.get("/v1/subscriptions/", params={"limit": 100})).json()
    assert listed["pagination"]["total_count"] == len(state.store.subscriptions)
    started = [s["started_at"] for s in listed["items"]]
    assert started == sorted(started, reverse=True)
    ada = (await client.get("/v1/subscriptions/", params={"customer_id": info.customers["good_card"],
                                                          "status": "active", "limit": 100})).json()
    assert info.subscriptions["active"] in {s["id"] for s in ada["items"]}
    assert {(s["customer_id"], s["status"]) for s in ada["items"]} == {(info.customers["good_card"], "active")}
    scheduled = (await client.get("/v1/subscriptions/", params={"cancel_at_period_end": "true", "limit": 100})).json()
    assert [s["id"] for s in scheduled["items"]] == [info.subscriptions["canceled_at_period_end"]]
    revoked = (await client.get("/v1/subscriptions/", params={"active": "false", "limit": 100})).json()
    assert {s["status"] for s in revoked["items"]} == {"canceled"}
    by_amount = (await client.get("/v1/subscriptions/", params={"sorting": "-amount", "limit": 100})).json()
    amounts = [s["amount"] for s in by_amount["items"]]
    assert amounts == sorted(amounts, reverse=True)
    bad = await client.get("/v1/subscriptions/", params={"status": "gone", "sorting": "created_at"})
    assert bad.status_code == 422 and {d["loc"][1] for d in bad.json()["detail"]} == {"status", "sorting"}
