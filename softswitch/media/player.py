"""Plays prompts and tones into one call, one 20 ms frame per tick, stoppable by a digit.

The player is the job of a call the switch answered itself while it speaks to the caller (a
PIN request, later IVR menus and voicemail greetings). Every tick it first pulls the caller's
frame, so digits (RFC 4733, in-band) are detected while a prompt plays, then sends the next
frame of what is queued, or silence: some phones hang up on a stream that goes quiet.

Frames are slices of the prompt at ``k * 160``: the pace comes from the ticker's absolute
schedule, never from counting sleeps.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from softswitch.media.codecs import FRAME_SAMPLES
from softswitch.media.port import MediaPort
from softswitch.media.tones import TonePlan

__all__ = ["Player"]

Pcm = npt.NDArray[np.int16]


@dataclass(slots=True)
class _Item:
    samples: Pcm | None  # a prompt, or None for a tone
    tone: TonePlan | None
    frames: int  # frames this item lasts
    barge_in: bool
    done: Callable[[bool], None] | None  # called with True if it played to the end
    played: int = 0

    def frame(self) -> Pcm:
        k = self.played
        if self.tone is not None:
            return self.tone.frame(k)
        assert self.samples is not None
        chunk = self.samples[k * FRAME_SAMPLES : (k + 1) * FRAME_SAMPLES]
        if len(chunk) < FRAME_SAMPLES:
            chunk = np.pad(chunk, (0, FRAME_SAMPLES - len(chunk)))
        return chunk


class Player:
    """The ticker job of one port: play what is queued, listen to what comes back."""

    def __init__(self, port: MediaPort) -> None:
        self.port = port
        self._queue: deque[_Item] = deque()
        # Called every tick with what the caller said and the time: an app's timeouts, and
        # later a recorder or silence detector.
        self.listener: Callable[[Pcm | None, float], None] | None = None

    @property
    def playing(self) -> bool:
        return bool(self._queue)

    def play(
        self,
        samples: Pcm,
        *,
        barge_in: bool = True,
        done: Callable[[bool], None] | None = None,
    ) -> None:
        """Queue a prompt (8 kHz mono int16)."""
        frames = -(-len(samples) // FRAME_SAMPLES)
        self._queue.append(_Item(samples, None, frames, barge_in, done))

    def tone(
        self,
        plan: TonePlan,
        *,
        frames: int | None = None,
        barge_in: bool = True,
        done: Callable[[bool], None] | None = None,
    ) -> None:
        """Queue a tone for ``frames`` ticks (default: once through a non-looping plan)."""
        count = frames if frames is not None else plan.frame_count
        if count is None:
            raise ValueError("a looping tone needs a number of frames")
        self._queue.append(_Item(None, plan, count, barge_in, done))

    def interrupt(self) -> bool:
        """A digit came: stop what may be interrupted (barge-in). True if something stopped."""
        stopped = False
        while self._queue and self._queue[0].barge_in:
            item = self._queue.popleft()
            stopped = True
            if item.done is not None:
                item.done(False)
        return stopped

    def clear(self) -> None:
        self._queue.clear()

    def tick(self, n: int, now: float) -> None:
        heard = self.port.pull(now)  # may call on_digit, which may interrupt or clear
        if self.listener is not None:
            self.listener(heard, now)
        if not self._queue:
            self.port.emit_payload(self.port.codec.silence)
            return
        item = self._queue[0]
        self.port.emit(item.frame())
        item.played += 1
        if item.played >= item.frames:
            self._queue.popleft()
            if item.done is not None:
                item.done(True)
