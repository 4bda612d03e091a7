"""Transaction-layer throughput and memory, in virtual time (no sockets, no parsing).

Each simulated B2BUA call runs the transactions the switch itself owns for it:

* leg A: the caller's INVITE (server: 100, 180, 200, then the ACK for the 2xx), its BYE
  (server: 200);
* leg B: our INVITE to the callee (client: 100, 180, 200), our BYE (client: 200);
* background traffic a PBX sees per call: a REGISTER refresh (server) and an OPTIONS
  keep-alive to a trunk (client).

Calls start at ``--rate`` per virtual second; the layer's timers run every 10 ms of virtual
time, so finished transactions linger for their Timer K/J/L/M spans exactly as in production
and the live-transaction and timer counts reach their steady state. The figure that matters
is the wall-clock transactions/s; the switch needs ~12 transactions per call and >= 1,000
calls/s, i.e. >= 12,000 transactions/s for the whole stack, of which this layer is one part.

    .venv/bin/python bench/bench_transactions.py --calls 100000 [--tcp] [--memory]
"""

from __future__ import annotations

import argparse
import gc
import resource
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from softswitch.clock import VirtualClock
from softswitch.sip.transaction import TransactionLayer

TXNS_PER_CALL = 6
TICK = 0.010

Layer = TransactionLayer[int, str]


def make_ack(status: int) -> bytes:
    return b"ACK"


def one_call(layer: Layer, n: int, now: float, reliable: bool) -> None:
    a, b = f"a{n}", f"b{n}"
    # Leg A: the caller's INVITE, answered; the TU sees the ACK for the 2xx.
    inv_a = layer.receive_request((a, "pc", "INVITE"), "INVITE", 0, "A", reliable, now)
    assert inv_a is not None
    layer.send_response(inv_a, 100, b"100", now)
    # Leg B: our INVITE to the callee.
    inv_b = layer.send_request((b, "INVITE"), "INVITE", b"INV", "B", reliable, now, make_ack)
    for status in (100, 180, 200):
        layer.receive_response(inv_b.key, status, status, now)
    layer.send_response(inv_a, 180, b"180", now)
    layer.send_response(inv_a, 200, b"200", now)
    if not layer.receive_ack((a, "pc", "INVITE"), now):
        layer.ack_2xx(inv_a, now)
    # Hang-up from A: BYE in on leg A, BYE out on leg B.
    bye_a = layer.receive_request((a + "x", "pc", "BYE"), "BYE", 0, "A", reliable, now)
    assert bye_a is not None
    layer.send_request((b + "x", "BYE"), "BYE", b"BYE", "B", reliable, now)
    layer.receive_response((b + "x", "BYE"), 200, 200, now)
    layer.send_response(bye_a, 200, b"200", now)
    # Background: a registration refresh and a trunk keep-alive.
    reg = layer.receive_request((a + "r", "pc", "REGISTER"), "REGISTER", 0, "A", reliable, now)
    assert reg is not None
    layer.send_response(reg, 200, b"200", now)
    layer.send_request((b + "o", "OPTIONS"), "OPTIONS", b"OPT", "T", reliable, now)
    layer.receive_response((b + "o", "OPTIONS"), 200, 200, now)


def run(calls: int, rate: float, reliable: bool) -> dict[str, float]:
    layer: Layer = TransactionLayer()
    clock = VirtualClock(start=0.0)
    per_tick = max(1, round(rate * TICK))
    peak_live = peak_heap = sent = events = 0
    started = time.perf_counter()
    n = 0
    while n < calls or len(layer):
        now = clock.monotonic()
        for _ in range(min(per_tick, calls - n)):
            one_call(layer, n, now, reliable)
            n += 1
        layer.handle_timer(now)
        sent += len(layer.take_outgoing())
        events += len(layer.take_events())
        peak_live = max(peak_live, len(layer))
        peak_heap = max(peak_heap, layer._timers.backlog)
        clock.advance(TICK)
    elapsed = time.perf_counter() - started
    return {
        "transactions": calls * TXNS_PER_CALL,
        "seconds": elapsed,
        "txn_per_s": calls * TXNS_PER_CALL / elapsed,
        "virtual_s": clock.monotonic(),
        "peak_live": peak_live,
        "peak_heap": peak_heap,
        "sent": sent,
        "events": events,
    }


def peak_memory(calls: int, rate: float, reliable: bool) -> float:
    """Peak bytes allocated by the layer's run (tracemalloc: slow, so a separate pass)."""
    gc.collect()
    tracemalloc.start()
    run(calls, rate, reliable)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--rate", type=float, default=1000.0, help="calls per virtual second")
    parser.add_argument("--tcp", action="store_true", help="reliable transport")
    parser.add_argument("--memory", action="store_true", help="also trace peak memory")
    args = parser.parse_args()
    result = run(args.calls, args.rate, args.tcp)
    print(f"transport          {'tcp' if args.tcp else 'udp'}")
    print(f"calls              {args.calls} at {args.rate:.0f}/s virtual")
    print(f"transactions       {result['transactions']:.0f} in {result['seconds']:.2f} s wall")
    print(f"transactions/s     {result['txn_per_s']:,.0f}")
    print(f"  = calls/s at 12  {result['txn_per_s'] / 12:,.0f} (layer only)")
    print(f"virtual time       {result['virtual_s']:.1f} s")
    print(f"peak live txns     {result['peak_live']:.0f}")
    print(f"peak timer entries {result['peak_heap']:.0f}")
    print(f"datagrams, events  {result['sent']:.0f}, {result['events']:.0f}")
    print(f"max RSS            {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.1f} MiB")
    if args.memory:
        peak = peak_memory(args.calls, args.rate, args.tcp)
        print(f"traced peak        {peak / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
