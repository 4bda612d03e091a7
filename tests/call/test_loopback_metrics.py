"""``/metrics`` on a running switch: real phones register, call, talk, hang up and fail to
authenticate, a caller waits in a queue, and a scrape over HTTP shows each of these.

Each test runs the switch the app builds: the totals come from their owners (the plain
``Guard`` and ``RtpRelay`` count failures, bans and packets themselves), a ``CallCounter``
told by the B2BUA's ``on_finished``, and the HTTP server started on the switch's own loop
with the ``/metrics`` route.
"""

from __future__ import annotations

import http.client
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest
from conftest import Phones
from prometheus_client.parser import text_string_to_metric_families
from sipclient import RtpSocket, SipPeer
from test_loopback_calls import establish, relay_check
from test_loopback_control import CALLER, QUEUE_NUMBER, TRUNK_HOST, config_extra

from softswitch.web import CallCounter, HttpServer

if TYPE_CHECKING:
    from conftest import RunningSwitch, SwitchFactory

HOST = "127.0.0.1"
WAIT = 5.0  # seconds a state reached on the switch's own timers may take
Values = dict[tuple[str, frozenset[tuple[str, str]]], float]


@dataclass
class Metered:
    sw: RunningSwitch
    server: HttpServer
    calls: CallCounter
    phones: Phones
    trunk_caller: SipPeer

    def get(self, path: str = "/metrics", method: str = "GET") -> tuple[int, str, bytes]:
        assert self.server.address is not None
        conn = http.client.HTTPConnection(*self.server.address, timeout=WAIT)
        try:
            conn.request(method, path)
            response = conn.getresponse()
            return response.status, response.getheader("Content-Type") or "", response.read()
        finally:
            conn.close()

    def scrape(self) -> Values:
        status, content_type, body = self.get()
        assert (status, content_type) == (200, "text/plain; version=0.0.4; charset=utf-8")
        values: Values = {}
        for family in text_string_to_metric_families(body.decode()):
            assert family.type in ("counter", "gauge"), family.name  # every sample typed
            for sample in family.samples:
                values[(sample.name, frozenset(sample.labels.items()))] = sample.value
        return values

    def value(self, name: str, **labels: str) -> float:
        return self.scrape()[(name, frozenset(labels.items()))]

    def until(self, name: str, wanted: float, **labels: str) -> None:
        """Wait for the switch to reach a state (its own timers and sockets), then it holds."""
        deadline = time.monotonic() + WAIT
        while (got := self.value(name, **labels)) != wanted:
            assert time.monotonic() < deadline, f"{name}{labels} = {got}, not {wanted}"
            time.sleep(0.02)


@pytest.fixture
def metered(make_switch: SwitchFactory) -> Iterator[Metered]:
    """A switch with its HTTP server on (server.http_listen, any free port)."""
    provider = SipPeer(("127.0.0.1", 0), user="acme", host=TRUNK_HOST)
    make_switch.peers.append(provider)
    sw = make_switch(
        extra=config_extra(provider.local[1], register=False),
        server={"timezone": "UTC", "http_listen": f"{HOST}:0"},
        security={"max_auth_failures": 3, "failure_window": 60, "ban_time": 30},
    )
    app = sw.app
    assert app is not None
    server, calls = app.http, app.call_counter
    assert server is not None
    trunk_caller = make_switch.peer(sw, CALLER, host=TRUNK_HOST)
    caller, callee = make_switch.peer(sw, "1001"), make_switch.peer(sw, "1002")
    rtp = RtpSocket(), RtpSocket()
    try:
        yield Metered(sw, server, calls, Phones(sw, caller, callee, *rtp), trunk_caller)
    finally:
        for sock in rtp:
            sock.close()


def test_a_registration_and_a_call_show_and_go(metered: Metered) -> None:
    m, p = metered, metered.phones
    assert m.value("softswitch_registrations") == 0
    assert p.callee.register().status == 200
    assert m.value("softswitch_registrations") == 1
    assert m.value("softswitch_calls", state="answered") == 0

    call = establish(p)
    values = m.scrape()
    assert values[("softswitch_calls", frozenset({("state", "answered")}))] == 1
    assert values[("softswitch_calls", frozenset({("state", "ringing")}))] == 0
    assert values[("softswitch_rtp_endpoints", frozenset({("state", "active")}))] == 2
    relay_check(p, call)  # five packets each way, through the relay
    received = ("softswitch_rtp_packets_received_total", frozenset({("stream", "rtp")}))
    relayed = ("softswitch_rtp_packets_relayed_total", frozenset({("stream", "rtp")}))
    values = m.scrape()
    assert (values[received], values[relayed]) == (10, 10)

    bye = p.caller.in_dialog(call.a, "BYE")
    assert p.caller.transact(bye).status == 200
    p.callee.reply(p.callee.expect_request("BYE", call_id=call.incoming.call_id), 200)
    m.until("softswitch_calls", 0, state="answered")
    values = m.scrape()
    # The call's packets stay counted after its ports were zeroed and parked.
    assert (values[received], values[relayed]) == (10, 10)
    assert values[("softswitch_rtp_endpoints", frozenset({("state", "active")}))] == 0
    assert values[("softswitch_calls_total", frozenset({("outcome", "answered")}))] == 1
    assert values[("softswitch_calls_total", frozenset({("outcome", "unanswered")}))] == 0


def test_auth_failures_and_a_ban_are_counted(metered: Metered) -> None:
    m = metered
    attacker = m.phones.caller
    assert m.value("softswitch_auth_failures_total") == 0
    for attempt in range(3):
        assert attacker.register(password=f"guess-{attempt}").status == 403
    values = m.scrape()
    assert values[("softswitch_auth_failures_total", frozenset())] == 3
    assert values[("softswitch_bans_total", frozenset())] == 1
    assert values[("softswitch_bans", frozenset())] == 1
    m.sw.clock.skip(31)  # past ban_time, without sleeping
    values = m.scrape()
    assert values[("softswitch_bans", frozenset())] == 0
    assert values[("softswitch_bans_total", frozenset())] == 1


def test_a_caller_waiting_in_a_queue(metered: Metered) -> None:
    m = metered
    queue = {"queue": "soporte"}
    assert m.value("softswitch_queue_waiting", **queue) == 0
    rtp = RtpSocket(TRUNK_HOST)
    try:
        # The queue's only agent (1003) never registers: the caller waits, hearing music.
        _invite, dialog, _ok = m.trunk_caller.answered_call(QUEUE_NUMBER, rtp.port)
        m.until("softswitch_queue_waiting", 1, **queue)
        first = m.value("softswitch_queue_longest_wait_seconds", **queue)
        m.sw.clock.skip(20)
        assert m.value("softswitch_queue_longest_wait_seconds", **queue) >= first + 20
        assert m.value("softswitch_calls", state="answered") == 1  # the switch answered it
        m.trunk_caller.transact(m.trunk_caller.in_dialog(dialog, "BYE"))
        m.until("softswitch_queue_waiting", 0, **queue)
        assert m.value("softswitch_queue_longest_wait_seconds", **queue) == 0
    finally:
        rtp.close()


def test_bad_http_gets_a_4xx_and_the_page_stays_up(metered: Metered) -> None:
    m = metered
    assert m.server.address is not None
    with socket.create_connection(m.server.address, timeout=WAIT) as sock:
        sock.sendall(b"GET /metrics HTTP/1.1\r\nHost : x\r\n\r\n")
        reply = sock.makefile("rb").read()
    assert reply.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert m.get("/metrics", "POST")[0] == 405
    assert m.get("/nothing")[0] == 404
    status, _, body = m.get("/metrics", "HEAD")
    assert (status, body) == (200, b"")
    assert m.value("softswitch_uptime_seconds") >= 0
