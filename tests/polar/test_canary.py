"""The access token never shows up in an error message, a repr or a log record."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import httpx2
import pytest

from polar_orders_mcp.polar.client import PolarClient
from polar_orders_mcp.polar.errors import PolarError
from tests.polar.scripted import CUSTOMER_ID, ORDER_ID, PRODUCT_ID, Script, client_for, json_response

pytestmark = pytest.mark.anyio

CANARY = "polar_oat_CANARY_d0_not_leak_7f3e"
SESSION_CANARY = "polar_cst_CANARY_session_91ab"
SECRET = "polar_c_CANARYclientsecret0000abcd"

FAILURES: list[httpx2.Response | Exception] = [
    *(
        json_response(s, {"error": "Something", "detail": "went wrong"})
        for s in (400, 401, 402, 403, 404, 409, 410, 412, 418, 422, 500, 502, 503, 504)
    ),
    json_response(401, {"error": "invalid_token", "error_description": "bad token"}),
    json_response(403, {"error": "insufficient_scope"}, {"WWW-Authenticate": 'Bearer scope="orders:write"'}),
    httpx2.Response(429, headers={"Retry-After": "1"}),
    httpx2.Response(200, text="{not json"),
    httpx2.ConnectError("refused"),
    httpx2.ReadTimeout("slow"),
    httpx2.RemoteProtocolError("dropped"),
]

Call = Callable[[PolarClient], Awaitable[object]]
CALLS: list[Call] = [
    lambda p: p.orders.get(ORDER_ID),
    lambda p: p.orders.list(customer_id=CUSTOMER_ID),
    lambda p: p.orders.create(customer_id=CUSTOMER_ID, product_id=PRODUCT_ID),
    lambda p: p.orders.finalize(ORDER_ID),
    lambda p: p.orders.export_text(),
    lambda p: p.checkouts.client_confirm(SECRET),
    lambda p: p.customer_portal.orders.get(ORDER_ID),
]


async def test_token_never_leaks(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []
    for failure in FAILURES:
        for call in CALLS:
            async with client_for(Script(failure), token=CANARY, customer_session=SESSION_CANARY) as polar:
                seen.append(repr(polar))
                try:
                    seen.append(repr(await call(polar)))  # e.g. a non-JSON export is just text
                except PolarError as error:
                    seen += [str(error), repr(error), repr(error.args), error.hint, repr(vars(error))]
    assert len(seen) > 100
    logs = [record.getMessage() for record in caplog.records] + [repr(r.args) for r in caplog.records]
    assert any("retry" in line for line in logs)  # the retry warnings were captured
    for text in seen + logs:
        assert CANARY not in text
        assert SESSION_CANARY not in text
        assert SECRET not in text
