"""Call recordings written as they go: a crash loses at most the last second.

A ``WavRecorder`` gets one frame per side per tick from the ticker and writes a plain PCM16
WAV file (the format every player and ``soundfile`` read). Writing each 20 ms frame to the
file would cost 50 system calls per second per recording; keeping everything until hang-up
would lose the whole call on a crash. So frames gather in a buffer of one second of audio
(preallocated: the ticker's hot path only copies into it) and each full buffer goes to the
file in one ``write``, followed by a rewrite of the 44-byte header with the new RIFF and data
sizes. The data is written before the header, so at any instant the header never claims more
audio than the file holds: a process that dies between flushes leaves a valid WAV of
everything up to the last flush. (The flush hands the bytes to the OS; we do not ``fsync``,
so a power cut may lose what the OS had not written yet.)

Sides: ``write(frame_a, frame_b)`` takes the two directions of a call. With one channel they
are mixed by a saturating add (int32 sum clipped to int16, never wrapped); with two, A is
the left channel and B the right. ``None`` for a side that sent nothing this tick records
silence, so the two sides stay aligned in time.

A WAV's sizes are 32-bit: past 4 GiB of audio (74 hours mono at 8 kHz) further frames are
dropped and ``full`` turns true, rather than writing a file no reader accepts.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

import numpy as np
import numpy.typing as npt

__all__ = ["HEADER_SIZE", "WavRecorder", "wav_header"]

Frame = npt.NDArray[np.int16]

HEADER_SIZE = 44
_HEADER = struct.Struct("<4sI4s4sIHHIIHH4sI")
_MAX_DATA = 0xFFFFFFFF - (HEADER_SIZE - 8)  # the RIFF size (data + 36) must fit 32 bits
_SAMPLE = np.dtype("<i2")  # WAV is little-endian whatever the host is
_TICK = 0.020


def wav_header(channels: int, rate: int, data_bytes: int) -> bytes:
    """The canonical 44-byte header of a PCM16 WAV holding ``data_bytes`` of samples."""
    block = channels * 2
    return _HEADER.pack(
        b"RIFF",
        HEADER_SIZE - 8 + data_bytes,
        b"WAVE",
        b"fmt ",
        16,  # fmt chunk size for PCM
        1,  # WAVE_FORMAT_PCM
        channels,
        rate,
        rate * block,  # bytes per second
        block,
        16,  # bits per sample
        b"data",
        data_bytes,
    )


class WavRecorder:
    """One recording. ``file``: a seekable binary writer to use instead of opening ``path``
    (it is flushed but not closed by ``close``)."""

    __slots__ = (
        "_buffer",
        "_channels",
        "_data_bytes",
        "_file",
        "_fill",
        "_full",
        "_owned",
        "_path",
        "_rate",
        "_samples",
    )

    def __init__(
        self,
        path: str | os.PathLike[str],
        channels: int = 1,
        rate: int = 8000,
        *,
        file: BinaryIO | None = None,
        flush_seconds: float = 1.0,
    ) -> None:
        if channels not in (1, 2):
            raise ValueError("a recording has 1 or 2 channels")
        if rate <= 0 or flush_seconds <= 0:
            raise ValueError("rate and flush_seconds must be positive")
        self._path = Path(path)
        self._channels = channels
        self._rate = rate
        self._owned = file is None
        # Unbuffered: our own buffer already batches a second, a second layer would only copy.
        self._file: BinaryIO | None = open(path, "wb", buffering=0) if file is None else file  # noqa: SIM115
        self._buffer = np.zeros((max(1, round(rate * flush_seconds)), channels), _SAMPLE)
        self._fill = 0  # frames buffered, not yet in the file
        self._samples = 0  # frames recorded (per channel), buffered or not
        self._data_bytes = 0  # bytes of samples in the file
        self._full = False
        self._file.write(wav_header(channels, rate, 0))
        self._file.flush()

    # --- the tick --------------------------------------------------------------------------

    def write(self, frame_a: Frame | None, frame_b: Frame | None = None) -> None:
        """Record one tick: each side's int16 samples, or None for silence. Both sides, when
        given, have the same length; with neither, 20 ms of silence is recorded."""
        if self._file is None:
            raise ValueError("write to a closed recording")
        length = _length(frame_a, frame_b, round(self._rate * _TICK))
        if self._full:
            return
        done = 0
        capacity = self._buffer.shape[0]
        while done < length:  # one pass unless the frame straddles a flush point
            take = min(length - done, capacity - self._fill)
            view = self._buffer[self._fill : self._fill + take]
            self._put(view, _part(frame_a, done, take), _part(frame_b, done, take))
            self._fill += take
            done += take
            if self._fill == capacity:
                self.flush()
        self._samples += length

    def _put(self, view: npt.NDArray[np.int16], a: Frame | None, b: Frame | None) -> None:
        if self._channels == 2:
            _copy_or_zero(view[:, 0], a)
            _copy_or_zero(view[:, 1], b)
        elif a is not None and b is not None:
            # Saturating add: sum in int32, clip and narrow straight into the buffer.
            total = np.add(a, b, dtype=np.int32)
            np.clip(total, -32768, 32767, out=view[:, 0], casting="unsafe")
        else:
            _copy_or_zero(view[:, 0], a if a is not None else b)

    # --- the file --------------------------------------------------------------------------

    def flush(self) -> None:
        """Write the buffered audio and the header that covers it."""
        file = self._file
        if file is None or self._fill == 0:
            return
        data = self._buffer[: self._fill].data.cast("B")
        if self._data_bytes + len(data) > _MAX_DATA:
            data = data[: (_MAX_DATA - self._data_bytes) // 4 * 4]  # whole stereo frames
            self._full = True
        file.write(data)  # the audio first: the header never gets ahead of it
        self._data_bytes += len(data)
        file.seek(0)
        file.write(wav_header(self._channels, self._rate, self._data_bytes))
        file.seek(0, os.SEEK_END)
        file.flush()
        self._fill = 0

    def close(self) -> None:
        """Flush what is buffered; the file is complete. Closing twice is harmless."""
        if self._file is None:
            return
        self.flush()
        if self._owned:
            self._file.close()
        self._file = None

    def __enter__(self) -> WavRecorder:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- state -----------------------------------------------------------------------------

    @property
    def path(self) -> Path:
        return self._path

    @property
    def channels(self) -> int:
        return self._channels

    @property
    def rate(self) -> int:
        return self._rate

    @property
    def duration(self) -> float:
        """Seconds recorded so far, including audio still in the buffer."""
        return self._samples / self._rate

    @property
    def saved(self) -> float:
        """Seconds already in the file (what a crash now would leave)."""
        return self._data_bytes / (2 * self._channels * self._rate)

    @property
    def closed(self) -> bool:
        return self._file is None

    @property
    def full(self) -> bool:
        return self._full


def _length(frame_a: Frame | None, frame_b: Frame | None, silence: int) -> int:
    if frame_a is not None and frame_b is not None and frame_a.shape != frame_b.shape:
        raise ValueError(f"sides differ in length: {frame_a.shape} and {frame_b.shape}")
    frame = frame_a if frame_a is not None else frame_b
    if frame is None:
        return silence
    if frame.ndim != 1:
        raise ValueError("a frame is a 1-D array of samples")
    return int(frame.shape[0])


def _part(frame: Frame | None, start: int, count: int) -> Frame | None:
    return None if frame is None else frame[start : start + count]


def _copy_or_zero(column: npt.NDArray[np.int16], frame: Frame | None) -> None:
    if frame is None:
        column.fill(0)
    else:
        column[:] = frame
