"""A jitter buffer for every stream the switch consumes (IVR, voicemail, conference, recording).

Sans-IO, in the spirit of pjmedia's ``jbuf``: the socket shell calls ``put`` as packets
arrive, the media ticker calls ``get`` once per 20 ms tick and gets a frame or the reason there
is none (``FrameStatus``), so the consumer knows whether to conceal a loss (MISSING) or play
silence (PREFETCH, EMPTY).

What it does:

- slots are sequence numbers, extended past the 16-bit wrap; packets are reordered into them,
  and each is played once, in order. A packet whose slot was already played or declared
  missing is ``late``; a second copy is a ``duplicate``;
- playout starts once ``prefetch`` frames are buffered (the fixed target delay, default 2
  frames = 40 ms) and starts over after an underrun, which grows the delay by what the late
  packet needed: the buffer adapts upward on its own. It shrinks back by dropping one frame
  when, over ``shrink_window`` ticks, it never held fewer than ``prefetch + 1`` frames; that
  absorbs a sender whose clock runs fast (drift) without keeping its extra delay
  (``shrink_window=0`` turns this off). At most ``max_frames`` slots are held: beyond, the
  oldest are dropped (``discarded``);
- a new SSRC restarts the stream at once (the relay already vetted the source); a sequence
  jump (RFC 3550 A.1: more than 3000 ahead or 100 behind) or a timestamp jump (the timestamp
  moved more than ``ts_jump`` seconds away from the arrival time) restarts it only when the
  next packet confirms the new numbering, so a single stray packet never flushes the buffer.

What it assumes: every packet carries one 20 ms frame (``frame_samples``). Packets proven to
carry something else are counted ``unsupported`` and dropped: with ``frame_bytes`` set, any
payload of another size; always, a packet following its predecessor in sequence whose
timestamp advanced by less than two frames but not by one (10 or 30 ms packetisation; larger
steps are silence suppression). Repacketising other packet times needs the codec, which the
buffer does not know.

``put``'s ``now`` (seconds) only feeds the timestamp-jump test and the RFC 3550 §6.4.1
interarrival jitter estimate in ``stats()``; playout is driven by ``get`` calls alone.

``put`` and ``get`` run once per packet and per tick of every consumed stream, so they keep
to dict operations and integer arithmetic; nothing scans the buffer except a trim.

Accounting, checked by the tests: every packet put is eventually played, late, duplicate,
discarded or unsupported, or still ``buffered``; every slot played through is played, missing,
or discarded.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import NamedTuple

from softswitch.rtp.packet import seq_diff, ts_diff

__all__ = ["FrameStatus", "JitterBuffer", "JitterStats"]

_MAX_DROPOUT = 3000  # RFC 3550 A.1
_MAX_MISORDER = 100
_HISTORY = 64  # played slots remembered, to tell a duplicate from a late packet
_HISTORY_MASK = (1 << _HISTORY) - 1


class FrameStatus(enum.Enum):
    NORMAL = "normal"  # the slot's frame
    MISSING = "missing"  # the slot's packet was lost or is late; later ones are here
    PREFETCH = "prefetch"  # buffering up to the target delay, at start or after an underrun
    EMPTY = "empty"  # nothing received yet, or nothing for ``stopped_after`` ticks


@dataclass(frozen=True, slots=True)
class JitterStats:
    """A snapshot of one buffer's counters. ``jitter``: RFC 3550 estimate, in seconds."""

    received: int
    played: int
    missing: int
    late: int
    duplicate: int
    discarded: int
    resets: int
    unsupported: int
    buffered: int
    jitter: float


class _Held(NamedTuple):
    """A packet that broke the numbering, waiting for the next one to confirm it."""

    seq: int
    ts: int
    payload: bytes
    now: float
    ssrc: int | None


class JitterBuffer:
    """Reorders one stream's packets and plays them out one 20 ms frame per ``get``."""

    __slots__ = (
        "_active",
        "_discarded",
        "_duplicate",
        "_frames",
        "_fresh",
        "_held",
        "_history",
        "_idle",
        "_jitter",
        "_late",
        "_low",
        "_max",
        "_max_frames",
        "_missing",
        "_next",
        "_played",
        "_playing",
        "_prefetch",
        "_prev_now",
        "_prev_seq",
        "_prev_ts",
        "_rate",
        "_received",
        "_resets",
        "_samples",
        "_shrink_window",
        "_size",
        "_ssrc",
        "_stopped_after",
        "_ts_jump",
        "_unsupported",
        "_window_left",
    )

    def __init__(
        self,
        *,
        prefetch: int = 2,
        max_frames: int = 10,
        frame_samples: int = 160,
        clock_rate: int = 8000,
        frame_bytes: int | None = None,
        shrink_window: int = 100,
        stopped_after: int = 10,
        ts_jump: float = 1.0,
    ) -> None:
        if not 1 <= prefetch <= max_frames:
            raise ValueError("need 1 <= prefetch <= max_frames")
        self._prefetch, self._max_frames = prefetch, max_frames
        self._samples, self._rate, self._size = frame_samples, clock_rate, frame_bytes
        self._shrink_window, self._stopped_after, self._ts_jump = (
            shrink_window,
            stopped_after,
            ts_jump,
        )
        self._frames: dict[int, bytes] = {}  # extended sequence number -> payload
        self._active = False  # a stream is known
        self._ssrc: int | None = None
        self._max = self._next = 0  # highest extended seq received; next slot to play
        self._playing = False
        self._fresh = True  # no slot consumed since the stream (re)started
        self._history = 0  # bit i: slot next-1-i was played
        self._held: _Held | None = None
        self._prev_seq = self._prev_ts = 0
        self._prev_now = self._jitter = 0.0
        self._idle = 0  # ticks since the last put
        self._low = self._window_left = 0
        self._received = self._played = self._missing = self._late = self._duplicate = 0
        self._discarded = self._resets = self._unsupported = 0

    # --- input ------------------------------------------------------------------------------

    def put(self, seq: int, ts: int, payload: bytes, now: float, ssrc: int | None = None) -> None:
        """A packet arrived at ``now``: sequence number, RTP timestamp, payload, SSRC."""
        self._received += 1
        self._idle = 0
        if self._size is not None and len(payload) != self._size:
            self._unsupported += 1
            return
        if not self._active or (ssrc is not None and ssrc != self._ssrc):
            self._restart(seq, ts, now, ssrc)
            self._place(seq, payload)
            return
        ext = self._admit(seq, ts, payload, now, ssrc)
        if ext is None:
            return
        if self._odd_step(seq, ts):
            self._unsupported += 1
        else:
            self._place(ext, payload)
        self._arrived(seq, ts, now)

    def _admit(self, seq: int, ts: int, payload: bytes, now: float, ssrc: int | None) -> int | None:
        """The packet's extended sequence number, or None if it is held or confirms a hold."""
        held = self._held
        if held is not None:
            self._held = None
            if seq == (held.seq + 1) & 0xFFFF and ts_diff(ts, held.ts) >= 0:
                # The new numbering is confirmed: restart from the held packet.
                self._restart(held.seq, held.ts, held.now, held.ssrc)
                self._place(held.seq, held.payload)
            else:
                self._discarded += 1  # a stray: the old numbering went on
        ext = self._max + seq_diff(seq, self._max & 0xFFFF)
        delta = ext - self._max
        transit = (now - self._prev_now) - ts_diff(ts, self._prev_ts) / self._rate
        if delta > _MAX_DROPOUT or delta < -_MAX_MISORDER or abs(transit) > self._ts_jump:
            self._held = _Held(seq, ts, payload, now, ssrc)
            return None
        # RFC 3550 §6.4.1: J += (|D| - J) / 16, D measured against the previous arrival.
        self._jitter += (abs(transit) - self._jitter) / 16
        return ext

    def _odd_step(self, seq: int, ts: int) -> bool:
        """Whether this packet proves the sender packetises other than one frame a packet."""
        if seq != (self._prev_seq + 1) & 0xFFFF:
            return False
        step = ts_diff(ts, self._prev_ts)
        return 0 < step < 2 * self._samples and step != self._samples

    def _arrived(self, seq: int, ts: int, now: float) -> None:
        self._prev_seq, self._prev_ts, self._prev_now = seq, ts, now

    def _restart(self, seq: int, ts: int, now: float, ssrc: int | None) -> None:
        if self._active:
            self._resets += 1
        self._discarded += len(self._frames)
        self._frames.clear()
        self._active, self._ssrc = True, ssrc
        self._max = self._next = seq
        self._playing, self._fresh, self._history = False, True, 0
        self._arrived(seq, ts, now)

    def _place(self, ext: int, payload: bytes) -> None:
        if ext < self._next:
            if self._fresh and self._max - ext < self._max_frames:
                self._next = ext  # reordered at the very start: nothing has played yet
            else:
                offset = self._next - 1 - ext
                if offset < _HISTORY and self._history >> offset & 1:
                    self._duplicate += 1
                else:
                    self._late += 1
                return
        frames = self._frames
        if ext in frames:
            self._duplicate += 1
            return
        frames[ext] = payload
        if ext > self._max:
            self._max = ext
            if ext - self._next >= self._max_frames:
                self._skip_to(ext - self._max_frames + 1)

    def _skip_to(self, target: int) -> None:
        """Give up the slots before ``target``: their frames are discarded, gaps missing."""
        frames = self._frames
        gone = [ext for ext in frames if ext < target]
        for ext in gone:
            del frames[ext]
        count = target - self._next
        self._discarded += len(gone)
        self._missing += count - len(gone)
        self._history = (self._history << count) & _HISTORY_MASK if count < _HISTORY else 0
        self._next = target
        self._fresh = False

    # --- output -----------------------------------------------------------------------------

    def get(self) -> tuple[bytes | None, FrameStatus]:
        """This tick's frame, or None and why there is none. Call once per 20 ms."""
        self._idle += 1
        frames = self._frames
        if not self._playing:
            if len(frames) < self._prefetch:
                return None, self._waiting()
            self._playing = True
            self._low, self._window_left = len(frames), self._shrink_window
        elif not frames:  # underrun: wait for the slot's packet and rebuild the delay
            self._playing = False
            return None, self._waiting()
        elif self._excess(len(frames)):
            self._skip_to(self._next + 1)
        slot = self._next
        payload = frames.pop(slot, None)
        self._next = slot + 1
        self._fresh = False
        self._history = ((self._history << 1) | (payload is not None)) & _HISTORY_MASK
        if payload is None:
            self._missing += 1
            return None, FrameStatus.MISSING
        self._played += 1
        return payload, FrameStatus.NORMAL

    def _waiting(self) -> FrameStatus:
        if not self._active or self._idle > self._stopped_after:
            return FrameStatus.EMPTY
        return FrameStatus.PREFETCH

    def _excess(self, level: int) -> bool:
        """Whether the buffer held more than the target for a whole window (drift)."""
        self._low = min(self._low, level)
        self._window_left -= 1
        if self._window_left:
            return False
        excess = self._low > self._prefetch
        self._low, self._window_left = level, self._shrink_window
        return excess

    # --- observation ------------------------------------------------------------------------

    def stats(self) -> JitterStats:
        return JitterStats(
            received=self._received,
            played=self._played,
            missing=self._missing,
            late=self._late,
            duplicate=self._duplicate,
            discarded=self._discarded,
            resets=self._resets,
            unsupported=self._unsupported,
            buffered=len(self._frames) + (self._held is not None),
            jitter=self._jitter,
        )
