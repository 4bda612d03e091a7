"""What call queues learn over time (calls and talk time per agent, the last agent offered),
kept in one small JSON file so that ``fewest_calls``, ``least_talk_time`` and ``round_robin``
go on where they were after a restart.

The file is ``{"version": 1, "queues": <StatsSnapshot.to_dict()>}``. This module knows only
plain dicts (storage imports no dialplan types); the queue runner turns them into a
``StatsSnapshot`` and back.

Losing these numbers costs fairness for a while, never a call, so the trade-offs lean that way:

- a write goes to a temporary file in the same directory, renamed over the old one: a crash
  mid-write leaves the old file or the new one, never half of one. There is no fsync: a power
  cut that empties the file only resets the statistics;
- even so a write is too slow for the event loop (measured on ext4, whose rename over an
  existing file flushes its data: 0.4-1 ms median, 4-6 ms at the 99th percentile), so
  ``save_soon`` hands it to a worker thread; snapshots queued meanwhile collapse into the
  newest one;
- a file that cannot be read or parsed, or holds something else than this format, is logged
  and treated as absent: the server starts with fresh statistics rather than not at all.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

__all__ = ["FILE_NAME", "VERSION", "Background", "QueueStatsFile"]

log = logging.getLogger("softswitch.storage")

FILE_NAME = "queue_stats.json"
VERSION = 1

Background = Callable[[Callable[[], None]], object]  # runs a blocking job off the event loop


class QueueStatsFile:
    """The statistics file at ``path`` (its directory is created on the first save).

    ``background`` runs ``save_soon``'s writes; by default a worker thread of this object's
    own, which ``close`` finishes."""

    def __init__(self, path: Path, background: Background | None = None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._newest: Mapping[str, Any] | None = None  # queued, not written yet
        self._worker: ThreadPoolExecutor | None = None
        if background is None:
            self._worker = ThreadPoolExecutor(1, thread_name_prefix="queue-stats")
            background = self._worker.submit
        self._background = background

    def load(self) -> dict[str, Any]:
        """The saved per-queue statistics; {} when there are none or the file is unusable."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except (OSError, UnicodeDecodeError) as exc:
            log.warning("queue statistics %s unreadable, starting afresh: %s", self.path, exc)
            return {}
        try:
            data = json.loads(text)
        except ValueError as exc:
            log.warning("queue statistics %s corrupt, starting afresh: %s", self.path, exc)
            return {}
        if not isinstance(data, dict) or data.get("version") != VERSION:
            log.warning("queue statistics %s: not version %d, starting afresh", self.path, VERSION)
            return {}
        queues = data.get("queues")
        if not isinstance(queues, dict):
            log.warning("queue statistics %s: no queues table, starting afresh", self.path)
            return {}
        return queues

    def save(self, queues: Mapping[str, Any]) -> None:
        """Replace the file atomically (OSError when the directory is not writable)."""
        text = json.dumps({"version": VERSION, "queues": queues}, sort_keys=True)
        directory = self.path.parent
        directory.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=directory, prefix=f".{self.path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as file:
                file.write(text)
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def save_soon(self, queues: Mapping[str, Any]) -> None:
        """``save`` on the worker, without waiting; a failure is logged (the statistics only
        steer fairness: they never cost a call)."""
        with self._lock:
            self._newest = queues
        self._background(self._write_newest)

    def close(self) -> None:
        """Finish the queued writes (at shutdown); later ones are written at once."""
        if self._worker is not None:
            self._worker.shutdown(wait=True)
            self._worker = None
            self._background = _at_once

    def _write_newest(self) -> None:
        with self._lock:
            queues, self._newest = self._newest, None
        if queues is None:
            return  # written by an earlier job, with what was queued after it
        try:
            self.save(queues)
        except Exception as exc:  # OSError, or a value json cannot write: never the caller's
            log.warning("queue statistics not saved to %s: %s", self.path, exc)


def _at_once(job: Callable[[], None]) -> None:
    job()
