"""The Prometheus text, read back with ``prometheus_client``'s own parser; the counters the
owners do not keep (guard, relay over real loopback UDP, calls); and ``SwitchMetrics`` over
stand-in parts in virtual time."""

from __future__ import annotations

import asyncio
import math
import socket
import struct
from types import SimpleNamespace
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from softswitch.clock import VirtualClock
from softswitch.web.counters import (
    CallCounter,
    CountingGuard,
    CountingRelay,
    RtpTotals,
    StreamTotals,
    rtcp_cumulative_lost,
)
from softswitch.web.http import Request
from softswitch.web.metrics import CONTENT_TYPE, Family, Sample, counter, gauge, render
from softswitch.web.switch_metrics import SwitchMetrics
from softswitch.web.throttle import LoginThrottle

HOST = "127.0.0.1"
Scrape = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> tuple[dict[str, str], Scrape]:
    """(family name -> type, (sample name, labels) -> value), by the reference parser."""
    kinds: dict[str, str] = {}
    values: Scrape = {}
    for family in text_string_to_metric_families(text):
        kinds[family.name] = family.type
        for sample in family.samples:
            key = (sample.name, frozenset(sample.labels.items()))
            assert key not in values, key
            values[key] = sample.value
    return kinds, values


def value(values: Scrape, name: str, **labels: str) -> float:
    return values[(name, frozenset(labels.items()))]


# --------------------------------------------------------------------------- exposition


def test_render_is_read_back_exactly_escapes_and_all() -> None:
    awkward = ['a"b', "back\\slash", "new\nline", "ñandú €", "", "}{,="]
    families = [
        gauge(
            "softswitch_queue_waiting",
            'Waiting "callers"\nper queue \\ total',
            [((("queue", text),), i) for i, text in enumerate(awkward)],
        ),
        counter("softswitch_calls_total", "Calls.", [((("outcome", "answered"),), 7)]),
        gauge("softswitch_uptime_seconds", "Up.", 12.25),
    ]
    text = render(families)
    kinds, values = parse(text)
    assert kinds == {
        "softswitch_queue_waiting": "gauge",
        "softswitch_calls": "counter",  # the parser names a counter without its _total
        "softswitch_uptime_seconds": "gauge",
    }
    for i, label in enumerate(awkward):
        assert value(values, "softswitch_queue_waiting", queue=label) == i
    assert value(values, "softswitch_calls_total", outcome="answered") == 7
    assert value(values, "softswitch_uptime_seconds") == 12.25
    (parsed,) = [f for f in text_string_to_metric_families(text) if f.type == "gauge"][:1]
    assert parsed.documentation == 'Waiting "callers"\nper queue \\ total'
    assert text.startswith(
        '# HELP softswitch_queue_waiting Waiting "callers"\\nper queue \\\\ total\n'
        "# TYPE softswitch_queue_waiting gauge\n"
        'softswitch_queue_waiting{queue="a\\"b"} 0\n'
    )


def test_numbers_are_written_as_prometheus_reads_them() -> None:
    family = gauge(
        "x",
        "h",
        [
            ((("v", "int"),), 3.0),
            ((("v", "big"),), 2.0**60),
            ((("v", "frac"),), 0.1),
            ((("v", "inf"),), math.inf),
            ((("v", "-inf"),), -math.inf),
            ((("v", "nan"),), math.nan),
        ],
    )
    lines = render([family]).splitlines()[2:]
    assert lines == [
        'x{v="int"} 3',
        f'x{{v="big"}} {2.0**60!r}',
        'x{v="frac"} 0.1',
        'x{v="inf"} +Inf',
        'x{v="-inf"} -Inf',
        'x{v="nan"} NaN',
    ]
    _, values = parse("\n".join(lines) + "\n")
    assert value(values, "x", v="big") == 2.0**60 and math.isnan(value(values, "x", v="nan"))


def test_nothing_to_render_is_an_empty_page() -> None:
    assert render([]) == ""
    assert CONTENT_TYPE == "text/plain; version=0.0.4; charset=utf-8"


@pytest.mark.parametrize(
    ("name", "kind", "samples"),
    [
        ("1abc", "gauge", ()),
        ("a-b", "gauge", ()),
        ("calls", "counter", ()),  # a counter ends in _total
        ("a", "gauge", (Sample((("1x", "v"),), 1),)),
        ("a", "gauge", (Sample((("__name", "v"),), 1),)),  # reserved
        ("a", "gauge", (Sample((("q", "v"), ("q", "w")), 1),)),
        ("a", "gauge", (Sample((("q", "v"),), 1), Sample((("q", "v"),), 2))),
    ],
)
def test_bad_families_are_refused_when_made(
    name: str, kind: Any, samples: tuple[Sample, ...]
) -> None:
    with pytest.raises(ValueError):
        Family(name, kind, "help", samples)


# --------------------------------------------------------------------------- RTCP


def report_block(ssrc: int, lost: int) -> bytes:
    return struct.pack("!IB", ssrc, 5) + lost.to_bytes(3, "big", signed=True) + bytes(16)


def rtcp(kind: int, blocks: list[bytes], ssrc: int = 0x1234) -> bytes:
    sender_info = bytes(20) if kind == 200 else b""
    body = struct.pack("!I", ssrc) + sender_info + b"".join(blocks)
    return struct.pack("!BBH", 0x80 | len(blocks), kind, len(body) // 4) + body


def sdes(ssrc: int = 0x1234) -> bytes:
    chunk = struct.pack("!IBB", ssrc, 1, 2) + b"ab" + bytes(4)  # CNAME "ab", padded
    return struct.pack("!BBH", 0x81, 202, len(chunk) // 4) + chunk


def test_cumulative_loss_from_sender_and_receiver_reports() -> None:
    sr = rtcp(200, [report_block(1, 7), report_block(2, 5)])
    assert rtcp_cumulative_lost(sr) == 12
    assert rtcp_cumulative_lost(rtcp(201, [report_block(1, 40)]) + sdes()) == 40
    assert rtcp_cumulative_lost(sdes() + rtcp(201, [report_block(1, 3)])) == 3
    assert rtcp_cumulative_lost(rtcp(201, [])) == 0  # a report, with nothing received yet
    assert rtcp_cumulative_lost(rtcp(201, [report_block(1, -4)])) == 0  # duplicates


@pytest.mark.parametrize(
    "packet",
    [
        None,
        b"",
        sdes(),  # no report in it
        rtcp(201, [report_block(1, 7)])[:-1],  # cut short
        b"\x00" + rtcp(201, [report_block(1, 7)])[1:],  # not version 2
        struct.pack("!BBH", 0x82, 201, 7) + bytes(28),  # says 2 blocks, holds 1
    ],
)
def test_no_loss_is_read_from_what_is_no_report(packet: bytes | None) -> None:
    assert rtcp_cumulative_lost(packet) is None


# --------------------------------------------------------------------------- guard, calls


def test_guard_counts_failures_and_bans_and_sees_bans_expire() -> None:
    guard = CountingGuard(max_auth_failures=3, failure_window=60, ban_time=10)
    now = 100.0
    assert [guard.record_auth_failure("192.0.2.1", now) for _ in range(3)] == [False, False, True]
    assert guard.record_auth_failure("192.0.2.1", now + 1) is False  # banned: not counted again
    guard.record_auth_failure("192.0.2.2", now + 2)
    assert (guard.auth_failures, guard.bans) == (5, 1)
    assert guard.active_bans(now + 5) == 1
    assert guard.active_bans(now + 10.5) == 0  # the ban ran out; the total stays
    assert (guard.auth_failures, guard.bans) == (5, 1)


def test_a_trusted_network_fails_without_a_ban() -> None:
    from ipaddress import ip_network

    guard = CountingGuard(max_auth_failures=1, trusted=[ip_network("10.0.0.0/8")])
    assert guard.record_auth_failure("10.1.2.3", 0.0) is False
    assert (guard.auth_failures, guard.bans, guard.active_bans(0.0)) == (1, 0, 0)


def test_calls_are_counted_by_whether_they_were_answered() -> None:
    calls = CallCounter()
    for answered in (None, 12.5, None, 3.0, 4.0):
        calls.finished(SimpleNamespace(answered=answered))
    assert (calls.answered, calls.unanswered) == (3, 2)


# --------------------------------------------------------------------------- relay


def rtp(seq: int, ssrc: int = 0xABC) -> bytes:
    return struct.pack("!BBHII", 0x80, 0, seq, seq * 160, ssrc) + bytes(160)


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
        relay = CountingRelay(HOST, first, first + 39, cool_down=0.0)
        a_phone, b_phone = udp(), udp()
        try:
            a, b = await relay.open_endpoint(), await relay.open_endpoint()
            relay.link(a, b)
            a.set_remote(*a_phone.getsockname())
            b.set_remote(*b_phone.getsockname())
            for seq in range(5):
                a_phone.sendto(rtp(seq), (HOST, a.local_port))
            b_phone.sendto(b"junk, not RTP", (HOST, b.local_port))  # rejected
            report = rtcp(201, [report_block(0xABC, 2)])
            b_phone.sendto(report, (HOST, b.local_port + 1))  # b's phone lost 2 of a's
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
        relay = CountingRelay(HOST, first, first + 39)
        phone = udp()
        try:
            a = await relay.open_endpoint()
            for lost, received in ((9, 1), (4, 2)):  # a new stream counts from zero again
                phone.sendto(rtcp(201, [report_block(1, lost)]), (HOST, a.local_port + 1))
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


# --------------------------------------------------------------------------- the page


def call(call_id: str, started: float, answered: float | None = None, ended: bool = False) -> Any:
    return SimpleNamespace(call_id=call_id, started=started, answered=answered, ended=ended)


class Parts:
    """What ``SwitchMetrics`` reads of an App, standing in."""

    def __init__(self, clock: VirtualClock) -> None:
        self.clock = clock
        self.b2bua: Any = SimpleNamespace(calls=[])
        self.bindings: list[Any] = []
        self.location: Any = SimpleNamespace(all_bindings=lambda: list(self.bindings))
        self.waiting: dict[str, tuple[str, ...]] = {"soporte": (), "ventas": ()}
        service = SimpleNamespace(waiting=lambda name: self.waiting[name])
        queues = {"ventas": None, "soporte": None}
        runner = SimpleNamespace(queues=queues, monotonic=clock.monotonic, service=service)
        self.media: Any = SimpleNamespace(queues=runner)
        self.relay: Any = SimpleNamespace(active_endpoints=4, parked_endpoints=10)
        self.http: Any = None  # no HTTP server: no web login families


class FakeRtp:
    def totals(self) -> RtpTotals:
        return RtpTotals(StreamTotals(100, 90, 3, 2), StreamTotals(8, 8, 1, 0), 5)


def test_the_page_reads_every_part() -> None:
    clock = VirtualClock(start=1000.0)
    parts = Parts(clock)
    guard = CountingGuard(max_auth_failures=2, ban_time=60)
    calls = CallCounter()
    page = SwitchMetrics(parts, calls=calls, security=guard, rtp=FakeRtp())
    logins = LoginThrottle(max_failures=2, ban_time=60)
    parts.http = SimpleNamespace(logins=logins)
    clock.advance(90.0)
    wall = clock.wall()
    parts.bindings = [SimpleNamespace(expires_at=wall + 60), SimpleNamespace(expires_at=wall - 1)]
    parts.b2bua.calls = [  # the registry is a set; any iterable of calls reads the same
        call("ring", 1080.0),
        call("talk", 1050.0, answered=1055.0),
        call("q1", 1040.0, answered=1041.0),
        call("q2", 1085.0, answered=1086.0),
        call("gone", 1000.0, answered=1001.0, ended=True),
    ]
    parts.waiting["soporte"] = ("q1#1", "q2#1", "vanished#2")
    calls.finished(SimpleNamespace(answered=None))
    guard.record_auth_failure("192.0.2.9", clock.monotonic())
    guard.record_auth_failure("192.0.2.9", clock.monotonic())  # banned
    for host in ("198.51.100.1", "198.51.100.2", "198.51.100.2"):  # .2 is banned
        logins.failed(host, clock.monotonic())

    response = page.handle(Request("GET", "/metrics", "/metrics", "", "HTTP/1.1", ()))
    assert (response.status, response.content_type) == (200, CONTENT_TYPE)
    kinds, values = parse(response.body.decode())
    assert kinds["softswitch_calls"] == "counter" and kinds["softswitch_bans"] == "gauge"
    assert value(values, "softswitch_uptime_seconds") == 90.0
    assert value(values, "softswitch_info", version="0.1.0") == 1
    assert value(values, "softswitch_registrations") == 1  # the expired binding is not
    assert value(values, "softswitch_calls", state="ringing") == 1
    assert value(values, "softswitch_calls", state="answered") == 3
    assert value(values, "softswitch_calls_total", outcome="unanswered") == 1
    assert value(values, "softswitch_calls_total", outcome="answered") == 0
    assert value(values, "softswitch_queue_waiting", queue="soporte") == 2
    assert value(values, "softswitch_queue_longest_wait_seconds", queue="soporte") == 50.0
    assert value(values, "softswitch_queue_waiting", queue="ventas") == 0
    assert value(values, "softswitch_queue_longest_wait_seconds", queue="ventas") == 0
    assert value(values, "softswitch_rtp_endpoints", state="parked") == 10
    assert value(values, "softswitch_rtp_packets_received_total", stream="rtp") == 100
    assert value(values, "softswitch_rtp_packets_relayed_total", stream="rtcp") == 8
    dropped = "softswitch_rtp_packets_dropped_total"
    assert value(values, dropped, stream="rtp", reason="no_destination") == 3
    assert value(values, dropped, stream="rtp", reason="rejected") == 2
    assert value(values, dropped, stream="rtcp", reason="no_destination") == 1
    assert value(values, "softswitch_rtp_packets_lost_total") == 5
    assert value(values, "softswitch_auth_failures_total") == 2
    assert value(values, "softswitch_bans_total") == 1
    assert value(values, "softswitch_bans") == 1
    assert value(values, "softswitch_web_login_failures_total") == 3
    assert value(values, "softswitch_web_login_bans_total") == 1
    assert value(values, "softswitch_web_login_bans") == 1
    clock.advance(61.0)
    _, later = parse(page.handle(Request("GET", "/", "/", "", "HTTP/1.1", ())).body.decode())
    assert value(later, "softswitch_bans") == 0 and value(later, "softswitch_bans_total") == 1
    assert value(later, "softswitch_web_login_bans") == 0
    assert value(later, "softswitch_web_login_bans_total") == 1


def test_without_counters_their_families_are_left_out() -> None:
    clock = VirtualClock()
    page = SwitchMetrics(Parts(clock), started=clock.monotonic() - 5)
    kinds, values = parse(render(page.families()))
    assert sorted(kinds) == [
        "softswitch_calls",
        "softswitch_info",
        "softswitch_queue_longest_wait_seconds",
        "softswitch_queue_waiting",
        "softswitch_registrations",
        "softswitch_rtp_endpoints",
        "softswitch_uptime_seconds",
    ]
    assert value(values, "softswitch_uptime_seconds") == 5
    assert value(values, "softswitch_calls", state="answered") == 0
