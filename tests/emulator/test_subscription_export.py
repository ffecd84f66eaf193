"""The subscriptions CSV export: Polar's default and optional columns, filters, time zone and file name."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import httpx2
import pytest

from polar_orders_mcp.emulator.seed import READ_ONLY_TOKEN, SeedInfo
from polar_orders_mcp.emulator.state import EmulatorState

pytestmark = pytest.mark.anyio
EXPORT = "/v1/subscriptions/export"


def parse(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


async def test_default_columns_and_attachment(client: httpx2.AsyncClient) -> None:
    response = await client.get(EXPORT)
    assert (
        response.status_code,
        response.headers["content-type"],
        response.headers["content-disposition"],
        parse(response.text)[0],
    ) == (
        200,
        "text/csv; charset=utf-8",
        'attachment; filename="polar-subscriptions.csv"',
        ["Email", "Started At", "Product", "Amount", "Currency", "Status", "Billing Interval"],
    )


async def test_every_subscription_on_one_export_newest_start_first(
    client: httpx2.AsyncClient, state: EmulatorState
) -> None:
    rows = parse((await client.get(EXPORT)).text)[1:]
    expected = sorted(state.store.subscriptions.values(), key=lambda s: s.created_at, reverse=True)
    assert [r[1] for r in rows] == [s.created_at.isoformat() for s in expected]


async def test_a_row_in_major_units_with_the_bare_interval(client: httpx2.AsyncClient, info: SeedInfo) -> None:
    # Polar writes amount / 100 as a float, and the interval alone when it renews every single interval.
    response = await client.get(EXPORT, params={"status": "canceled", "started_after": "2026-10-01T00:00:00Z"})
    rows = parse(response.text)
    assert rows[1:] == [
        [
            "no-payment-method@example.com",
            "2026-10-22T00:00:00+00:00",
            "Pro Monthly",
            "29.0",
            "usd",
            "canceled",
            "month",
        ]
    ]


async def test_optional_columns_in_the_order_asked(client: httpx2.AsyncClient) -> None:
    response = await client.get(
        EXPORT,
        params={
            "cancel_at_period_end": "true",
            "columns": [
                "cancel_at_period_end",
                "ends_at",
                "cancellation_reason",
                "discount",
                "seats",
                "trial_end",
                "billing_country",
                "net_amount",
            ],
        },
    )
    assert parse(response.text) == [
        [
            "Cancels At Period End",
            "Ends At",
            "Cancellation Reason",
            "Discount",
            "Seats",
            "Trial End",
            "Billing Country",
            "Net Amount",
        ],
        ["true", "2026-11-21T00:00:00+00:00", "too_expensive", "", "", "", "DE", "29.0"],
    ]


async def test_status_and_product_filters(client: httpx2.AsyncClient, info: SeedInfo, state: EmulatorState) -> None:
    product = info.products["recurring_yearly"]
    rows = parse(
        (
            await client.get(
                EXPORT, params={"product_id": product, "status": ["active", "trialing"], "columns": "status"}
            )
        ).text
    )[1:]
    expected = [s for s in state.store.subscriptions.values() if s.product_id == product and s.status == "active"]
    assert rows == [["active"]] * len(expected)


async def test_the_timezone_renders_every_date(client: httpx2.AsyncClient) -> None:
    response = await client.get(
        EXPORT,
        params={
            "timezone": "Asia/Tokyo",
            "cancel_at_period_end": "true",
            "columns": ["started_at", "current_period_end"],
        },
    )
    assert parse(response.text)[1] == ["2026-10-22T09:00:00+09:00", "2026-11-21T09:00:00+09:00"]


async def test_started_bounds_are_strict_and_name_the_file(client: httpx2.AsyncClient, state: EmulatorState) -> None:
    after, before = datetime(2026, 4, 1, tzinfo=UTC), datetime(2026, 10, 22, tzinfo=UTC)
    response = await client.get(
        EXPORT,
        params={
            "started_after": after.isoformat(),
            "started_before": before.isoformat(),
            "timezone": "America/New_York",
            "columns": "started_at",
        },
    )
    expected = [s for s in state.store.subscriptions.values() if after < s.created_at < before]
    assert (len(parse(response.text)) - 1, response.headers["content-disposition"]) == (
        len(expected),
        'attachment; filename="polar-subscriptions-2026-03-31-2026-10-21.csv"',
    )


async def test_bad_query_is_fastapis_422(client: httpx2.AsyncClient) -> None:
    response = await client.get(
        EXPORT, params={"started_after": "2026-01-01T00:00:00", "columns": "email_address", "timezone": "Nowhere/Land"}
    )
    assert (response.status_code, [(d["type"], d["loc"]) for d in response.json()["detail"]]) == (
        422,
        [
            ("timezone_aware", ["query", "started_after"]),
            ("value_error", ["query", "timezone"]),
            ("enum", ["query", "columns"]),
        ],
    )
    assert response.json()["detail"][1] == {
        "type": "value_error",
        "loc": ["query", "timezone"],
        "input": "Nowhere/Land",
        "ctx": {"error": {}},
        "msg": "Value error, 'Nowhere/Land' is not a valid IANA time zone",
    }


async def test_an_unknown_column_lists_polars_columns(client: httpx2.AsyncClient) -> None:
    response = await client.get(EXPORT, params={"columns": "mrr"})
    assert response.json()["detail"][0]["msg"] == (
        "Input should be 'email', 'started_at', 'product', 'amount', 'currency', 'status', 'recurring_interval', "
        "'customer_name', 'billing_name', 'billing_country', 'net_amount', 'discount', 'seats', "
        "'current_period_start', 'current_period_end', 'cancel_at_period_end', 'canceled_at', 'ends_at', 'ended_at', "
        "'cancellation_reason', 'trial_start' or 'trial_end'"
    )


async def test_a_read_only_token_exports(anonymous: httpx2.AsyncClient) -> None:
    response = await anonymous.get(EXPORT, headers={"Authorization": f"Bearer {READ_ONLY_TOKEN}"})
    assert response.status_code == 200


async def test_export_is_not_a_subscription_id_for_other_methods(client: httpx2.AsyncClient) -> None:
    # As at Polar, only GET has an /export route: PATCH reaches /{id} and fails its UUID check.
    response = await client.patch(EXPORT, json={})
    assert (response.status_code, response.json()["detail"][0]["type"]) == (422, "uuid_parsing")
