"""The CPU cost of one B2BUA call through the real SIP stack, without sockets.

Drives complete calls with the scripted caller and callee of tests/call/scripted.py (the
real endpoint, transactions, switch and B2BUA; only the socket and RTP relay are replaced).

    .venv/bin/python bench/bench_callpath.py [--calls N] [--profile] [--sort cumtime]

Prints microseconds of Python per call (the figure the 1,000 calls/s target divides into:
1,000 µs per call is one core at 1,000 calls/s, before the kernel's share of socket I/O).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "call"))

from scripted import build, one_call


async def run(calls: int, profile: bool, sort: str = "tottime") -> None:
    endpoint, capture, clock, pending = build()
    for n in range(200):  # warm-up
        await one_call(endpoint, capture, pending, -n - 1)
    t0 = time.perf_counter()
    profiler = cProfile.Profile() if profile else None
    if profiler:
        profiler.enable()
    for n in range(calls):
        await one_call(endpoint, capture, pending, n)
        clock.advance(0.001)
    if profiler:
        profiler.disable()
    elapsed = time.perf_counter() - t0
    print(
        f"{calls} calls: {elapsed / calls * 1e6:.0f} µs per call "
        "(switch + the scripted peers' own parsing)"
    )
    if profiler:
        pstats.Stats(profiler).sort_stats(sort).print_stats(40)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--sort", default="tottime", help="pstats order: tottime, cumtime")
    args = parser.parse_args()
    asyncio.run(run(args.calls, args.profile, args.sort))


if __name__ == "__main__":
    main()
