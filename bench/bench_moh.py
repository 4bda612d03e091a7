"""Benchmark: music on hold fanned out to N listeners, with real UDP sends.

One ``MohStream`` (the built-in default tune) and N listeners, each a ``MediaPort`` with its own
RTP numbering, half on PCMU and half on PCMA. Each tick is what the ticker does for a class:
the frame is encoded once per law and every listener sends one RTP packet (its header + the
shared payload) with ``sendto`` from a non-blocking UDP socket to a loopback sink socket that
is drained between ticks. We print the CPU time per tick and the share of one core (a tick is
due every 20 ms), and check that every packet arrived.

    .venv/bin/python bench/bench_moh.py                    # 1,000 listeners
    .venv/bin/python bench/bench_moh.py --listeners 500,1000,2000 --ticks 500

Not run by the tests.
"""

from __future__ import annotations

import argparse
import socket
import time

from softswitch.media.codecs import PCMA, PCMU
from softswitch.media.library import default_tune
from softswitch.media.moh import MohStream
from softswitch.media.port import MediaPort

HOST = "127.0.0.1"


def run(listeners: int, ticks: int) -> tuple[float, int, int]:
    """(CPU ms per tick, packets sent, packets received)."""
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind((HOST, 0))
    sink.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    sink.setblocking(False)
    out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    out.setblocking(False)
    dest = sink.getsockname()
    sent = 0

    def send(data: bytes) -> None:
        nonlocal sent
        out.sendto(data, dest)
        sent += 1

    stream = MohStream("default", default_tune())
    for i in range(listeners):
        stream.add(MediaPort(send, PCMU if i % 2 else PCMA, None, time.monotonic))
    received = 0
    cpu = 0.0
    for n in range(ticks):
        start = time.process_time()
        stream.tick(n, 0.0)
        cpu += time.process_time() - start
        while True:  # drain outside the timed part: the sink stands for the phones
            try:
                sink.recv(2048)
            except BlockingIOError:
                break
            received += 1
    sink.close()
    out.close()
    return cpu / ticks * 1000, sent, received


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listeners", default="1000")
    parser.add_argument("--ticks", type=int, default=250)
    args = parser.parse_args()
    for count in (int(x) for x in args.listeners.split(",")):
        per_tick, sent, received = run(count, args.ticks)
        print(
            f"listeners={count:6d}  tick={per_tick:6.2f} ms CPU ({per_tick / 20 * 100:5.1f}% of a"
            f" core)  packets/s={count * 50:7d}  sent={sent} received={received}"
        )


if __name__ == "__main__":
    main()
