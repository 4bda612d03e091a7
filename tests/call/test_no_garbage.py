"""A finished call leaves nothing behind for the garbage collector.

Under load the switch remembers each finished call for 32 s (RFC 3261 timers) and a busy
switch finishes hundreds a second; anything left in a reference cycle survives until a full
GC pass, whose cost grows with the heap and stalls SIP processing (seen as 0.7-1.5 s pauses
and retransmissions in 90 s load runs). So: with automatic GC off, once the timers have run,
reference counting alone must have freed every call, leg and transaction.
"""

from __future__ import annotations

import asyncio
import gc

from scripted import build, one_call, run_timers

from softswitch.call.calls import Call
from softswitch.call.leg import Leg
from softswitch.sip.transaction import ClientTransaction, ServerTransaction


def _count(kinds: tuple[type, ...]) -> int:
    return sum(1 for obj in gc.get_objects() if isinstance(obj, kinds))


def test_finished_calls_are_freed_by_reference_counting_alone() -> None:
    async def main() -> None:
        endpoint, capture, clock, pending = build()
        await one_call(endpoint, capture, pending, -1)  # warm-up: caches, lazy imports
        run_timers(endpoint, clock, 40)
        gc.collect()
        kinds = (Call, Leg, ServerTransaction, ClientTransaction)
        before = _count(kinds)
        gc.disable()
        try:
            for n in range(100):
                await one_call(endpoint, capture, pending, n)
            assert _count((Call,)) >= 100  # they are all still remembered...
            run_timers(endpoint, clock, 40)  # ...until 32 s after their end
            assert len(endpoint.layer) == 0
            assert _count(kinds) == before  # freed without any GC pass
            assert gc.collect() == 0  # and no cyclic garbage was left over
        finally:
            gc.enable()

    asyncio.run(main())
