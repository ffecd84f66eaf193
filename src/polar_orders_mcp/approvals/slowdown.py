"""The console's slow-down of wrong sign-in secrets: answers that wait longer and longer, never a lockout."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class SlowDown:
    """How long the answer to a wrong secret waits: nothing for the first `free` in `window` seconds, then
    `step`, doubling with each one after, up to `most`.

    One count for the whole console, not one per address: every local process shares 127.0.0.1 (and a
    proxy's header could claim any address), and a wrong secret names no approver. A right secret is
    never counted, never delayed and never refused, so no number of wrong guesses locks an approver out.
    A delay slows a guesser who waits for each answer; one who sends many at once is bounded by the
    connections it can hold open, and a secret of MIN_APPROVER_SECRET random characters is beyond reach of
    either.
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

    def failed(self) -> float:
        """Count one wrong secret; the seconds its answer waits."""
        now = self.clock()
        while self._failures and self._failures[0] <= now - self.window:
            self._failures.popleft()
        self._failures.append(now)
        over = len(self._failures) - self.free
        return 0.0 if over <= 0 else min(self.most, self.step * 2 ** (over - 1))
