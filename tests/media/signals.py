"""Helpers shared by the media tests: an injectable clock, test tones, tone levels."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from softswitch.media.codecs import FRAME_SAMPLES

Pcm = npt.NDArray[np.int16]
RATE = 8000
AMPLITUDE = 6000.0


class Clock:
    """A ``monotonic`` for ports: the test sets ``t``."""

    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def sine(freq: float, frames: int) -> Pcm:
    """``frames`` 20 ms frames of a sine of amplitude AMPLITUDE, shape (frames, 160)."""
    t = np.arange(frames * FRAME_SAMPLES) / RATE
    wave = np.rint(AMPLITUDE * np.sin(2 * np.pi * freq * t)).astype(np.int16)
    return wave.reshape(frames, FRAME_SAMPLES)


def level(signal: Pcm, freq: float) -> float:
    """Amplitude of ``freq`` in ``signal`` (a sine of amplitude A reads as about A)."""
    spectrum = np.abs(np.fft.rfft(signal.astype(np.float64))) * 2 / signal.size
    return float(spectrum[round(freq * signal.size / RATE)])
