"""Audio files to telephone audio: any WAV/MP3/FLAC/OGG becomes 8 kHz mono 16-bit samples.

Prompts and music arrive at whatever rate and channel count the admin's tools produced; the
media path only ever handles 8 kHz mono int16 (G.711's rate), so every file is converted once,
here, and the result cached by ``prompts.PromptCache``. Conversion streams the file in blocks
through a ``soxr`` resampler, so an hour of 44.1 kHz stereo music never sits in memory as
float samples (1.3 GB); only the 8 kHz result (58 MB for that hour) does.

``probe_audio`` reads just the header: it is what ``softswitch check`` calls for every
configured file, and must stay cheap.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import soundfile
import soxr
from numpy.typing import NDArray

from softswitch.config.schema import MUSIC_SUFFIXES

__all__ = [
    "RATE",
    "AudioError",
    "list_music_files",
    "load_audio",
    "probe_audio",
    "to_int16",
    "to_telephone_rate",
]

RATE = 8000
# Frames read per block: big enough that the per-block Python cost vanishes, small enough that
# a block of 8-channel 96 kHz float audio stays around a few MB.
_BLOCK_FRAMES = 1 << 16
_QUALITY = "HQ"  # soxr's 'HQ': 20-bit precision, far beyond what G.711 keeps


class AudioError(Exception):
    """A file that cannot be turned into telephone audio, and why."""

    def __init__(self, path: Path | str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = Path(path)
        self.reason = reason


def load_audio(path: Path | str) -> NDArray[np.int16]:
    """The whole file as 8 kHz mono int16: channels averaged, resampled (soxr HQ), clipped."""
    path = Path(path)
    _check_exists(path)
    try:
        with soundfile.SoundFile(path) as sound:
            samples = _convert(sound)
    except (soundfile.SoundFileError, RuntimeError, ValueError, TypeError) as exc:
        raise AudioError(path, _reason(exc)) from exc
    if samples.size == 0:
        raise AudioError(path, "contains no audio")
    return samples


def probe_audio(path: Path | str) -> str | None:
    """Why ``path`` cannot be loaded, or None if its header says it is usable audio."""
    path = Path(path)
    try:
        _check_exists(path)
        info = soundfile.info(str(path))
    except AudioError as exc:
        return exc.reason
    except (soundfile.SoundFileError, RuntimeError, ValueError, TypeError) as exc:
        return _reason(exc)
    if info.samplerate <= 0 or info.channels <= 0 or info.frames <= 0:
        return "contains no audio"
    return None


def list_music_files(directory: Path) -> tuple[Path, ...]:
    """The WAV/MP3 files directly in ``directory``, sorted by name (the play order)."""
    entries = sorted(directory.iterdir(), key=lambda entry: entry.name)
    return tuple(e for e in entries if e.suffix.lower() in MUSIC_SUFFIXES and e.is_file())


def to_telephone_rate(mono: NDArray[np.float32], rate: int) -> NDArray[np.float32]:
    """Float mono samples at ``rate`` resampled to 8 kHz (a no-op at 8 kHz)."""
    if rate == RATE:
        return mono
    resampled: NDArray[np.float32] = soxr.resample(mono, rate, RATE, quality=_QUALITY)
    return resampled


def to_int16(samples: NDArray[np.float32]) -> NDArray[np.int16]:
    """Float samples (full scale ±1.0) as int16, rounded and clipped: a loud file or the
    resampler's overshoot must saturate, never wrap around."""
    scaled: NDArray[np.float32] = np.rint(samples * np.float32(32768.0))
    return np.clip(scaled, -32768, 32767).astype(np.int16)


def _convert(sound: soundfile.SoundFile) -> NDArray[np.int16]:
    rate = int(sound.samplerate)
    if rate <= 0:
        raise ValueError("no sample rate")
    stream = None if rate == RATE else soxr.ResampleStream(rate, RATE, 1, "float32", _QUALITY)
    chunks: list[NDArray[np.int16]] = []
    while True:
        block = sound.read(_BLOCK_FRAMES, dtype="float32", always_2d=True)
        last = len(block) < _BLOCK_FRAMES
        mono = block.mean(axis=1, dtype=np.float32) if block.shape[1] > 1 else block[:, 0]
        if stream is not None:
            mono = stream.resample_chunk(mono, last=last)
        chunks.append(to_int16(mono))
        if last:
            break
    return np.concatenate(chunks) if chunks else np.zeros(0, np.int16)


def _check_exists(path: Path) -> None:
    # libsndfile says "System error." for a missing file; say what is actually wrong.
    if path.is_dir():
        raise AudioError(path, "is a directory, not an audio file")
    if not path.exists():
        raise AudioError(path, "no such file")
    if not os.access(path, os.R_OK):
        raise AudioError(path, "permission denied")


def _reason(exc: BaseException) -> str:
    detail = str(getattr(exc, "error_string", None) or exc).rstrip(".")
    # The file is known to exist by now; for a damaged MP3 libsndfile still says it does not.
    if "does not exist" in detail or detail == "System error":
        detail = "unrecognised format, or damaged"
    return f"not a readable audio file ({detail})"
