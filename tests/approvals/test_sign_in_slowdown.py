"""The console's sign-in slow-down: after wrong secrets every answer comes later and later, the right secret's
as late as a wrong one's, never later than the ceiling, and the right secret is never refused."""

from __future__ import annotations

import time

import anyio
import pytest

from polar_orders_mcp.approvals.slowdown import SlowDown
from polar_orders_mcp.server.app import ServerParts
from tests.approvals.console_client import Person

pytestmark = pytest.mark.anyio

WRONG = "not-the-approver-secret"


async def timed_sign_in(person: Person) -> tuple[int, float]:
    started = time.monotonic()
    status = (await person.sign_in()).status_code
    return status, time.monotonic() - started


async def test_300_wrong_guesses_never_lock_out_the_right_secret(parts: ServerParts) -> None:
    """The finding: five wrong guesses from loopback (where every local process is) answered the right secret
    429 for five minutes. Here 300, from the very address the approver uses."""
    parts.console.slow_down = SlowDown(step=0.05, most=0.6)  # the defaults' shape, in a fraction of the time
    await parts.store()  # opened (and made) before the clock runs: a sign-in is the first to write in it
    answers: list[int] = []

    async def guess() -> None:
        async with Person(parts.console, secret=WRONG) as intruder:
            answers.append((await intruder.sign_in()).status_code)

    async with anyio.create_task_group() as group:
        for _ in range(300):
            group.start_soon(guess)
    async with Person(parts.console) as approver, Person(parts.console, secret=WRONG) as intruder:
        right, right_took = await timed_sign_in(approver)
        wrong, wrong_took = await timed_sign_in(intruder)
        index = await approver.http.get("/approvals")
    assert answers == [401] * 300
    assert right == 303 and index.status_code == 200
    assert wrong == 401 and wrong_took >= 0.6
    assert 0.6 <= right_took < 0.9, f"the right secret waited {right_took:.3f} s"


async def test_wrong_secrets_are_answered_at_once_five_times_then_later_and_later(parts: ServerParts) -> None:
    parts.console.slow_down = SlowDown(step=0.1, most=0.4)
    async with Person(parts.console, secret=WRONG) as intruder:
        answers = [await timed_sign_in(intruder) for _ in range(8)]
    assert [status for status, _ in answers] == [401] * 8
    took = [seconds for _, seconds in answers]
    assert max(took[:5]) < 0.1
    assert 0.1 <= took[5] < 0.2 and 0.2 <= took[6] < 0.4 and took[7] >= 0.4


async def test_the_right_secret_waits_as_long_as_a_wrong_one_and_is_accepted(parts: ServerParts) -> None:
    parts.console.slow_down = SlowDown(step=0.1, most=0.4)
    async with Person(parts.console, secret=WRONG) as intruder, Person(parts.console) as approver:
        for _ in range(6):
            await intruder.sign_in()
        right, right_took = await timed_sign_in(approver)
        wrong, wrong_took = await timed_sign_in(intruder)
    assert (right, wrong) == (303, 401)
    assert 0.2 <= right_took < 0.4 and 0.2 <= wrong_took < 0.4  # the right secret is not counted


def test_the_delays_double_up_to_a_ceiling_and_are_forgotten_after_the_window() -> None:
    now = [0.0]
    slow = SlowDown(clock=lambda: now[0])
    delays = [slow.failed() for _ in range(12)]
    assert delays == [0.0] * 5 + [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    now[0] = 300.0
    assert slow.failed() == 0.0
    many = SlowDown(clock=lambda: 0.0)
    assert max(many.failed() for _ in range(10_000)) == 8.0
    assert many.delay() == 8.0
