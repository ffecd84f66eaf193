"""The console's sign-in slow-down: after wrong secrets every answer waits longer and longer, never a lockout."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class SlowDown:
    """How long every sign-in's answer waits: nothing while fewer than `free` wrong secrets came in the last
    `window` seconds, then `step`, doubling with each wrong one after, up to `most`.

    The right secret waits as long as a wrong one, and before it is compared: were it answered at once, the
    answer's time would tell it apart, and a guesser that gave up on each answer after a few milliseconds
    would go through its list at the pace of its own timeout. It is never counted and never refused, and its
    wait is at most `most`, so no number of wrong guesses locks an approver out.

    One count for the whole console, not one per address: every local process shares 127.0.0.1 (and a
    proxy's header could claim any address), and a wrong secret names no approver. A delay slows a guesser
    who waits for each answer; one who sends many at once is bounded by the connections it can hold open,
    and a secret of MIN_APPROVER_SECRET random characters is beyond reach of either.
    """

    free: int = 5
    step: float = 0.5
    most: float = 8.0
    window: float = 300.0
    clock: Callable[[], float] = time.monotonic
    _failures: deque[float] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # Past `free` + 32 failures the delay is `most` anyway: older ones need no place in memory.
        self._failures = deque(maxlen=self.free + 32)

    def delay(self) -> float:
        """The seconds a sign-in now waits before its secret is compared, right or wrong: what a wrong one
        coming now would add to the count."""
        now = self.clock()
        while self._failures and self._failures[0] <= now - self.window:
            self._failures.popleft()
        over = len(self._failures) + 1 - self.free
        return 0.0 if over <= 0 else min(self.most, self.step * 2 ** (over - 1))

    def failed(self) -> float:
        """Count one wrong secret; the delay() a sign-in coming just before it waited."""
        waited = self.delay()
        self._failures.append(self.clock())
        return waited
