"""Recording a relayed call: both sides' packets copied off the relay, written on the ticker.

The relay keeps forwarding packets as they come; a copy of each side's voice packets goes
into that side's jitter buffer here (``tap``). Every tick the recording takes one frame from
each buffer, decodes it with that side's law, and hands the pair to a ``WavRecorder`` (A left
and B right, or mixed to mono), which is on disk at least once a second.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from softswitch.media.codecs import CODECS, FRAME_SAMPLES
from softswitch.media.engine import MediaEngine
from softswitch.media.recorder import WavRecorder
from softswitch.rtp.jitter import JitterBuffer
from softswitch.rtp.packet import parse_rtp

__all__ = ["CallRecording"]


class _Side:
    __slots__ = ("codec_pt", "decode", "jitter")

    def __init__(self, pt: int, name: str) -> None:
        self.codec_pt = pt
        self.decode = CODECS[name].decode
        self.jitter = JitterBuffer(frame_bytes=FRAME_SAMPLES)


class CallRecording:
    """One call's recording: a ticker job from ``start`` until ``close``."""

    def __init__(
        self,
        path: Path,
        codecs: dict[str, tuple[int, str]],
        engine: MediaEngine,
        monotonic: Callable[[], float],
        *,
        stereo: bool = True,
    ) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._sides = {side: _Side(*codecs[side]) for side in ("a", "b")}
        self._engine = engine
        self._monotonic = monotonic
        self._wav = WavRecorder(path, channels=2 if stereo else 1)
        engine.add(self)

    def tap(self, side: str) -> Callable[[bytes], None]:
        """The sink copy of ``side``'s packets (voice of its codec only)."""
        state = self._sides[side]
        jitter, pt, clock = state.jitter, state.codec_pt, self._monotonic

        def copy(data: bytes) -> None:
            packet = parse_rtp(data)
            if packet is not None and packet.payload_type == pt:
                jitter.put(packet.sequence, packet.timestamp, packet.payload, clock(), packet.ssrc)

        return copy

    def tick(self, n: int, now: float) -> None:
        frames = []
        for state in self._sides.values():
            payload, _ = state.jitter.get()
            frames.append(None if payload is None else state.decode(payload))
        self._wav.write(frames[0], frames[1])

    @property
    def duration(self) -> float:
        return self._wav.duration

    def close(self) -> None:
        self._engine.remove(self)
        if not self._wav.closed:
            self._wav.close()
