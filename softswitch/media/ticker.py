"""The asyncio shell of the media engine: one timer on the absolute 20 ms schedule.

Tick ``n`` is due at ``start + n * PTIME`` (never "20 ms after the last one", which drifts by
the loop's lateness every tick). When the loop was busy and several ticks are overdue, the
missed ones are skipped and counted, not run in a burst: a phone's jitter buffer copes with
one late frame better than with five at once. The ticker sleeps while the engine has no job.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from softswitch.media.engine import MediaEngine

__all__ = ["PTIME", "Ticker"]

PTIME = 0.02
# Ticks this late are skipped: beyond about three frames a phone's buffer has underrun anyway.
MAX_LATE_TICKS = 3


class Ticker:
    def __init__(self, engine: MediaEngine, monotonic: Callable[[], float]) -> None:
        self.engine = engine
        self._monotonic = monotonic
        self._handle: asyncio.TimerHandle | None = None
        self._start = 0.0
        self._n = 0
        self.skipped = 0
        self.late_max = 0.0  # seconds: the latest a tick ever ran

    def wake(self) -> None:
        """Start ticking if idle (call after adding a job)."""
        if self._handle is not None or not self.engine.active:
            return
        self._start = self._monotonic()
        self._n = 0
        self._schedule()

    def _schedule(self) -> None:
        loop = asyncio.get_running_loop()
        due = self._start + self._n * PTIME
        # call_at takes the loop's clock; ours is the same monotonic source (RealClock), and
        # the difference is taken here so an injected clock still paces correctly.
        delay = max(0.0, due - self._monotonic())
        self._handle = loop.call_at(loop.time() + delay, self._fire)

    def _fire(self) -> None:
        now = self._monotonic()
        due = self._start + self._n * PTIME
        late = now - due
        self.late_max = max(self.late_max, late)
        if late > MAX_LATE_TICKS * PTIME:
            behind = int(late / PTIME)
            self.skipped += behind
            self._n += behind
        self.engine.tick(self._n, now)
        self._n += 1
        if self.engine.active:
            self._schedule()
        else:
            self._handle = None

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
