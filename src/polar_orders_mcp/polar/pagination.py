"""Polar's page-numbered lists: one page as a `Page`, or every item across all pages."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from polar_orders_mcp.polar.models import Page, T
from polar_orders_mcp.polar.params import Query
from polar_orders_mcp.polar.requester import Requester, decode_json, malformed, parse_model

MAX_LIMIT = 100  # Polar silently clamps larger page sizes to this

# pydantic caches a parametrized generic such as `Page[Order]` only weakly: once collected it is
# rebuilt as a new class on the next use (a fifth of a list call's time). Strong references here.
_PAGE_MODELS: dict[type[Any], type[Page[Any]]] = {}


def page_model(item: type[T]) -> type[Page[T]]:
    """`Page[item]`, built once per item model."""
    model = _PAGE_MODELS.get(item)
    if model is None:
        model = _PAGE_MODELS[item] = Page[item]  # type: ignore[valid-type]
    return model


async def fetch_page(
    api: Requester, path: str, item: type[T], query: Query, *, page: int, limit: int, token: str | None = None
) -> Page[T]:
    """GET one page of `path`: `{items, pagination: {total_count, max_page}}`."""
    params = [*query, ("page", str(page)), ("limit", str(limit))]
    response = await api.send("GET", path, params=params, token=token)
    body: Any = decode_json(response)
    if not isinstance(body, dict) or not isinstance(body.get("items"), list):
        raise malformed(response, "expected a list body with `items` and `pagination`")
    pagination = body.get("pagination") or {}
    items = [parse_model(item, raw, response) for raw in body["items"]]
    try:
        return page_model(item)(
            items=items,
            total_count=int(pagination.get("total_count", len(items))),
            max_page=int(pagination.get("max_page", page)),
            page=page,
            limit=min(limit, MAX_LIMIT),
        )
    except (TypeError, ValueError) as exc:
        raise malformed(response, "the pagination block is not numbers") from exc


async def iterate_pages(fetch: Callable[[int], Awaitable[Page[T]]]) -> AsyncIterator[T]:
    """Every item of every page, in order; stops at `max_page` (0 for an empty list)."""
    page_number = 1
    while True:
        page = await fetch(page_number)
        for item in page.items:
            yield item
        if page_number >= page.max_page or not page.items:
            return
        page_number += 1
