"""The retry loop: what is retried, how long it waits, and what is never repeated."""

from __future__ import annotations

import email.utils

import httpx2
import pytest

from polar_orders_mcp.polar import retries
from polar_orders_mcp.polar.errors import PolarConnectionError, PolarTimeoutError, RateLimitError, ServerError
from tests.polar.scripted import (
    CUSTOMER_ID,
    ORDER_ID,
    PRODUCT_ID,
    Script,
    Sleeps,
    client_for,
    json_response,
    order_json,
)

pytestmark = pytest.mark.anyio

OK = json_response(200, order_json())


async def test_429_with_empty_body_honours_retry_after() -> None:
    script, sleeps = Script(httpx2.Response(429, headers={"Retry-After": "7"}), OK), Sleeps()
    async with client_for(script, sleeps) as polar:
        order = await polar.orders.get(ORDER_ID)
    assert order.id == ORDER_ID
    assert script.calls == 2
    assert sleeps.delays == [7.0]


async def test_retry_after_is_capped() -> None:
    script, sleeps = Script(httpx2.Response(429, headers={"Retry-After": "3600"}), OK), Sleeps()
    async with client_for(script, sleeps) as polar:
        await polar.orders.get(ORDER_ID)
    assert sleeps.delays == [retries.MAX_RETRY_AFTER]


async def test_retry_after_as_http_date() -> None:
    when = email.utils.formatdate(1_000_010.0, usegmt=True)
    assert retries.parse_retry_after(when, now=lambda: 1_000_000.0) == 10.0


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("3", 3.0), ("0", 0.0), ("1.5", 1.5), ("-4", 0.0), ("soon", None), ("", None), (None, None), ("nan", None)],
)
def test_parse_retry_after(value: str | None, seconds: float | None) -> None:
    assert retries.parse_retry_after(value) == seconds


async def test_429_until_attempts_run_out_raises_rate_limit_error() -> None:
    script, sleeps = Script(httpx2.Response(429, headers={"Retry-After": "2"})), Sleeps()
    async with client_for(script, sleeps, max_retries=2) as polar:
        with pytest.raises(RateLimitError) as caught:
            await polar.orders.get(ORDER_ID)
    assert script.calls == 3
    assert sleeps.delays == [2.0, 2.0]
    error = caught.value
    assert (error.status_code, error.code, error.detail, error.retry_after) == (429, None, None, 2.0)
    assert "Retry after 2 seconds" in str(error)


@pytest.mark.parametrize("status", [502, 503, 504])
async def test_gateway_errors_then_success(status: int) -> None:
    script = Script(json_response(status, {"error": "Unavailable", "detail": "try later"}), OK)
    async with client_for(script) as polar:
        assert (await polar.orders.get(ORDER_ID)).status == "paid"
    assert script.calls == 2


async def test_500_is_not_retried() -> None:
    script = Script(json_response(500, {"error": "InternalServerError", "detail": "boom"}), OK)
    async with client_for(script) as polar:
        with pytest.raises(ServerError):
            await polar.orders.get(ORDER_ID)
    assert script.calls == 1


async def test_connection_error_then_success() -> None:
    script = Script(httpx2.ConnectError("refused"), OK)
    async with client_for(script) as polar:
        await polar.orders.get(ORDER_ID)
    assert script.calls == 2


async def test_read_timeout_on_a_read_is_retried_then_reported_as_ambiguous() -> None:
    script, sleeps = Script(httpx2.ReadTimeout("slow")), Sleeps()
    async with client_for(script, sleeps) as polar:
        with pytest.raises(PolarTimeoutError) as caught:
            await polar.orders.get(ORDER_ID)
    assert script.calls == 1 + retries.DEFAULT_MAX_RETRIES
    assert caught.value.request_sent is True


async def test_backoff_is_exponential_jittered_and_bounded() -> None:
    script, sleeps = Script(httpx2.Response(503)), Sleeps()
    async with client_for(script, sleeps, max_retries=6, rand=lambda: 1.0) as polar:
        with pytest.raises(ServerError):
            await polar.orders.get(ORDER_ID)
    assert sleeps.delays == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]
    assert [retries.backoff(n, lambda: 0.0) for n in range(3)] == [0.25, 0.5, 1.0]


async def test_max_retries_zero_means_one_attempt() -> None:
    script = Script(httpx2.Response(503), OK)
    async with client_for(script, max_retries=0) as polar:
        with pytest.raises(ServerError):
            await polar.orders.get(ORDER_ID)
    assert script.calls == 1


async def test_create_is_not_retried_on_503() -> None:
    script = Script(httpx2.Response(503), json_response(201, order_json(status="draft")))
    async with client_for(script) as polar:
        with pytest.raises(ServerError):
            await polar.orders.create(customer_id=CUSTOMER_ID, product_id=PRODUCT_ID)
    assert script.calls == 1


async def test_create_is_not_retried_on_429() -> None:
    script = Script(httpx2.Response(429, headers={"Retry-After": "1"}), json_response(201, order_json()))
    async with client_for(script) as polar:
        with pytest.raises(RateLimitError) as caught:
            await polar.orders.create(customer_id=CUSTOMER_ID, product_id=PRODUCT_ID)
    assert script.calls == 1
    assert caught.value.retry_after == 1.0


async def test_create_is_retried_when_it_never_left() -> None:
    script = Script(httpx2.ConnectError("refused"), json_response(201, order_json(status="draft")))
    async with client_for(script) as polar:
        order = await polar.orders.create(customer_id=CUSTOMER_ID, product_id=PRODUCT_ID)
    assert order.status == "draft"
    assert script.calls == 2


@pytest.mark.parametrize(
    ("failure", "error"),
    [(httpx2.Response(503), ServerError), (httpx2.Response(502), ServerError), (httpx2.Response(429), RateLimitError)],
)
async def test_finalize_is_not_retried(failure: httpx2.Response, error: type[Exception]) -> None:
    script = Script(failure, OK)
    async with client_for(script) as polar:
        with pytest.raises(error) as caught:
            await polar.orders.finalize(ORDER_ID)
    assert type(caught.value) is error
    assert script.calls == 1


async def test_finalize_timeout_after_send_is_ambiguous_and_not_retried() -> None:
    script = Script(httpx2.ReadTimeout("no answer"), OK)
    async with client_for(script) as polar:
        with pytest.raises(PolarTimeoutError) as caught:
            await polar.orders.finalize(ORDER_ID, payment_method_id=CUSTOMER_ID)
    assert script.calls == 1
    error = caught.value
    assert isinstance(error, PolarConnectionError)
    assert error.request_sent is True
    assert "may have acted" in str(error)
    assert "Re-read" in error.hint


async def test_finalize_connect_error_is_safe_to_retry() -> None:
    script = Script(httpx2.ConnectTimeout("no route"), OK)
    async with client_for(script) as polar:
        assert (await polar.orders.finalize(ORDER_ID)).status == "paid"
    assert script.calls == 2


async def test_connect_errors_until_exhausted_say_nothing_was_sent() -> None:
    script = Script(httpx2.ConnectError("refused"))
    async with client_for(script) as polar:
        with pytest.raises(PolarConnectionError) as caught:
            await polar.orders.finalize(ORDER_ID)
    assert not isinstance(caught.value, PolarTimeoutError)
    assert caught.value.request_sent is False
    assert str(caught.value) == (
        f"Could not talk to Polar at https://api.polar.sh (ConnectError) on POST /v1/orders/{ORDER_ID}/finalize. "
        "Hint: Polar could not be reached, so nothing was done. Check the network and the server URL, then try again."
    )


async def test_a_connect_error_names_the_server_it_tried() -> None:
    script = Script(httpx2.ConnectError("refused"))
    async with client_for(script, server="http://127.0.0.1:9", max_retries=0) as polar:
        with pytest.raises(PolarConnectionError) as caught:
            await polar.orders.get(ORDER_ID)
    assert str(caught.value).startswith("Could not talk to Polar at http://127.0.0.1:9 (ConnectError) on GET /v1/")


@pytest.mark.parametrize(
    "call",
    [
        lambda p: p.orders.generate_invoice(ORDER_ID),
        lambda p: p.orders.update(ORDER_ID, billing_name="A"),
        lambda p: p.checkouts.create(products=[PRODUCT_ID]),
        lambda p: p.checkouts.client_confirm("polar_c_secret"),
    ],
    ids=["invoice", "update", "checkout-create", "checkout-confirm"],
)
async def test_other_writes_are_not_retried_on_503(call: object) -> None:
    script = Script(httpx2.Response(503), OK)
    async with client_for(script) as polar:
        with pytest.raises(ServerError):
            await call(polar)  # type: ignore[operator]
    assert script.calls == 1


class _BrokenStream(httpx2.AsyncByteStream):
    async def __aiter__(self):  # type: ignore[no-untyped-def]
        yield b"email,created_at\n"
        raise httpx2.ReadError("connection reset")


async def test_export_is_retried_before_the_first_byte_only() -> None:
    csv = httpx2.Response(200, text="email,status\na@b.co,paid\n", headers={"content-type": "text/csv"})
    script = Script(httpx2.Response(503), csv)
    async with client_for(script) as polar:
        assert await polar.orders.export_rows() == [{"email": "a@b.co", "status": "paid"}]
    assert script.calls == 2

    broken = Script(httpx2.Response(200, stream=_BrokenStream()), csv)
    async with client_for(broken) as polar:
        chunks: list[str] = []
        with pytest.raises(PolarConnectionError) as caught:
            async for chunk in polar.orders.export():
                chunks.append(chunk)
    assert chunks == ["email,created_at\n"]
    assert caught.value.request_sent is True
    assert broken.calls == 1
