"""A media port: one call leg's audio as the ticker sees it.

RTP from the phone comes in through the leg's relay socket (the port is its sink): voice goes
into a jitter buffer, telephone-event packets into an RFC 4733 receiver. Once per 20 ms tick
the ticker ``pull``s one decoded frame (also fed to the in-band DTMF detector when the phone
has no telephone-event) and ``emit``s one frame or payload, numbered by the port's own
``RtpSender`` so the phone sees one continuous stream whatever the switch plays into it.

Digits from every source (RFC 4733, SIP INFO, in-band) reach ``on_digit`` once each.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from softswitch.media.codecs import FRAME_SAMPLES, G711
from softswitch.media.inband import InbandDtmfDetector
from softswitch.rtp.dtmf import DtmfReceiver, DtmfSender
from softswitch.rtp.jitter import FrameStatus, JitterBuffer
from softswitch.rtp.packet import RtpSender, parse_rtp

__all__ = ["MediaPort"]

Pcm = npt.NDArray[np.int16]
DigitHandler = Callable[[str], None]


class MediaPort:
    """Jitter buffer and DTMF in, one numbered RTP stream out, for one leg."""

    __slots__ = (
        "_inband",
        "_send",
        "codec",
        "dtmf",
        "dtmf_out",
        "event_pt",
        "jitter",
        "last_status",
        "monotonic",
        "on_digit",
        "rtp",
    )

    def __init__(
        self,
        send: Callable[[bytes], None],
        codec: G711,
        event_pt: int | None,
        monotonic: Callable[[], float],
    ) -> None:
        self._send = send
        self.codec = codec
        self.event_pt = event_pt
        self.monotonic = monotonic
        self.jitter = JitterBuffer(frame_bytes=FRAME_SAMPLES)
        self.dtmf = DtmfReceiver()
        self.dtmf_out = DtmfSender()
        self.rtp = RtpSender()
        # In-band detection only for phones without RFC 4733: a phone that sends both would
        # otherwise give every digit twice.
        self._inband = InbandDtmfDetector() if event_pt is None else None
        self.on_digit: DigitHandler | None = None
        self.last_status = FrameStatus.EMPTY

    # --- in: the relay socket's sink ---------------------------------------------------------
    def receive(self, data: bytes) -> None:
        packet = parse_rtp(data)
        if packet is None:
            return
        now = self.monotonic()
        if packet.payload_type == self.event_pt:
            for digit in self.dtmf.receive(packet, now):
                self.digit(digit.digit)
        elif packet.payload_type == self.codec.payload_type:
            self.jitter.put(packet.sequence, packet.timestamp, packet.payload, now, packet.ssrc)

    def digit(self, digit: str) -> None:
        """A digit from any source (RTP events, SIP INFO, in-band)."""
        handler = self.on_digit
        if handler is not None:
            handler(digit)

    # --- the tick ------------------------------------------------------------------------------
    def pull(self, now: float) -> Pcm | None:
        """This tick's frame from the phone, decoded; None when none is due (lost, silent)."""
        deadline = self.dtmf.next_deadline()
        if deadline is not None and deadline <= now:
            for late in self.dtmf.handle_timer(now):
                self.digit(late.digit)
        payload, self.last_status = self.jitter.get()
        if payload is None:
            return None
        pcm = self.codec.decode(payload)
        if self._inband is not None:
            for heard in self._inband.feed(pcm, now):
                self.digit(heard.digit)
        return pcm

    def emit(self, pcm: Pcm | None) -> None:
        """Send one 20 ms frame (None: nothing this tick, the stream clock still runs)."""
        self.emit_payload(None if pcm is None else self.codec.encode(pcm))

    def emit_payload(self, payload: bytes | None) -> None:
        """Send one encoded 20 ms payload, or a queued DTMF event packet in its place."""
        rtp = self.rtp
        if self.event_pt is not None and self.dtmf_out.busy:
            frame = self.dtmf_out.next_payload(rtp.timestamp)
            if frame is not None:
                self._send(
                    rtp.packet_at(frame.payload, self.event_pt, frame.timestamp, frame.marker)
                )
                rtp.skip(FRAME_SAMPLES)
                return
        if payload is None:
            rtp.skip(FRAME_SAMPLES)
            rtp.set_marker_next()
            return
        self._send(rtp.packet(payload, self.codec.payload_type))
