"""Reads under faults: retried and answered, or, once the retries are spent, a clear error; the next call is normal."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from mcp.client import Client
from mcp.server.mcpserver import MCPServer

from polar_orders_mcp.emulator.seed import SeedInfo
from tests.reliability.conftest import Faults
from tests.tools.conftest import call, fail

pytestmark = pytest.mark.anyio

ORDER = "/v1/orders/{id}"
# Past the client's timeout below: a real ReadTimeout on the socket.
SLOW = {"seconds": 1.0}
TIMEOUT = 0.5


@pytest.mark.parametrize(
    "fault",
    [
        pytest.param({"kind": "status", "status": 502, "count": 2}, id="502"),
        pytest.param({"kind": "status", "status": 503, "count": 2}, id="503"),
        pytest.param({"kind": "status", "status": 504, "count": 2}, id="504"),
        pytest.param({"kind": "rate_limit", "retry_after": 0.05, "count": 2}, id="rate_limit"),
        pytest.param({"kind": "drop_before", "count": 2}, id="drop_before"),
        pytest.param({"kind": "drop_after", "count": 2}, id="drop_after"),
        pytest.param({"kind": "truncate", "count": 2}, id="truncate"),
        pytest.param({"kind": "slow_body", "count": 1, **SLOW}, id="slow_body"),
        pytest.param({"kind": "latency", "count": 1, **SLOW}, id="latency"),
    ],
)
async def test_a_read_is_retried_through_transient_faults_and_answered(
    make_server: Callable[..., MCPServer[Any]], faults: Faults, seed: SeedInfo, fault: dict[str, Any]
) -> None:
    await faults.add(path=ORDER, method="GET", **fault)
    async with Client(make_server(timeout=TIMEOUT)) as client:
        order = await call(client, "get_order", {"order_id": seed.paid_order_id})
        assert order["id"] == seed.paid_order_id and order["status"] == "paid"
        assert await faults.received("GET", ORDER) == fault["count"] + 1
        again = await call(client, "get_order", {"order_id": seed.paid_order_id})
    assert again == order


@pytest.mark.parametrize(
    "fault,requests,says",
    [
        pytest.param(
            {"kind": "status", "status": 503}, 3, ["HTTP 503", "on GET /v1/orders/", "Polar's side"], id="503"
        ),
        pytest.param({"kind": "status", "status": 504}, 3, ["HTTP 504", "Gateway Time-out", "Polar's side"], id="504"),
        pytest.param(
            {"kind": "rate_limit", "retry_after": 0.05},
            3,
            ["HTTP 429", "rate limit was hit; nothing was done", "Retry after 0.05 seconds"],
            id="rate_limit",
        ),
        pytest.param(
            {"kind": "drop_after"},
            3,
            ["Could not talk to Polar at http://127.0.0.1:", "(RemoteProtocolError)", "safe to try again"],
            id="drop_after",
        ),
        pytest.param(
            {"kind": "slow_body", **SLOW},
            3,
            ["Polar at http://127.0.0.1:", "did not answer in time (ReadTimeout)", "safe to try again"],
            id="slow_body",
        ),  # three timeouts of TIMEOUT each
        # A 500 is Polar failing on this request, not a passing hiccup: not retried.
        pytest.param(
            {"kind": "status", "status": 500}, 1, ["HTTP 500", "Internal Server Error", "Polar's side"], id="500"
        ),
        # A success status with an unreadable body: not a transport failure, so not retried here.
        pytest.param({"kind": "malformed"}, 1, ["Unreadable response (HTTP 200)", "not JSON"], id="malformed"),
    ],
)
async def test_a_read_that_keeps_failing_stops_at_max_retries_with_a_clear_error(
    make_server: Callable[..., MCPServer[Any]],
    faults: Faults,
    seed: SeedInfo,
    fault: dict[str, Any],
    requests: int,
    says: list[str],
) -> None:
    await faults.add(path=ORDER, method="GET", count=10, **fault)
    async with Client(make_server(timeout=TIMEOUT, max_retries=2)) as client:
        message = await fail(client, "get_order", {"order_id": seed.paid_order_id})
        assert await faults.received("GET", ORDER) == requests
        for words in says:
            assert words in message, message
        await faults.http.delete("/_emulator/faults")
        order = await call(client, "get_order", {"order_id": seed.paid_order_id})
    assert order["status"] == "paid"


async def test_a_list_is_retried_through_a_rate_limit_then_pages_normally(
    make_server: Callable[..., MCPServer[Any]], faults: Faults
) -> None:
    await faults.add("rate_limit", "/v1/orders/", method="GET", retry_after=0.05, count=3)
    async with Client(make_server()) as client:
        first = await call(client, "list_orders", {"limit": 5})
        second = await call(client, "list_orders", {"limit": 5, "page": 2})
    assert len(first["items"]) == len(second["items"]) == 5
    assert not {o["id"] for o in first["items"]} & {o["id"] for o in second["items"]}
    assert await faults.received("GET", "/v1/orders/") == 5
