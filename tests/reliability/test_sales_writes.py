"""A refund, a revoke and a dispute acceptance are sent once, whatever the fault: the client never repeats them.

Polar sends Stripe no idempotency key, so a repeated refund request is a second refund. Each fault kind
is injected on the write over a real loopback socket (timeouts are real); the emulator's request journal
then counts what reached it, and its state shows whether the write took effect.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import anyio
import pytest

from polar_orders_mcp.emulator.faults import FAULT_KINDS
from polar_orders_mcp.emulator.seed import ORG_TOKEN
from polar_orders_mcp.emulator.state import EmulatorState
from polar_orders_mcp.polar import errors
from polar_orders_mcp.polar.client import PolarClient
from tests.reliability.conftest import Faults

pytestmark = pytest.mark.anyio

# Whether the route acted despite the fault (faults.py's table), and the error the client raises.
OUTCOMES: dict[str, tuple[bool, type[Exception]]] = {
    "latency": (True, errors.PolarTimeoutError),
    "status": (False, errors.ServerError),
    "rate_limit": (False, errors.RateLimitError),
    "drop_before": (False, errors.PolarConnectionError),
    "drop_after": (True, errors.PolarConnectionError),
    "truncate": (True, errors.PolarConnectionError),
    "malformed": (True, errors.MalformedResponseError),
    "slow_body": (True, errors.PolarTimeoutError),
}
TIMEOUT = 0.3
FAULT_OPTIONS = {"status": 503, "retry_after": 0, "seconds": 0.6}


@dataclass
class Write:
    method: str
    path: str
    send: Callable[[PolarClient, EmulatorState], Awaitable[object]]
    done: Callable[[EmulatorState], bool]


async def _refund(polar: PolarClient, state: EmulatorState) -> object:
    return await polar.refunds.create(order_id=state.seed_info.paid_order_id, reason="duplicate", amount=625)


async def _revoke(polar: PolarClient, state: EmulatorState) -> object:
    return await polar.subscriptions.revoke(state.seed_info.subscriptions["active"])


async def _accept(polar: PolarClient, state: EmulatorState) -> object:
    return await polar.disputes.accept(state.seed_info.disputes["needs_response"])


WRITES = {
    "refund": Write(
        "POST", "/v1/refunds/", _refund, lambda s: any(r.order.id == s.seed_info.paid_order_id for r in s.store.refunds)
    ),
    "revoke": Write(
        "PATCH",
        "/v1/subscriptions/{id}",
        _revoke,
        lambda s: s.store.subscription(s.seed_info.subscriptions["active"]).status == "canceled",
    ),
    "accept": Write(
        "POST",
        "/v1/disputes/{id}/accept",
        _accept,
        lambda s: s.store.dispute(s.seed_info.disputes["needs_response"]).status == "lost",
    ),
}


@pytest.mark.parametrize("kind", FAULT_KINDS)
@pytest.mark.parametrize("write", list(WRITES))
async def test_the_write_reaches_polar_once_whatever_the_fault(
    polar_url: str, faults: Faults, state: EmulatorState, write: str, kind: str
) -> None:
    spec = WRITES[write]
    acted, raised = OUTCOMES[kind]
    await faults.add(kind, spec.path, method=spec.method, **FAULT_OPTIONS)
    async with PolarClient(ORG_TOKEN, server=polar_url, timeout=TIMEOUT) as polar:
        with pytest.raises(raised) as caught:
            await spec.send(polar, state)
    assert isinstance(caught.value, errors.PolarError)
    assert errors.outcome_unknown(caught.value) or kind == "rate_limit"
    # A delayed route acts after the client gave up: wait for it before judging.
    with anyio.move_on_after(3):
        while acted and not spec.done(state):
            await anyio.sleep(0.02)
    assert await faults.received(spec.method, spec.path) == 1
    assert spec.done(state) is acted
    if write == "refund":
        assert len([r for r in state.store.refunds if r.order.id == state.seed_info.paid_order_id]) == int(acted)


async def test_a_refund_lost_on_the_way_is_found_by_listing_the_orders_refunds(
    polar_url: str, faults: Faults, state: EmulatorState
) -> None:
    await faults.add("drop_after", "/v1/refunds/", method="POST")
    async with PolarClient(ORG_TOKEN, server=polar_url, timeout=5) as polar:
        with pytest.raises(errors.PolarConnectionError) as caught:
            await _refund(polar, state)
        assert caught.value.request_sent and "may have acted" in str(caught.value)
        found = await polar.refunds.list(order_id=state.seed_info.paid_order_id)
    assert [(r.amount, r.tax_amount) for r in found.items] == [(625, 125)]
    assert await faults.received("POST", "/v1/refunds/") == 1


def test_every_fault_kind_has_an_expected_outcome() -> None:
    assert set(OUTCOMES) == set(FAULT_KINDS)
