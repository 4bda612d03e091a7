"""Time as an input.

Sans-IO cores never read the time themselves: every method that depends on time takes
``now`` (seconds, monotonic) and cores expose ``next_deadline()`` / ``handle_timer(now)``.
Only the asyncio shells and ``app.py`` read a real clock; tests drive a ``VirtualClock``.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def monotonic(self) -> float:
        """Seconds on a clock that never goes backwards (protocol timers)."""
        ...

    def wall(self) -> float:
        """Seconds since the epoch (timestamps written to storage and logs)."""
        ...


class RealClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def wall(self) -> float:
        return time.time()


class VirtualClock:
    """A clock that moves only when a test tells it to."""

    def __init__(self, start: float = 1000.0, wall_start: float = 1_700_000_000.0) -> None:
        self._now = start
        self._wall_offset = wall_start - start

    def monotonic(self) -> float:
        return self._now

    def wall(self) -> float:
        return self._now + self._wall_offset

    def advance(self, seconds: float) -> float:
        if seconds < 0:
            raise ValueError("a clock never goes backwards")
        self._now += seconds
        return self._now

    def set(self, now: float) -> None:
        if now < self._now:
            raise ValueError("a clock never goes backwards")
        self._now = now
