"""Sends every request to Polar: auth headers, the one retry loop, error mapping, body parsing."""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, TypeVar

import anyio
import httpx2
from pydantic import BaseModel, ValidationError

from polar_orders_mcp.polar import retries
from polar_orders_mcp.polar.errors import (
    MalformedResponseError,
    PolarConnectionError,
    PolarTimeoutError,
    error_from_response,
    redact_path,
    request_id_of,
)
from polar_orders_mcp.polar.params import Query

logger = logging.getLogger(__name__)


class _RedactClientSecrets(logging.Filter):
    """httpx2 logs every request URL at INFO; checkout client secrets sit in some of those paths."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact_path(message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True


logging.getLogger("httpx2").addFilter(_RedactClientSecrets())

M = TypeVar("M", bound=BaseModel)
Sleep = Callable[[float], Awaitable[None]]


class Requester:
    """What every resource uses to talk to Polar; knows nothing of the resources themselves."""

    def __init__(
        self,
        http: httpx2.AsyncClient,
        *,
        token: str,
        environment: str,
        base_url: str,
        max_retries: int = retries.DEFAULT_MAX_RETRIES,
        sleep: Sleep = anyio.sleep,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self._http = http
        self._token = token
        self.environment = environment
        self.base_url = base_url
        self.max_retries = max_retries
        self._sleep = sleep
        self._rand = rand

    def __repr__(self) -> str:
        return f"Requester(environment={self.environment!r}, base_url={self.base_url!r})"

    def _build(self, method: str, path: str, params: Query | None, json_body: Any, token: str | None) -> httpx2.Request:
        headers = {}
        bearer = self._token if token is None else token
        if bearer:
            headers["Authorization"] = f"Bearer {bearer}"
        return self._http.build_request(method, path, params=tuple(params or ()), json=json_body, headers=headers)

    async def send(
        self,
        method: str,
        path: str,
        *,
        params: Query | None = None,
        json_body: Any = None,
        token: str | None = None,
        stream: bool = False,
    ) -> httpx2.Response:
        """Send with retries; return a response with a success status, or raise a `PolarError`.

        Reads are retried on connection errors, 429 and 502/503/504. Anything else is retried
        only when it provably never left this process (a connect error): no write is repeated
        after Polar may have seen it.
        """
        request = self._build(method, path, params, json_body, token)
        idempotent = method in retries.IDEMPOTENT_METHODS
        shown = redact_path(request.url.path)
        attempt = 0
        while True:
            started = time.monotonic()
            try:
                response = await self._http.send(request, stream=True)
                if not stream or response.is_error:
                    await response.aread()
            except httpx2.TransportError as exc:
                sent = retries.request_was_sent(exc)
                if attempt < self.max_retries and (idempotent or not sent):
                    await self._pause(attempt, None, f"{type(exc).__name__}", method, shown)
                    attempt += 1
                    continue
                raise _connection_error(exc, sent, method, shown, self.base_url) from exc
            except httpx2.DecodingError as exc:
                raise MalformedResponseError(
                    "the body could not be decoded", status_code=0, method=method, path=shown
                ) from exc
            elapsed = (time.monotonic() - started) * 1000
            logger.debug("%s %s -> %s in %.0f ms", method, shown, response.status_code, elapsed)
            retry_after = retries.parse_retry_after(response.headers.get("retry-after"))
            status = response.status_code
            if status in retries.RETRY_STATUSES and idempotent and attempt < self.max_retries:
                await response.aclose()
                await self._pause(attempt, retry_after, f"HTTP {status}", method, shown)
                attempt += 1
                continue
            if response.is_error:
                raise error_from_response(
                    response, environment=self.environment, base_url=self.base_url, retry_after=retry_after
                )
            return response

    async def _pause(self, attempt: int, retry_after: float | None, why: str, method: str, path: str) -> None:
        delay = retries.retry_delay(attempt, retry_after, self._rand)
        logger.warning("%s on %s %s; retry %d of %d in %.2f s", why, method, path, attempt + 1, self.max_retries, delay)
        await self._sleep(delay)

    async def model(self, model: type[M], method: str, path: str, **kwargs: Any) -> M:
        response = await self.send(method, path, **kwargs)
        return parse_model(model, decode_json(response), response)

    async def stream_text(self, method: str, path: str, *, params: Query | None = None) -> AsyncIterator[str]:
        """The body as text chunks; no retry once the first chunk has arrived."""
        response = await self.send(method, path, params=params, stream=True)
        shown = redact_path(response.request.url.path)
        try:
            async for chunk in response.aiter_text():
                yield chunk
        except httpx2.TransportError as exc:
            raise _connection_error(exc, True, method, shown, self.base_url) from exc
        finally:
            await response.aclose()


def _connection_error(
    exc: httpx2.TransportError, sent: bool, method: str, path: str, base_url: str
) -> PolarConnectionError:
    # The base URL says where it tried (production, sandbox, a proxy); it never holds a credential.
    if isinstance(exc, httpx2.TimeoutException):
        return PolarTimeoutError(
            f"Polar at {base_url} did not answer in time ({type(exc).__name__})",
            request_sent=sent,
            method=method,
            path=path,
        )
    return PolarConnectionError(
        f"Could not talk to Polar at {base_url} ({type(exc).__name__})", request_sent=sent, method=method, path=path
    )


def malformed(response: httpx2.Response, message: str) -> MalformedResponseError:
    return MalformedResponseError(
        message,
        status_code=response.status_code,
        method=response.request.method,
        path=redact_path(response.request.url.path),
        request_id=request_id_of(response),
    )


def decode_json(response: httpx2.Response) -> Any:
    """The JSON body, None when empty; a non-JSON body is a `MalformedResponseError`."""
    if not response.content.strip():
        return None
    try:
        return json.loads(response.content)
    except ValueError as exc:
        raise malformed(response, "the body is not JSON") from exc


def parse_model(model: type[M], data: Any, response: httpx2.Response) -> M:
    if not isinstance(data, Mapping):
        raise malformed(response, f"expected a JSON object for {model.__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        fields = ", ".join(".".join(str(p) for p in e["loc"]) for e in exc.errors()[:5])
        raise malformed(response, f"{model.__name__} is missing or has invalid fields: {fields}") from exc
