"""The io_uring relay prototype over real loopback sockets (port 0 everywhere).

Skipped as a whole where the kernel refuses io_uring (ENOSYS: too old or compiled out; EPERM:
seccomp or kernel.io_uring_disabled).
"""

from __future__ import annotations

import asyncio
import errno
import os
import socket
import struct
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
from uring_relay import NAME_LEN, UringRelay
from uring_ring import Ring, UringUnavailable

RECV_TIMEOUT = 5.0  # a bound on a hung test, never a tolerance


def _probe() -> None:
    try:
        Ring(8, 16).close()
    except UringUnavailable as exc:
        if exc.errno in (errno.ENOSYS, errno.EPERM) or exc.errno is None:
            pytest.skip(f"io_uring unavailable: {exc}", allow_module_level=True)
        raise


_probe()


def _loops() -> list[str]:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return ["asyncio"]
    return ["asyncio", "uvloop"]


def run(test: Callable[[], Coroutine[Any, Any, None]], loop_name: str) -> None:
    factory: Callable[[], asyncio.AbstractEventLoop] = asyncio.new_event_loop
    if loop_name == "uvloop":
        import uvloop

        factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(asyncio.wait_for(test(), 20))


def udp(host: str = "127.0.0.1") -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    sock.bind((host, 0))
    sock.setblocking(False)
    return sock


def rtp(seq: int, size: int = 160) -> bytes:
    return struct.pack("!BBHII", 0x80, 0, seq, seq * 160, 0xA) + bytes([seq & 0xFF]) * size


async def receive(sock: socket.socket) -> tuple[bytes, Any]:
    """The next datagram on a phone socket."""
    loop = asyncio.get_running_loop()
    while True:
        try:
            return sock.recvfrom(4096)
        except BlockingIOError:
            pass
        ready = asyncio.Event()
        loop.add_reader(sock.fileno(), ready.set)
        try:
            await asyncio.wait_for(ready.wait(), RECV_TIMEOUT)
        finally:
            loop.remove_reader(sock.fileno())


async def until(condition: Callable[[], bool]) -> None:
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition not reached")


class Call:
    """Two relay sockets forwarding to each other's phone, as the bench wires them."""

    def __init__(self, relay: UringRelay, host: str = "127.0.0.1") -> None:
        self.relay_a, self.relay_b = udp(host), udp(host)
        self.phone_a, self.phone_b = udp(host), udp(host)
        self.a, self.b = relay.add(self.relay_a), relay.add(self.relay_b)
        relay.forward(self.a, self.b, self.phone_b.getsockname())
        relay.forward(self.b, self.a, self.phone_a.getsockname())

    def close(self) -> None:
        for sock in (self.relay_a, self.relay_b, self.phone_a, self.phone_b):
            sock.close()


@pytest.mark.parametrize("loop_name", _loops())
@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
def test_relays_both_ways_byte_exact(loop_name: str, host: str) -> None:
    async def main() -> None:
        relay = UringRelay(buffers=64, sq_entries=64, cq_entries=256)
        call = Call(relay, host)
        capacity = 2048 - 16 - NAME_LEN
        packets = [rtp(1, 0), rtp(2), rtp(3, 1388), rtp(4, capacity - 12)]
        for packet in packets:
            call.phone_a.sendto(packet, call.relay_a.getsockname())
            assert await receive(call.phone_b) == (packet, call.relay_b.getsockname())
            reply = packet[::-1]
            call.phone_b.sendto(reply, call.relay_b.getsockname())
            assert await receive(call.phone_a) == (reply, call.relay_a.getsockname())
        await until(lambda: relay.inflight == 0)
        assert (relay.relayed, relay.dropped, relay.send_errors) == (8, 0, 0)
        relay.close()
        call.close()

    if host == "::1" and not socket.has_ipv6:
        pytest.skip("no IPv6")
    run(main, loop_name)


@pytest.mark.parametrize("loop_name", _loops())
def test_many_more_packets_than_buffers_all_arrive_in_order(loop_name: str) -> None:
    async def main() -> None:
        relay = UringRelay(buffers=8, sq_entries=16, cq_entries=64)
        call = Call(relay)
        sent = [rtp(seq, 20 + seq) for seq in range(200)]
        for packet in sent:  # one burst: the receive runs out of buffers and resumes
            call.phone_a.sendto(packet, call.relay_a.getsockname())
        got = [(await receive(call.phone_b))[0] for _ in sent]
        assert got == sent
        await until(lambda: relay.inflight == 0)
        assert (relay.relayed, relay.dropped, relay.send_errors) == (200, 0, 0)
        relay.close()
        call.close()

    run(main, loop_name)


@pytest.mark.parametrize("loop_name", _loops())
def test_unrouted_and_oversized_packets_are_dropped_and_counted(loop_name: str) -> None:
    async def main() -> None:
        relay = UringRelay(buffers=8, buffer_size=256, sq_entries=16, cq_entries=64)
        call = Call(relay)
        to_a = call.relay_a.getsockname()
        call.phone_a.sendto(bytes(256 - 16 - NAME_LEN + 1), to_a)  # one byte too big
        call.phone_a.sendto(rtp(1), to_a)
        assert (await receive(call.phone_b))[0] == rtp(1)  # the big one never came
        assert relay.dropped == 1
        relay.forward(call.a, None, None)
        call.phone_a.sendto(rtp(2), to_a)
        await until(lambda: relay.dropped == 2)
        relay.forward(call.a, call.b, call.phone_b.getsockname())
        call.phone_a.sendto(rtp(3), to_a)
        assert (await receive(call.phone_b))[0] == rtp(3)  # 2 was dropped, not delayed
        assert relay.relayed == 2
        relay.close()
        call.close()

    run(main, loop_name)


@pytest.mark.parametrize("loop_name", _loops())
def test_removed_socket_stops_and_its_slot_is_reused(loop_name: str) -> None:
    async def main() -> None:
        relay = UringRelay(buffers=8, sq_entries=16, cq_entries=64)
        call = Call(relay)
        assert relay.armed == 2
        relay.remove(call.a)
        await until(lambda: relay.armed == 1)  # the kernel confirmed the cancel
        call.phone_a.sendto(rtp(1), call.relay_a.getsockname())
        assert call.relay_a.recvfrom(4096)[0] == rtp(1)  # the relay no longer reads it
        spare = udp()
        assert relay.add(spare) == call.a
        call.phone_b.sendto(rtp(2), call.relay_b.getsockname())  # b's route out of a is gone
        await until(lambda: relay.dropped == 1)
        assert relay.relayed == 0
        relay.close()
        call.close()
        spare.close()

    run(main, loop_name)


@pytest.mark.parametrize("loop_name", _loops())
def test_close_releases_the_ring_and_every_socket(loop_name: str) -> None:
    async def main() -> None:
        relay = UringRelay(buffers=8, sq_entries=16, cq_entries=64)
        ring_fd = relay.fileno()
        call = Call(relay)
        for seq in range(20):  # sends still in flight when close starts
            call.phone_a.sendto(rtp(seq), call.relay_a.getsockname())
        await receive(call.phone_b)
        ports = [call.relay_a.getsockname(), call.relay_b.getsockname()]
        relay.close()
        relay.close()  # harmless
        assert relay.closed and relay.fileno() == -1 and relay.armed == relay.inflight == 0
        with pytest.raises(OSError) as fstat:
            os.fstat(ring_fd)
        assert fstat.value.errno == errno.EBADF
        call.close()
        for port in ports:  # the kernel holds no reference: the ports are free at once
            again = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            again.bind(port)
            again.close()

    run(main, loop_name)
