"""Prompts ready to play: each recording or text converted once, then served from a cache.

Converting is slow next to a 20 ms tick (an MP3 decode and resample, or a text-to-speech run,
takes milliseconds to seconds), so it never happens twice for the same input:

- on disk, ``state_dir/prompts/<hash>.wav`` (8 kHz mono 16-bit) survives restarts. The hash
  covers what the result depends on: a file's absolute path, modification time and size (an
  admin replacing a recording changes them), or a text with its language and voice; and the
  conversion's version, so changing the conversion invalidates every entry. Writes go to a
  temporary file renamed into place, so a crash or a concurrent writer never leaves half a
  file under a real name;
- in memory, a byte-budgeted LRU in front of the disk, so a busy IVR prompt costs a dict
  lookup. Cached arrays are read-only: every caller shares the same samples.

System prompts are the switch's own sentences (conference PIN requests and the like), kept as
a small table of texts per language and spoken through the same cache.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import soundfile
from numpy.typing import NDArray

from softswitch.config.model import CompiledConfig, Prompt
from softswitch.config.schema import normalize_language
from softswitch.media import tts
from softswitch.media.audiofile import RATE, AudioError, list_music_files, load_audio
from softswitch.media.texts import SYSTEM_TEXTS

__all__ = [
    "SYSTEM_TEXTS",
    "Loader",
    "Progress",
    "PromptCache",
    "RenderFailure",
    "Synthesizer",
    "render_all",
    "system_text",
]

log = logging.getLogger("softswitch.media")

Synthesizer = Callable[[str, str, tts.Voice], NDArray[np.int16]]
Loader = Callable[[Path], NDArray[np.int16]]
Progress = Callable[[int, int, str], None]  # (items done, items in all, the item just done)

_FORMAT = "8k-mono-s16/soxr-hq/1"  # in every cache key: change it when conversion changes
_FALLBACK_LANGUAGE = "en"


@dataclass(frozen=True, slots=True)
class RenderFailure:
    name: str  # "bienvenida", "music_on_hold.default", "system.conference_enter_pin"
    message: str


class PromptCache:
    """Converted audio by what it was made from; safe to share between threads."""

    def __init__(
        self,
        state_dir: Path,
        *,
        memory_bytes: int = 32 << 20,
        synthesize: Synthesizer = tts.synthesize,
        load: Loader = load_audio,
    ) -> None:
        self.directory = state_dir / "prompts"
        self._memory_bytes = memory_bytes
        self._synthesize = synthesize
        self._load = load
        self._lock = threading.Lock()  # guards the LRU only; conversions run unlocked
        self._lru: OrderedDict[str, NDArray[np.int16]] = OrderedDict()
        self._held = 0

    def get(self, prompt: Prompt) -> NDArray[np.int16]:
        """A configured prompt as 8 kHz mono int16 (AudioError / tts.TtsError if it cannot be)."""
        if prompt.file is not None:
            return self.audio_file(prompt.file)
        if prompt.text is None:
            raise ValueError(f"prompt {prompt.name!r} has neither file nor text")
        return self.speech(prompt.text, prompt.language, prompt.voice)

    def audio_file(self, path: Path) -> NDArray[np.int16]:
        """Any audio file, converted by ``load_audio`` unless this version was converted before."""
        path = path.absolute()
        try:
            stat = path.stat()
        except OSError as exc:
            raise AudioError(path, exc.strerror or "cannot read") from exc
        key = _digest("file", str(path), stat.st_mtime_ns, stat.st_size)
        return self._cached(key, lambda: self._load(path))

    def speech(self, text: str, language: str, voice: tts.Voice = "female") -> NDArray[np.int16]:
        key = _digest("tts", text, normalize_language(language), voice)
        return self._cached(key, lambda: self._synthesize(text, language, voice))

    def system_prompt(self, key: str, language: str) -> NDArray[np.int16]:
        """One of the switch's own sentences (SYSTEM_TEXTS), in ``language`` or else English."""
        text, spoken = system_text(key, language)
        return self.speech(text, spoken)

    # -- the two levels -------------------------------------------------------------------

    def _cached(self, key: str, render: Callable[[], NDArray[np.int16]]) -> NDArray[np.int16]:
        samples = self._recall(key)
        if samples is not None:
            return samples
        path = self.directory / f"{key}.wav"
        samples = _read_wav(path)
        if samples is None:
            samples = np.ascontiguousarray(render(), dtype=np.int16)
            self._write(path, samples)
        samples.setflags(write=False)
        self._remember(key, samples)
        return samples

    def _recall(self, key: str) -> NDArray[np.int16] | None:
        with self._lock:
            samples = self._lru.get(key)
            if samples is not None:
                self._lru.move_to_end(key)
            return samples

    def _remember(self, key: str, samples: NDArray[np.int16]) -> None:
        if samples.nbytes > self._memory_bytes:
            return  # bigger than the whole budget (long music): the disk copy will do
        with self._lock:
            if key in self._lru:
                return
            self._lru[key] = samples
            self._held += samples.nbytes
            while self._held > self._memory_bytes:
                _, evicted = self._lru.popitem(last=False)
                self._held -= evicted.nbytes

    def _write(self, path: Path, samples: NDArray[np.int16]) -> None:
        # The cache is an optimisation: a read-only state_dir costs speed, not the prompt.
        try:
            _write_wav_atomically(path, samples)
        except (OSError, soundfile.SoundFileError) as exc:
            log.warning("- cannot cache %s: %s", path, exc)


def system_text(key: str, language: str) -> tuple[str, str]:
    """The text of system prompt ``key`` and the language it is in: ``language``, else its
    primary tag (``es-mx`` -> ``es``), else English."""
    code = normalize_language(language)
    for candidate in (code, code.split("-")[0], _FALLBACK_LANGUAGE):
        texts = SYSTEM_TEXTS.get(candidate)
        if texts is not None and key in texts:
            return texts[key], candidate
    raise KeyError(f"no system prompt named {key!r}")


# -- rendering ahead of time ----------------------------------------------------------------


def render_all(
    config: CompiledConfig, progress: Progress | None = None, cache: PromptCache | None = None
) -> tuple[RenderFailure, ...]:
    """Convert every configured prompt, every music-on-hold track and the system prompts in the
    server's language into the cache, so no caller waits for a first conversion."""
    cache = cache or PromptCache(config.server.state_dir)
    jobs = list(_jobs(config, cache))
    failures: list[RenderFailure] = []
    for done, (name, job) in enumerate(jobs, start=1):
        try:
            job()
        except (AudioError, tts.TtsError, OSError) as exc:
            failures.append(RenderFailure(name, str(exc)))
        if progress is not None:
            progress(done, len(jobs), name)
    return tuple(failures)


def _jobs(config: CompiledConfig, cache: PromptCache) -> Iterator[tuple[str, Callable[[], object]]]:
    for name, prompt in config.prompts.items():
        yield name, partial(cache.get, prompt)
    for name, music in config.music_on_hold.items():
        yield f"music_on_hold.{name}", partial(_render_tracks, cache, music.directory)
    for key in SYSTEM_TEXTS[_FALLBACK_LANGUAGE]:
        yield f"system.{key}", partial(cache.system_prompt, key, config.server.language)


def _render_tracks(cache: PromptCache, directory: Path) -> None:
    for track in list_music_files(directory):
        cache.audio_file(track)


# -- files ------------------------------------------------------------------------------------


def _digest(*parts: object) -> str:
    encoded = json.dumps([_FORMAT, *parts], ensure_ascii=False).encode("utf-8")
    return hashlib.sha256(encoded).hexdigest()[:32]


def _read_wav(path: Path) -> NDArray[np.int16] | None:
    """A cached conversion, or None if absent or not what this cache writes."""
    try:
        with soundfile.SoundFile(path) as sound:
            if sound.samplerate != RATE or sound.channels != 1:
                return None
            samples: NDArray[np.int16] = sound.read(dtype="int16")
    except (OSError, soundfile.SoundFileError, RuntimeError):
        return None
    return samples


def _write_wav_atomically(path: Path, samples: NDArray[np.int16]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as file:
            soundfile.write(file, samples, RATE, format="WAV", subtype="PCM_16")
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
