"""Customers, payment methods, products and the customer portal against the emulator."""

from __future__ import annotations

import pytest

from polar_orders_mcp.polar import errors
from polar_orders_mcp.polar.client import PolarClient
from tests.polar.conftest import Emulator

pytestmark = pytest.mark.anyio


async def test_customers_list_and_find(polar: PolarClient, emulator: Emulator) -> None:
    page = await polar.customers.list(limit=5)
    assert len(page.items) == 5 and page.total_count > 5
    found = await polar.customers.list(email="good-card@example.com")
    assert [c.id for c in found.items] == [emulator.seed["customers"]["good_card"]]
    by_external = await polar.customers.list(query="emu_sca_card")
    assert [c.id for c in by_external.items] == [emulator.seed["customers"]["sca_card"]]
    tagged = await polar.customers.list(metadata={"kind": "no_payment_method"})
    assert [c.id for c in tagged.items] == [emulator.seed["customers"]["no_payment_method"]]
    everyone = [c async for c in polar.customers.iterate(limit=50)]
    assert len(everyone) == page.total_count


async def test_customer_and_payment_methods(polar: PolarClient, emulator: Emulator) -> None:
    customer_id = emulator.seed["customers"]["good_card"]
    customer = await polar.customers.get(customer_id)
    assert (customer.email, customer.external_id) == ("good-card@example.com", "emu_good_card")
    methods = await polar.customers.payment_methods(customer_id)
    assert [(m.type, m.brand, m.last4) for m in methods] == [("card", "visa", "4242")]
    assert methods[0].is_default and methods[0].id == customer.default_payment_method_id
    page = await polar.customers.list_payment_methods(customer_id)
    assert [m.id for m in page.items] == [m.id for m in methods]
    assert await polar.customers.payment_methods(emulator.seed["customers"]["no_payment_method"]) == []


async def test_unknown_customer(polar: PolarClient) -> None:
    with pytest.raises(errors.NotFoundError):
        await polar.customers.get("00000000-0000-4000-8000-000000000000")


async def test_products(polar: PolarClient, emulator: Emulator) -> None:
    products = emulator.seed["products"]
    page = await polar.products.list(limit=100)
    assert {p.id for p in page.items} >= set(products.values())
    one_time = await polar.products.list(is_recurring=False, limit=100)
    assert one_time.items and not any(p.is_recurring for p in one_time.items)
    fixed = await polar.products.get(products["one_time_fixed"])
    assert fixed.prices[0].amount_type == "fixed" and fixed.prices[0].price_amount == 1250
    custom = await polar.products.get(products["one_time_custom"])
    assert custom.prices[0].amount_type == "custom" and custom.prices[0].minimum_amount == 500
    named = await polar.products.list(query="Tip Jar")
    assert [p.id for p in named.items] == [products["one_time_custom"]]
    assert len([p async for p in polar.products.iterate(limit=2)]) == page.total_count


async def test_customer_portal_orders(emulator: Emulator) -> None:
    customer_id = emulator.seed["customers"]["good_card"]
    async with emulator.client() as org:
        session = await org.customer_sessions.create(customer_id=customer_id)
    assert session.token.startswith("polar_cst_") and session.customer_id == customer_id
    assert session.token not in repr(session)
    async with emulator.client(customer_session=session.token) as polar:
        portal = polar.customer_portal.orders
        page = await portal.list(limit=100)
        assert page.items
        paid_id = emulator.seed["paid_order_id"]
        order = await portal.get(paid_id)
        assert order.customer_id == customer_id and order.customer is None
        assert len([o async for o in portal.iterate(limit=3)]) == page.total_count
        updated = await portal.update(paid_id, billing_name="Ada G. Ltd")
        assert updated.billing_name == "Ada G. Ltd"
        await portal.generate_invoice(paid_id)
        assert (await portal.get_invoice(paid_id)).url
        receipt = await portal.get_receipt(paid_id)
        # A seeded paid order's receipt was rendered long ago: a link at once, never "still rendering".
        assert (receipt.pending, receipt.url is not None and receipt.url.startswith("http")) == (False, True)
        other = emulator.seed["draft_orders"]["sca_card"]
        with pytest.raises(errors.NotFoundError):
            await portal.get(other)


async def test_customer_portal_refuses_the_org_token(polar: PolarClient) -> None:
    with pytest.raises(errors.AuthenticationError) as caught:
        await polar.customer_portal.orders.list()
    assert "customer session" in caught.value.hint
