"""Subscriptions as Polar changes them: metadata, cancel at period end, uncancel, revoke now, and the list."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx2
import pytest

from polar_orders_mcp.emulator.seed import SeedInfo
from polar_orders_mcp.emulator.state import EmulatorState
from polar_orders_mcp.emulator.subscriptions import UNSERVED_UPDATES

pytestmark = pytest.mark.anyio
NOW = datetime(2026, 11, 2, 10, tzinfo=UTC)
UNKNOWN = "0b6a7f5e-3f0e-4c2b-9a53-8f7b2b9d1c11"
ALREADY = {
    "error": "AlreadyCanceledSubscription",
    "detail": "This subscription is already canceled or will be at the end of the period.",
}


def url(info: SeedInfo, state: str) -> str:
    return f"/v1/subscriptions/{info.subscriptions[state]}"


async def test_the_seed_has_one_subscription_per_state(client: httpx2.AsyncClient, info: SeedInfo) -> None:
    active, scheduled, revoked = [
        (await client.get(url(info, s))).json() for s in ("active", "canceled_at_period_end", "revoked")
    ]
    assert (active["status"], active["cancel_at_period_end"], active["ends_at"]) == ("active", False, None)
    assert active["customer"]["id"] == info.customers["good_card"] and active["product"]["is_recurring"] is True
    assert (scheduled["status"], scheduled["cancel_at_period_end"]) == ("active", True)
    assert scheduled["ends_at"] == scheduled["current_period_end"] and scheduled["canceled_at"] is not None
    assert (revoked["status"], revoked["ended_at"] is not None) == ("canceled", True)


async def test_cancel_at_period_end_then_again_is_403(client: httpx2.AsyncClient, info: SeedInfo) -> None:
    response = await client.patch(
        url(info, "active"), json={"cancel_at_period_end": True, "customer_cancellation_reason": "unused"}
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["cancel_at_period_end"], body["customer_cancellation_reason"]) == (
        "active",
        True,
        "unused",
    )
    assert body["ends_at"] == body["current_period_end"] and body["ended_at"] is None
    again = await client.patch(url(info, "active"), json={"cancel_at_period_end": True})
    assert again.status_code == 403 and again.json() == ALREADY
    order = (await client.get(f"/v1/orders/{info.subscription_orders['active']}")).json()
    assert order["subscription"]["cancel_at_period_end"] is True


async def test_uncancel_undoes_a_scheduled_cancellation_only(client: httpx2.AsyncClient, info: SeedInfo) -> None:
    undone = await client.patch(url(info, "canceled_at_period_end"), json={"cancel_at_period_end": False})
    assert undone.status_code == 200
    body = undone.json()
    assert (
        body["cancel_at_period_end"],
        body["ends_at"],
        body["canceled_at"],
        body["customer_cancellation_reason"],
    ) == (False, None, None, None)
    # Nothing scheduled: Polar's bare BadRequest. Ended: its ResourceUnavailable.
    nothing = await client.patch(url(info, "active"), json={"cancel_at_period_end": False})
    assert nothing.status_code == 400 and nothing.json() == {"error": "BadRequest", "detail": "Bad request"}
    ended = await client.patch(url(info, "revoked"), json={"cancel_at_period_end": False})
    assert ended.status_code == 410 and ended.json() == {"error": "ResourceUnavailable", "detail": "Unavailable"}


@pytest.mark.parametrize("how", ["DELETE", "PATCH"])
async def test_revoke_ends_it_now_and_a_second_revoke_is_403(
    client: httpx2.AsyncClient, info: SeedInfo, how: str
) -> None:
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
    for body in ({"revoke": False}, {"cancel_at_period_end": True, "extra": 1}, {"metadata": {}, "extra": 1}):
        response = await client.patch(url(info, "active"), json=body)
        assert response.status_code == 422, body
    assert (await client.get(url(info, "active"))).json()["cancel_at_period_end"] is False


async def test_an_empty_update_is_200_and_changes_nothing(client: httpx2.AsyncClient, info: SeedInfo) -> None:
    before = (await client.get(url(info, "active"))).json()
    response = await client.patch(url(info, "active"), json={})
    assert (response.status_code, response.json()) == (200, before)


async def test_null_product_and_trial_with_a_proration_behavior_change_nothing(
    client: httpx2.AsyncClient, info: SeedInfo
) -> None:
    # Polar's SubscriptionUpdateBase acts on a product or trial only when one is given.
    before = (await client.get(url(info, "active"))).json()
    response = await client.patch(
        url(info, "active"), json={"product_id": None, "trial_end": None, "proration_behavior": "prorate"}
    )
    assert (response.status_code, response.json()) == (200, before)


async def test_metadata_replaces_the_metadata_and_moves_modified_at(
    client: httpx2.AsyncClient, info: SeedInfo, state: EmulatorState
) -> None:
    state.clock = lambda: NOW
    metadata = {"plan": "pro", "seats": 3, "ratio": 0.5, "vip": True}
    response = await client.patch(url(info, "active"), json={"metadata": metadata})
    assert response.status_code == 200
    body = response.json()
    assert (body["metadata"], body["modified_at"]) == (metadata, "2026-11-02T10:00:00Z")
    assert (await client.get(url(info, "active"))).json() == body


async def test_empty_metadata_clears_it(client: httpx2.AsyncClient, info: SeedInfo) -> None:
    await client.patch(url(info, "active"), json={"metadata": {"plan": "pro"}})
    response = await client.patch(url(info, "active"), json={"metadata": {}})
    assert response.json()["metadata"] == {}


async def test_metadata_filter_finds_the_updated_subscription(client: httpx2.AsyncClient, info: SeedInfo) -> None:
    await client.patch(url(info, "active"), json={"metadata": {"crm_id": "A-17"}})
    found = (await client.get("/v1/subscriptions/", params={"metadata[crm_id]": "A-17"})).json()
    assert [s["id"] for s in found["items"]] == [info.subscriptions["active"]]


@pytest.mark.parametrize(
    ("metadata", "error"),
    [
        (
            {"k" * 41: "v"},
            {
                "type": "string_too_long",
                "loc": ["body", "metadata", "k" * 41, "[key]"],
                "msg": "String should have at most 40 characters",
                "input": "k" * 41,
                "ctx": {"max_length": 40},
            },
        ),
        (
            {"": "v"},
            {
                "type": "string_too_short",
                "loc": ["body", "metadata", "", "[key]"],
                "msg": "String should have at least 1 character",
                "input": "",
                "ctx": {"min_length": 1},
            },
        ),
        (
            {"k": "v" * 501},
            {
                "type": "string_too_long",
                "loc": ["body", "metadata", "k", "constrained-str"],
                "msg": "String should have at most 500 characters",
                "input": "v" * 501,
                "ctx": {"max_length": 500},
            },
        ),
        (
            {f"k{i}": i for i in range(51)},
            {
                "type": "too_long",
                "loc": ["body", "metadata"],
                "msg": "Dictionary should have at most 50 items after validation, not more",
                "input": {f"k{i}": i for i in range(51)},
                "ctx": {"field_type": "Dictionary", "max_length": 50, "actual_length": None},
            },
        ),
        (
            None,
            {
                "type": "dict_type",
                "loc": ["body", "metadata"],
                "msg": "Input should be a valid dictionary",
                "input": None,
            },
        ),
    ],
)
async def test_metadata_outside_polars_limits_is_422_first_naming_the_limit(
    client: httpx2.AsyncClient, info: SeedInfo, metadata: object, error: dict[str, object]
) -> None:
    # A value matches none of str | int | float | bool: pydantic lists one error per type, the string's first.
    response = await client.patch(url(info, "active"), json={"metadata": metadata})
    assert (response.status_code, response.json()["detail"][0]) == (422, error)


async def test_a_refused_metadata_update_keeps_the_old_metadata(client: httpx2.AsyncClient, info: SeedInfo) -> None:
    await client.patch(url(info, "active"), json={"metadata": {"plan": "pro"}})
    await client.patch(url(info, "active"), json={"metadata": {"plan": "x" * 501}})
    assert (await client.get(url(info, "active"))).json()["metadata"] == {"plan": "pro"}


async def test_removing_a_discount_there_is_none_of_moves_modified_at(
    client: httpx2.AsyncClient, info: SeedInfo, state: EmulatorState
) -> None:
    state.clock = lambda: NOW
    response = await client.patch(url(info, "active"), json={"discount_id": None})
    assert (response.status_code, response.json()["discount_id"], response.json()["modified_at"]) == (
        200,
        None,
        "2026-11-02T10:00:00Z",
    )


async def test_a_product_change_is_refused_saying_why(client: httpx2.AsyncClient, info: SeedInfo) -> None:
    product = info.products["recurring_yearly"]
    response = await client.patch(url(info, "active"), json={"product_id": product, "metadata": {"k": "v"}})
    assert (response.status_code, response.json()["detail"]) == (
        422,
        [
            {
                "type": "value_error",
                "loc": ["body", "product_id"],
                "input": product,
                "msg": "changing a subscription's product is not served by the emulator: Polar prorates "
                "the change and may "
                "invoice and charge it, which the emulator does not model",
            }
        ],
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("discount_id", UNKNOWN),
        ("trial_end", "now"),
        ("seats", 2),
        ("units", 2),
        ("current_billing_period_end", "2030-01-01T00:00:00Z"),
        ("pause_at_period_end", True),
        ("resumes_at", None),
        ("resume", True),
        ("pending_update", None),
    ],
)
async def test_each_unserved_update_is_a_422_naming_it(
    client: httpx2.AsyncClient, info: SeedInfo, field: str, value: object
) -> None:
    before = (await client.get(url(info, "active"))).json()
    response = await client.patch(url(info, "active"), json={field: value})
    assert (response.status_code, response.json()["detail"]) == (
        422,
        [{"type": "value_error", "loc": ["body", field], "msg": UNSERVED_UPDATES[field], "input": value}],
    )
    assert (await client.get(url(info, "active"))).json() == before


@pytest.mark.parametrize("body", [{}, {"metadata": {"k": "v"}}, {"seats": 2}, {"product_id": UNKNOWN}])
async def test_any_update_of_an_unknown_subscription_is_404(client: httpx2.AsyncClient, body: object) -> None:
    response = await client.patch(f"/v1/subscriptions/{UNKNOWN}", json=body)
    assert (response.status_code, response.json()["error"]) == (404, "ResourceNotFound")


async def test_list_filters_and_sorting(client: httpx2.AsyncClient, info: SeedInfo, state: EmulatorState) -> None:
    listed = (await client.get("/v1/subscriptions/", params={"limit": 100})).json()
    assert listed["pagination"]["total_count"] == len(state.store.subscriptions)
    started = [s["started_at"] for s in listed["items"]]
    assert started == sorted(started, reverse=True)
    ada = (
        await client.get(
            "/v1/subscriptions/", params={"customer_id": info.customers["good_card"], "status": "active", "limit": 100}
        )
    ).json()
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


async def test_list_bounds_and_the_filters_that_match_nothing(
    client: httpx2.AsyncClient, info: SeedInfo, state: EmulatorState
) -> None:
    """canceled_at bounds include the moment (Polar's >= and <=), started_* bounds exclude it (> and <)."""
    scheduled = state.store.subscription(info.subscriptions["canceled_at_period_end"])
    assert scheduled.canceled_at is not None

    async def ids(**params: str) -> set[str]:
        found = (await client.get("/v1/subscriptions/", params={"limit": 100, **params})).json()
        return {s["id"] for s in found["items"]}

    canceled = scheduled.canceled_at.isoformat()
    assert scheduled.id in await ids(canceled_at_after=canceled) & await ids(canceled_at_before=canceled)
    assert info.subscriptions["active"] not in await ids(canceled_at_after="2000-01-01T00:00:00Z")
    started = scheduled.created_at.isoformat()
    assert scheduled.id not in await ids(started_after=started) | await ids(started_before=started)
    assert await ids(discount_id=UNKNOWN) == set()
    assert await ids(external_customer_id="nobody-at-all") == set()
    assert await ids(customer_cancellation_reason="unused", cancel_at_period_end="false") == set()


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("POST", "/v1/subscriptions/", 405),
        ("GET", f"/v1/subscriptions/{UNKNOWN}/charge-preview", 404),
        ("GET", "/v1/customer-portal/subscriptions/", 404),
        ("PATCH", f"/v1/customer-portal/subscriptions/{UNKNOWN}", 404),
        ("DELETE", f"/v1/customer-portal/subscriptions/{UNKNOWN}", 404),
    ],
)
async def test_what_the_readme_lists_as_unserved_answers_as_an_unknown_route(
    client: httpx2.AsyncClient, method: str, path: str, status: int
) -> None:
    response = await client.request(method, path, json={})
    assert response.status_code == status
