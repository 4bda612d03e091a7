"""Music on hold: each class as one looping 8 kHz int16 array, loaded once.

A class is every WAV/MP3 in its directory, in name order (or shuffled), converted through the
prompt cache and joined with a short silence after each track, the last included, so that the
loop's seam sounds like any other gap. One MOH stream per class plays the array round and
round and fans the encoded frames out to every caller on hold (DESIGN §3.10), so the array is
built once per class and shared read-only.

``default`` always exists: the configured class of that name, or else a synthesised tune, so a
caller on hold never hears silence and wonders whether the call dropped.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Mapping

import numpy as np
from numpy.typing import NDArray

from softswitch.config.model import MusicClass
from softswitch.media.audiofile import RATE, AudioError, list_music_files
from softswitch.media.prompts import PromptCache

__all__ = ["DEFAULT_CLASS", "TRACK_GAP", "MusicLibrary", "default_tune"]

DEFAULT_CLASS = "default"
TRACK_GAP = 1.0  # seconds of silence after each track


class MusicLibrary:
    """The music-on-hold classes of one configuration; ``get`` builds each one once."""

    def __init__(
        self, cache: PromptCache, classes: Mapping[str, MusicClass], *, seed: int | None = None
    ) -> None:
        self._cache = cache
        self._classes = classes
        self._seed = seed  # None: a different shuffle every run, as listeners expect
        self._lock = threading.Lock()
        self._loaded: dict[str, NDArray[np.int16]] = {}

    def get(self, name: str = DEFAULT_CLASS) -> NDArray[np.int16]:
        """Class ``name`` as one read-only array to loop; KeyError for an unknown class."""
        with self._lock:  # one build per class, even when two holds start together
            samples = self._loaded.get(name)
            if samples is None:
                samples = self._build(name)
                samples.setflags(write=False)
                self._loaded[name] = samples
            return samples

    def _build(self, name: str) -> NDArray[np.int16]:
        music = self._classes.get(name)
        if music is None:
            if name != DEFAULT_CLASS:
                raise KeyError(f"no music_on_hold class named {name!r}")
            return default_tune()
        return self.load(music)

    def load(self, music: MusicClass) -> NDArray[np.int16]:
        """Every track of ``music`` (converted through the cache), each followed by a gap."""
        tracks = list(list_music_files(music.directory))
        if music.shuffle:
            random.Random(self._seed).shuffle(tracks)
        if not tracks:
            raise AudioError(music.directory, "no WAV or MP3 files")
        gap = np.zeros(round(TRACK_GAP * RATE), np.int16)
        parts: list[NDArray[np.int16]] = []
        for track in tracks:
            parts += (self._cache.audio_file(track), gap)
        return np.concatenate(parts)


# -- the built-in tune ----------------------------------------------------------------------

_BEAT = 0.625  # seconds: 96 beats per minute
# I-vi-IV-V in C major, twice: eight bars of 4/4, 20 s. Ending on G leads back into the C of
# bar one, so the loop never seems to stop. Chords as MIDI notes around middle C, where a phone
# (300-3400 Hz) still carries the fundamental.
_CHORDS = ((60, 64, 67), (57, 60, 64), (53, 57, 60), (55, 59, 62)) * 2
# The melody: (MIDI note, beats), four beats a bar.
_MELODY = (
    ((79, 2), (76, 1), (77, 1)),
    ((76, 2), (72, 2)),
    ((77, 1.5), (76, 0.5), (74, 1), (72, 1)),
    ((74, 3), (71, 1)),
    ((72, 1), (76, 1), (79, 2)),
    ((81, 2), (79, 1), (76, 1)),
    ((77, 1), (81, 1), (79, 1), (77, 1)),
    ((74, 2), (71, 1), (74, 1)),
)
# Arpeggio over each chord, in eighth notes: up through the chord and the octave, and back.
_ARPEGGIO = (0, 1, 2, 3, 4, 3, 2, 1)


def default_tune(rate: int = RATE) -> NDArray[np.int16]:
    """Twenty seconds of a gentle music-box tune: arpeggiated chords under a melody, each note
    a struck tone (fast attack, exponential decay) so nothing drones. Deterministic, and
    seamless when looped: a note still ringing at the end carries on at the start."""
    bar = 4 * _BEAT
    out = np.zeros(round(len(_CHORDS) * bar * rate), np.float64)
    for index, chord in enumerate(_CHORDS):
        start = index * bar
        tones = (*chord, chord[0] + 12, chord[1] + 12)
        for step, position in enumerate(_ARPEGGIO):
            _strike(out, rate, start + step * _BEAT / 2, tones[position], 0.5, 0.16)
        at = start
        for note, beats in _MELODY[index]:
            _strike(out, rate, at, note, 0.3 + 0.4 * beats * _BEAT, 0.3)
            at += beats * _BEAT
    # -12 dBFS peak: hold music should sit well under speech, and G.711 is kindest to it.
    peak = float(np.max(np.abs(out))) or 1.0
    return np.rint(out * (0.25 * 32767 / peak)).astype(np.int16)


def _strike(
    out: NDArray[np.float64], rate: int, at: float, note: int, decay: float, level: float
) -> None:
    """Add one note to the loop ``out``: a sine with soft 2nd and 3rd harmonics, so it is heard
    even where a handset cuts the fundamental, under a 5 ms attack and an exponential decay
    (six time constants: -52 dB, no audible cut)."""
    frequency = 440.0 * 2.0 ** ((note - 69) / 12)
    t = np.arange(min(round(6 * decay * rate), len(out))) / rate
    phase = 2 * np.pi * frequency * t
    wave = np.sin(phase) + 0.3 * np.sin(2 * phase) + 0.1 * np.sin(3 * phase)
    note_samples = level * wave * np.minimum(t / 0.005, 1.0) * np.exp(-t / decay)
    begin = round(at * rate) % len(out)
    head = min(len(note_samples), len(out) - begin)
    out[begin : begin + head] += note_samples[:head]
    out[: len(note_samples) - head] += note_samples[head:]  # the tail wraps to the start
