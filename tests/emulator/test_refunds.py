"""Refunds as Polar makes them: its checks in its order, tax proration, order status, and the list."""

from __future__ import annotations

from typing import Any

import httpx2
import pytest

from polar_orders_mcp.emulator.seed import READ_ONLY_TOKEN, SeedInfo
from polar_orders_mcp.emulator.state import EmulatorState

pytestmark = pytest.mark.anyio
UNKNOWN = "0b6a7f5e-3f0e-4c2b-9a53-8f7b2b9d1c11"


def refund(order_id: str, amount: int, reason: str = "customer_request", **extra: Any) -> dict[str, Any]:
    return {"order_id": order_id, "amount": amount, "reason": reason, **extra}


def error(response: httpx2.Response, status: int, code: str, detail: str) -> None:
    assert response.status_code == status, response.text
    assert response.json() == {"error": code, "detail": detail}


def invalid(response: httpx2.Response, loc: list[str], msg: str) -> None:
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "PolarRequestValidationError"
    assert [(d["loc"], d["msg"]) for d in body["detail"]] == [(loc, msg)]


async def test_a_partial_then_the_rest_prorates_tax_and_moves_the_order_to_refunded(
    client: httpx2.AsyncClient, info: SeedInfo
) -> None:
    order_id = info.paid_order_id  # 12.50 + 20% UK tax = 15.00
    first = await client.post("/v1/refunds/", json=refund(order_id, 625, comment="wrong size", metadata={"t": "1"}))
    assert first.status_code == 201
    body = first.json()
    assert (body["status"], body["amount"], body["tax_amount"], body["currency"]) == ("succeeded", 625, 125, "usd")
    assert (body["order_id"], body["reason"], body["revoke_benefits"], body["metadata"]) == (
        order_id,
        "customer_request",
        False,
        {"t": "1"},
    )
    order = (await client.get(f"/v1/orders/{order_id}")).json()
    assert (order["status"], order["refunded_amount"], order["refunded_tax_amount"]) == ("partially_refunded", 625, 125)
    assert (order["refundable_amount"], order["refundable_tax_amount"]) == (625, 125)
    rest = (await client.post("/v1/refunds/", json=refund(order_id, 625))).json()
    assert (rest["amount"], rest["tax_amount"]) == (625, 125)
    order = (await client.get(f"/v1/orders/{order_id}")).json()
    assert (order["status"], order["refunded_amount"], order["refundable_amount"]) == ("refunded", 1250, 0)
    error(
        await client.post("/v1/refunds/", json=refund(order_id, 1)),
        403,
        "RefundedAlready",
        f"Order is already fully refunded: {order_id}",
    )


async def test_tax_is_rounded_as_polar_does_and_the_remainder_takes_the_rest(
    client: httpx2.AsyncClient, info: SeedInfo
) -> None:
    order_id = info.paid_order_id
    odd = (await client.post("/v1/refunds/", json=refund(order_id, 333))).json()
    assert (odd["amount"], odd["tax_amount"]) == (333, 67)  # round(333 * 250 / 1250) = round(66.6)
    last = (await client.post("/v1/refunds/", json=refund(order_id, 917))).json()
    assert (last["amount"], last["tax_amount"]) == (917, 183)  # the whole remaining balance: 1250-333, 250-67


async def test_an_amount_above_what_is_left_is_422(client: httpx2.AsyncClient, info: SeedInfo) -> None:
    order_id = info.orders_by_status["partially_refunded"]  # 1250 net, 625 refunded
    invalid(
        await client.post("/v1/refunds/", json=refund(order_id, 626)),
        ["body", "amount"],
        "Refund amount exceeds refundable amount",
    )
    assert (await client.post("/v1/refunds/", json=refund(order_id, 625))).status_code == 201


async def test_refunds_blocked_on_the_order_or_the_organization(
    client: httpx2.AsyncClient, info: SeedInfo, state: EmulatorState
) -> None:
    blocked = info.refunds_blocked_order_id
    error(
        await client.post("/v1/refunds/", json=refund(blocked, 100)),
        403,
        "RefundsBlocked",
        f"Refunds are blocked for order: {blocked}",
    )
    state.set_organization(can_refund=False)
    error(
        await client.post("/v1/refunds/", json=refund(info.paid_order_id, 100)),
        403,
        "RefundsBlocked",
        f"Refunds are blocked for order: {info.paid_order_id}",
    )
    # Blocked wins over every other refusal, as it is Polar's first check.
    error(
        await client.post("/v1/refunds/", json=refund(info.orders_by_status["refunded"], 1)),
        403,
        "RefundsBlocked",
        f"Refunds are blocked for order: {info.orders_by_status['refunded']}",
    )


async def test_revoking_benefits_of_a_subscription_order_is_400(client: httpx2.AsyncClient, info: SeedInfo) -> None:
    order_id = info.subscription_orders["active"]
    error(
        await client.post("/v1/refunds/", json=refund(order_id, 100, revoke_benefits=True)),
        400,
        "RevokeSubscriptionBenefitsProhibited",
        "Subscription benefits can only be revoked upon cancellation",
    )
    made = (await client.post("/v1/refunds/", json=refund(order_id, 100))).json()
    assert made["subscription_id"] == info.subscriptions["active"]
    one_time = (await client.post("/v1/refunds/", json=refund(info.paid_order_id, 100, revoke_benefits=True))).json()
    assert one_time["revoke_benefits"] is True and one_time["subscription_id"] is None


@pytest.mark.parametrize("status", ["pending", "void"])
async def test_an_order_without_a_succeeded_payment_is_refund_unknown_payment(
    client: httpx2.AsyncClient, info: SeedInfo, status: str
) -> None:
    order_id = info.orders_by_status[status]
    error(
        await client.post("/v1/refunds/", json=refund(order_id, 100)),
        404,
        "RefundUnknownPayment",
        f"Refund issued for unknown order: {order_id}",
    )


async def test_a_draft_is_refundable_on_paper_yet_has_no_payment(client: httpx2.AsyncClient, info: SeedInfo) -> None:
    draft = info.draft_orders["good_card"]
    order = (await client.get(f"/v1/orders/{draft}")).json()
    # max(0, net + applied balance - refunded), whatever the status, as Polar computes it.
    assert (order["refundable_amount"], order["refundable_tax_amount"]) == (1250, 250)
    invalid(
        await client.post("/v1/refunds/", json=refund(draft, 1251)),
        ["body", "amount"],
        "Refund amount exceeds refundable amount",
    )
    error(
        await client.post("/v1/refunds/", json=refund(draft, 1250)),
        404,
        "RefundUnknownPayment",
        f"Refund issued for unknown order: {draft}",
    )


@pytest.mark.parametrize(
    "dispute, refusal",
    [
        ("needs_response", True),
        ("under_review", True),
        ("lost", True),
        ("won", False),
    ],
)
async def test_an_open_or_lost_dispute_blocks_the_refund(
    client: httpx2.AsyncClient, info: SeedInfo, dispute: str, refusal: bool
) -> None:
    order_id = info.disputed_orders[dispute]
    response = await client.post("/v1/refunds/", json=refund(order_id, 100))
    if refusal:
        error(
            response,
            403,
            "RefundDisputedPayment",
            f"Refund cannot be issued for order with disputed payment: {order_id}",
        )
    else:
        assert response.status_code == 201


async def test_unknown_order_and_invalid_bodies_are_422(client: httpx2.AsyncClient) -> None:
    invalid(await client.post("/v1/refunds/", json=refund(UNKNOWN, 100)), ["body", "order_id"], "Order not found")
    for body, loc in (
        (refund(UNKNOWN, 0), ["body", "amount"]),
        (refund(UNKNOWN, 100, reason="dispute_prevention"), ["body", "reason"]),
        ({"order_id": UNKNOWN, "amount": 5}, ["body", "reason"]),
    ):
        response = await client.post("/v1/refunds/", json=body)
        assert response.status_code == 422 and response.json()["error"] == "RequestValidationError"
        assert [d["loc"] for d in response.json()["detail"]] == [loc]


async def test_a_pending_refund_leaves_the_order_as_it_was(
    client: httpx2.AsyncClient, info: SeedInfo, state: EmulatorState
) -> None:
    state.settings.refund_status = "pending"
    made = (await client.post("/v1/refunds/", json=refund(info.paid_order_id, 500))).json()
    assert made["status"] == "pending"
    order = (await client.get(f"/v1/orders/{info.paid_order_id}")).json()
    assert (order["status"], order["refunded_amount"]) == ("paid", 0)
    pending = (await client.get("/v1/refunds/", params={"order_id": info.paid_order_id, "succeeded": "false"})).json()
    assert [r["id"] for r in pending["items"]] == [made["id"]]


async def test_the_seed_has_a_refund_for_each_refunded_order(
    client: httpx2.AsyncClient, info: SeedInfo, state: EmulatorState
) -> None:
    for status, refund_id in info.refunds.items():
        listed = (await client.get("/v1/refunds/", params={"id": refund_id})).json()["items"]
        order = state.store.order(info.orders_by_status[status])
        assert [(r["order_id"], r["amount"], r["tax_amount"]) for r in listed] == [
            (order.id, order.refunded_amount, order.refunded_tax_amount)
        ]
    refunded = [o for o in state.store.orders if o.refunded_amount > 0]
    assert len(state.store.refunds) == len(refunded)
    assert sum(r.amount for r in state.store.refunds) == sum(o.refunded_amount for o in refunded)


async def test_list_filters_sorting_and_pages(client: httpx2.AsyncClient, info: SeedInfo) -> None:
    for amount in (100, 300, 200):
        await client.post("/v1/refunds/", json=refund(info.paid_order_id, amount))
    mine = (await client.get("/v1/refunds/", params={"order_id": info.paid_order_id})).json()
    assert [r["amount"] for r in mine["items"]] == [200, 300, 100]  # newest first
    assert mine["pagination"] == {"total_count": 3, "max_page": 1}
    by_amount = (
        await client.get(
            "/v1/refunds/", params={"order_id": info.paid_order_id, "sorting": "-amount", "limit": 2, "page": 2}
        )
    ).json()
    assert [r["amount"] for r in by_amount["items"]] == [100]
    ada = (await client.get("/v1/refunds/", params={"customer_id": info.customers["good_card"], "limit": 100})).json()
    assert {r["customer_id"] for r in ada["items"]} == {info.customers["good_card"]} and ada["pagination"][
        "total_count"
    ] >= 5
    subscribed = (await client.get("/v1/refunds/", params={"subscription_id": info.subscriptions["active"]})).json()
    assert subscribed["items"] == []
    bad = await client.get("/v1/refunds/", params={"sorting": "status", "succeeded": "maybe"})
    assert bad.status_code == 422 and {d["loc"][1] for d in bad.json()["detail"]} == {"sorting", "succeeded"}


async def test_reading_needs_a_refunds_scope_and_creating_the_write_one(app: Any, info: SeedInfo) -> None:
    headers = {"Authorization": f"Bearer {READ_ONLY_TOKEN}"}
    async with httpx2.AsyncClient(
        transport=httpx2.ASGITransport(app=app), base_url="http://polar.test", headers=headers
    ) as reader:
        assert (await reader.get("/v1/refunds/")).status_code == 200
        refused = await reader.post("/v1/refunds/", json=refund(info.paid_order_id, 100))
    assert refused.status_code == 403 and refused.json()["error"] == "insufficient_scope"
    assert 'scope="refunds:write"' in refused.headers["www-authenticate"]
