"""Benchmark: the conference mixer's CPU cost per 20 ms tick, with G.711 around it.

P participants in conferences of k (joined in random order, so a conference's slots are
scattered as they are after real joins and leaves). Each tick does what the ticker does for a
conference: µ-law payloads in (one 160-byte payload per participant, as the jitter buffers
hand them over) → decode → ``Mixer.mix`` (N-1 sums, clip) → µ-law encode of every
participant's own mix → one payload ``bytes`` per participant, ready for ``sendto``. Every
participant is speaking, the worst case: nobody can share an encoded frame. We print the CPU
time per tick (``time.process_time`` over many ticks) for the mix alone and for the whole
tick, the share of one core that is (a tick is due every 20 ms), and, per conference size,
the most participants one core mixes in real time (whole tick < 20 ms), found by doubling
then bisection.

    .venv/bin/python bench/bench_mix.py
    .venv/bin/python bench/bench_mix.py --quick
    .venv/bin/python bench/bench_mix.py --sizes 3,10 --participants 1000,5000 --ticks 500

Not run by the tests. Sockets, jitter buffers and RTP headers are not included (see
bench_rtp_relay.py for the packet side): this is the numpy part of a conference.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from softswitch.media.codecs import PCMU
from softswitch.media.mixer import SAMPLES_PER_FRAME, Mixer

PTIME_MS = 20.0
SEED = 20261122


@dataclass(frozen=True, slots=True)
class Result:
    participants: int
    size: int
    ticks: int
    mix_ms: float  # CPU per tick, Mixer.mix alone
    tick_ms: float  # CPU per tick, decode + mix + encode + payloads

    def report(self) -> str:
        conferences = -(-self.participants // self.size)
        per_party = self.tick_ms / self.participants * 1000
        return (
            f"P={self.participants:6} k={self.size:3} conferences={conferences:5} "
            f"mix={self.mix_ms:7.3f} ms  tick={self.tick_ms:7.3f} ms "
            f"({self.tick_ms / PTIME_MS:6.1%} of a core, {per_party:5.2f} us/participant)"
        )


class Conference:
    """P participants in conferences of k, with a tick's worth of µ-law payloads."""

    def __init__(self, participants: int, size: int, rng: np.random.Generator) -> None:
        rooms = np.arange(participants) // size
        rng.shuffle(rooms)  # joins interleave: a room's slots are not contiguous
        self.mixer: Mixer[int] = Mixer()
        for room in rooms:
            self.mixer.add(int(room))
        # Speech-like levels: codes of samples up to about -10 dBFS.
        pcm = rng.normal(0, 3000, (participants, SAMPLES_PER_FRAME)).astype(np.int16)
        codes = PCMU.encode_many(pcm)
        self.payloads = [codes[i].tobytes() for i in range(participants)]
        self.frames = PCMU.decode_table[codes]

    def tick(self) -> list[bytes]:
        """One whole tick: payloads in, payloads out."""
        rows = len(self.payloads)
        received = np.frombuffer(b"".join(self.payloads), np.uint8).reshape(rows, -1)
        frames: npt.NDArray[np.int16] = PCMU.decode_table[received]
        out = PCMU.encode_many(self.mixer.mix(frames).per_participant)
        block = out.tobytes()  # one copy, then a slice per participant
        step = out.shape[1]
        return [block[i * step : (i + 1) * step] for i in range(rows)]

    def mix_only(self) -> None:
        self.mixer.mix(self.frames)


def cpu_ms(work: Callable[[], object], ticks: int) -> float:
    """Mean CPU milliseconds of ``work()`` over ``ticks`` calls (after two warm-up calls)."""
    work()
    work()
    start = time.process_time()
    for _ in range(ticks):
        work()
    return (time.process_time() - start) / ticks * 1000


def measure(participants: int, size: int, ticks: int) -> Result:
    conference = Conference(participants, size, np.random.default_rng(SEED))
    mix_ms = cpu_ms(conference.mix_only, ticks)
    tick_ms = cpu_ms(conference.tick, ticks)
    return Result(participants, size, ticks, mix_ms, tick_ms)


def real_time_limit(size: int, ticks: int, start: int = 1000) -> tuple[int, Result]:
    """The largest P (to within ~3 %) whose whole tick costs under 20 ms of CPU."""
    low, high = 0, start
    best: Result | None = None
    while True:  # double until a tick no longer fits
        result = measure(high, size, ticks)
        if result.tick_ms >= PTIME_MS:
            break
        low, best = high, result
        high *= 2
    while high - low > max(size, low // 32):  # bisect, in whole conferences
        middle = (low + high) // 2 // size * size or size
        result = measure(middle, size, ticks)
        if result.tick_ms < PTIME_MS:
            low, best = middle, result
        else:
            high = middle
    if best is None:  # even `start` participants do not fit: report that run
        best = measure(max(low, size), size, ticks)
    return low, best


def _ints(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--participants", type=_ints, default=[100, 500, 1000, 2000, 5000])
    parser.add_argument("--sizes", type=_ints, default=[3, 10, 50])
    parser.add_argument("--ticks", type=int, default=None, help="ticks per measurement")
    parser.add_argument("--quick", action="store_true", help="fewer ticks, for development")
    parser.add_argument("--no-limit", action="store_true", help="skip the real-time search")
    args = parser.parse_args()
    ticks = args.ticks or (30 if args.quick else 250)
    print(f"numpy {np.__version__}, {ticks} ticks per figure, CPU time (time.process_time)")
    for size in args.sizes:
        for participants in args.participants:
            print(measure(participants, size, ticks).report(), flush=True)
    if args.no_limit:
        return
    print("=== most participants mixed in real time on one core (whole tick < 20 ms)")
    for size in args.sizes:
        limit, result = real_time_limit(size, max(10, ticks // 5))
        print(f"k={size:3}: {limit:6} participants   [{result.report()}]", flush=True)


if __name__ == "__main__":
    main()
