"""The CSV export: header, columns, major units, time zones, filters and streaming."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Any

import anyio
import httpx2
import pytest

from polar_orders_mcp.emulator.app import create_app
from polar_orders_mcp.emulator.export import csv_rows
from polar_orders_mcp.emulator.seed import SeedInfo
from polar_orders_mcp.emulator.state import EmulatorState

from .conftest import ORG

pytestmark = pytest.mark.anyio


def parse(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


async def test_default_columns_every_row_and_attachment(client: httpx2.AsyncClient) -> None:
    response = await client.get("/v1/orders/export")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"] == 'attachment; filename="polar-orders.csv"'
    rows = parse(response.text)
    assert rows[0] == ["Email", "Created At", "Product", "Net Amount", "Currency", "Status", "Invoice number"]
    assert len(rows) == 61  # header + all 60 orders, no pagination


async def test_columns_in_the_order_asked_and_amounts_in_major_units(
    client: httpx2.AsyncClient, info: SeedInfo
) -> None:
    response = await client.get(
        "/v1/orders/export",
        params={"columns": ["total_amount", "email", "tax_amount", "billing_country"], "status": "paid"},
    )
    rows = parse(response.text)
    assert rows[0] == ["Total", "Email", "Tax", "Billing Country"]
    # Polar writes minor / 100: 1500 → 15.0, 250 → 2.5; the newest paid order is the seeded GB one.
    assert rows[1] == ["15.0", "good-card@example.com", "2.5", "GB"]


async def test_timezone_renders_created_at(client: httpx2.AsyncClient, state: EmulatorState) -> None:
    newest = state.store.orders[-1].created_at
    utc = parse((await client.get("/v1/orders/export", params={"columns": "created_at"})).text)
    tokyo = parse(
        (await client.get("/v1/orders/export", params={"columns": "created_at", "timezone": "Asia/Tokyo"})).text
    )
    assert utc[1] == [newest.isoformat()] and tokyo[1][0].endswith("+09:00")
    assert datetime.fromisoformat(tokyo[1][0]) == newest
    bad = await client.get("/v1/orders/export", params={"timezone": "Nowhere/Land"})
    # Polar's validator raises a ValueError; FastAPI's jsonable_encoder renders it in `ctx` as its empty vars().
    said = "'Nowhere/Land' is not a valid IANA time zone"
    assert bad.status_code == 422 and bad.json()["detail"] == [
        {
            "type": "value_error",
            "loc": ["query", "timezone"],
            "msg": f"Value error, {said}",
            "input": "Nowhere/Land",
            "ctx": {"error": {}},
        }
    ]


async def test_filters_and_aware_datetimes(client: httpx2.AsyncClient, state: EmulatorState) -> None:
    naive = await client.get("/v1/orders/export", params={"created_after": "2026-06-01T00:00:00"})
    assert naive.status_code == 422 and naive.json()["detail"][0]["type"] == "timezone_aware"
    after = datetime(2026, 6, 1, tzinfo=UTC)
    response = await client.get(
        "/v1/orders/export",
        params={
            "created_after": after.isoformat(),
            "status": ["paid", "refunded"],
            "columns": ["created_at", "status"],
        },
    )
    rows = parse(response.text)[1:]
    expected = [o for o in state.store.orders if o.created_at > after and o.status in ("paid", "refunded")]
    assert len(rows) == len(expected) > 0
    assert {status for _, status in rows} <= {"paid", "refunded"}
    assert 'filename="polar-orders-2026-06-01.csv"' in response.headers["content-disposition"]


async def test_export_streams_in_chunks() -> None:
    # httpx's ASGI transport buffers bodies, so talk ASGI directly and count the body messages.
    app = create_app(orders=1200)
    messages: list[dict[str, Any]] = []
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/v1/orders/export",
        "raw_path": b"/v1/orders/export",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"polar.test"), (b"authorization", ORG["Authorization"].encode())],
        "server": ("polar.test", 80),
        "client": ("127.0.0.1", 1234),
    }

    requested = False

    async def receive() -> dict[str, Any]:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await anyio.sleep_forever()  # the client never disconnects
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    await app(scope, receive, send)
    assert messages[0]["status"] == 200
    bodies = [m["body"] for m in messages if m["type"] == "http.response.body" and m.get("body")]
    assert len(bodies) >= 3
    assert sum(body.count(b"\n") for body in bodies) == 1201


def test_rows_are_produced_one_at_a_time(state: EmulatorState) -> None:
    rows = csv_rows(iter(state.store.orders[:3]), ["email", "net_amount"], UTC)
    assert next(rows) == "Email,Net Amount\r\n"
    assert next(rows).count("\r\n") == 1
    assert len(list(rows)) == 2
