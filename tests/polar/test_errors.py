"""Error mapping: each status to its class, with Polar's code and detail kept exactly."""

from __future__ import annotations

from typing import Any

import httpx2
import pytest

from polar_orders_mcp.polar import errors
from polar_orders_mcp.polar.errors import PolarAPIError
from tests.polar.scripted import ORDER_ID, Script, client_for, json_response

pytestmark = pytest.mark.anyio

VALIDATION = [{"loc": ["body", "customer_id"], "msg": "Field required", "type": "missing", "input": {}}]

CASES: list[tuple[int, dict[str, Any], type[PolarAPIError]]] = [
    (400, {"error": "PaymentError", "detail": "Card was declined."}, errors.BadRequestError),
    (401, {"error": "Unauthorized"}, errors.AuthenticationError),
    (402, {"error": "PaymentFailed", "detail": "Your card was declined."}, errors.PaymentRequiredError),
    (402, {"error": "PaymentActionRequired", "detail": "Needs 3DS."}, errors.PaymentRequiredError),
    (403, {"error": "OffSessionChargesNotEnabled", "detail": "Not enabled."}, errors.PermissionDeniedError),
    (404, {"error": "ResourceNotFound", "detail": "Not found"}, errors.NotFoundError),
    (404, {"error": "InvoiceDoesNotExist", "detail": "No invoice yet."}, errors.NotFoundError),
    (404, {"error": "ReceiptNotAllocated", "detail": "No receipt."}, errors.NotFoundError),
    (409, {"error": "OrderNotEligibleForInvoice", "detail": "Order is draft."}, errors.ConflictError),
    (410, {"error": "ExpiredCheckoutError", "detail": "This checkout is expired."}, errors.GoneError),
    (412, {"error": "OrderNotDraft", "detail": "Order is not a draft."}, errors.PreconditionFailedError),
    (422, {"error": "RequestValidationError", "detail": VALIDATION}, errors.UnprocessableEntityError),
    (
        422,
        {"error": "MissingInvoiceBillingDetails", "detail": "Billing name missing."},
        errors.UnprocessableEntityError,
    ),
    (500, {"error": "InternalServerError", "detail": "Oops"}, errors.ServerError),
    (418, {"error": "Teapot", "detail": "short and stout"}, errors.PolarAPIError),
]


async def _raise(status: int, body: Any, headers: dict[str, str] | None = None, **kw: Any) -> PolarAPIError:
    response = json_response(status, body, headers) if body is not None else httpx2.Response(status, headers=headers)
    async with client_for(Script(response), max_retries=0, **kw) as polar:
        with pytest.raises(PolarAPIError) as caught:
            await polar.orders.get(ORDER_ID)
    return caught.value


@pytest.mark.parametrize(("status", "body", "cls"), CASES, ids=[f"{c[0]}-{c[1]['error']}" for c in CASES])
async def test_status_maps_to_class_with_exact_code_and_detail(
    status: int, body: dict[str, Any], cls: type[PolarAPIError]
) -> None:
    error = await _raise(status, body, {"x-request-id": "req_123"})
    assert type(error) is cls
    assert error.status_code == status
    assert error.code == body["error"]
    assert error.detail == body.get("detail")
    assert (error.method, error.path, error.request_id) == ("GET", f"/v1/orders/{ORDER_ID}", "req_123")
    text = str(error)
    assert f"HTTP {status}" in text and body["error"] in text and "req_123" in text
    assert error.hint and error.hint in text


async def test_validation_detail_is_kept_as_list_and_readable() -> None:
    error = await _raise(422, {"error": "RequestValidationError", "detail": VALIDATION})
    assert error.detail == VALIDATION
    assert "body.customer_id: Field required" in str(error)


async def test_invalid_token_hints_at_the_other_environment() -> None:
    body = {"error": "invalid_token", "error_description": "The access token provided is expired."}
    error = await _raise(401, body)
    assert isinstance(error, errors.AuthenticationError)
    assert error.code == "invalid_token"
    assert error.detail == "The access token provided is expired."
    assert "production (https://api.polar.sh)" in error.hint
    assert "sandbox token" in error.hint
    sandbox = await _raise(401, body, server="sandbox")
    assert "sandbox (https://sandbox-api.polar.sh)" in sandbox.hint
    assert "production token" in sandbox.hint


async def test_missing_token_hint() -> None:
    error = await _raise(401, {"error": "Unauthorized"}, token="")
    assert "No access token was sent" in error.hint


async def test_insufficient_scope_names_the_scope() -> None:
    # As Authlib writes it for Polar (polar/oauth2/exceptions.py): realm, the scope, then the error.
    header = (
        'Bearer realm="polar", scope="orders:write", error="insufficient_scope", '
        'error_description="The request requires higher privileges than provided by the access token."'
    )
    body = {"error": "insufficient_scope", "error_description": "The request requires higher privileges."}
    error = await _raise(403, body, {"WWW-Authenticate": header})
    assert isinstance(error, errors.PermissionDeniedError)
    assert error.required_scope == "orders:write"
    assert "orders:write" in error.hint and "orders:write" in str(error)


async def test_rate_limit_with_empty_body() -> None:
    error = await _raise(429, None, {"Retry-After": "12"})
    assert isinstance(error, errors.RateLimitError)
    assert (error.code, error.detail, error.retry_after) == (None, None, 12.0)
    assert "after 12 seconds" in str(error)


async def test_rate_limit_without_retry_after() -> None:
    error = await _raise(429, None)
    assert isinstance(error, errors.RateLimitError)
    assert error.retry_after is None
    assert "in a minute" in error.hint


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_server_errors_say_it_is_polars_side(status: int) -> None:
    error = await _raise(status, None)
    assert isinstance(error, errors.ServerError)
    assert "Polar's side" in str(error)


async def test_html_error_page_is_kept_short() -> None:
    page = "<html><body><h1>502 Bad Gateway</h1>" + "x" * 1000 + "</body></html>"
    async with client_for(Script(httpx2.Response(502, text=page)), max_retries=0) as polar:
        with pytest.raises(errors.ServerError) as caught:
            await polar.orders.get(ORDER_ID)
    assert caught.value.code is None
    assert caught.value.detail.startswith("<html><body><h1>502 Bad Gateway</h1>")
    assert len(caught.value.detail) <= 200


async def test_unknown_version_404_hint_mentions_polar_version() -> None:
    error = await _raise(404, {"detail": "Not Found"}, api_version="2099-01")
    assert error.code is None and error.detail == "Not Found"
    assert "Polar-Version 2099-01" in error.hint


async def test_request_id_from_cf_ray() -> None:
    error = await _raise(404, {"error": "ResourceNotFound", "detail": "Not found"}, {"cf-ray": "8f00-AMS"})
    assert error.request_id == "8f00-AMS"


@pytest.mark.parametrize(
    ("response", "fragment"),
    [
        (httpx2.Response(200, text="not json"), "not JSON"),
        (json_response(200, ["a", "list"]), "expected a JSON object"),
        (json_response(200, {"id": ORDER_ID}), "Order is missing or has invalid fields"),
    ],
)
async def test_malformed_success_bodies(response: httpx2.Response, fragment: str) -> None:
    async with client_for(Script(response)) as polar:
        with pytest.raises(errors.MalformedResponseError) as caught:
            await polar.orders.get(ORDER_ID)
    assert fragment in str(caught.value)
    assert caught.value.status_code == 200


async def test_malformed_list_body() -> None:
    async with client_for(Script(json_response(200, {"data": []}))) as polar:
        with pytest.raises(errors.MalformedResponseError):
            await polar.orders.list()


def test_client_secret_is_masked_in_paths() -> None:
    path = "/v1/checkouts/client/polar_c_abcdefghijklmnopqrstuvwxyz1234/confirm"
    assert errors.redact_path(path) == "/v1/checkouts/client/polar_c_…1234/confirm"
    assert errors.redact_path("/v1/orders/abc") == "/v1/orders/abc"


async def test_every_error_is_a_polar_error() -> None:
    for cls in [
        *errors.STATUS_ERRORS.values(),
        errors.ServerError,
        errors.PolarConnectionError,
        errors.MalformedResponseError,
    ]:
        assert issubclass(cls, errors.PolarError)
    assert issubclass(errors.PolarTimeoutError, errors.PolarConnectionError)


@pytest.mark.parametrize(
    ("status", "code", "cls", "says"),
    [
        (409, "RefundPendingCreation", errors.ConflictError, "do not refund again"),
        (403, "InactiveSubscription", errors.PermissionDeniedError, "not active"),
        (409, "SubscriptionLocked", errors.ConflictError, "update pending"),
    ],
)
async def test_refusals_the_emulator_never_sends_still_get_their_hint(
    status: int, code: str, cls: type[PolarAPIError], says: str
) -> None:
    # Polar raises RefundPendingCreation only in its webhook handling, and never raises SubscriptionLocked today.
    error = await _raise(status, {"error": code, "detail": "…"})
    assert type(error) is cls and error.code == code
    assert says in error.hint and f"Hint: {error.hint}" in str(error)


# Uncancelling a subscription with no cancellation scheduled: Polar's server code answers a bare 400; polar-sdk
# 1.0.2 declares a 409 `SubscriptionNotScheduledToCancel` for it. Either says the same thing.
NOT_SCHEDULED = [
    (400, {"error": "BadRequest", "detail": "Bad request"}, errors.BadRequestError),
    (
        409,
        {"error": "SubscriptionNotScheduledToCancel", "detail": "The subscription is not scheduled to cancel."},
        errors.ConflictError,
    ),
]


@pytest.mark.parametrize(("status", "body", "cls"), NOT_SCHEDULED, ids=["400", "409"])
async def test_uncancel_with_nothing_scheduled_says_so_as_a_400_or_a_409(
    status: int, body: dict[str, Any], cls: type[PolarAPIError]
) -> None:
    async with client_for(Script(json_response(status, body)), max_retries=0) as polar:
        with pytest.raises(PolarAPIError) as caught:
            await polar.subscriptions.uncancel(ORDER_ID)
    assert type(caught.value) is cls
    assert caught.value.hint == (
        "The subscription has no cancellation scheduled at the period's end, so there is nothing to take back; "
        "nothing changed. Read it to see its state."
    )
