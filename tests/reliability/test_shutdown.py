"""Graceful shutdown: a call in flight when SIGTERM arrives still gets its answer, and the server exits 0."""

from __future__ import annotations

import contextlib
import signal
import time
from typing import Any

import anyio
import httpx2
import pytest

from polar_orders_mcp.emulator.seed import ORG_TOKEN, SeedInfo
from polar_orders_mcp.emulator.state import EmulatorState
from polar_orders_mcp.server.http import GRACEFUL_SHUTDOWN_SECONDS
from tests.reliability.processes import Session, clean_env, server_process

pytestmark = pytest.mark.anyio

SLOW_SECONDS = 1.5  # Polar's answer to the call in flight comes this long after SIGTERM


async def test_sigterm_lets_a_slow_call_in_flight_finish_then_exits_0(
    polar_url: str, state: EmulatorState, seed: SeedInfo
) -> None:
    env = clean_env(POLAR_ACCESS_TOKEN=ORG_TOKEN)
    with server_process("--server", polar_url, env=env) as server:
        async with httpx2.AsyncClient(timeout=60) as http, Session(http, server.url) as session:
            state.faults.add("latency", "/v1/orders/{id}", method="GET", seconds=SLOW_SECONDS)
            answer: dict[str, Any] = {}

            async def slow_call() -> None:
                answer.update(await session.call("get_order", {"order_id": seed.paid_order_id}))

            async def listen() -> None:
                # A session's standing event stream (GET), which never ends by itself: SIGTERM must end it
                # once the calls are done, not wait out the grace period for it.
                headers = {**session.headers, "Accept": "text/event-stream"}
                async with http.stream("GET", session.url, headers=headers) as stream:
                    assert stream.status_code == 200
                    with contextlib.suppress(httpx2.TransportError):
                        async for _ in stream.aiter_bytes():
                            pass

            async with anyio.create_task_group() as group:
                group.start_soon(listen)
                group.start_soon(slow_call)
                with anyio.fail_after(30):  # the call has reached Polar: it is in flight
                    while not state.faults.received("GET", "/v1/orders/{id}"):
                        await anyio.sleep(0.01)
                server.proc.send_signal(signal.SIGTERM)
                stopped_at = time.monotonic()
        code = await anyio.to_thread.run_sync(lambda: server.proc.wait(timeout=GRACEFUL_SHUTDOWN_SECONDS + 30))
        took = time.monotonic() - stopped_at
    assert not answer["isError"], answer
    assert answer["structuredContent"]["id"] == seed.paid_order_id
    assert code == 0, server.output()
    assert took < GRACEFUL_SHUTDOWN_SECONDS  # the open stream did not hold the stop for the whole grace period
    assert "Traceback" not in server.output()
