"""Benchmark: RTP relayed through softswitch.rtp.transport.RtpRelay over loopback.

N calls, each two linked endpoints; a child process plays both phones of every call, sending
one 172-byte RTP packet (20 ms of G.711) per phone every 20 ms, so 100 packets/s per call go
through the relay (each packet is received and sent once). The relay runs in this process on
the default asyncio loop and on uvloop; we print packets relayed per second, loss, and the
relay's CPU time per packet (hence the rate one core could sustain).

    .venv/bin/python bench/bench_rtp_relay.py --calls 200 --seconds 5
    .venv/bin/python bench/bench_rtp_relay.py --calls 1000 --loop uvloop

``--relay batched|bare|connected`` measures the variants of the README's wake-up hypothesis
instead (see ``_Batched``; ``--slot`` ms between drains):

    .venv/bin/python bench/bench_rtp_relay.py --calls 250 --loop uvloop --relay batched

``--relay uring`` is the io_uring prototype (bench/uring_relay.py): one multishot recvmsg per
socket, the sends of a whole wake-up in one io_uring_enter, each socket forwarding to its
partner's phone with no latching (the floor of that design). Measured 2026-11-22 13:22-13:24
UTC, two runs each, 5 s, load average 0.5-0.9 before each run (the machine otherwise idle), µs
of relay CPU per packet:

    relay        250 calls      800 calls
    uring        10.0  10.5     9.1   9.3
    bare         12.3  12.5    11.3  11.5
    switch       13.5  12.9    12.3  12.5

Not the ~6 µs 1,000 calls need: perf (800 calls) puts 85 % of the uring relay's CPU in the
kernel: the UDP send path 54 % (building the skb 12 %, loopback delivery into the phone's
socket and its wake-up 23 %, all in the sender's time), the multishot receives 15-17 %,
io_uring's own work ~6 %; numpy, Python and libc 15 %, epoll 0.1 %. Saving the syscalls saved
~2 µs a packet; DEFER_TASKRUN (slower), IORING_OP_SEND with an address instead of SENDMSG and
smaller or fewer buffers made no measurable difference.

Not run by the tests. The phones are pure Python too: past a few thousand calls the child
becomes the limit (its "sent/s" falls below the offered rate), not the relay.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import resource
import select
import selectors
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any, cast

from softswitch.rtp.relay import RelaySocket
from softswitch.rtp.transport import RtpRelay

HOST = "127.0.0.1"
PTIME = 0.020
PAYLOAD = bytes(160)


@dataclass(frozen=True, slots=True)
class Result:
    loop: str
    calls: int
    seconds: float
    sent: int
    received: int
    relay_cpu: float

    def report(self) -> str:
        offered = self.calls * 2 / PTIME
        loss = 1 - self.received / self.sent if self.sent else 0.0
        per_packet = self.relay_cpu / self.received * 1e6 if self.received else 0.0
        per_core = self.received / self.relay_cpu if self.relay_cpu else 0.0
        return (
            f"{self.loop:8} calls={self.calls:5} offered={offered:9.0f} pkt/s "
            f"sent={self.sent / self.seconds:9.0f}/s relayed={self.received / self.seconds:9.0f}/s "
            f"loss={loss:7.3%} relay_cpu={per_packet:5.2f} us/pkt (~{per_core:,.0f} pkt/s/core)"
        )


def _phone_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    sock.bind((HOST, 0))
    sock.setblocking(False)
    return sock


def _phones(socks: list[socket.socket], ports: list[int], seconds: float, out: Connection) -> None:
    """Child process: every 20 ms each phone sends one packet; count what comes back."""
    selector = selectors.DefaultSelector()
    for sock in socks:
        selector.register(sock, selectors.EVENT_READ, sock)
    header = struct.Struct("!BBHII")
    sent = received = 0
    start = time.monotonic()
    tick = 0
    end = start + seconds
    while True:
        now = time.monotonic()
        if now >= start + tick * PTIME and now < end:
            for i, (sock, port) in enumerate(zip(socks, ports, strict=True)):
                packet = header.pack(0x80, 0, tick & 0xFFFF, tick * 160, i + 1) + PAYLOAD
                try:
                    sock.sendto(packet, (HOST, port))
                    sent += 1
                except BlockingIOError:
                    pass
            tick += 1
        elif now >= end + 0.5:  # half a second for the last packets to come back
            break
        timeout = max(0.0, min(start + tick * PTIME, end + 0.5) - time.monotonic())
        for key, _ in selector.select(timeout):
            ready = key.data
            while True:
                try:
                    ready.recv(2048)
                except BlockingIOError:
                    break
                received += 1
    out.send((sent, received))
    out.close()


async def _run(loop_name: str, calls: int, seconds: float, port_min: int) -> Result:
    relay = RtpRelay(HOST, port_min, port_min + calls * 4 + 100)
    endpoints = []
    for _ in range(calls):
        a, b = await relay.open_endpoint(), await relay.open_endpoint()
        relay.link(a, b)
        endpoints += [a, b]
    socks = [_phone_socket() for _ in endpoints]
    for endpoint, sock in zip(endpoints, socks, strict=True):
        endpoint.set_remote(*sock.getsockname())
    try:
        sent, received, cpu = await _measure([e.local_port for e in endpoints], socks, seconds)
    finally:
        relay.close()
        for sock in socks:
            sock.close()
    return Result(loop_name, calls, seconds, sent, received, cpu)


async def _measure(
    ports: list[int], socks: list[socket.socket], seconds: float
) -> tuple[int, int, float]:
    """Run the phones (a child process) against ``ports``: packets sent, received, and this
    process's CPU seconds meanwhile."""
    parent_end, child_end = multiprocessing.Pipe(duplex=False)
    child = multiprocessing.get_context("fork").Process(
        target=_phones, args=(socks, ports, seconds, child_end)
    )
    cpu_start = resource.getrusage(resource.RUSAGE_SELF)
    child.start()
    child_end.close()
    await _readable(parent_end)
    sent, received = parent_end.recv()
    cpu_end = resource.getrusage(resource.RUSAGE_SELF)
    child.join()
    cpu = (cpu_end.ru_utime - cpu_start.ru_utime) + (cpu_end.ru_stime - cpu_start.ru_stime)
    return sent, received, cpu


# --- the batched variants (README, "Concurrent relayed calls": the wake-up hypothesis) -------

VARIANTS = ("switch", "batched", "bare", "connected", "uring")


class _Batched:
    """Every relay socket in one level-triggered epoll set, read once per slot while packets
    flow (one datagram per ready socket per pass), so a wake-up is shared by a whole batch:
    "batched" hands each datagram to the switch's RelaySocket (latching, counters, sendto),
    "bare" only forwards it (recvfrom, sendto to a fixed address), "connected" forwards it
    between connected sockets (recv, send: no addresses in Python or routing per packet)."""

    def __init__(self, variant: str, slot: float) -> None:
        self.variant, self.slot = variant, slot
        self.loop = asyncio.get_running_loop()
        self.epoll = select.epoll()
        self.entries: dict[int, tuple[Any, Any]] = {}
        self.drains = self.datagrams = 0
        self.loop.add_reader(self.epoll.fileno(), self._on_ready)

    def add(self, fd: int, recv: Any, forward: Any) -> None:
        self.epoll.register(fd, select.EPOLLIN)
        self.entries[fd] = (recv, forward)

    def _on_ready(self) -> None:
        self.loop.remove_reader(self.epoll.fileno())
        self.loop.call_later(self.slot, self._drain)

    def _drain(self) -> None:
        self.drains += 1
        read = 0
        for _ in range(8):
            ready = self.epoll.poll(0)
            if not ready:
                break
            read += len(ready)
            self._forward(ready)
        self.datagrams += read
        if read:
            self.loop.call_later(self.slot, self._drain)
        else:
            self.loop.add_reader(self.epoll.fileno(), self._on_ready)

    def _forward(self, ready: list[tuple[int, int]]) -> None:
        entries = self.entries
        if self.variant == "batched":  # forward = RelaySocket.datagram_received
            for fd, _ in ready:
                recvfrom, received = entries[fd]
                data, addr = recvfrom(2048)
                received(data, addr)
        elif self.variant == "bare":  # forward = (the other socket's sendto, phone address)
            for fd, _ in ready:
                recvfrom, (sendto, dest) = entries[fd]
                data, _addr = recvfrom(2048)
                sendto(data, dest)
        else:  # connected: forward = the other socket's send
            for fd, _ in ready:
                recv, send = entries[fd]
                send(recv(2048))

    def close(self) -> None:
        self.loop.remove_reader(self.epoll.fileno())
        self.epoll.close()


async def _run_batched(variant: str, calls: int, seconds: float, slot: float) -> Result:
    batched = _Batched(variant, slot)
    relay_socks = [_phone_socket() for _ in range(calls * 2)]  # the switch's side
    phones = [_phone_socket() for _ in range(calls * 2)]
    handlers = [RelaySocket() for _ in relay_socks]
    for i, (sock, handler, phone) in enumerate(zip(relay_socks, handlers, phones, strict=True)):
        other = i ^ 1  # legs 2k and 2k+1 are one call
        handler.connection_made(cast(asyncio.BaseTransport, cast(Any, sock)))
        handler.link(handlers[other])
        handler.set_remote(phone.getsockname())
        if variant == "batched":
            batched.add(sock.fileno(), sock.recvfrom, handler.datagram_received)
        elif variant == "bare":
            out = (relay_socks[other].sendto, phones[other].getsockname())
            batched.add(sock.fileno(), sock.recvfrom, out)
        else:
            relay_socks[other].connect(phones[other].getsockname())
            batched.add(sock.fileno(), sock.recv, relay_socks[other].send)
    try:
        ports = [sock.getsockname()[1] for sock in relay_socks]
        sent, received, cpu = await _measure(ports, phones, seconds)
    finally:
        batched.close()
        for sock in relay_socks + phones:
            sock.close()
    per_drain = batched.datagrams / batched.drains if batched.drains else 0.0
    name = f"{variant} ({slot * 1e3:.0f} ms slot, {per_drain:.0f} datagrams/wake-up)"
    return Result(name, calls, seconds, sent, received, cpu)


async def _run_uring(calls: int, seconds: float) -> Result:
    """The io_uring relay (bench/uring_relay.py): each socket's packets go to its partner's
    phone, nothing else (the floor of the approach; no RelaySocket logic)."""
    from uring_relay import UringRelay

    # Buffers for a few ticks of every stream, and a CQ for a tick's receives and sends.
    relay = UringRelay(buffers=min(_pow2(calls * 8), 32768), cq_entries=_pow2(calls * 16))
    relay_socks = [_phone_socket() for _ in range(calls * 2)]
    phones = [_phone_socket() for _ in range(calls * 2)]
    slots = [relay.add(sock) for sock in relay_socks]
    for i, slot in enumerate(slots):
        relay.forward(slot, slots[i ^ 1], phones[i ^ 1].getsockname())
    try:
        ports = [sock.getsockname()[1] for sock in relay_socks]
        sent, received, cpu = await _measure(ports, phones, seconds)
    finally:
        per_wakeup = relay.completions / relay.wakeups if relay.wakeups else 0.0
        relay.close()
        for sock in relay_socks + phones:
            sock.close()
    return Result(f"uring ({per_wakeup:.0f} CQEs/wake-up)", calls, seconds, sent, received, cpu)


def _pow2(n: int) -> int:
    return 1 << max(n - 1, 1).bit_length()


async def _readable(conn: Connection) -> None:
    """Wait for the child's report without blocking the loop the relay runs on."""
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_reader(conn.fileno(), wake)
    try:
        await ready
    finally:
        loop.remove_reader(conn.fileno())


def _loop_factories(choice: str) -> list[tuple[str, Callable[[], asyncio.AbstractEventLoop]]]:
    factories: list[tuple[str, Callable[[], asyncio.AbstractEventLoop]]] = []
    if choice in ("asyncio", "both"):
        factories.append(("asyncio", asyncio.new_event_loop))
    if choice in ("uvloop", "both"):
        try:
            import uvloop
        except ImportError:
            print("uvloop not installed: skipped")
        else:
            factories.append(("uvloop", uvloop.new_event_loop))
    return factories


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--loop", choices=("asyncio", "uvloop", "both"), default="both")
    parser.add_argument("--port-min", type=int, default=42000)
    parser.add_argument(
        "--relay", choices=VARIANTS, default="switch", help="switch: RtpRelay as served"
    )
    parser.add_argument("--slot", type=float, default=1.0, help="ms between batched drains")
    args = parser.parse_args()
    for name, factory in _loop_factories(args.loop):
        with asyncio.Runner(loop_factory=factory) as runner:
            if args.relay == "switch":
                run = _run(name, args.calls, args.seconds, args.port_min)
            elif args.relay == "uring":
                run = _run_uring(args.calls, args.seconds)
            else:
                run = _run_batched(args.relay, args.calls, args.seconds, args.slot / 1e3)
            result = runner.run(run)
        print(result.report(), flush=True)


if __name__ == "__main__":
    main()
