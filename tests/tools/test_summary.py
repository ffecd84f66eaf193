"""summarize_orders: exact sums in minor units from Polar's export, by currency, product, status or day."""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx2
import pytest
from mcp.client import Client
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from polar_orders_mcp.emulator.app import create_app
from polar_orders_mcp.emulator.state import EmulatorState
from polar_orders_mcp.server.app import build_server
from polar_orders_mcp.settings import Settings
from polar_orders_mcp.tools import summary
from polar_orders_mcp.tools.views import money
from tests.tools.conftest import call, fail

pytestmark = pytest.mark.anyio
SALES = ["paid", "partially_refunded", "refunded"]
AFTER, BEFORE = datetime(2026, 5, 1, tzinfo=UTC), datetime(2026, 7, 1, tzinfo=UTC)


def expected(state: EmulatorState, statuses: list[str]) -> dict[str, int]:
    orders = [o for o in state.store.orders if AFTER <= o.created_at < BEFORE and o.status in statuses]
    return {
        "orders": len(orders),
        "net_amount": sum(o.net_amount for o in orders),
        "tax_amount": sum(o.tax_amount for o in orders),
        "total_amount": sum(o.total_amount for o in orders),
        "refunded_amount": sum(o.refunded_amount for o in orders),
    }


@pytest.fixture
def emulator() -> Any:
    return create_app(orders=1200)


async def test_totals_are_exact_minor_units_per_currency(
    server: MCPServer[Any], state: EmulatorState, mode: str
) -> None:
    async with Client(server, mode=mode) as client:
        result = await call(
            client,
            "summarize_orders",
            {"created_after": AFTER.isoformat(), "created_before": BEFORE.isoformat(), "status": SALES},
        )
    want = expected(state, SALES)
    assert result["orders"] == want["orders"] > 100
    [usd] = result["currencies"]
    assert {k: usd[k] for k in want} == want
    assert usd["currency"] == "usd" and usd["net_after_refunds"] == want["net_amount"] - want["refunded_amount"]
    assert usd["total"] == f"${want['total_amount'] // 100:,}.{want['total_amount'] % 100:02d}"
    assert result["groups"] is None
    assert (
        result["period"] == "from 2026-05-01T00:00:00+00:00 (inclusive) to 2026-07-01T00:00:00+00:00 (exclusive); "
        "days in UTC"
    )
    assert len(str(result)) < 700  # a few hundred bytes, however many orders


async def test_grouped_by_product_status_and_day(server: MCPServer[Any], state: EmulatorState) -> None:
    bounds = {"created_after": AFTER.isoformat(), "created_before": BEFORE.isoformat()}
    async with Client(server) as client:
        by_product = await call(client, "summarize_orders", {**bounds, "group_by": "product"})
        by_status = await call(client, "summarize_orders", {**bounds, "group_by": "status"})
        by_day = await call(
            client,
            "summarize_orders",
            {**bounds, "status": ["paid"], "group_by": "day", "timezone": "America/New_York"},
        )
    orders = [o for o in state.store.orders if AFTER <= o.created_at < BEFORE]
    products: defaultdict[str, int] = defaultdict(int)
    for o in orders:
        products[o.description] += o.total_amount
    assert {g["key"]: g["total_amount"] for g in by_product["groups"]} == products
    totals = [g["total_amount"] for g in by_product["groups"]]
    assert totals == sorted(totals, reverse=True)
    assert {g["key"]: g["orders"] for g in by_status["groups"]} == Counter(o.status for o in orders)
    assert by_status["groups"][0]["key"] == "paid"
    zone = ZoneInfo("America/New_York")
    days = Counter(o.created_at.astimezone(zone).date().isoformat() for o in orders if o.status == "paid")
    assert {g["key"]: g["orders"] for g in by_day["groups"]} == days
    assert [g["key"] for g in by_day["groups"]] == sorted(days)


async def test_progress_is_reported_on_long_ranges(
    server: MCPServer[Any], monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    monkeypatch.setattr(summary, "PROGRESS_EVERY", 400)
    seen: list[tuple[float, float | None]] = []

    async def progress(done: float, total: float | None, message: str | None) -> None:
        seen.append((done, total))

    async with Client(server, mode=mode) as client:
        result = await client.call_tool("summarize_orders", {}, progress_callback=progress)
    assert not result.is_error
    assert seen == [(400, 1200), (800, 1200), (1200, 1200)]


async def test_bad_ranges_and_zones_are_refused_before_any_request(
    server: MCPServer[Any], state: EmulatorState
) -> None:
    async with Client(server) as client:
        year = await fail(
            client,
            "summarize_orders",
            {"group_by": "day", "created_after": "2026-01-01T00:00:00Z", "created_before": "2026-12-01T00:00:00Z"},
        )
        open_ended = await fail(client, "summarize_orders", {"group_by": "day"})
        backwards = await fail(
            client, "summarize_orders", {"created_after": BEFORE.isoformat(), "created_before": AFTER.isoformat()}
        )
        zone = await fail(client, "summarize_orders", {"timezone": "Mars/Olympus"})
        naive = await fail(client, "summarize_orders", {"created_after": "2026-05-01T00:00:00"})
        both = await fail(client, "summarize_orders", {"created_after": AFTER.isoformat(), "from_day": "2026-05-01"})
        both_ends = await fail(
            client, "summarize_orders", {"created_before": AFTER.isoformat(), "to_day": "2026-05-01"}
        )
        days_backwards = await fail(client, "summarize_orders", {"from_day": "2026-05-02", "to_day": "2026-05-01"})
        no_such_day = await fail(client, "summarize_orders", {"from_day": "2026-02-30"})
        day_zone = await fail(client, "summarize_orders", {"from_day": "2026-05-01", "timezone": "Mars/Olympus"})
        last_day = await fail(client, "summarize_orders", {"to_day": "9999-12-31"})
        long_days = await fail(
            client, "summarize_orders", {"group_by": "day", "from_day": "2026-01-01", "to_day": "2026-04-30"}
        )
    assert (
        year
        == open_ended
        == long_days
        == (
            "Error executing tool summarize_orders: group_by='day' needs a start and an end (created_after/from_day, "
            "created_before/to_day) at most 92 days apart; summarize longer periods by product or status, or one "
            "quarter at a time."
        )
    )
    assert last_day.endswith("to_day 9999-12-31 has no next day; leave to_day out to count up to now.")
    assert both.endswith("Pass created_after or from_day, not both.")
    assert both_ends.endswith("Pass created_before or to_day, not both.")
    assert days_backwards.endswith("from_day 2026-05-02 is after to_day 2026-05-01.")
    assert "from_day" in no_such_day and "date" in no_such_day
    assert day_zone.endswith("Unknown timezone 'Mars/Olympus': use an IANA name such as UTC or Europe/Paris.")
    assert backwards.endswith("created_after must be before created_before.")
    assert "Unknown timezone 'Mars/Olympus'" in zone
    assert "created_after" in naive and "timezone" in naive
    assert state.faults.received(path="/v1/orders/*") == []


async def test_products_past_the_group_cap_are_folded_into_other(
    server: MCPServer[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(summary, "MAX_GROUPS", 3)
    async with Client(server) as client:
        result = await call(client, "summarize_orders", {"group_by": "product"})
    keys = [g["key"] for g in result["groups"]]
    assert len(keys) == 3 and keys[-1] == "(other)" and result["other_groups"] == 6 - 2
    assert sum(g["orders"] for g in result["groups"]) == result["orders"] == 1200


def test_export_amounts_convert_to_exact_minor_units() -> None:
    # Polar writes minor / 100 as a Python float; its text is exact up to 10^13 minor units.
    rng = random.Random(7)
    for minor in [0, 1, 5, 10, 1250, 99_999_999, *(rng.randrange(10**13) for _ in range(20_000))]:
        assert summary.minor_units(str(minor / 100), "net_amount") == minor
    for bad in ("12.345", "nan", "abc"):
        with pytest.raises(ToolError):
            summary.minor_units(bad, "net_amount")


async def test_a_quoted_product_name_with_a_comma_and_newline_is_one_group(emulator: Any, state: EmulatorState) -> None:
    for order in state.store.orders[:10]:
        order.description = 'Seats, "team"\nedition'
    server = build_server(Settings(emulator=True), transport=httpx2.ASGITransport(app=emulator))
    async with Client(server) as client:
        result = await call(
            client,
            "summarize_orders",
            {
                "group_by": "product",
                "created_before": (state.store.orders[9].created_at + timedelta(seconds=1)).isoformat(),
            },
        )
    assert [(g["key"], g["orders"]) for g in result["groups"]] == [('Seats, "team" edition', 10)]


def first_order_of_a_day_at_midnight(state: EmulatorState, zone: ZoneInfo) -> datetime:
    """Move the first order of a day (in `zone`) from the middle of the sample to that day's midnight; return it.
    The orders stay in order: the one before it was made on an earlier day."""
    orders = state.store.orders
    index = next(
        i
        for i in range(len(orders) // 2, len(orders))
        if orders[i].created_at.astimezone(zone).date() != orders[i - 1].created_at.astimezone(zone).date()
    )
    day = orders[index].created_at.astimezone(zone).date()
    orders[index].created_at = datetime.combine(day, datetime.min.time(), zone)
    return orders[index].created_at


async def test_an_order_made_at_the_start_is_counted(server: MCPServer[Any], state: EmulatorState) -> None:
    midnight = first_order_of_a_day_at_midnight(state, ZoneInfo("UTC"))
    async with Client(server) as client:
        result = await call(
            client,
            "summarize_orders",
            {
                "created_after": midnight.isoformat().replace("+00:00", "Z"),
                "created_before": (midnight + timedelta(days=1)).isoformat(),
            },
        )
    day = [o for o in state.store.orders if midnight <= o.created_at < midnight + timedelta(days=1)]
    assert day[0].created_at == midnight and result["orders"] == len(day)


async def test_calendar_days_are_whole_days_in_the_timezone(server: MCPServer[Any], state: EmulatorState) -> None:
    zone = ZoneInfo("America/New_York")
    midnight = first_order_of_a_day_at_midnight(state, zone)
    first = midnight.date()
    last = first + timedelta(days=2)
    async with Client(server) as client:
        result = await call(
            client,
            "summarize_orders",
            {
                "from_day": first.isoformat(),
                "to_day": last.isoformat(),
                "timezone": "America/New_York",
                "group_by": "day",
            },
        )
    days = Counter(d for o in state.store.orders if first <= (d := o.created_at.astimezone(zone).date()) <= last)
    assert {g["key"]: g["orders"] for g in result["groups"]} == {d.isoformat(): n for d, n in days.items()}
    assert result["orders"] == sum(days.values()) and len(days) == 3
    start = datetime.combine(first, datetime.min.time(), zone).isoformat()
    end = datetime.combine(last + timedelta(days=1), datetime.min.time(), zone).isoformat()
    assert result["period"] == f"from {start} (inclusive) to {end} (exclusive); days in America/New_York"


async def test_days_default_to_the_servers_timezone(make_server: Any, state: EmulatorState) -> None:
    zone = ZoneInfo("Asia/Tokyo")
    midnight = first_order_of_a_day_at_midnight(state, zone)
    async with Client(make_server(timezone="Asia/Tokyo")) as client:
        result = await call(
            client, "summarize_orders", {"from_day": midnight.date().isoformat(), "to_day": midnight.date().isoformat()}
        )
    day = [o for o in state.store.orders if o.created_at.astimezone(zone).date() == midnight.date()]
    assert result["orders"] == len(day) and result["period"].endswith("days in Asia/Tokyo")


async def test_product_groups_have_their_product_id_and_display_amounts(
    server: MCPServer[Any], state: EmulatorState
) -> None:
    ids = {p.name: p.id for p in state.store.products.values()}
    async with Client(server) as client:
        result = await call(client, "summarize_orders", {"group_by": "product"})
    assert result["groups"] and all(g["key"] in ids for g in result["groups"])
    for group in result["groups"]:
        assert group["product_id"] == ids[group["key"]]
        assert group["total"] == money(group["total_amount"], group["currency"])
        assert group["net_after_refunds"] == group["net_amount"] - group["refunded_amount"]


async def test_a_product_name_two_products_share_has_no_id(server: MCPServer[Any], state: EmulatorState) -> None:
    first, second = list(state.store.products.values())[:2]
    second.name = first.name
    async with Client(server) as client:
        result = await call(client, "summarize_orders", {"group_by": "product"})
    named = [g for g in result["groups"] if g["key"] == first.name]
    assert named and all(g["product_id"] is None for g in named)


async def test_the_export_takes_the_same_period(server: MCPServer[Any], state: EmulatorState) -> None:
    zone = ZoneInfo("Europe/Paris")
    midnight = first_order_of_a_day_at_midnight(state, zone)
    async with Client(server) as client:
        result = await client.call_tool(
            "export_orders",
            {
                "from_day": midnight.date().isoformat(),
                "to_day": midnight.date().isoformat(),
                "timezone": "Europe/Paris",
                "columns": ["created_at"],
            },
        )
    rows = result.content[1].resource.text.splitlines()[1:]  # type: ignore[union-attr]
    day = [o for o in state.store.orders if o.created_at.astimezone(zone).date() == midnight.date()]
    assert rows[-1] == midnight.isoformat() and len(rows) == len(day)
