"""A MockTransport that answers from a script and records every request it saw."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx2

from polar_orders_mcp.polar.client import PolarClient

Step = httpx2.Response | Exception | Callable[[httpx2.Request], httpx2.Response]

ORDER_ID = "7f1c1a8e-4a53-4c55-9a55-6d0e3b1c2a11"
CUSTOMER_ID = "0b6c7f2e-1d4e-4d5f-8a9b-0c1d2e3f4a5b"
PRODUCT_ID = "5e0d1c2b-3a49-4857-a6b5-c4d3e2f1a0b9"


def order_json(**overrides: Any) -> dict[str, Any]:
    """A minimal order body as Polar sends it."""
    body: dict[str, Any] = {
        "id": ORDER_ID,
        "created_at": "2026-10-01T12:00:00Z",
        "modified_at": None,
        "status": "paid",
        "paid": True,
        "subtotal_amount": 1000,
        "discount_amount": 0,
        "net_amount": 1000,
        "tax_amount": 200,
        "total_amount": 1200,
        "currency": "usd",
        "billing_reason": "purchase",
        "customer_id": CUSTOMER_ID,
        "product_id": PRODUCT_ID,
        "metadata": {},
        "items": [],
    }
    body.update(overrides)
    return body


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> httpx2.Response:
    return httpx2.Response(
        status, content=json.dumps(body).encode(), headers={"content-type": "application/json", **(headers or {})}
    )


class Script:
    """Answers requests with the next step; the last step repeats. Counts and keeps requests."""

    def __init__(self, *steps: Step) -> None:
        self.steps = list(steps)
        self.requests: list[httpx2.Request] = []

    @property
    def calls(self) -> int:
        return len(self.requests)

    def handler(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        step = self.steps[min(len(self.requests), len(self.steps)) - 1]
        if isinstance(step, Exception):
            raise step
        if isinstance(step, httpx2.Response):
            return step
        return step(request)

    def transport(self) -> httpx2.MockTransport:
        return httpx2.MockTransport(self.handler)


class Sleeps:
    """An injectable sleep that records delays instead of waiting."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def client_for(script: Script, sleeps: Sleeps | None = None, **kwargs: Any) -> PolarClient:
    kwargs.setdefault("token", "polar_oat_test")
    return PolarClient(transport=script.transport(), sleep=sleeps or Sleeps(), **kwargs)
