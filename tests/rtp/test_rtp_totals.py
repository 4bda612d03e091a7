"""The relay's process totals for ``/metrics``: sans-IO over ``RelaySocket``s fed by hand, then
the real relay over loopback UDP (endpoints closed, parked, reused, and the relay closed)."""

from __future__ import annotations

import asyncio
import socket
import struct
from dataclasses import dataclass, field
from typing import Any

from softswitch.rtp.relay import RelaySocket
from softswitch.rtp.totals import RelayTotals, RtpTotals, StreamTotals
from softswitch.rtp.transport import RtpRelay

HOST = "127.0.0.1"
PHONE = ("192.0.2.10", 4000)


def rtp(seq: int, ssrc: int = 0xABC) -> bytes:
    return struct.pack("!BBHII", 0x80, 0, seq, seq * 160, ssrc) + bytes(160)


def report_block(ssrc: int, lost: int) -> bytes:
    return struct.pack("!IB", ssrc, 5) + lost.to_bytes(3, "big", signed=True) + bytes(16)


def rr(lost: int) -> bytes:
    body = struct.pack("!I", 0x1234) + report_block(0xABC, lost)
    return struct.pack("!BBH", 0x81, 201, len(body) // 4) + body


def sdes() -> bytes:
    chunk = struct.pack("!IBB", 0x1234, 1, 2) + b"ab" + bytes(4)
    return struct.pack("!BBH", 0x81, 202, len(chunk) // 4) + chunk


# --------------------------------------------------------------------------- sans-IO


@dataclass
class Leg:
    """An ``RtpEndpoint``'s shape, with sockets that have no transport (nothing is sent)."""

    local_port: int
    rtp: RelaySocket = field(default_factory=RelaySocket)
    rtcp: RelaySocket = field(default_factory=lambda: RelaySocket(rtcp=True))


def test_a_retired_leg_is_counted_once_and_live_ones_at_each_reading() -> None:
    totals, closed, live = RelayTotals(), Leg(40000), Leg(40002)
    for seq in range(4):
        closed.rtp.datagram_received(rtp(seq), PHONE)  # unlinked: received and dropped
    closed.rtcp.datagram_received(rr(3), PHONE)
    totals.retire(closed)
    closed.rtp.reset()  # as the relay parks it: zeroed
    closed.rtcp.reset()
    live.rtp.datagram_received(b"not RTP", PHONE)  # rejected
    assert totals.read([live]) == RtpTotals(StreamTotals(5, 0, 4, 1), StreamTotals(1, 0, 1, 0), 3)
    live.rtp.datagram_received(rtp(0), PHONE)
    assert totals.read([]) == RtpTotals(StreamTotals(4, 0, 4, 0), StreamTotals(1, 0, 1, 0), 3)
    assert totals.read([live]).rtp == StreamTotals(6, 0, 5, 1)


def test_a_reused_port_starts_its_loss_from_zero() -> None:
    """The highest report is kept per port while it is live, forgotten when it retires: the
    next call on that port is another stream, with its own count."""
    totals, leg = RelayTotals(), Leg(40000)
    leg.rtcp.datagram_received(rr(9), PHONE)
    assert totals.read([leg]).lost == 9
    totals.retire(leg)
    leg.rtcp.reset()
    leg.rtcp.datagram_received(rr(2), PHONE)
    assert totals.read([leg]).lost == 9 + 2


# --------------------------------------------------------------------------- the relay


def udp() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((HOST, 0))
    sock.settimeout(5.0)
    return sock


async def until(predicate: Any) -> None:
    for _ in range(500):  # bounded: 5 s
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("not reached")


def free_port_block(size: int = 40) -> int:
    for first in range(41000, 49000, size):
        try:
            probes = []
            for port in range(first, first + size):
                probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                probes.append(probe)
                probe.bind((HOST, port))
            return first
        except OSError:
            continue
        finally:
            for probe in probes:
                probe.close()
    raise RuntimeError("no free port block")


def test_relay_totals_grow_across_endpoints_closed_and_reused() -> None:
    """Counters survive the zeroing at close; a parked pair that is reused counts again."""

    async def test() -> None:
        first = free_port_block()
        relay = RtpRelay(HOST, first, first + 39, cool_down=0.0)
        a_phone, b_phone = udp(), udp()
        try:
            a, b = await relay.open_endpoint(), await relay.open_endpoint()
            relay.link(a, b)
            a.set_remote(*a_phone.getsockname())
            b.set_remote(*b_phone.getsockname())
            for seq in range(5):
                a_phone.sendto(rtp(seq), (HOST, a.local_port))
            b_phone.sendto(b"junk, not RTP", (HOST, b.local_port))  # rejected
            b_phone.sendto(rr(2), (HOST, b.local_port + 1))  # b's phone lost 2 of a's
            await until(lambda: a.rtp.packets_in == 5 and b.rtcp.packets_in == 1)
            await until(lambda: b.rtp.rejected == 1)
            live = relay.totals()
            assert live == RtpTotals(StreamTotals(6, 5, 0, 1), StreamTotals(1, 1, 0, 0), 2)

            relay.close_endpoint(a)
            relay.close_endpoint(b)
            relay.close_endpoint(b)  # twice: harmless, not counted twice
            assert relay.totals() == live  # zeroed sockets, the same totals
            assert relay.active_endpoints == 0

            c = relay.take_parked()  # the same sockets, cooled down
            assert c is not None and c.rtp.packets_in == 0
            c.set_remote(*a_phone.getsockname())
            for seq in range(3):
                b_phone.sendto(rtp(seq, 0xDEF), (HOST, c.local_port))  # nowhere to go: dropped
            await until(lambda: c.rtp.packets_in == 3)
            grown = relay.totals()
            assert grown.rtp == StreamTotals(9, 5, 3, 1) and grown.lost == 2
            relay.close_endpoint(c)
            assert relay.totals() == grown
        finally:
            relay.close()
            a_phone.close()
            b_phone.close()

    asyncio.run(asyncio.wait_for(test(), 20))


def test_a_phone_report_never_makes_lost_go_back() -> None:
    async def test() -> None:
        first = free_port_block()
        relay = RtpRelay(HOST, first, first + 39)
        phone = udp()
        try:
            a = await relay.open_endpoint()
            for lost, received in ((9, 1), (4, 2)):  # a new stream counts from zero again
                phone.sendto(rr(lost), (HOST, a.local_port + 1))
                await until(lambda n=received: a.rtcp.packets_in == n)
                assert relay.totals().lost == 9
            phone.sendto(sdes(), (HOST, a.local_port + 1))  # no report: the last one stands
            await until(lambda: a.rtcp.packets_in == 3)
            relay.close_endpoint(a)
            assert relay.totals().lost == 9
        finally:
            relay.close()
            phone.close()

    asyncio.run(asyncio.wait_for(test(), 20))


def test_closing_the_relay_keeps_the_open_endpoints_counts() -> None:
    async def test() -> None:
        first = free_port_block()
        relay = RtpRelay(HOST, first, first + 39)
        phone = udp()
        try:
            a = await relay.open_endpoint()
            phone.sendto(rtp(0), (HOST, a.local_port))
            phone.sendto(rr(1), (HOST, a.local_port + 1))
            await until(lambda: a.rtp.packets_in == 1 and a.rtcp.packets_in == 1)
            before = relay.totals()
        finally:
            relay.close()
            phone.close()
        assert before == RtpTotals(StreamTotals(1, 0, 1, 0), StreamTotals(1, 0, 1, 0), 1)
        assert relay.totals() == before and relay.active_endpoints == 0

    asyncio.run(asyncio.wait_for(test(), 20))
