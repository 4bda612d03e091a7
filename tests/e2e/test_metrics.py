"""``/metrics`` of a running switch with real PJSIP phones, read with ``prometheus_client``'s
own parser: two phones registered and one wrong password, a call 1001 → 1002 answered and
talking (FFT both ways), RTP relayed growing between two scrapes, and the call counted once
it has ended. A wrong login to the agent page shows as a web login failure."""

from __future__ import annotations

import base64
import http.client
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from .conftest import HOST, Pbx, Server, free_port
from .phone import Phone, PjEndpoint, talk_both_ways

pytestmark = pytest.mark.e2e

Scrape = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(port: int) -> Scrape:
    """GET /metrics: (sample name, labels) -> value, as Prometheus would read them."""
    connection = http.client.HTTPConnection(HOST, port, timeout=10)
    try:
        connection.request("GET", "/metrics")
        response = connection.getresponse()
        assert response.status == 200
        assert response.getheader("content-type", "").startswith("text/plain; version=0.0.4")
        text = response.read().decode()
    finally:
        connection.close()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(values: Scrape, name: str, **labels: str) -> float:
    return values[(name, frozenset(labels.items()))]


def live_calls(values: Scrape) -> float:
    return sum(value(values, "softswitch_calls", state=s) for s in ("ringing", "answered"))


def wrong_agent_login(port: int) -> int:
    connection = http.client.HTTPConnection(HOST, port, timeout=10)
    token = base64.b64encode(b"1001:not-the-password").decode()
    try:
        connection.request("GET", "/agent", headers={"authorization": f"Basic {token}"})
        return connection.getresponse().status
    finally:
        connection.close()


def test_metrics_follow_registrations_a_call_and_its_media(
    ep: PjEndpoint,
    server_factory: Callable[..., Server],
    phone_factory: Callable[..., Phone],
    tmp_path: Path,
) -> None:
    web = free_port()
    server = server_factory(keys={"server": f'http_listen = "{HOST}:{web}"'})
    pbx = Pbx(server, phone_factory)
    # 1003 (a phone account of its own: pjsua would hand 1002's calls to the first 1002)
    intruder = pbx.phone("1003", password="not-the-password", register=False)
    assert intruder.register(5) == 403
    ana, bruno = pbx.phone("1001"), pbx.phone("1002")

    idle = scrape(web)
    assert value(idle, "softswitch_registrations") == 2
    assert value(idle, "softswitch_auth_failures_total") >= 1
    assert live_calls(idle) == 0
    assert value(idle, "softswitch_web_login_failures_total") == 0

    out = ana.call(pbx.uri("1002"))
    inc = bruno.wait_incoming(10)
    inc.answer(200)
    out.wait_state("CONFIRMED", 10)
    inc.wait_state("CONFIRMED", 10)
    out.wait_media(5)
    inc.wait_media(5)
    talk_both_ways(ep, out, inc, tmp_path)

    first = scrape(web)
    assert value(first, "softswitch_calls", state="answered") == 1
    assert live_calls(first) == 1
    relayed = value(first, "softswitch_rtp_packets_relayed_total", stream="rtp")
    assert relayed > 0
    ep.sleep(0.5)  # both phones keep sending (no VAD): 25 packets each way
    second = scrape(web)
    assert value(second, "softswitch_rtp_packets_relayed_total", stream="rtp") > relayed

    assert wrong_agent_login(web) == 401
    out.hangup()
    inc.wait_state("DISCONNECTED", 5)
    after = _when_no_calls(ep, web)
    assert value(after, "softswitch_calls_total", outcome="answered") == 1
    assert value(after, "softswitch_calls_total", outcome="unanswered") == 0
    assert value(after, "softswitch_web_login_failures_total") == 1
    assert value(after, "softswitch_web_login_bans") == 0


def _when_no_calls(ep: PjEndpoint, port: int, timeout: float = 5.0) -> Scrape:
    """Scrape until the switch has finished the call (it ends a moment after the BYE)."""
    deadline = time.monotonic() + timeout
    while True:
        values = scrape(port)
        if live_calls(values) == 0:
            return values
        assert time.monotonic() < deadline, f"live calls after hang-up: {live_calls(values)}"
        ep.sleep(0.1)
