"""The media engine: everything that must hear or speak, run on one 20 ms tick.

Sans-IO: the ``Ticker`` (media/ticker.py) calls ``tick(n, now)`` on the absolute schedule
``start + n * 20 ms``; jobs do their work for that tick and send what they produced through
the relay sockets they were given. A job is anything with ``tick(n, now)``: a player on one
call, the conference mixer (all rooms in one vectorised pass), a music-on-hold class fanning
one encoded stream out to every listener, a recorder.

Jobs run in the order they were added; a job removed during a tick (a call hung up by a digit)
does not run later in that tick.
"""

from __future__ import annotations

import logging
from typing import Protocol

__all__ = ["Job", "MediaEngine"]

log = logging.getLogger("softswitch.media")


class Job(Protocol):
    def tick(self, n: int, now: float) -> None: ...


class MediaEngine:
    """The set of jobs on the ticker; ``active`` tells the shell whether to keep ticking."""

    def __init__(self) -> None:
        self._jobs: dict[int, Job] = {}
        self.ticks = 0
        self.failures = 0

    @property
    def active(self) -> bool:
        return bool(self._jobs)

    def __len__(self) -> int:
        return len(self._jobs)

    def add(self, job: Job) -> None:
        self._jobs[id(job)] = job

    def remove(self, job: Job) -> None:
        self._jobs.pop(id(job), None)

    def __contains__(self, job: Job) -> bool:
        return id(job) in self._jobs

    def tick(self, n: int, now: float) -> None:
        self.ticks += 1
        for key, job in list(self._jobs.items()):
            if key not in self._jobs:
                continue
            try:
                job.tick(n, now)
            except Exception:
                # One broken job (a bad prompt, a full disk under a recorder) must not silence
                # every other call on the ticker: it is dropped and logged.
                self.failures += 1
                self._jobs.pop(key, None)
                log.exception("media job %r failed and was removed", job)
