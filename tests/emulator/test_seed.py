"""The seed: deterministic, covering every status and customer kind, and fast at 100k orders."""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime

import httpx2
import pytest

from polar_orders_mcp.emulator import render
from polar_orders_mcp.emulator.app import create_app
from polar_orders_mcp.emulator.models import ORDER_STATUSES
from polar_orders_mcp.emulator.seed import build
from polar_orders_mcp.emulator.state import EmulatorState

from .conftest import BASE_URL, ORG

NOW = datetime(2026, 11, 23, tzinfo=UTC)


def test_same_seed_same_data() -> None:
    first, info_a = build(orders=500, seed=3, now=NOW)
    second, info_b = build(orders=500, seed=3, now=NOW)
    assert info_a == info_b
    assert [render.order(o) for o in first.orders] == [render.order(o) for o in second.orders]
    _, other = build(orders=500, seed=4, now=NOW)
    assert other.organization_id != info_a.organization_id and other.paid_order_id != info_a.paid_order_id


def test_seed_covers_every_status_and_customer_kind(state: EmulatorState) -> None:
    info, store = state.seed_info, state.store
    assert set(info.orders_by_status) == set(ORDER_STATUSES)
    assert all(store.orders_by_id[i].status == s for s, i in info.orders_by_status.items())
    assert {store.orders_by_id[i].customer.id for i in info.draft_orders.values()} == set(info.customers.values())
    customers = {kind: store.customers[i] for kind, i in info.customers.items()}
    outcomes = {kind: [pm.outcome for pm in c.payment_methods] for kind, c in customers.items()}
    assert outcomes == {
        "good_card": ["succeeds"],
        "declining_card": ["declines"],
        "sca_card": ["requires_action"],
        "no_payment_method": [],
        "no_billing_address": ["succeeds"],
    }
    assert customers["no_billing_address"].billing_address is None
    assert all(c.billing_address and c.email for k, c in customers.items() if k != "no_billing_address")
    assert store.checkouts[info.open_checkout_id].status == "open"
    assert store.checkouts[info.expired_checkout_id].client_secret == info.expired_checkout_client_secret
    assert store.organization.off_session_charges_enabled


def test_orders_parameter_is_the_total_and_spreads_over_customers_and_products() -> None:
    store, info = build(orders=2000, seed=0, now=NOW)
    assert len(store.orders) == info.orders == 2000
    assert [o.created_at for o in store.orders] == sorted(o.created_at for o in store.orders)
    assert len({o.customer.id for o in store.orders}) > 50
    assert len(Counter(o.product.id for o in store.orders)) == len(store.products)
    assert len({o.created_at.date() for o in store.orders}) > 200


@pytest.mark.anyio
async def test_100k_orders_build_and_serve_quickly() -> None:
    # Measured on 2 cores: build ≈ 0.8 s, a list page ≈ 10 ms, a filtered list ≈ 40 ms, full export ≈ 0.4 s.
    started = time.perf_counter()
    app = create_app(orders=100_000)
    built = time.perf_counter() - started
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url=BASE_URL, headers=ORG) as c:
        started = time.perf_counter()
        response = await c.get("/v1/orders/", params={"limit": 100, "status": "paid", "sorting": "-amount"})
        listed = time.perf_counter() - started
    assert response.status_code == 200 and response.json()["pagination"]["total_count"] > 70_000
    # Loose bounds: a guard against a pathological slowdown on a busy machine, not a benchmark.
    assert built < 10 and listed < 5, (built, listed)
