"""Pages and the iterator over all of them."""

from __future__ import annotations

import httpx2
import pytest

from tests.polar.scripted import Script, client_for, json_response, order_json

pytestmark = pytest.mark.anyio


def _pages(total: int, per_page: int) -> Script:
    max_page = -(-total // per_page)

    def answer(request: httpx2.Request) -> httpx2.Response:
        page = int(request.url.params["page"])
        start = (page - 1) * per_page
        items = [order_json(id=f"o{n}") for n in range(start, min(start + per_page, total))]
        return json_response(200, {"items": items, "pagination": {"total_count": total, "max_page": max_page}})

    return Script(answer)


async def test_one_page() -> None:
    script = _pages(25, 10)
    async with client_for(script) as polar:
        page = await polar.orders.list(page=2, limit=10)
    assert [o.id for o in page.items] == [f"o{n}" for n in range(10, 20)]
    assert (page.page, page.total_count, page.max_page, page.has_next) == (2, 25, 3, True)


async def test_iterate_reads_every_page_and_stops_at_max_page() -> None:
    script = _pages(25, 10)
    async with client_for(script) as polar:
        ids = [order.id async for order in polar.orders.iterate(limit=10)]
    assert ids == [f"o{n}" for n in range(25)]
    assert [r.url.params["page"] for r in script.requests] == ["1", "2", "3"]


async def test_iterate_an_empty_list_with_max_page_zero() -> None:
    script = Script(json_response(200, {"items": [], "pagination": {"total_count": 0, "max_page": 0}}))
    async with client_for(script) as polar:
        assert [o async for o in polar.orders.iterate()] == []
        page = await polar.orders.list()
    assert script.calls == 2
    assert (page.max_page, page.has_next) == (0, False)


async def test_iterate_stops_on_an_empty_page_even_if_max_page_says_more() -> None:
    script = Script(json_response(200, {"items": [], "pagination": {"total_count": 50, "max_page": 5}}))
    async with client_for(script) as polar:
        assert [o async for o in polar.orders.iterate()] == []
    assert script.calls == 1


async def test_iterate_defaults_to_pages_of_100_and_keeps_filters() -> None:
    script = _pages(3, 100)
    async with client_for(script) as polar:
        [o async for o in polar.orders.iterate(customer_id=["a", "b"], status="paid")]
    params = script.requests[0].url.params
    assert params["limit"] == "100"
    assert params.get_list("customer_id") == ["a", "b"]
    assert params["status"] == "paid"
