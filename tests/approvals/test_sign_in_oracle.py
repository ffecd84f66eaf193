"""The sign-in slow-down's delay tells a guesser nothing: it must wait for its answers, and pay the delays.

When a right secret was answered at once and a wrong one only after the slow-down's delay, the answer's timing
told them apart as soon as the delay started: a guesser who gave up on each guess after a few milliseconds (no
answer yet: a wrong secret) went through its list at the pace of its own timeout, and the delays it was meant
to wait cost it nothing. Now every answer waits, the right secret's too."""

from __future__ import annotations

import re
import time

import httpx2
import pytest

from polar_orders_mcp.approvals.console import console_app
from polar_orders_mcp.approvals.slowdown import SlowDown
from polar_orders_mcp.server.app import ServerParts
from tests.approvals.console_client import APPROVER_SECRET
from tests.server.conftest import serve_in_thread

pytestmark = pytest.mark.anyio

GIVES_UP_AFTER = 0.05
"""Seconds the guesser waits for each answer before it takes the guess for a wrong one."""


async def _guess(
    parts: ServerParts, slow: SlowDown, guesses: list[str], gives_up_after: float
) -> tuple[str | None, float]:
    """The guess the console signed in with, if the guesser saw it, and the seconds it took to get there."""
    parts.console.slow_down = slow
    await parts.store()
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
                        timeout=gives_up_after,
                    )
                except httpx2.TimeoutException:
                    continue  # no answer yet: taken for a wrong secret
                if answer.status_code == 303:
                    found = guess
                    break
            return found, time.monotonic() - started


GUESSES = [f"wrong-guess-number-{n:03}" for n in range(15)] + [APPROVER_SECRET]


async def test_a_guesser_that_gives_up_on_each_answer_misses_the_right_secret(parts: ServerParts) -> None:
    slow = SlowDown(step=0.02, most=0.16)  # the defaults' shape, in a fraction of the time
    found, _ = await _guess(parts, slow, GUESSES, GIVES_UP_AFTER)
    assert found is None


async def test_a_guesser_that_waits_for_each_answer_pays_every_delay(parts: ServerParts) -> None:
    slow = SlowDown(step=0.02, most=0.16)
    # What the slow-down makes a guesser who waits for every answer spend on the wrong guesses.
    waiting = SlowDown(step=slow.step, most=slow.most, clock=lambda: 0.0)
    owed = sum(waiting.failed() for _ in GUESSES[:-1])
    found, took = await _guess(parts, slow, GUESSES, 5.0)
    assert found == APPROVER_SECRET
    assert took >= owed, f"{len(GUESSES)} guesses in {took:.2f} s; the slow-down owed {owed:.2f} s"
