"""The sign-in slow-down slows a guesser who does not wait for its answers as much as one who does.

A right secret is answered at once and a wrong one only after the slow-down's delay, so the answer's timing
tells them apart as soon as the delay starts: a guesser who gives up on each guess after a few milliseconds
(no answer yet: a wrong secret) goes through its list at the pace of its own timeout, and the delays it was
meant to wait cost it nothing."""

from __future__ import annotations

import re
import time

import httpx2
import pytest

from polar_orders_mcp.approvals.console import console_app
from polar_orders_mcp.approvals.slowdown import SlowDown
from polar_orders_mcp.server.app import Built
from tests.approvals.console_client import APPROVER_SECRET
from tests.server.conftest import serve_in_thread

pytestmark = pytest.mark.anyio

GIVES_UP_AFTER = 0.05
"""Seconds the guesser waits for each answer before it takes the guess for a wrong one."""


async def test_a_guesser_that_gives_up_on_each_answer_is_slowed_all_the_same(parts: Built) -> None:
    slow = SlowDown(step=0.05, most=0.4)  # the defaults' shape, in a fraction of the time
    parts.console.slow_down = slow
    await parts.store()
    guesses = [f"wrong-guess-number-{n:03}" for n in range(15)] + [APPROVER_SECRET]
    # What the slow-down makes a guesser who waits for every answer spend on these wrong guesses.
    waiting = SlowDown(step=slow.step, most=slow.most, clock=lambda: 0.0)
    owed = sum(waiting.failed() for _ in guesses[:-1])
    found = None
    with serve_in_thread(console_app(parts.console)) as url:
        host = url.removeprefix("http://")
        async with httpx2.AsyncClient(base_url=url, headers={"Host": host, "Origin": url}) as guesser:
            started = time.monotonic()
            for guess in guesses:
                form = await guesser.get("/approvals/login")
                csrf = re.search(r'name="csrf" value="([^"]*)"', form.text)
                assert csrf is not None
                try:
                    answer = await guesser.post(
                        "/approvals/login",
                        data={"csrf": csrf.group(1), "next": "/approvals", "secret": guess},
                        timeout=GIVES_UP_AFTER,
                    )
                except httpx2.TimeoutException:
                    continue  # no answer yet: a wrong secret
                if answer.status_code == 303:
                    found = guess
                    break
            took = time.monotonic() - started
    assert found == APPROVER_SECRET
    assert took >= owed, f"{len(guesses)} guesses in {took:.2f} s; the slow-down owed {owed:.2f} s"
