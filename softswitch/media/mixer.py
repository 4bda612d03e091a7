"""The conference mixer: every conference of one 20 ms tick mixed in one vectorised pass.

Each participant hears the sum of the other speakers of its conference and never itself (the
"N-1" mix of pjmedia ``conference.c`` and Asterisk ``bridge_softmix.c``): the frames of all
speakers of a conference are summed in int32, each speaker's own frame is subtracted from that
sum, and the result is clipped to int16 (saturation, never wrap-around). The ticker hands over
the frames of *all* participants of *all* conferences as one ``(P, samples)`` array, so a tick
costs a fixed handful of numpy calls whatever P is; there is no Python loop over participants
or conferences on the hot path.

How the sums are formed was measured (numpy 2.4, 2 cores, ``bench/bench_mix.py``'s machine),
per tick for the reduction alone:

=================  ==========  ==========  ==========
P, conference of   5000, 3     5000, 10    5000, 50
=================  ==========  ==========  ==========
np.add.at, 1-D     1.0 ms      1.1 ms      1.0 ms
np.bincount        2.0 ms      1.2 ms      1.4 ms
np.add.reduceat    5.0 ms      2.5 ms      1.3 ms
np.add.at, 2-D     6.8 ms      5.1 ms      5.1 ms
=================  ==========  ==========  ==========

so we keep ``np.add.at`` on the flattened arrays: every sample ``(row, t)`` is added into
``sums[target[row] * samples + t]``. That flat index only changes when someone joins or
leaves, and then only in that participant's ``samples`` entries, so ``Mixer`` keeps it up to
date in place (slots and conference rows are stable) instead of rebuilding it.

Sums are int32, exact for conferences of up to 65,535 speakers (65,536 × 32,768 overflows).

Row 0 of the sums is a "void" conference that free slots point at: it keeps free slots silent
without a mask, and growing the conference table never moves it.

Besides each participant's mix the result carries each conference's full mix, which is what
every silent (muted or quiet) member hears: a ticker encodes it once per codec and fans it out
instead of encoding the same audio for each listener (DESIGN §3.10).
"""

from __future__ import annotations

import heapq
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np
import numpy.typing as npt

__all__ = [
    "SAMPLES_PER_FRAME",
    "Frames",
    "MixResult",
    "Mixer",
    "mix",
]

SAMPLES_PER_FRAME = 160  # 20 ms at 8 kHz
INT16_MIN = -32768
INT16_MAX = 32767

Frames = npt.NDArray[np.int16]
_Index = npt.NDArray[np.intp]
_Mask = npt.NDArray[np.bool_]
K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True, slots=True)
class MixResult:
    """One tick's mix. Rows are participants (slots, for ``Mixer``); the arrays are fresh each
    tick, so a result may be kept.

    ``per_participant[i]``: what participant ``i`` hears (zeros for a free slot);
    ``per_conference[c]``: everything said in conference row ``c``, clipped: what each of its
    members that did not speak this tick hears;
    ``conf_of_row[i]``: the conference row of participant ``i``, -1 for a free slot.
    """

    per_participant: Frames
    per_conference: Frames
    conf_of_row: _Index


class _Work:
    """Scratch buffers reused from tick to tick (the int32 intermediates are the big ones)."""

    __slots__ = ("contrib", "mixed", "sums")

    def __init__(self) -> None:
        self.contrib = np.empty((0, 0), np.int32)
        self.mixed = np.empty((0, 0), np.int32)
        self.sums = np.empty(0, np.int32)

    def ensure(self, rows: int, samples: int, sum_rows: int) -> None:
        if self.contrib.shape[0] < rows or self.contrib.shape[1] != samples:
            size = max(rows, 2 * self.contrib.shape[0])
            self.contrib = np.empty((size, samples), np.int32)
            self.mixed = np.empty((size, samples), np.int32)
        if self.sums.shape[0] < sum_rows * samples:
            self.sums = np.empty(max(sum_rows * samples, 2 * self.sums.shape[0]), np.int32)


def _mix(
    frames: Frames,
    speaking: _Mask,
    target: _Index,
    flat: _Index,
    conferences: int,
    work: _Work,
) -> MixResult:
    """The hot path. ``target[i]``: sums row of row i (0 = void, conference c = c + 1);
    ``flat``: ``target[i] * samples + t`` for every sample, row-major."""
    rows, samples = frames.shape
    work.ensure(rows, samples, conferences + 1)
    contrib = work.contrib[:rows]
    # Widen, then zero the rows nobody may hear: 7x cheaper than multiplying by the mask
    # (0.08 ms against 0.56 ms for 5000 rows), since few rows are quiet in a tick.
    np.copyto(contrib, frames)
    quiet = np.flatnonzero(~speaking)
    if quiet.size:
        contrib[quiet] = 0
    sums_flat = work.sums[: (conferences + 1) * samples]
    sums_flat.fill(0)
    np.add.at(sums_flat, flat, contrib.reshape(-1))
    sums = sums_flat.reshape(conferences + 1, samples)
    mixed = work.mixed[:rows]
    np.take(sums, target, axis=0, out=mixed)
    np.subtract(mixed, contrib, out=mixed)  # never hear yourself
    # Clip and narrow in one pass: int32 -> int16 straight into the result.
    per_participant = np.empty((rows, samples), np.int16)
    np.clip(mixed, INT16_MIN, INT16_MAX, out=per_participant, casting="unsafe")
    per_conference = np.empty((conferences, samples), np.int16)
    np.clip(sums[1:], INT16_MIN, INT16_MAX, out=per_conference, casting="unsafe")
    return MixResult(per_participant, per_conference, target - 1)


def _flat_index(target: _Index, samples: int) -> _Index:
    flat: _Index = (target[:, None] * samples + np.arange(samples, dtype=np.intp)).reshape(-1)
    return flat


def mix(
    frames: Frames,
    conf_index: npt.ArrayLike,
    speaking: npt.ArrayLike,
    conferences: int | None = None,
) -> MixResult:
    """Mix one tick without a ``Mixer``: ``frames`` ``(P, samples)`` int16, ``conf_index``
    ``(P,)`` the conference row of each participant (-1: nobody), ``speaking`` ``(P,)`` False
    for muted participants or those that sent nothing. ``conferences`` defaults to
    ``max(conf_index) + 1``."""
    conf = np.asarray(conf_index, dtype=np.intp)
    talk = np.asarray(speaking, dtype=np.bool_)
    if frames.ndim != 2 or conf.shape != (frames.shape[0],) or talk.shape != conf.shape:
        raise ValueError("frames must be (P, samples), conf_index and speaking (P,)")
    count = int(conf.max(initial=-1)) + 1 if conferences is None else conferences
    if conf.size and (conf.min() < -1 or conf.max() >= count):
        raise ValueError("conf_index out of range")
    target = conf + 1
    talk = talk & (target > 0)
    flat = _flat_index(target, frames.shape[1])
    return _mix(frames, talk, target, flat, count, _Work())


class Mixer(Generic[K]):
    """The participant table of every conference on one ticker, with stable slots.

    ``add(conference)`` gives a slot; the ticker writes that participant's frame into row
    ``slot`` of the frames it passes to ``mix`` and reads row ``slot`` of the result. A slot
    stays valid until it is removed; freed slots are reused (lowest first) so the arrays stay
    dense. Each conference also keeps its row in ``per_conference`` while it has members.
    """

    __slots__ = (
        "_conf_keys",
        "_conf_members",
        "_conf_rows",
        "_flat",
        "_free_conf_rows",
        "_free_slots",
        "_live",
        "_muted",
        "_rows",
        "_samples",
        "_slot_conf",
        "_target",
        "_work",
    )

    def __init__(self, samples: int = SAMPLES_PER_FRAME) -> None:
        self._samples = samples
        self._rows = 0  # slots ever handed out (high-water mark): the frame rows mix() reads
        self._free_slots: list[int] = []
        self._slot_conf: dict[int, K] = {}
        self._conf_rows: dict[K, int] = {}  # conference -> row in per_conference
        self._conf_members: dict[K, set[int]] = {}
        self._conf_keys: list[K | None] = []  # row -> conference (None: a free row)
        self._free_conf_rows: list[int] = []
        self._target = np.zeros(0, np.intp)
        self._flat = np.zeros(0, np.intp)
        self._live = np.zeros(0, np.bool_)  # occupied and not muted
        self._muted = np.zeros(0, np.bool_)
        self._work = _Work()

    # --- the participant table -------------------------------------------------------------

    def add(self, conference: K) -> int:
        """A new participant in ``conference`` (created if it has nobody yet); its slot."""
        slot = self._take_slot()
        row = self._conf_rows.get(conference)
        if row is None:
            row = self._take_conf_row(conference)
        self._conf_members.setdefault(conference, set()).add(slot)
        self._slot_conf[slot] = conference
        self._point(slot, row + 1)
        self._live[slot] = True
        self._muted[slot] = False
        return slot

    def remove(self, slot: int) -> None:
        """The participant leaves; its slot may be handed to the next ``add``."""
        conference = self._slot_conf.pop(slot)  # KeyError: not a participant
        members = self._conf_members[conference]
        members.discard(slot)
        if not members:
            del self._conf_members[conference]
            row = self._conf_rows.pop(conference)
            self._conf_keys[row] = None
            heapq.heappush(self._free_conf_rows, row)
        self._point(slot, 0)
        self._live[slot] = self._muted[slot] = False
        heapq.heappush(self._free_slots, slot)

    def set_muted(self, slot: int, muted: bool = True) -> None:
        """A muted participant still hears the others; nobody hears it."""
        if slot not in self._slot_conf:
            raise KeyError(slot)
        self._muted[slot] = muted
        self._live[slot] = not muted

    def is_muted(self, slot: int) -> bool:
        return bool(self._muted[slot])

    def conference_of(self, slot: int) -> K:
        return self._slot_conf[slot]

    def conference_row(self, conference: K) -> int:
        """Row of ``conference`` in ``MixResult.per_conference`` (KeyError: nobody in it)."""
        return self._conf_rows[conference]

    def members(self, conference: K) -> frozenset[int]:
        return frozenset(self._conf_members.get(conference, ()))

    @property
    def rows(self) -> int:
        """Rows ``mix`` reads from ``frames`` and returns: every slot is below it."""
        return self._rows

    @property
    def samples(self) -> int:
        return self._samples

    def __len__(self) -> int:
        return len(self._slot_conf)

    # --- the tick --------------------------------------------------------------------------

    def mix(self, frames: Frames, sent: _Mask | None = None) -> MixResult:
        """Mix one tick. ``frames``: at least ``rows`` rows of ``samples`` int16, row = slot;
        ``sent``: which rows carry a frame this tick (default: all of them)."""
        rows = self._rows
        if frames.ndim != 2 or frames.shape[0] < rows or frames.shape[1] != self._samples:
            raise ValueError(f"frames must be ({rows}+, {self._samples}), not {frames.shape}")
        live = self._live[:rows]
        speaking = live if sent is None else live & sent[:rows]
        return _mix(
            frames[:rows],
            speaking,
            self._target[:rows],
            self._flat[: rows * self._samples],
            len(self._conf_keys),
            self._work,
        )

    # --- bookkeeping -----------------------------------------------------------------------

    def _take_slot(self) -> int:
        if self._free_slots:
            return heapq.heappop(self._free_slots)  # the lowest: keeps the rows dense
        slot = self._rows
        self._rows += 1
        if slot >= self._target.shape[0]:
            self._grow(max(16, 2 * self._target.shape[0]))
        return slot

    def _take_conf_row(self, conference: K) -> int:
        if self._free_conf_rows:
            row = heapq.heappop(self._free_conf_rows)
            self._conf_keys[row] = conference
        else:
            row = len(self._conf_keys)
            self._conf_keys.append(conference)
        self._conf_rows[conference] = row
        return row

    def _point(self, slot: int, target: int) -> None:
        """Send ``slot``'s samples to sums row ``target``: O(samples), no rebuild."""
        samples = self._samples
        self._target[slot] = target
        self._flat[slot * samples : (slot + 1) * samples] = target * samples + np.arange(samples)

    def _grow(self, capacity: int) -> None:
        """More slots; existing slots keep their place, new ones point at the void row."""
        old = self._target.shape[0]
        self._target = np.concatenate([self._target, np.zeros(capacity - old, np.intp)])
        self._flat = _flat_index(self._target, self._samples)
        self._live = np.concatenate([self._live, np.zeros(capacity - old, np.bool_)])
        self._muted = np.concatenate([self._muted, np.zeros(capacity - old, np.bool_)])
