"""The order state machine: draft creation, finalize outcomes, and concurrent finalizes."""

from __future__ import annotations

from typing import Any

import anyio
import httpx2
import pytest

from polar_orders_mcp.emulator.seed import SeedInfo
from polar_orders_mcp.emulator.state import EmulatorState

pytestmark = pytest.mark.anyio


def draft_body(
    info: SeedInfo, customer: str = "good_card", product: str = "one_time_fixed", **extra: Any
) -> dict[str, Any]:
    return {"customer_id": info.customers[customer], "product_id": info.products[product], **extra}


async def test_create_draft_freezes_tax_from_the_billing_country(client: httpx2.AsyncClient, info: SeedInfo) -> None:
    response = await client.post("/v1/orders/", json=draft_body(info, metadata={"ticket": "T-1"}))
    assert response.status_code == 201
    order = response.json()
    assert (order["status"], order["paid"], order["invoice_number"], order["receipt_number"]) == (
        "draft",
        False,
        None,
        None,
    )
    # The good-card customer is in GB: 20% on 12.50.
    assert (order["subtotal_amount"], order["tax_amount"], order["total_amount"]) == (1250, 250, 1500)
    assert order["billing_address"]["country"] == "GB" and order["metadata"] == {"ticket": "T-1"}
    us = (await client.post("/v1/orders/", json=draft_body(info, "declining_card"))).json()
    assert us["tax_amount"] == 0


async def test_create_with_amount_description_and_free_prices(client: httpx2.AsyncClient, info: SeedInfo) -> None:
    override = (await client.post("/v1/orders/", json=draft_body(info, amount=5000, description="5,000 tokens"))).json()
    assert override["subtotal_amount"] == 5000 and override["description"] == "5,000 tokens"
    assert override["items"][0]["label"] == "5,000 tokens"
    free = (await client.post("/v1/orders/", json=draft_body(info, "declining_card", "free"))).json()
    assert free["total_amount"] == 0
    # Under the currency minimum Polar charges nothing, so even a declining card's free draft is paid.
    paid = await client.post(f"/v1/orders/{free['id']}/finalize")
    assert paid.status_code == 200 and paid.json()["status"] == "paid" and paid.json()["receipt_number"]


@pytest.mark.parametrize(
    "customer, product, extra, loc, kind, msg",
    [
        (
            "good_card",
            "recurring",
            {},
            ["body", "product_id"],
            "value_error",
            "Subscription products are not supported by the off-session charge API. Use a one-time product.",
        ),
        (
            "good_card",
            "one_time_custom",
            {},
            ["body", "product_id"],
            "value_error",
            "Off-session charges only support fixed-price products.",
        ),
        (
            "no_billing_address",
            "one_time_fixed",
            {},
            ["body", "customer_id"],
            "value_error",
            "Tax could not be calculated for this order. The customer needs a complete, valid billing "
            "address before an "
            "off-session charge can be created.",
        ),
        (
            "good_card",
            "one_time_fixed",
            {"amount": 10},
            ["body", "amount"],
            "greater_than_equal",
            "Amount must be at least $0.50.",
        ),
        (
            "good_card",
            "one_time_fixed",
            {"amount": 100_000_000},
            ["body", "amount"],
            "less_than_equal",
            "Amount must be at most $999,999.99.",
        ),
        (
            "good_card",
            "one_time_fixed",
            {"currency": "EUR"},
            ["body", "currency"],
            "value_error",
            "Product has no price in currency 'eur'.",
        ),
    ],
)
async def test_create_rejections_are_polars(
    client: httpx2.AsyncClient,
    info: SeedInfo,
    customer: str,
    product: str,
    extra: dict[str, Any],
    loc: list[str],
    kind: str,
    msg: str,
) -> None:
    response = await client.post("/v1/orders/", json=draft_body(info, customer, product, **extra))
    assert response.status_code == 422
    value = {**draft_body(info, customer, product), **extra}[loc[-1]]
    assert response.json() == {
        "error": "PolarRequestValidationError",
        "detail": [{"type": kind, "loc": loc, "msg": msg, "input": value}],
    }


async def test_create_refuses_an_organization_id_with_an_organization_token(
    client: httpx2.AsyncClient, info: SeedInfo
) -> None:
    # Even the token's own organization: Polar takes it from the token.
    response = await client.post("/v1/orders/", json=draft_body(info, organization_id=info.organization_id))
    assert response.status_code == 422
    assert response.json()["detail"] == [
        {
            "type": "organization_token",
            "loc": ["body", "organization_id"],
            "msg": "Setting organization_id is disallowed when using an organization token.",
            "input": info.organization_id,
        }
    ]


async def test_create_needs_off_session_charges(client: httpx2.AsyncClient, info: SeedInfo) -> None:
    await client.patch("/_emulator/organization", json={"off_session_charges_enabled": False})
    response = await client.post("/v1/orders/", json=draft_body(info))
    assert response.status_code == 403
    assert response.json() == {
        "error": "OffSessionChargesNotEnabled",
        "detail": (
            f"Off-session charges are not enabled for this organization ({info.organization_id}). "
            "Contact Polar support to opt in."
        ),
    }


async def test_finalize_good_card_pays_and_numbers_the_order(client: httpx2.AsyncClient, info: SeedInfo) -> None:
    order_id = info.draft_orders["good_card"]
    response = await client.post(f"/v1/orders/{order_id}/finalize")
    assert response.status_code == 200
    order = response.json()
    assert order["status"] == "paid" and order["paid"] is True
    assert order["receipt_number"] and order["invoice_number"] and order["platform_fee_amount"] > 0
    again = await client.post(f"/v1/orders/{order_id}/finalize")
    assert again.status_code == 412
    assert again.json() == {
        "error": "OrderNotDraft",
        "detail": (
            f"Order {order_id} is not in draft status (current: paid). Only draft orders can be modified or finalized."
        ),
    }


@pytest.mark.parametrize(
    "kind, error, detail",
    [
        ("declining_card", "PaymentFailed", "Payment failed with reason: card_error."),
        (
            "sca_card",
            "PaymentActionRequired",
            "Order {id} payment requires customer authentication (e.g. 3DS challenge); off-session "
            "charge cannot complete.",
        ),
        ("no_payment_method", "PaymentFailed", "Payment failed with reason: missing_payment_method."),
    ],
)
async def test_failed_charges_are_402_and_the_order_stays_draft(
    client: httpx2.AsyncClient, info: SeedInfo, kind: str, error: str, detail: str
) -> None:
    order_id = info.draft_orders[kind]
    response = await client.post(f"/v1/orders/{order_id}/finalize", json={})
    assert response.status_code == 402
    assert response.json() == {"error": error, "detail": detail.format(id=order_id)}
    order = (await client.get(f"/v1/orders/{order_id}")).json()
    assert (order["status"], order["invoice_number"]) == ("draft", None)


async def test_a_free_draft_needs_a_payment_method_all_the_same(client: httpx2.AsyncClient, info: SeedInfo) -> None:
    free = (await client.post("/v1/orders/", json=draft_body(info, "no_payment_method", "free"))).json()
    response = await client.post(f"/v1/orders/{free['id']}/finalize")
    assert response.status_code == 402
    assert response.json() == {
        "error": "PaymentFailed",
        "detail": "Payment failed with reason: missing_payment_method.",
    }


@pytest.mark.parametrize("method", ["declining_card", "unknown"])
async def test_another_customers_or_an_unknown_payment_method_is_a_failed_payment(
    client: httpx2.AsyncClient, info: SeedInfo, method: str
) -> None:
    order_id = info.draft_orders["good_card"]
    method_id = info.payment_methods.get(method, "0b6a7f5e-3f0e-4c2b-9a53-8f7b2b9d1c11")
    refused = await client.post(f"/v1/orders/{order_id}/finalize", json={"payment_method_id": method_id})
    assert refused.status_code == 402
    assert refused.json() == {"error": "PaymentFailed", "detail": "Payment failed with reason: missing_payment_method."}
    own = await client.post(
        f"/v1/orders/{order_id}/finalize", json={"payment_method_id": info.payment_methods["good_card"]}
    )
    assert own.status_code == 200


async def test_finalize_respects_the_organization_flags(client: httpx2.AsyncClient, info: SeedInfo) -> None:
    order_id = info.draft_orders["good_card"]
    await client.patch("/_emulator/organization", json={"payments_ready": False})
    response = await client.post(f"/v1/orders/{order_id}/finalize")
    assert response.status_code == 403 and response.json() == {
        "error": "OrganizationNotReadyForPayments",
        "detail": (
            f"This organization ({info.organization_id}) can't accept payments yet. "
            "Its account may be pending onboarding or under review."
        ),
    }
    await client.patch("/_emulator/organization", json={"payments_ready": True, "off_session_charges_enabled": False})
    response = await client.post(f"/v1/orders/{order_id}/finalize")
    assert response.status_code == 403 and response.json()["error"] == "OffSessionChargesNotEnabled"


async def test_tax_is_frozen_at_creation(client: httpx2.AsyncClient, info: SeedInfo, state: EmulatorState) -> None:
    order = (await client.post("/v1/orders/", json=draft_body(info))).json()
    customer = state.store.customers[info.customers["good_card"]]
    customer.billing_address = {**(customer.billing_address or {}), "country": "US"}
    paid = (await client.post(f"/v1/orders/{order['id']}/finalize")).json()
    assert paid["tax_amount"] == order["tax_amount"] == 250


async def test_concurrent_finalizes_charge_once(client: httpx2.AsyncClient, info: SeedInfo) -> None:
    await client.patch("/_emulator/settings", json={"charge_seconds": 0.05})
    order_id = info.draft_orders["good_card"]
    responses: list[httpx2.Response] = []
    before = (await client.get("/_emulator/state")).json()["counts"]["orders"]

    async def finalize() -> None:
        responses.append(await client.post(f"/v1/orders/{order_id}/finalize"))

    async with anyio.create_task_group() as tg:
        tg.start_soon(finalize)
        tg.start_soon(finalize)
    assert sorted(r.status_code for r in responses) == [200, 412]
    # The loser arrived while the winner was charging: it saw the claimed order, not a paid one.
    loser = next(r for r in responses if r.status_code == 412)
    assert loser.json()["detail"].startswith(f"Order {order_id} is not in draft status (current: pending).")
    order = (await client.get(f"/v1/orders/{order_id}")).json()
    assert order["status"] == "paid"
    assert (await client.get("/_emulator/state")).json()["counts"]["orders"] == before


async def test_an_order_being_charged_reads_as_pending(client: httpx2.AsyncClient, info: SeedInfo) -> None:
    await client.patch("/_emulator/settings", json={"charge_seconds": 0.05})
    order_id = info.draft_orders["declining_card"]
    seen: list[str] = []

    async def finalize() -> None:
        await client.post(f"/v1/orders/{order_id}/finalize")

    async with anyio.create_task_group() as tg:
        tg.start_soon(finalize)
        await anyio.sleep(0.01)
        seen.append((await client.get(f"/v1/orders/{order_id}")).json()["status"])
    seen.append((await client.get(f"/v1/orders/{order_id}")).json()["status"])
    assert seen == ["pending", "draft"]
