"""Pagination, clamping, filters (metadata included) and sorting on the list endpoints."""

from __future__ import annotations

from typing import Any

import httpx2
import pytest

from polar_orders_mcp.emulator.app import create_app
from polar_orders_mcp.emulator.seed import ORG_TOKEN, SeedInfo

from .conftest import BASE_URL, ORG

pytestmark = pytest.mark.anyio


async def items(client: httpx2.AsyncClient, path: str, **params: Any) -> list[dict[str, Any]]:
    response = await client.get(path, params={"limit": 100, **params})
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["items"]
    return found


async def test_limit_over_100_is_clamped_and_max_page_follows() -> None:
    app = create_app(orders=250)
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url=BASE_URL, headers=ORG) as c:
        body = (await c.get("/v1/orders/", params={"limit": 1000})).json()
        assert len(body["items"]) == 100
        assert body["pagination"] == {"total_count": 250, "max_page": 3}
        last = (await c.get("/v1/orders/", params={"limit": 100, "page": 3})).json()
        assert len(last["items"]) == 50
        assert (await c.get("/v1/orders/", params={"page": 99})).json()["items"] == []


async def test_default_limit_is_10_and_empty_lists_have_max_page_0(client: httpx2.AsyncClient) -> None:
    body = (await client.get("/v1/orders/")).json()
    assert len(body["items"]) == 10 and body["pagination"] == {"total_count": 60, "max_page": 6}
    empty = (await client.get("/v1/orders/", params={"metadata[nothing]": "here"})).json()
    assert empty == {"items": [], "pagination": {"total_count": 0, "max_page": 0}}


@pytest.mark.parametrize(
    "name, value, kind, msg",
    [
        ("limit", "0", "greater_than", "Input should be greater than 0"),
        ("page", "-1", "greater_than", "Input should be greater than 0"),
        ("page", "two", "int_parsing", "Input should be a valid integer, unable to parse string as an integer"),
    ],
)
async def test_bad_pagination_is_fastapi_422(
    client: httpx2.AsyncClient, name: str, value: str, kind: str, msg: str
) -> None:
    response = await client.get("/v1/orders/", params={name: value})
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert response.json()["error"] == "RequestValidationError"
    assert detail[0]["loc"] == ["query", name] and detail[0]["type"] == kind and detail[0]["msg"] == msg
    assert detail[0]["input"] == value


async def test_bad_uuid_filter_and_path_are_422(client: httpx2.AsyncClient) -> None:
    response = await client.get("/v1/orders/", params=[("customer_id", "nope"), ("customer_id", "also-bad")])
    locs = [e["loc"] for e in response.json()["detail"]]
    assert response.status_code == 422 and locs == [["query", "customer_id", 0], ["query", "customer_id", 1]]
    response = await client.get("/v1/orders/not-a-uuid")
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["path", "id"]
    assert response.json()["detail"][0]["type"] == "uuid_parsing"


async def test_filters_by_customer_status_and_repeated_keys(client: httpx2.AsyncClient, info: SeedInfo) -> None:
    good, sca = info.customers["good_card"], info.customers["sca_card"]
    mine = await items(client, "/v1/orders/", customer_id=good)
    assert mine and {o["customer_id"] for o in mine} == {good}
    both = await items(client, "/v1/orders/", customer_id=[good, sca])
    assert {o["customer_id"] for o in both} == {good, sca}
    statuses = await items(client, "/v1/orders/", status=["void", "refunded"])
    assert statuses and {o["status"] for o in statuses} <= {"void", "refunded"}
    drafts = await items(client, "/v1/orders/", status="draft", customer_id=good)
    assert info.draft_orders["good_card"] in {o["id"] for o in drafts}


async def test_filters_by_product_billing_type_discount_and_links(client: httpx2.AsyncClient, info: SeedInfo) -> None:
    recurring = await items(client, "/v1/orders/", product_billing_type="recurring")
    assert recurring and all(o["product"]["is_recurring"] and o["subscription_id"] for o in recurring)
    subscription = recurring[0]["subscription_id"]
    same = await items(client, "/v1/orders/", subscription_id=subscription)
    assert {o["subscription_id"] for o in same} == {subscription}
    fixed = await items(client, "/v1/orders/", product_id=info.products["one_time_fixed"])
    assert fixed and {o["product_id"] for o in fixed} == {info.products["one_time_fixed"]}
    by_checkout = await items(client, "/v1/orders/", checkout_id=info.succeeded_checkout_id)
    assert [o["id"] for o in by_checkout] == [info.paid_order_id]
    external = await items(client, "/v1/orders/", external_customer_id="emu_sca_card")
    assert {o["customer_id"] for o in external} == {info.customers["sca_card"]}
    other_org = await items(client, "/v1/orders/", organization_id="0b6a7f5e-3f0e-4c2b-9a53-8f7b2b9d1c11")
    assert other_org == []
    discounted = await items(client, "/v1/orders/", discount_id=info.discount_id)
    assert all(o["discount_id"] == info.discount_id for o in discounted)


async def test_created_after_and_before(client: httpx2.AsyncClient) -> None:
    everything = await items(client, "/v1/orders/")
    pivot = everything[30]["created_at"]
    newer = await items(client, "/v1/orders/", created_after=pivot)
    older = await items(client, "/v1/orders/", created_before=pivot)
    assert all(o["created_at"] > pivot for o in newer) and all(o["created_at"] < pivot for o in older)
    assert len(newer) + len(older) == len(everything) - 1


async def test_metadata_filters_and_keys_or_values(client: httpx2.AsyncClient) -> None:
    web = await items(client, "/v1/orders/", **{"metadata[source]": "web"})
    assert web and all(o["metadata"]["source"] == "web" for o in web)
    either = await items(client, "/v1/orders/", **{"metadata[source]": ["web", "api"]})
    assert {o["metadata"]["source"] for o in either} == {"web", "api"}
    spring = await items(client, "/v1/orders/", **{"metadata[source]": "web", "metadata[campaign]": "spring"})
    assert all(o["metadata"] == {"source": "web", "campaign": "spring"} for o in spring)
    kinds = await items(client, "/v1/orders/", **{"metadata[kind]": "paid"})
    assert len(kinds) == 1 and kinds[0]["status"] == "paid"


async def test_default_sort_is_newest_first_and_sorting_is_honoured(client: httpx2.AsyncClient) -> None:
    newest = await items(client, "/v1/orders/")
    assert [o["created_at"] for o in newest] == sorted((o["created_at"] for o in newest), reverse=True)
    oldest = await items(client, "/v1/orders/", sorting="created_at")
    assert oldest == newest[::-1]
    by_amount = await items(client, "/v1/orders/", sorting="-amount")
    assert [o["net_amount"] for o in by_amount] == sorted((o["net_amount"] for o in by_amount), reverse=True)
    by_customer = await items(client, "/v1/orders/", sorting=["customer", "-created_at"])
    keys = [(o["customer"]["email"], o["created_at"]) for o in by_customer]
    assert keys == sorted(keys, key=lambda k: (k[0], [-ord(ch) for ch in k[1]]))
    by_status = await items(client, "/v1/orders/", sorting="status")
    ranks = {"pending": 1, "paid": 2, "refunded": 3, "partially_refunded": 4}
    seen = [ranks.get(o["status"], 99) for o in by_status]
    # Polar ranks statuses with a CASE: draft and void are NULL, last when ascending.
    assert seen == sorted(seen)
    invoice_desc = await items(client, "/v1/orders/", sorting="-invoice_number")
    assert invoice_desc[0]["invoice_number"] is None  # NULLs first when descending, as in Postgres


async def test_unknown_sort_property_is_422(client: httpx2.AsyncClient) -> None:
    response = await client.get("/v1/orders/", params={"sorting": "price"})
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["query", "sorting"]


async def test_customer_product_and_checkout_lists(client: httpx2.AsyncClient, info: SeedInfo) -> None:
    found = await items(client, "/v1/customers/", email="DECLINING-card@example.com")
    assert [c["id"] for c in found] == [info.customers["declining_card"]]
    queried = await items(client, "/v1/customers/", query="noaddress")
    assert [c["id"] for c in queried] == [info.customers["no_billing_address"]]
    by_name = await items(client, "/v1/customers/", sorting="name")
    assert [c["name"] for c in by_name] == sorted(c["name"] for c in by_name)
    recurring = await items(client, "/v1/products/", is_recurring="true")
    assert {p["id"] for p in recurring} >= {info.products["recurring"]} and all(p["is_recurring"] for p in recurring)
    cheapest = await items(client, "/v1/products/", sorting="price_amount")
    assert cheapest[0]["id"] == info.products["free"]
    expired = await items(client, "/v1/checkouts/", status="expired")
    assert [c["id"] for c in expired] == [info.expired_checkout_id]
    methods = (await client.get(f"/v1/customers/{info.customers['good_card']}/payment-methods")).json()
    assert methods["items"][0]["method_metadata"]["last4"] == "4242" and methods["items"][0]["is_default"]
    none = (await client.get(f"/v1/customers/{info.customers['no_payment_method']}/payment-methods")).json()
    assert none == {"items": [], "pagination": {"total_count": 0, "max_page": 0}}


async def test_org_token_constant_is_the_seeded_one(info: SeedInfo) -> None:
    assert info.org_token == ORG_TOKEN
