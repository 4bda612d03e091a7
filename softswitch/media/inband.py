"""In-band DTMF detection: digits from phones that send their keys as tones in the audio.

Most phones send RFC 4733 events, but some (and some trunks) only play the tones, so an IVR
or a feature code has to hear them. ``InbandDtmfDetector`` is sans-IO: it is fed the 20 ms
int16 frames a port receives on the ticker, with the tick time, and returns one
``DigitDetected`` per key press.

Analysis. Windows of 160 samples (20 ms) hop by 80 samples (10 ms): two windows per frame, the
first straddling the previous frame. 20 ms gives 50 Hz resolution, enough to separate 697 from
770 Hz, and the 10 ms hop gives the time resolution the duration rules need. The power at each
DTMF frequency is a Goertzel/DFT magnitude, computed for all windows and frequencies at once as
one matrix product of the 10 ms blocks with precomputed cos/sin tables (each block is
multiplied once although it belongs to two windows). Each frequency is probed at its nominal
value and at ±1.5 % and ±3 %: the tone's power is the largest of the inner three, so a phone
at the edge of the ITU-T Q.24 operate tolerance (1.5 %) loses little in the 50 Hz-wide bins,
and a tone nearer an outer probe (more than ~2.25 % off) is refused, well before the 3.5 % at
which Q.24 says a receiver must not operate.

Cost (measured on the development machine): ~12 µs a frame for silence, ~30 µs for speech
or music (they leave after the purity test), ~100 µs while a key is down.

A window holds a key when all of these hold (the usual checks, as in spandsp and Asterisk):

- level: the strongest row and column tones are each above ``min_level_dbm0``;
- twist: the low-group (row) tone at most 8 dB above the high-group (column) tone ("normal"
  twist), the column at most 4 dB above the row ("reverse" twist);
- relative peak: every other tone of each group at least 8 dB below the strongest one;
- purity: the two tones carry at least 60 % of the window's power. This stands in for the
  second-harmonic check: speech and music spread their power over harmonics and formants,
  a DTMF pair puts nearly all of it in two tones (white noise at 15 dB SNR leaves ~97 %);
- tolerance: both tones within ~2.25 % of nominal (see above). Purity alone lets through a
  single note whose second harmonic lands near a column tone (G#5: 831 + 1661 Hz reads as
  852 + 1633, "C"); 831 Hz is 2.5 % off, so this check refuses it.

Timing. A key is reported after 3 consecutive windows agree: a tone of 35 ms or more always
gives that, one of 20 ms or less never does (a partial window fails the purity check unless
the tone covers most of it). It can be reported again only after 4 windows without it: a
40 ms pause always gives that, while a 20 ms dropout (one lost packet played out as silence)
removes at most 3 windows and does not split a key in two. ``now`` only stamps the events
and notices frames the caller skipped, which count as silence.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from softswitch.media.tones import SAMPLE_RATE, dbm0_to_peak

__all__ = [
    "DTMF_COLS",
    "DTMF_KEYS",
    "DTMF_ROWS",
    "DigitDetected",
    "InbandDtmfDetector",
]

DTMF_ROWS = (697.0, 770.0, 852.0, 941.0)
DTMF_COLS = (1209.0, 1336.0, 1477.0, 1633.0)
DTMF_KEYS = "123A456B789C*0#D"  # row-major: key = KEYS[row * 4 + col]

WINDOW = 160  # samples per analysis window (20 ms)
HOP = 80  # samples between window starts (10 ms)
MIN_HITS = 3  # consecutive windows that confirm a key
MIN_GAP = 4  # windows without the key before it may be reported again
NORMAL_TWIST_DB = 8.0  # row may be this much stronger than column
REVERSE_TWIST_DB = 4.0  # column may be this much stronger than row
RELATIVE_PEAK_DB = 8.0
MIN_PURITY = 0.6  # share of the window's power in the row and column tones
# Relative frequency offsets probed around each tone. The inner three measure the tone; the
# outer two only tell whether the tone is nearer to them than to the inner ones (> ~2.25 %
# off), which Q.24 lets a receiver reject (it must accept 1.5 %, must reject 3.5 %).
PROBES = (-0.03, -0.015, 0.0, 0.015, 0.03)
_INNER = slice(1, 4)

_SILENT_BLOCK = np.zeros(HOP)
_SILENT_BLOCK.setflags(write=False)


def _db(ratio_db: float) -> float:
    return math.pow(10.0, ratio_db / 10.0)


def _basis() -> NDArray[np.float64]:
    """Correlators for every probe of every tone, split by window half.

    Shape ``(HOP, 2 * C)`` where C = 2 * tones * probes (cos and sin columns): the first C
    columns apply to the first half of a window, the last C to its second half. A window's
    DFT is then ``half[j] @ first + half[j + 1] @ second``, so each 10 ms block of audio is
    multiplied once although it belongs to two windows.
    """
    freqs = [f * (1.0 + p) for f in (*DTMF_ROWS, *DTMF_COLS) for p in PROBES]
    angle = 2.0 * math.pi * np.outer(np.arange(WINDOW), freqs) / SAMPLE_RATE
    full = np.hstack([np.cos(angle), np.sin(angle)])
    return np.hstack([full[:HOP], full[HOP:]])


_BASIS = _basis()
_COLUMNS = _BASIS.shape[1] // 2
_TONES = len(DTMF_ROWS) + len(DTMF_COLS)
# |X|^2 * 2 / N^2 is the mean-square power of a sine component: comparable with the
# window's mean square and with a level in dBm0.
_POWER_SCALE = 2.0 / WINDOW**2
_NORMAL_TWIST = _db(NORMAL_TWIST_DB)
_REVERSE_TWIST = _db(REVERSE_TWIST_DB)
_RELATIVE_PEAK = _db(RELATIVE_PEAK_DB)


@dataclass(frozen=True, slots=True)
class DigitDetected:
    """A key press heard in the audio; ``at`` is the ``now`` of the frame that confirmed it."""

    digit: str
    at: float


def _classify(blocks: NDArray[np.float64], min_power: float) -> list[int]:
    """The key (0..15, or -1) in each window of consecutive 80-sample ``blocks`` (k+1, 80).

    The hot path of the detector, ordered so that the usual audio leaves early: silence
    after one energy sum, speech and music after the purity test, before any per-group work.
    """
    k = len(blocks) - 1
    half_energy = np.einsum("ij,ij->i", blocks, blocks)
    energy = (half_energy[:-1] + half_energy[1:]) / WINDOW  # mean square of each window
    if energy.max() < min_power:  # both tones need min_power: nothing to find
        return [-1] * k
    proj = blocks @ _BASIS
    dft = proj[:-1, :_COLUMNS] + proj[1:, _COLUMNS:]
    half = _COLUMNS // 2
    probes = ((dft[:, :half] ** 2 + dft[:, half:] ** 2) * _POWER_SCALE).reshape(k, _TONES, -1)
    tone = probes[:, :, _INNER].max(axis=2)
    rows, cols = tone[:, :4], tone[:, 4:]
    pr, pc = rows.max(axis=1), cols.max(axis=1)
    ok = (pr + pc >= MIN_PURITY * energy) & (np.minimum(pr, pc) >= min_power)
    if not ok.any():
        return [-1] * k
    ok &= (pr <= pc * _NORMAL_TWIST) & (pc <= pr * _REVERSE_TWIST)
    # Relative peak: the strongest tone is the only one of its group within 8 dB of itself.
    ok &= ((rows * _RELATIVE_PEAK >= pr[:, None]).sum(axis=1) == 1) & (
        (cols * _RELATIVE_PEAK >= pc[:, None]).sum(axis=1) == 1
    )
    r, c = rows.argmax(axis=1), cols.argmax(axis=1)
    best = probes.argmax(axis=2)
    at = np.arange(k)
    ok &= _in_tolerance(best[at, r]) & _in_tolerance(best[at, 4 + c])
    keys: list[int] = np.where(ok, r * 4 + c, -1).tolist()
    return keys


def _in_tolerance(probe: NDArray[np.intp]) -> NDArray[np.bool_]:
    return (probe >= _INNER.start) & (probe < _INNER.stop)


class InbandDtmfDetector:
    """Digits in a stream of 8 kHz int16 frames; feed every frame in order with its time."""

    __slots__ = ("_due", "_held", "_min_power", "_misses", "_prev", "_run", "_run_key")

    def __init__(self, min_level_dbm0: float = -36.0) -> None:
        self._min_power = dbm0_to_peak(min_level_dbm0) ** 2 / 2.0
        self.reset()

    def reset(self) -> None:
        """Forget everything heard so far (a new media source)."""
        self._prev = _SILENT_BLOCK  # last 10 ms block: the first half of the next window
        self._held = -1  # key currently down (already reported), -1 for none
        self._misses = 0  # consecutive windows without the held key
        self._run_key = -1  # key being confirmed
        self._run = 0  # consecutive windows with it
        self._due: float | None = None  # when the next frame should start

    def feed(self, frame: NDArray[np.int16], now: float) -> list[DigitDetected]:
        """Analyse one frame (a multiple of 10 ms, normally 20 ms); digits it confirms."""
        if len(frame) % HOP:
            raise ValueError(f"frames must hold a multiple of {HOP} samples, got {len(frame)}")
        self._skip_gap(now, len(frame))
        if not len(frame):
            return []
        blocks = np.concatenate((self._prev, frame.astype(np.float64))).reshape(-1, HOP)
        self._prev = blocks[-1]
        events: list[DigitDetected] = []
        for key in _classify(blocks, self._min_power):
            if (key >= 0 or self._held >= 0 or self._run) and self._step(key):
                events.append(DigitDetected(DTMF_KEYS[key], now))
        return events

    def _skip_gap(self, now: float, samples: int) -> None:
        # Frames the caller did not feed (a stalled source) are silence: the audio on either
        # side must not be spliced into one window, and the gap counts as a pause. Lateness
        # under one block (10 ms) is only jitter.
        due, self._due = self._due, now + samples / SAMPLE_RATE
        missed = int((now - due) * SAMPLE_RATE) // HOP if due is not None else 0
        if missed <= 0:
            return
        self._prev = _SILENT_BLOCK
        for _ in range(min(missed, MIN_GAP)):  # beyond MIN_GAP nothing changes any more
            self._step(-1)

    def _step(self, key: int) -> bool:
        """Advance the key state by one window; True when ``key`` is newly confirmed."""
        if key >= 0 and key == self._held:
            self._misses = 0
            return False
        if self._held >= 0:
            self._misses += 1
            if self._misses >= MIN_GAP:
                self._held = -1
        if key < 0:
            self._run_key, self._run = -1, 0
            return False
        self._run = self._run + 1 if key == self._run_key else 1
        self._run_key = key
        if self._run < MIN_HITS:
            return False
        self._held, self._misses = key, 0
        self._run_key, self._run = -1, 0
        return True
