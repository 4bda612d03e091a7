"""Conference recordings: one WAV file per session of a room, named by when it began.

A room with ``record = true`` is recorded by the bridge from the first tick it mixes two
members (or, in a room that waits for its organiser, the tick the organiser brings the
waiting members in) until the last member leaves: one *session*. The bridge asks a
``ConferenceRecorder`` for a new file at the start of each session, so a room used three times
a day leaves three files. What is recorded is what a silent listener in the room would hear:
every member's voice (the full mix, not anyone's "everyone but me") and the join/leave tones.

Files go where call recordings go, one folder per UTC day, named by the room and the UTC time
the session began: ``recordings/YYYY/MM/DD/conference-NAME-HHMMSS.wav``; a second session of
the same room begun in the same second gets ``-2`` (a file is never overwritten).

The writer is a ``WavRecorder`` (mono PCM16, 8 kHz): the ticker only copies each 20 ms frame
into its preallocated one-second buffer, and once a second the buffer and then the header go
to the file (about 16 KB and 44 bytes, a few microseconds into the page cache), so the file of
a live room is always a valid WAV of everything up to the last second.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

from softswitch.media.recorder import WavRecorder

__all__ = ["ConferenceRecorder", "recording_name"]

log = logging.getLogger("softswitch.media")


def recording_name(room: str, started: float, attempt: int = 1) -> str:
    """``YYYY/MM/DD/conference-NAME-HHMMSS[-attempt].wav`` for a session begun at ``started``
    (seconds since the epoch, UTC); characters a file name should not hold become ``_``."""
    stamp = time.gmtime(started)
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in room)
    suffix = "" if attempt == 1 else f"-{attempt}"
    day = time.strftime("%Y/%m/%d", stamp)
    return f"{day}/conference-{safe}-{time.strftime('%H%M%S', stamp)}{suffix}.wav"


class ConferenceRecorder:
    """Makes each session's ``WavRecorder`` under ``directory`` (what the bridge calls with a
    room's name when a session begins). ``wall``: seconds since the epoch, for the name."""

    def __init__(
        self, directory: Path, wall: Callable[[], float], *, flush_seconds: float = 1.0
    ) -> None:
        self.directory = directory
        self.wall = wall
        self.flush_seconds = flush_seconds

    def path_for(self, room: str) -> Path:
        """A path no file has yet for a session of ``room`` begun now."""
        started = self.wall()
        attempt = 1
        while True:
            path = self.directory / recording_name(room, started, attempt)
            if not path.exists():
                return path
            attempt += 1

    def __call__(self, room: str) -> WavRecorder:
        path = self.path_for(room)
        path.parent.mkdir(parents=True, exist_ok=True)
        recorder = WavRecorder(path, flush_seconds=self.flush_seconds)
        log.info("conference %s recording to %s", room, path)
        return recorder
