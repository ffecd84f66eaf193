"""The errors the Polar client raises, mapped from HTTP responses in one place.

The tree:

* PolarError
  x PolarAPIError                  -- Polar answered with an error status
    + BadRequestError              -- 400
    + AuthenticationError          -- 401
    + PaymentRequiredError         -- 402
    + PermissionDeniedError        -- 403
    + NotFoundError                -- 404
    + ConflictError                -- 409
    + GoneError                    -- 410
    + PreconditionFailedError      -- 412
    + UnprocessableEntityError     -- 422
    + RateLimitError               -- 429
    + ServerError                  -- 5xx
  x MalformedResponseError         -- a success status with a body we could not read
  x PolarConnectionError           -- no usable answer (request_sent says if Polar may have acted)
    + PolarTimeoutError

Polar's `error` code is kept as an opaque string and `detail` exactly as given (a string,
or the list of a 422 validation error). No message ever contains the access token.
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx2

from polar_orders_mcp.polar.hints import hint_for

# Polar's own API sends no request id header today (polarsource/polar#8540 asks for
# `X-Request-ID`); Cloudflare in front of it sends `cf-ray`. The first one present wins.
# Requests that change nothing at Polar: safe to retry, and an unreadable answer to one proves nothing done.
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
REQUEST_ID_HEADERS = ("x-request-id", "x-polar-request-id", "x-correlation-id", "cf-ray")

_CLIENT_SECRET = re.compile(r"(/checkouts/client/)([^/\s\"'?#]+)")


def _mask(match: re.Match[str]) -> str:
    secret = match.group(2)
    prefix = "polar_c_" if secret.startswith("polar_c_") else ""
    return f"{match.group(1)}{prefix}…{secret[-4:]}"


def redact_path(text: str) -> str:
    """Mask checkout client secrets (each is itself a credential) in a path, URL or message."""
    return _CLIENT_SECRET.sub(_mask, text)


class PolarError(Exception):
    """Base class of everything the Polar client raises."""

    hint: str = ""


class PolarAPIError(PolarError):
    """Polar answered with an error status; `code` and `detail` are Polar's own."""

    def __init__(
        self,
        status_code: int,
        *,
        code: str | None = None,
        detail: Any = None,
        request_id: str | None = None,
        method: str = "",
        path: str = "",
        hint: str = "",
        body: Any = None,
    ) -> None:
        self.status_code = status_code
        self.code = code
        self.detail = detail
        self.request_id = request_id
        self.method = method
        self.path = path
        self.hint = hint
        self.body = body
        super().__init__(self._message())

    def _message(self) -> str:
        head = f"{self.code or 'HTTP error'} (HTTP {self.status_code})"
        if self.method or self.path:
            head += f" on {self.method} {self.path}".rstrip()
        parts = [f"{head}: {format_detail(self.detail)}"]
        if self.hint:
            parts.append(f"Hint: {self.hint}")
        if self.request_id:
            parts.append(f"Request id: {self.request_id}.")
        return " ".join(parts)

    def __str__(self) -> str:
        return self._message()

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status_code={self.status_code}, code={self.code!r}, "
            f"detail={self.detail!r}, request_id={self.request_id!r}, method={self.method!r}, "
            f"path={self.path!r})"
        )


class BadRequestError(PolarAPIError):
    """400: Polar rejected the request (at checkout confirm: `PaymentError`)."""


class AuthenticationError(PolarAPIError):
    """401: no token, or a token Polar does not know (wrong environment?)."""


class PaymentRequiredError(PolarAPIError):
    """402: a charge failed (`PaymentFailed`) or needs the customer (`PaymentActionRequired`)."""


class PermissionDeniedError(PolarAPIError):
    """403: missing scope, or the organization may not do this (`OffSessionChargesNotEnabled`).

    `required_scope` is the scope Polar named in its `WWW-Authenticate` header, when it did.
    """

    def __init__(self, status_code: int, *, required_scope: str | None = None, **kwargs: Any) -> None:
        self.required_scope = required_scope
        super().__init__(status_code, **kwargs)


class NotFoundError(PolarAPIError):
    """404: no such object here (`ResourceNotFound`, `InvoiceDoesNotExist`, `ReceiptNotAllocated`)."""


class ConflictError(PolarAPIError):
    """409: the object is in the wrong state (`OrderNotEligibleForInvoice`)."""


class GoneError(PolarAPIError):
    """410: the checkout session expired (`ExpiredCheckoutError`)."""


class PreconditionFailedError(PolarAPIError):
    """412: the order is no longer a draft (`OrderNotDraft`)."""


class UnprocessableEntityError(PolarAPIError):
    """422: validation failed; `detail` is usually the list of field errors."""


class RateLimitError(PolarAPIError):
    """429: too many requests; `retry_after` is Polar's `Retry-After` in seconds, if sent."""

    def __init__(self, status_code: int, *, retry_after: float | None = None, **kwargs: Any) -> None:
        self.retry_after = retry_after
        super().__init__(status_code, **kwargs)


class ServerError(PolarAPIError):
    """5xx: something failed on Polar's side."""


class MalformedResponseError(PolarError):
    """Polar answered with a success status but a body that is not what the spec promises."""

    def __init__(
        self, message: str, *, status_code: int, method: str, path: str, request_id: str | None = None
    ) -> None:
        self.status_code = status_code
        self.method = method
        self.path = path
        self.request_id = request_id
        if method in READ_METHODS:
            self.hint = "This is unexpected from Polar; retry once, and report it if it persists."
        else:
            # A success status means Polar did it: repeating a create would make a second one.
            self.hint = (
                f"Polar accepted the request (HTTP {status_code}) but its answer could not be read, so the "
                "change was most likely made. Re-read the object (after a create, list the newest ones) "
                "before doing it again."
            )
        text = f"Unreadable response (HTTP {status_code}) on {method} {path}: {message}. Hint: {self.hint}"
        if request_id:
            text += f" Request id: {request_id}."
        super().__init__(text)


class PolarConnectionError(PolarError):
    """No usable answer. `request_sent=True` is ambiguous: Polar may have acted on the request."""

    def __init__(self, message: str, *, request_sent: bool, method: str = "", path: str = "") -> None:
        self.request_sent = request_sent
        self.method = method
        self.path = path
        if request_sent and method not in READ_METHODS:
            self.hint = (
                "The request was sent but no answer came back, so Polar may have acted on it. "
                "Re-read the object (after a create, list the newest ones) to learn what happened before "
                "trying again."
            )
        elif request_sent:
            self.hint = "No answer came back; a read changes nothing, so it is safe to try again shortly."
        else:
            self.hint = (
                "Polar could not be reached, so nothing was done. Check the network and the server URL, then try again."
            )
        super().__init__(f"{message} on {method} {path}. Hint: {self.hint}")


class PolarTimeoutError(PolarConnectionError):
    """The connection or the answer timed out."""


# After a write raised one of these, Polar may have acted (or may still be acting) on it.
OUTCOME_UNKNOWN: tuple[type[PolarError], ...] = (PolarConnectionError, MalformedResponseError, ServerError)


def outcome_unknown(exc: PolarError) -> bool:
    """Whether a write that raised `exc` may have taken effect at Polar all the same."""
    if isinstance(exc, PolarConnectionError):
        return exc.request_sent
    return isinstance(exc, OUTCOME_UNKNOWN)


def may_still_be_running(exc: PolarError) -> bool:
    """A timeout or a 5xx: Polar (or a proxy in front of it) gave up answering, not necessarily working."""
    return isinstance(exc, (PolarTimeoutError, ServerError))


def what_failed(exc: PolarError) -> str:
    """A few words on why a write's outcome is unknown, for messages that go on to say what happened."""
    if isinstance(exc, PolarTimeoutError):
        return "Polar did not answer in time"
    if isinstance(exc, PolarConnectionError):
        return "the connection was lost before Polar's answer arrived"
    if isinstance(exc, ServerError):
        return f"Polar answered HTTP {exc.status_code}"
    if isinstance(exc, MalformedResponseError):
        return f"Polar's answer (HTTP {exc.status_code}) could not be read"
    return str(exc)


STATUS_ERRORS: dict[int, type[PolarAPIError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    402: PaymentRequiredError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    410: GoneError,
    412: PreconditionFailedError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}


def format_detail(detail: Any) -> str:
    """Render Polar's `detail` for humans: a string as is, a 422 list as `loc: msg; …`."""
    if detail is None or detail == "":
        return "(no detail given)"
    if isinstance(detail, list):
        parts = []
        for item in detail:
            if isinstance(item, dict) and "msg" in item:
                loc = ".".join(str(p) for p in item.get("loc", []))
                parts.append(f"{loc}: {item['msg']}" if loc else str(item["msg"]))
            else:
                parts.append(str(item))
        return "; ".join(parts)
    return str(detail)


def request_id_of(response: httpx2.Response) -> str | None:
    for name in REQUEST_ID_HEADERS:
        if value := response.headers.get(name):
            return value
    return None


def _scope_from_www_authenticate(value: str) -> str | None:
    # Polar (Authlib) puts the missing scope in `WWW-Authenticate: Bearer …, scope="orders:write"`.
    match = re.search(r'scope="([^"]*)"', value)
    return match.group(1) if match else None


def parse_error_body(response: httpx2.Response) -> tuple[Any, str | None, Any]:
    """Return (body, code, detail) of an error response, tolerating empty and non-JSON bodies."""
    text = response.text
    if not text.strip():
        return None, None, None
    try:
        body = json.loads(text)
    except ValueError:
        # e.g. an HTML page from a proxy in front of Polar: keep a short, readable piece.
        return text, None, " ".join(text.split())[:200]
    if not isinstance(body, dict):
        return body, None, body
    # Older Polar versions named the code `type`; OAuth2 errors put the message in `error_description`.
    code = body.get("error", body.get("type"))
    detail = body["detail"] if "detail" in body else body.get("error_description")
    return body, code if isinstance(code, str) else None, detail


def error_from_response(
    response: httpx2.Response,
    *,
    environment: str,
    base_url: str,
    retry_after: float | None = None,
) -> PolarAPIError:
    """The one place where an HTTP error status becomes a `PolarAPIError` subclass."""
    status = response.status_code
    body, code, detail = parse_error_body(response)
    scope = _scope_from_www_authenticate(response.headers.get("www-authenticate", "")) if status == 403 else None
    cls = STATUS_ERRORS.get(status) or (ServerError if status >= 500 else PolarAPIError)
    path = redact_path(response.request.url.path)
    hint = hint_for(
        status,
        code,
        environment=environment,
        base_url=base_url,
        path=path,
        retry_after=retry_after,
        scope=scope,
        api_version=response.request.headers.get("polar-version", ""),
        detail=detail,
    )
    kwargs: dict[str, Any] = {
        "code": code,
        "detail": detail,
        "request_id": request_id_of(response),
        "method": response.request.method,
        "path": path,
        "hint": hint,
        "body": body,
    }
    if cls is RateLimitError:
        return RateLimitError(status, retry_after=retry_after, **kwargs)
    if cls is PermissionDeniedError:
        return PermissionDeniedError(status, required_scope=scope, **kwargs)
    return cls(status, **kwargs)
