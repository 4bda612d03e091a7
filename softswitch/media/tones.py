"""Call-progress and conference tones as 20 ms frames on an absolute schedule.

A ``TonePlan`` is a cadence (segments of frequencies and durations, played once or looped) at a
level in dBm0. Players on the ticker ask for frame ``n`` of the plan, where ``n`` counts ticks
since the tone started; the frame is a pure function of ``n`` (sample index ``n * 160 + i``), so a
player that skips or repeats a tick never drifts off the cadence and two players of the same
plan started together stay sample-aligned.

The whole cycle is rendered once when the plan is built, already cut into 160-sample frames, so
``frame(n)`` is one modulo and one row lookup (it returns a read-only view, no copy): ringback
for hundreds of ringing calls costs nothing per call beyond that. Each burst starts at zero
phase, and a 2 ms raised-cosine ramp shapes every place where the sound starts, stops or
changes pitch, so cadence edges and the note change of the two-note conference tones do not
click (a looping single-segment tone such as dial tone has no edges, and its cycle holds a
whole number of periods).

Levels: a sine whose peak is G.711 full scale (16-bit 32767) is +3.17 dBm0 (ITU-T G.711), so
0 dBm0 is a sine of peak 32767 / 10**(3.17/20). For tones of several frequencies the level is
that of each component, as tone specifications state it.

Cadences (sources: ITU-T E.180 Supplement 2, "Various tones used in national networks"; ETSI
TR 101 041-1/-2, which give the CEPT-recommended tones and the national ones; Spain's values
also match Telefónica's and Asterisk's ``indications.conf``):

- Spain: dial 425 Hz continuous; ringback 425 Hz 1.5 s on / 3 s off; busy 425 Hz 0.2 / 0.2 s;
  congestion 425 Hz 0.2 on, 0.2 off, 0.2 on, 0.2 off, 0.2 on, 0.6 off; call waiting 425 Hz
  0.175 on, 0.175 off, 0.175 on, 3.5 off.
- CEPT (``eu``): dial 425 Hz continuous; ringback 425 Hz 1 s / 4 s; busy 425 Hz 0.5 / 0.5 s;
  congestion 425 Hz 0.25 / 0.25 s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from softswitch.media.codecs import FRAME_SAMPLES

__all__ = [
    "COUNTRIES",
    "FRAME_SAMPLES",
    "FULL_SCALE_DBM0",
    "SAMPLE_RATE",
    "Segment",
    "TonePlan",
    "dbm0_to_peak",
    "frames",
    "tone",
]

SAMPLE_RATE = 8000
FULL_SCALE_DBM0 = 3.17  # level of a full-scale sine in G.711 (peak 32767)
_RAMP_SAMPLES = 16  # 2 ms: short enough to keep the cadence, long enough to avoid a click

# (frequencies in Hz, duration in ms); no frequencies is a silent gap.
Segment = tuple[tuple[float, ...], int]
Frames = NDArray[np.int16]


def dbm0_to_peak(level_dbm0: float) -> float:
    """Peak amplitude (16-bit scale) of a sine at ``level_dbm0``."""
    return 32767.0 * math.pow(10.0, (level_dbm0 - FULL_SCALE_DBM0) / 20.0)


@dataclass(frozen=True, slots=True)
class TonePlan:
    """A tone cadence; ``frame(n)`` is the n-th 20 ms frame of it (read-only int16)."""

    name: str
    segments: tuple[Segment, ...]
    loop: bool = True
    level_dbm0: float = -10.0
    # The rendered frames, one row per tick; for a one-shot plan one extra row of silence
    # follows, so indexing past the end needs no branch.
    _table: Frames = field(init=False, repr=False, compare=False)
    _count: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _check(self)
        cycle = _render(self.segments, dbm0_to_peak(self.level_dbm0), self.loop)
        table = _cut(cycle, self.loop)
        table.setflags(write=False)
        object.__setattr__(self, "_table", table)
        object.__setattr__(self, "_count", len(table) - (0 if self.loop else 1))

    @property
    def duration_ms(self) -> int:
        """Length of one cycle (of the whole tone, for a one-shot plan)."""
        return sum(ms for _, ms in self.segments)

    @property
    def frame_count(self) -> int | None:
        """Frames a one-shot plan lasts (then silence); None for a looping plan."""
        return None if self.loop else self._count

    def frame(self, n: int) -> Frames:
        """The n-th 20 ms frame since the tone started (a read-only view)."""
        if n < 0:
            raise ValueError(f"frame index must be >= 0, got {n}")
        row: Frames = self._table[n % self._count if self.loop else min(n, self._count)]
        return row

    def frames(self, count: int, start: int = 0) -> Frames:
        """Frames ``start .. start+count-1`` as a new ``(count, 160)`` array."""
        if start < 0 or count < 0:
            raise ValueError(f"bad frame range start={start} count={count}")
        index = np.arange(start, start + count)
        index = index % self._count if self.loop else np.minimum(index, self._count)
        return self._table[index]


def frames(plan: TonePlan, count: int, start: int = 0) -> Frames:
    """``plan.frames(count, start)``: a block of consecutive frames, shape ``(count, 160)``."""
    return plan.frames(count, start)


def _check(plan: TonePlan) -> None:
    if not plan.segments:
        raise ValueError(f"tone {plan.name!r} has no segments")
    for freqs, ms in plan.segments:
        if ms <= 0:
            raise ValueError(f"tone {plan.name!r}: segment duration must be > 0 ms, got {ms}")
        if any(not 0 < f < SAMPLE_RATE / 2 for f in freqs):
            raise ValueError(f"tone {plan.name!r}: frequencies {freqs} outside (0, 4000) Hz")
    if plan.level_dbm0 > FULL_SCALE_DBM0:
        raise ValueError(f"tone {plan.name!r}: {plan.level_dbm0} dBm0 is above full scale")


def _render(segments: tuple[Segment, ...], peak: float, loop: bool) -> NDArray[np.float64]:
    parts = []
    for i, (freqs, ms) in enumerate(segments):
        # Ramp only where the sound changes: a looping continuous tone (dial) must not dip
        # at every cycle boundary.
        before = segments[i - 1][0] if i or loop else ()
        after = segments[(i + 1) % len(segments)][0] if i + 1 < len(segments) or loop else ()
        burst = _burst(freqs, ms * SAMPLE_RATE // 1000)
        _shape(burst, ramp_in=before != freqs, ramp_out=after != freqs)
        parts.append(burst)
    return peak * np.concatenate(parts)


def _burst(freqs: tuple[float, ...], length: int) -> NDArray[np.float64]:
    t = np.arange(length)
    wave = np.zeros(length)
    for f in freqs:
        wave += np.sin(2.0 * math.pi * f * t / SAMPLE_RATE)
    return wave


def _shape(wave: NDArray[np.float64], ramp_in: bool, ramp_out: bool) -> None:
    ramp = min(_RAMP_SAMPLES, len(wave) // 2)
    edge = np.sin(0.5 * math.pi * (np.arange(ramp) + 0.5) / ramp) ** 2
    if ramp_in:
        wave[:ramp] *= edge
    if ramp_out:
        wave[len(wave) - ramp :] *= edge[::-1]


def _cut(cycle: NDArray[np.float64], loop: bool) -> Frames:
    """The cycle as rows of 160 samples, ready to index by tick number."""
    samples = np.clip(np.rint(cycle), -32768, 32767).astype(np.int16)
    if loop:
        # Repeat the cycle until it ends on a frame boundary (at most 20 times, since durations
        # are whole milliseconds): then frame n is row n modulo the row count.
        repeats = FRAME_SAMPLES // math.gcd(len(samples), FRAME_SAMPLES)
        samples = np.tile(samples, repeats)
    else:
        pad = -len(samples) % FRAME_SAMPLES + FRAME_SAMPLES  # complete the last row, then one
        samples = np.concatenate([samples, np.zeros(pad, dtype=np.int16)])
    return samples.reshape(-1, FRAME_SAMPLES)


def _cadence(freq: float, *on_off_ms: int) -> tuple[Segment, ...]:
    """Alternating on/off durations of one frequency, starting with on."""
    return tuple(((freq,) if i % 2 == 0 else (), ms) for i, ms in enumerate(on_off_ms))


_PROGRESS_DBM0 = -10.0  # a usual network sending level for call-progress tones
_CONFERENCE_DBM0 = -15.0  # join/leave cues sit under the conversation

_NATIONAL: dict[str, dict[str, TonePlan]] = {
    "es": {
        "dial": TonePlan("dial", (((425.0,), 1000),), True, _PROGRESS_DBM0),
        "ringback": TonePlan("ringback", _cadence(425.0, 1500, 3000), True, _PROGRESS_DBM0),
        "busy": TonePlan("busy", _cadence(425.0, 200, 200), True, _PROGRESS_DBM0),
        "congestion": TonePlan(
            "congestion", _cadence(425.0, 200, 200, 200, 200, 200, 600), True, _PROGRESS_DBM0
        ),
        "call_waiting": TonePlan(
            "call_waiting", _cadence(425.0, 175, 175, 175, 3500), True, _PROGRESS_DBM0
        ),
    },
    "eu": {
        "dial": TonePlan("dial", (((425.0,), 1000),), True, _PROGRESS_DBM0),
        "ringback": TonePlan("ringback", _cadence(425.0, 1000, 4000), True, _PROGRESS_DBM0),
        "busy": TonePlan("busy", _cadence(425.0, 500, 500), True, _PROGRESS_DBM0),
        "congestion": TonePlan("congestion", _cadence(425.0, 250, 250), True, _PROGRESS_DBM0),
    },
}

_COMMON: dict[str, TonePlan] = {
    "beep": TonePlan("beep", (((1000.0,), 250),), False, _PROGRESS_DBM0),
    "join": TonePlan("join", (((600.0,), 100), ((900.0,), 150)), False, _CONFERENCE_DBM0),
    "leave": TonePlan("leave", (((900.0,), 100), ((600.0,), 150)), False, _CONFERENCE_DBM0),
}

COUNTRIES = tuple(_NATIONAL)


def tone(name: str, country: str = "es") -> TonePlan:
    """The built-in plan ``name`` for ``country`` (``es``, or ``eu`` for the CEPT tones).

    ``beep``, ``join`` and ``leave`` are the same in every country.
    """
    national = _NATIONAL.get(country.lower())
    if national is None:
        raise KeyError(f"no tones for country {country!r}; countries: {', '.join(COUNTRIES)}")
    plan = national.get(name.lower()) or _COMMON.get(name.lower())
    if plan is None:
        known = ", ".join(sorted([*national, *_COMMON]))
        raise KeyError(f"no tone {name!r} for country {country!r}; tones: {known}")
    return plan
