"""Music on hold: one stream per class, encoded once per codec, fanned out to every listener.

A class's music (``MusicLibrary``: every file of its folder, or the built-in tune) loops
forever at the same position for everyone, like a radio: a listener joining hears the music
where it is. Each tick the frame is encoded at most once per G.711 law, and each listener only
adds its own RTP header (its port's sequence numbers and SSRC) to the shared payload.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from softswitch.media.codecs import FRAME_SAMPLES
from softswitch.media.engine import MediaEngine
from softswitch.media.port import MediaPort

__all__ = ["MohStream", "MusicOnHold"]

Pcm = npt.NDArray[np.int16]


class MohStream:
    """One class's looping stream and its listeners (a ticker job while anyone listens)."""

    def __init__(self, name: str, samples: Pcm) -> None:
        if len(samples) < FRAME_SAMPLES:
            samples = np.pad(samples, (0, FRAME_SAMPLES - len(samples)))
        # Whole frames only, so a loop never sends a short one.
        whole = len(samples) - len(samples) % FRAME_SAMPLES
        self.name = name
        self._frames = np.ascontiguousarray(samples[:whole]).reshape(-1, FRAME_SAMPLES)
        self._listeners: dict[int, MediaPort] = {}
        self._n = -1
        self._frame: Pcm = self._frames[0]

    def __len__(self) -> int:
        return len(self._listeners)

    def add(self, port: MediaPort) -> None:
        self._listeners[id(port)] = port

    def discard(self, port: MediaPort) -> None:
        self._listeners.pop(id(port), None)

    def frame(self, n: int) -> Pcm:
        """The music of tick ``n`` (the same array for every caller in that tick)."""
        if n != self._n:
            self._n = n
            self._frame = self._frames[n % len(self._frames)]
        return self._frame

    def tick(self, n: int, now: float) -> None:
        frame = self.frame(n)
        payloads: dict[str, bytes] = {}
        for port in list(self._listeners.values()):
            name = port.codec.name
            payload = payloads.get(name)
            if payload is None:
                payload = payloads[name] = port.codec.encode(frame)
            port.emit_payload(payload)


class MusicOnHold:
    """Every class's stream, created on first use and on the ticker only while listened to."""

    def __init__(self, engine: MediaEngine, music: Callable[[str], Pcm], wake: Callable[[], None]):
        self._engine = engine
        self._music = music
        self._wake = wake
        self._streams: dict[str, MohStream] = {}

    def stream(self, name: str) -> MohStream:
        stream = self._streams.get(name)
        if stream is None:
            stream = self._streams[name] = MohStream(name, self._music(name))
        return stream

    def listen(self, name: str, port: MediaPort) -> MohStream:
        stream = self.stream(name)
        stream.add(port)
        if stream not in self._engine:
            self._engine.add(stream)
            self._wake()
        return stream

    def stop(self, stream: MohStream, port: MediaPort) -> None:
        stream.discard(port)
        if not len(stream):
            self._engine.remove(stream)
