"""The relay over real loopback UDP sockets (127.0.0.1, private port ranges per test)."""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import pytest

from softswitch.rtp.transport import NoPortsAvailable, RtpEndpoint, RtpRelay

HOST = "127.0.0.1"
RECV_TIMEOUT = 5.0  # a bound on a hung test, never a tolerance


def _loops() -> list[str]:
    try:
        import uvloop  # noqa: F401  (the production loop, where available)
    except ImportError:
        return ["asyncio"]
    return ["asyncio", "uvloop"]


LOOPS = _loops()


def run(test: Callable[[], Coroutine[Any, Any, None]], loop_name: str) -> None:
    factory: Callable[[], asyncio.AbstractEventLoop] = asyncio.new_event_loop
    if loop_name == "uvloop":
        import uvloop

        factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(asyncio.wait_for(test(), 20))


def rtp(seq: int, ssrc: int) -> bytes:
    return struct.pack("!BBHII", 0x80, 0, seq, seq * 160, ssrc) + bytes([seq & 0xFF]) * 160


def rtcp(ssrc: int) -> bytes:
    return struct.pack("!BBHI", 0x80, 200, 6, ssrc) + bytes(range(20))


class Phone:
    """A phone's RTP and RTCP sockets (plain non-blocking sockets)."""

    def __init__(self, host: str = HOST) -> None:
        self.rtp = self._socket(host)
        self.rtcp = self._socket(host)

    @staticmethod
    def _socket(host: str) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((host, 0))
        sock.setblocking(False)
        return sock

    @property
    def rtp_addr(self) -> tuple[str, int]:
        return self.rtp.getsockname()  # type: ignore[no-any-return]

    @property
    def rtcp_addr(self) -> tuple[str, int]:
        return self.rtcp.getsockname()  # type: ignore[no-any-return]

    def attach(self, endpoint: RtpEndpoint) -> None:
        """Give the endpoint this phone's addresses, as its SDP would."""
        host, port = self.rtp_addr
        endpoint.set_remote(host, port, rtcp=self.rtcp_addr)

    def close(self) -> None:
        self.rtp.close()
        self.rtcp.close()


async def receive(sock: socket.socket) -> tuple[bytes, tuple[str, int]]:
    """The next datagram on a phone socket (uvloop has no loop.sock_recvfrom)."""
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_reader(sock.fileno(), wake)
    try:
        await asyncio.wait_for(ready, RECV_TIMEOUT)
    finally:
        loop.remove_reader(sock.fileno())
    data, addr = sock.recvfrom(4096)
    return data, addr


async def until(condition: Callable[[], bool]) -> None:
    """Let the loop run until ``condition`` holds (loopback delivery is immediate)."""
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition not reached")


async def call(relay: RtpRelay) -> tuple[RtpEndpoint, RtpEndpoint, Phone, Phone]:
    a, b = await relay.open_endpoint(), await relay.open_endpoint()
    relay.link(a, b)
    phone_a, phone_b = Phone(), Phone()
    phone_a.attach(a)
    phone_b.attach(b)
    return a, b, phone_a, phone_b


def with_relay(
    low: int, high: int
) -> Callable[[Callable[[RtpRelay], Awaitable[None]]], Callable[[str], None]]:
    """Make a test of ``body`` run on each event loop with a relay on ports [low, high]."""

    def wrap(body: Callable[[RtpRelay], Awaitable[None]]) -> Callable[[str], None]:
        def test(loop_name: str) -> None:
            async def main() -> None:
                relay = RtpRelay(HOST, low, high)
                try:
                    await body(relay)
                finally:
                    relay.close()
                    for _ in range(3):  # let the transports close their sockets
                        await asyncio.sleep(0)

            run(main, loop_name)

        test.__name__ = body.__name__
        return pytest.mark.parametrize("loop_name", LOOPS)(test)

    return wrap


@with_relay(41000, 41019)
async def test_rtp_and_rtcp_go_both_ways_unmodified(relay: RtpRelay) -> None:
    a, b, phone_a, phone_b = await call(relay)
    assert a.local_port % 2 == 0 and 41000 <= a.local_port < b.local_port <= 41018
    phone_a.rtp.sendto(rtp(1, 0xA), (HOST, a.local_port))
    assert await receive(phone_b.rtp) == (rtp(1, 0xA), (HOST, b.local_port))
    phone_b.rtp.sendto(rtp(7, 0xB), (HOST, b.local_port))
    assert await receive(phone_a.rtp) == (rtp(7, 0xB), (HOST, a.local_port))
    phone_a.rtcp.sendto(rtcp(0xA), (HOST, a.local_port + 1))
    assert await receive(phone_b.rtcp) == (rtcp(0xA), (HOST, b.local_port + 1))
    phone_b.rtcp.sendto(rtcp(0xB), (HOST, b.local_port + 1))
    assert await receive(phone_a.rtcp) == (rtcp(0xB), (HOST, a.local_port + 1))
    stats = a.stats
    assert (stats.rtp.packets_in, stats.rtp.packets_out) == (1, 1)
    assert (stats.rtcp.packets_in, stats.rtcp.packets_out) == (1, 1)
    assert stats.rtp.last_ssrc == 0xA and stats.rtcp.last_ssrc == 0xA
    assert a.latched == phone_a.rtp_addr and b.latched == phone_b.rtp_addr
    phone_a.close()
    phone_b.close()


@with_relay(41020, 41039)
async def test_latches_to_where_packets_really_come_from(relay: RtpRelay) -> None:
    a, b = await relay.open_endpoint(), await relay.open_endpoint()
    relay.link(a, b)
    phone_a, phone_b = Phone(), Phone()
    decoy = Phone("127.0.0.2")  # what B's SDP says: a private address behind NAT
    phone_a.attach(a)
    decoy.attach(b)
    phone_a.rtp.sendto(rtp(1, 0xA), (HOST, a.local_port))
    assert (await receive(decoy.rtp))[0] == rtp(1, 0xA)
    phone_b.rtp.sendto(rtp(50, 0xB), (HOST, b.local_port))  # B's packets: the real source
    assert (await receive(phone_a.rtp))[0] == rtp(50, 0xB)
    phone_a.rtp.sendto(rtp(2, 0xA), (HOST, a.local_port))
    assert (await receive(phone_b.rtp))[0] == rtp(2, 0xA)
    assert b.latched == phone_b.rtp_addr
    # RTCP latches on its own.
    phone_b.rtcp.sendto(rtcp(0xB), (HOST, b.local_port + 1))
    assert (await receive(phone_a.rtcp))[0] == rtcp(0xB)
    phone_a.rtcp.sendto(rtcp(0xA), (HOST, a.local_port + 1))
    assert (await receive(phone_b.rtcp))[0] == rtcp(0xA)
    assert b.stats.rtcp.source == phone_b.rtcp_addr
    for phone in (phone_a, phone_b, decoy):
        phone.close()


@with_relay(41040, 41059)
async def test_ssrc_change_from_the_same_phone_passes_through(relay: RtpRelay) -> None:
    a, _, phone_a, phone_b = await call(relay)
    for packet in (rtp(1, 0x1111), rtp(2, 0x1111), rtp(900, 0x2222), rtp(901, 0x2222)):
        phone_a.rtp.sendto(packet, (HOST, a.local_port))
        assert (await receive(phone_b.rtp))[0] == packet
    assert a.stats.rtp.last_ssrc == 0x2222
    assert a.stats.rtp.rejected == 0
    phone_a.close()
    phone_b.close()


@with_relay(41060, 41079)
async def test_hold_stops_sending_and_resume_restarts(relay: RtpRelay) -> None:
    a, b, phone_a, phone_b = await call(relay)
    phone_b.rtp.sendto(rtp(1, 0xB), (HOST, b.local_port))
    await receive(phone_a.rtp)
    b.set_remote("0.0.0.0", phone_b.rtp_addr[1])  # B's re-INVITE: c=0.0.0.0
    phone_a.rtp.sendto(rtp(1, 0xA), (HOST, a.local_port))
    phone_a.rtcp.sendto(rtcp(0xA), (HOST, a.local_port + 1))
    await until(lambda: a.stats.rtp.dropped == 1 and a.stats.rtcp.dropped == 1)
    b.set_remote(*phone_b.rtp_addr, rtcp=phone_b.rtcp_addr)
    phone_a.rtp.sendto(rtp(2, 0xA), (HOST, a.local_port))
    # Loopback keeps order: had the held packet been sent, it would arrive first.
    assert (await receive(phone_b.rtp))[0] == rtp(2, 0xA)
    assert b.stats.rtp.packets_out == 1
    phone_a.close()
    phone_b.close()


@with_relay(41080, 41099)
async def test_close_frees_ports_and_sockets(relay: RtpRelay) -> None:
    a, b, phone_a, phone_b = await call(relay)
    assert relay.active_endpoints == 2 and relay.ports.in_use == 2
    relay.close_endpoint(a)
    relay.close_endpoint(a)  # twice is harmless
    # Closed endpoints are parked for reuse: their ports stay taken until the relay closes.
    assert relay.active_endpoints == 1 and relay.parked_endpoints == 1
    assert b.peer is None
    phone_b.rtp.sendto(rtp(1, 0xB), (HOST, b.local_port))
    await until(lambda: b.stats.rtp.dropped == 1)  # nowhere to go now
    relay.close()
    assert relay.active_endpoints == 0 and relay.ports.in_use == 0

    def bindable(port: int) -> bool:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            try:
                sock.bind((HOST, port))
            except OSError:
                return False
            return True

    ports = [a.local_port, a.local_port + 1, b.local_port, b.local_port + 1]
    await until(lambda: all(bindable(p) for p in ports))
    phone_a.close()
    phone_b.close()


@with_relay(41100, 41103)
async def test_pair_held_by_someone_else_is_skipped(relay: RtpRelay) -> None:
    squatter = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        squatter.bind((HOST, 41101))  # the RTCP half of the first pair
    except OSError:
        squatter.close()
        pytest.skip("port 41101 is busy on this machine")
    try:
        endpoint = await relay.open_endpoint()
        assert endpoint.local_port == 41102
        assert relay.ports.bind_failures == 1
        with pytest.raises(NoPortsAvailable) as caught:
            await relay.open_endpoint()
        assert caught.value.status == 503
        assert relay.ports.in_use == 1
    finally:
        squatter.close()


@with_relay(41120, 41139)
async def test_sink_receives_rtp_and_send_reaches_the_phone(relay: RtpRelay) -> None:
    a, _b, phone_a, phone_b = await call(relay)
    got: list[bytes] = []
    relay.set_sink(a, got.append)
    phone_a.rtp.sendto(rtp(1, 0xA), (HOST, a.local_port))
    await until(lambda: got == [rtp(1, 0xA)])
    relay.send(a, rtp(5, 0x5))  # a prompt played to phone A
    assert await receive(phone_a.rtp) == (rtp(5, 0x5), (HOST, a.local_port))
    relay.set_sink(a, None)
    phone_a.rtp.sendto(rtp(2, 0xA), (HOST, a.local_port))
    assert (await receive(phone_b.rtp))[0] == rtp(2, 0xA)  # the sunk packet never came
    assert got == [rtp(1, 0xA)]
    phone_a.close()
    phone_b.close()


@with_relay(41140, 41159)
async def test_relinking_moves_a_leg_to_a_new_peer(relay: RtpRelay) -> None:
    a, b, phone_a, phone_b = await call(relay)
    c = await relay.open_endpoint()
    phone_c = Phone()
    phone_c.attach(c)
    relay.link(a, c)  # e.g. a transfer: b is left alone
    assert b.peer is None and a.peer is c and c.peer is a
    phone_a.rtp.sendto(rtp(1, 0xA), (HOST, a.local_port))
    assert (await receive(phone_c.rtp))[0] == rtp(1, 0xA)
    with pytest.raises(ValueError):
        relay.link(a, a)
    for phone in (phone_a, phone_b, phone_c):
        phone.close()


@with_relay(41160, 41179)
async def test_unusable_sdp_addresses_are_never_sent_to(relay: RtpRelay) -> None:
    a = await relay.open_endpoint()
    a.set_remote("phone.example.com", 4000)  # would need a DNS lookup per packet
    assert a.rtp.dest is None and not a.rtp.muted
    a.set_remote("2001:db8::1", 4000)  # other family than the relay's socket
    assert a.rtp.dest is None
    a.set_remote("10.0.0.1", 0)  # disabled stream
    assert a.rtp.dest is None and a.rtp.muted and a.rtcp.muted
    a.set_remote("10.0.0.1", None)
    assert a.rtp.dest is None and a.rtp.muted
    a.set_remote("10.0.0.1", 65535)  # no room for RTCP above it
    assert a.rtp.dest == ("10.0.0.1", 65535) and a.rtcp.dest is None
    a.set_remote("10.0.0.1", 4000)
    assert a.rtp.dest == ("10.0.0.1", 4000) and a.rtcp.dest == ("10.0.0.1", 4001)


def test_closed_endpoints_are_reused_only_after_cooling_down() -> None:
    now = [100.0]

    async def main() -> None:
        relay = RtpRelay(HOST, 41200, 41219, cool_down=2.0, clock=lambda: now[0])
        try:
            a, _b, phone_a, phone_b = await call(relay)
            phone_a.rtp.sendto(rtp(1, 0xA), (HOST, a.local_port))
            await receive(phone_b.rtp)
            assert a.latched is not None
            relay.close_endpoint(a)
            fresh = await relay.open_endpoint()  # too soon: a new pair, not a's
            assert fresh.local_port != a.local_port
            now[0] += 2.0
            reused = await relay.open_endpoint()
            assert reused is a and relay.parked_endpoints == 0
            # It starts clean: no latched source, no remote, no counters from the last call.
            assert reused.latched is None and reused.rtp.dest is None
            assert reused.stats.rtp.packets_in == 0
            phone_a.close()
            phone_b.close()
        finally:
            relay.close()
            for _ in range(3):
                await asyncio.sleep(0)

    run(main, "asyncio")


def test_parked_endpoints_are_bounded() -> None:
    async def main() -> None:
        relay = RtpRelay(HOST, 41220, 41239, max_parked=1)
        try:
            first, second = await relay.open_endpoint(), await relay.open_endpoint()
            relay.close_endpoint(first)
            relay.close_endpoint(second)  # beyond the bound: really closed, ports freed
            assert relay.parked_endpoints == 1 and relay.ports.in_use == 1
        finally:
            relay.close()
            for _ in range(3):
                await asyncio.sleep(0)

    run(main, "asyncio")


def test_call_media_from_parked_endpoints_without_awaiting() -> None:
    from softswitch.call.media import CallMedia

    now = [0.0]

    async def main() -> None:
        relay = RtpRelay(HOST, 41240, 41259, cool_down=1.0, clock=lambda: now[0])
        try:
            assert CallMedia.open_now(relay) is None  # nothing parked yet
            first = await CallMedia.open(relay)
            first.close()
            assert CallMedia.open_now(relay) is None  # parked, but not cooled down
            assert relay.parked_endpoints == 2
            now[0] += 1.0
            again = CallMedia.open_now(relay)
            assert again is not None and relay.parked_endpoints == 0
            assert {again.a_port, again.b_port} == {first.a_port, first.b_port}
            # The pair is linked: what leg A's phone sends reaches leg B's phone.
            phone_a, phone_b = Phone(), Phone()
            phone_a.attach(again.a)
            phone_b.attach(again.b)
            phone_a.rtp.sendto(rtp(1, 0xA), (HOST, again.a_port))
            assert (await receive(phone_b.rtp))[0] == rtp(1, 0xA)
            phone_a.close()
            phone_b.close()
        finally:
            relay.close()
            for _ in range(3):
                await asyncio.sleep(0)

    run(main, "asyncio")


@with_relay(41300, 41399)
async def test_a_range_taken_by_someone_else_costs_a_bounded_number_of_binds(
    relay: RtpRelay,
) -> None:
    """Another program holding the whole range: each open tries at most MAX_BIND_TRIES pairs
    (then 503), instead of scanning every port per call."""
    from softswitch.rtp.transport import MAX_BIND_TRIES

    squatters = []
    try:
        for port in range(41300, 41400):
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                sock.bind((HOST, port))
            except OSError:
                sock.close()
                continue
            squatters.append(sock)
        with pytest.raises(NoPortsAvailable):
            await relay.open_endpoint()
        assert relay.ports.bind_failures == MAX_BIND_TRIES
    finally:
        for sock in squatters:
            sock.close()
