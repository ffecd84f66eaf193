"""What the services share: the store, the clock and the settings, and nothing else of the state."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from .models import Settings
from .store import Store


@dataclass
class Backend:
    """The services' narrow view of the emulator. Reset and reseed replace `store` and `settings`
    here, in place, so a service holding this object sees the new ones."""

    store: Store
    settings: Settings
    clock: Callable[[], datetime]

    def now(self) -> datetime:
        return self.clock()
