"""Checkout sessions against the emulator: the organization side and the client-secret side."""

from __future__ import annotations

import pytest

from polar_orders_mcp.polar import errors
from polar_orders_mcp.polar.client import PolarClient
from tests.polar.conftest import Emulator

pytestmark = pytest.mark.anyio


async def test_list_and_filter(polar: PolarClient, emulator: Emulator) -> None:
    page = await polar.checkouts.list(limit=100)
    assert page.total_count >= 3
    ids = {c.id for c in page.items}
    assert {emulator.seed["open_checkout_id"], emulator.seed["expired_checkout_id"]} <= ids
    open_only = await polar.checkouts.list(status="open")
    assert {c.status for c in open_only.items} == {"open"}
    by_email = await polar.checkouts.list(query="good-card@example.com", limit=100)
    assert by_email.items and all(c.customer_email == "good-card@example.com" for c in by_email.items)
    everything = [c async for c in polar.checkouts.iterate(limit=1)]
    assert len(everything) == page.total_count


async def test_create_get_update(polar: PolarClient, emulator: Emulator) -> None:
    products = emulator.seed["products"]
    checkout = await polar.checkouts.create(
        products=[products["one_time_fixed"], products["one_time_custom"]],
        customer_id=emulator.seed["customers"]["good_card"],
        metadata={"ticket": "T-7"},
        success_url="https://example.com/thanks",
    )
    assert checkout.status == "open"
    assert checkout.client_secret.startswith("polar_c_")
    assert {p.id for p in checkout.products} == {products["one_time_fixed"], products["one_time_custom"]}
    assert checkout.metadata == {"ticket": "T-7"}
    assert (await polar.checkouts.get(checkout.id)).id == checkout.id
    updated = await polar.checkouts.update(checkout.id, metadata={"ticket": "T-8"}, customer_name="Ada G.")
    assert (updated.metadata, updated.customer_name) == ({"ticket": "T-8"}, "Ada G.")


async def test_create_with_unknown_product(polar: PolarClient) -> None:
    with pytest.raises(errors.UnprocessableEntityError) as caught:
        await polar.checkouts.create(products=["00000000-0000-4000-8000-000000000000"])
    assert caught.value.code == "PolarRequestValidationError"
    assert caught.value.detail[0]["loc"] == ["body", "products", 0]


async def test_get_unknown(polar: PolarClient) -> None:
    with pytest.raises(errors.NotFoundError):
        await polar.checkouts.get("00000000-0000-4000-8000-000000000000")


async def test_client_side_get_update_confirm(polar: PolarClient, emulator: Emulator) -> None:
    secret = emulator.seed["open_checkout_client_secret"]
    seen = await polar.checkouts.client_get(secret)
    assert (seen.id, seen.status) == (emulator.seed["open_checkout_id"], "open")
    changed = await polar.checkouts.client_update(secret, customer_name="Ada Buyer")
    assert changed.customer_name == "Ada Buyer"
    confirmed = await polar.checkouts.client_confirm(secret, confirmation_token_id="tok_visa")
    assert confirmed.status == "confirmed"
    assert confirmed.customer_session_token and confirmed.customer_session_token.startswith("polar_cst_")
    assert (await polar.checkouts.get(confirmed.id)).status == "succeeded"


async def test_client_confirm_declined(polar: PolarClient, emulator: Emulator) -> None:
    secret = emulator.seed["open_checkout_client_secret"]
    with pytest.raises(errors.BadRequestError) as caught:
        await polar.checkouts.client_confirm(secret, confirmation_token_id="tok_chargeDeclined")
    assert caught.value.code == "PaymentError"
    assert secret not in str(caught.value)


async def test_expired_checkout_is_gone(polar: PolarClient, emulator: Emulator) -> None:
    secret = emulator.seed["expired_checkout_client_secret"]
    with pytest.raises(errors.GoneError) as caught:
        await polar.checkouts.client_get(secret)
    assert caught.value.code == "ExpiredCheckoutError"
    assert "create a new checkout" in str(caught.value)
    assert secret not in str(caught.value)
