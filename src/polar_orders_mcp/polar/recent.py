"""What was read from Polar in the last few minutes, by id: for facts shown to a person that are read
again before anything is done, or that nothing is done with; never for what a request carries."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")

SECONDS = 300.0
SIZE = 256


class Recent(Generic[T]):
    """Reads remembered for SECONDS, the SIZE most recent ones."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._seen: OrderedDict[str, tuple[float, T]] = OrderedDict()

    def get(self, key: str) -> T | None:
        seen = self._seen.get(key)
        if seen is None or self._clock() - seen[0] > SECONDS:
            return None
        return seen[1]

    def forget(self, key: str) -> None:
        self._seen.pop(key, None)

    def put(self, key: str, value: T) -> None:
        self._seen[key] = (self._clock(), value)
        self._seen.move_to_end(key)
        while len(self._seen) > SIZE:
            self._seen.popitem(last=False)
