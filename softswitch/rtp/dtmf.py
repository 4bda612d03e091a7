"""RFC 4733 telephone-events: DTMF digits received from and sent in an RTP stream.

Receiving is where phones and networks disagree most, so the receiver follows only what the
RFC guarantees. An event is identified by its RTP timestamp (§2.5.1.2: every packet of one
event carries the timestamp at which it began), never by the marker bit: a lost start packet,
a missing marker or a marker on every packet (all seen in the field) must neither create nor
suppress a digit. A digit is reported once, when the first end packet of its event arrives;
the end packet is sent three times (§2.5.1.4), so the timestamps of finished events are
remembered to swallow the copies and any late update. If every end packet is lost the digit
is reported after ``timeout`` without updates (the sans-IO timer: ``next_deadline`` and
``handle_timer``), or as soon as a newer event starts.

Sending is shaped for a media port that produces one packet per 20 ms tick: see
``DtmfSender``. Both sides assume the 8 kHz clock of telephone-event (RFC 4733 §7.1.1) unless
told otherwise; durations on the wire are in timestamp units.
"""

from __future__ import annotations

import struct
from collections import deque
from dataclasses import dataclass
from typing import NamedTuple

from softswitch.rtp.packet import RtpPacket, ts_diff

__all__ = [
    "DIGITS",
    "DtmfDigit",
    "DtmfFrame",
    "DtmfReceiver",
    "DtmfSender",
]

DIGITS = "0123456789*#ABCD"
"""The DTMF events of RFC 4733 §3.2, in event-code order: code 10 is ``*``, 11 is ``#``."""

_EVENT_CODES = {digit: code for code, digit in enumerate(DIGITS)}
_PAYLOAD = struct.Struct("!BBH")  # event, E|R|volume, duration
_END = 0x80
_MAX_DURATION = 0xFFFF  # longer events need segmenting (§2.5.1.3); not worth it for DTMF
_REMEMBERED = 32  # finished events whose late packets are still swallowed


@dataclass(frozen=True, slots=True)
class DtmfDigit:
    """One key press. ``started``: when its first packet arrived (the receiver's ``now``)."""

    digit: str
    duration_ms: int
    started: float | None = None


class DtmfReceiver:
    """Turns telephone-event packets of one stream into digits.

    Feed it every packet of the negotiated telephone-event payload type with ``receive``;
    call ``handle_timer`` when ``next_deadline`` passes. Short or non-DTMF events (codes above
    15: flash, tones) are ignored. One event of more than 8 s that the sender segments arrives
    as two digits, which no key press lasts.
    """

    __slots__ = (
        "_clock_rate",
        "_digit",
        "_done",
        "_duration",
        "_key",
        "_started",
        "_timeout",
        "_updated",
    )

    def __init__(self, *, timeout: float = 0.25, clock_rate: int = 8000) -> None:
        self._timeout = timeout
        self._clock_rate = clock_rate
        # The event in progress: (SSRC, timestamp), digit, longest duration seen, times.
        self._key: tuple[int, int] | None = None
        self._digit = ""
        self._duration = 0
        self._started = 0.0
        self._updated = 0.0
        self._done: deque[tuple[int, int]] = deque(maxlen=_REMEMBERED)

    def receive(self, packet: RtpPacket, now: float) -> list[DtmfDigit]:
        """The digits this packet completes: usually none, at most two."""
        payload = packet.payload
        if len(payload) < 4 or payload[0] >= len(DIGITS):
            return []
        key = (packet.ssrc, packet.timestamp)
        if key in self._done:  # a repeated end packet or a late update: already reported
            return []
        event, flags, duration = _PAYLOAD.unpack_from(payload)
        current = self._key
        if current is not None and key != current:
            if key[0] == current[0] and ts_diff(key[1], current[1]) < 0:
                # A straggler of an event we never saw, older than the one in progress: it is
                # over, since a newer one began. Report it now, keep the current one going.
                self._done.append(key)
                return [DtmfDigit(DIGITS[event], self._ms(duration), now)]
            digits = [self._finish()]  # superseded: its end packets were lost
        else:
            digits = []
        if self._key is None:
            self._key, self._digit, self._started = key, DIGITS[event], now
            self._duration = 0
        self._duration = max(self._duration, duration)
        self._updated = now
        if flags & _END:
            digits.append(self._finish())
        return digits

    def next_deadline(self) -> float | None:
        """When an event in progress, silent since, is taken to have ended."""
        return None if self._key is None else self._updated + self._timeout

    def handle_timer(self, now: float) -> list[DtmfDigit]:
        """The digit whose end packets were all lost, once its deadline has passed."""
        deadline = self.next_deadline()
        if deadline is None or now < deadline:
            return []
        return [self._finish()]

    def _finish(self) -> DtmfDigit:
        assert self._key is not None
        self._done.append(self._key)
        self._key = None
        return DtmfDigit(self._digit, self._ms(self._duration), self._started)

    def _ms(self, units: int) -> int:
        return units * 1000 // self._clock_rate


class DtmfFrame(NamedTuple):
    """One telephone-event packet to send: payload, marker bit and RTP timestamp."""

    payload: bytes
    marker: bool
    timestamp: int
    end: bool


class DtmfSender:
    """Produces the telephone-event packets of queued digits, one per media tick.

    The media port interleaves them with its audio, sharing the stream's ``RtpSender``.
    Each tick it asks ``next_payload(rtp.timestamp)``:

    - ``None``: no event this tick (idle, or the pause between two digits): send audio as
      usual with ``rtp.packet(...)``;
    - a ``DtmfFrame``: send ``rtp.packet_at(frame.payload, te_pt, frame.timestamp,
      frame.marker)`` instead of audio, then ``rtp.skip(tick_samples)`` so the stream's
      clock keeps running. The sequence numbers stay shared with the audio.

    An event takes the timestamp the stream's clock had when its first packet was sent, and
    every packet of it carries that timestamp (RFC 4733 §2.5.1.2). The first packet has the
    marker bit; every tick an update with the duration so far follows; the event ends with
    three identical end packets (E bit, full duration, §2.5.1.4), one per tick. A 100 ms digit
    therefore takes 4 update ticks and 3 end ticks. Digits queued while one is being sent
    follow after ``gap_ms`` of audio.
    """

    __slots__ = (
        "_elapsed",
        "_ends",
        "_event",
        "_event_ts",
        "_gap",
        "_gap_ticks",
        "_queue",
        "_rate",
        "_repeats",
        "_tick",
        "_total",
        "_volume",
    )

    def __init__(
        self,
        *,
        volume: int = 10,
        tick_samples: int = 160,
        clock_rate: int = 8000,
        gap_ms: int = 40,
        end_repeats: int = 3,
    ) -> None:
        if not 0 <= volume <= 63:
            raise ValueError("volume is 0..63 (-dBm0)")
        self._volume = volume
        self._tick = tick_samples
        self._rate = clock_rate
        self._repeats = end_repeats
        tick_ms = tick_samples * 1000 // clock_rate
        self._gap_ticks = -(-gap_ms // tick_ms)  # round up: at least the asked pause
        self._queue: deque[tuple[int, int]] = deque()  # (event code, duration in units)
        self._event = -1  # the event being sent, -1 when none
        self._event_ts = self._elapsed = self._total = self._ends = self._gap = 0

    @property
    def busy(self) -> bool:
        """Whether a digit is being sent, waits to be, or the pause after one is running."""
        return self._event >= 0 or bool(self._queue) or self._gap > 0

    def start(self, digits: str, duration_ms: int = 100) -> None:
        """Queue one or more digits (``0-9 * # A-D``) of ``duration_ms`` each."""
        units = duration_ms * self._rate // 1000
        if not 0 < units <= _MAX_DURATION:
            raise ValueError(f"DTMF duration out of range: {duration_ms} ms")
        codes = [_EVENT_CODES.get(digit.upper(), -1) for digit in digits]
        if not codes or -1 in codes:
            raise ValueError(f"not DTMF digits: {digits!r}")
        self._queue.extend((code, units) for code in codes)

    def next_payload(self, timestamp: int) -> DtmfFrame | None:
        """This tick's event packet, given the stream clock ``timestamp``; None for audio."""
        if self._gap:
            self._gap -= 1
            return None
        first = self._event < 0
        if first:
            if not self._queue:
                return None
            self._event, self._total = self._queue.popleft()
            self._event_ts = timestamp & 0xFFFFFFFF
            self._elapsed = self._ends = 0
        self._elapsed += self._tick
        end = self._elapsed >= self._total
        duration = self._total if end else self._elapsed
        payload = _PAYLOAD.pack(self._event, (_END if end else 0) | self._volume, duration)
        frame = DtmfFrame(payload, first, self._event_ts, end)
        if end:
            self._ends += 1
            if self._ends >= self._repeats:
                self._event = -1
                self._gap = self._gap_ticks
        return frame
