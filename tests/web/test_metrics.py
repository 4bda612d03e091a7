"""The Prometheus text, read back with ``prometheus_client``'s own parser; the calls counter;
and ``SwitchMetrics`` over stand-in parts in virtual time (a real ``Guard``). The owners'
totals are tested with their owners: tests/sip/test_guard.py, tests/rtp/test_rtp_totals.py
and tests/rtp/test_rtcp.py."""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from softswitch.clock import VirtualClock
from softswitch.rtp.totals import RtpTotals, StreamTotals
from softswitch.sip.guard import Guard
from softswitch.web.counters import CallCounter
from softswitch.web.http import Request
from softswitch.web.metrics import CONTENT_TYPE, Family, Sample, counter, gauge, render
from softswitch.web.switch_metrics import SwitchMetrics
from softswitch.web.throttle import LoginThrottle

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


# --------------------------------------------------------------------------- calls


def test_calls_are_counted_by_whether_they_were_answered() -> None:
    calls = CallCounter()
    for answered in (None, 12.5, None, 3.0, 4.0):
        calls.finished(SimpleNamespace(answered=answered))
    assert (calls.answered, calls.unanswered) == (3, 2)


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
    guard = Guard(max_auth_failures=2, ban_time=60)
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
