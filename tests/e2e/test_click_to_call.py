"""Click-to-call with real PJSIP phones: an HTTP request with the token rings the agent's
phone; when the agent answers, the number is called through the trunk (the provider is a
pjsua account at 127.0.0.2) with the agent's caller ID, and both talk (FFT both ways). An
agent with two phones registered (desk and softphone) has both rung: the one that answers
talks to the number, the other stops ringing (CANCEL, 487)."""

from __future__ import annotations

import http.client
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import HOST, TRUNK_HOST, Pbx, Server, free_port, outbound_trunk
from .phone import Phone, PhoneCall, PjEndpoint, talk_both_ways

pytestmark = pytest.mark.e2e

TOKEN = "t0ken-0123456789abcdef"


def _switch(
    server_factory: Callable[..., Server], phone_factory: Callable[..., Phone]
) -> tuple[Server, int, Phone]:
    """A switch whose 1001 may call +34 mobiles through a trunk: (server, web port, provider)."""
    provider = phone_factory("provider", host=TRUNK_HOST)
    web = free_port()
    extra = outbound_trunk(provider.sip_port)
    keys = {
        "server": f'http_listen = "{HOST}:{web}"\nclick_to_call_token = "{TOKEN}"',
        "1001": 'outbound = true\ncaller_ids = ["+34910000001"]',
    }
    return server_factory(extra=extra, keys=keys), web, provider


def _click(web: int) -> None:
    connection = http.client.HTTPConnection(HOST, web, timeout=10)
    headers = {
        "authorization": f"Bearer {TOKEN}",
        "content-type": "application/x-www-form-urlencoded",
    }
    connection.request("POST", "/click-to-call", "extension=1001&number=600111222", headers)
    assert connection.getresponse().status == 202
    connection.close()


def _answer_and_talk(ep: PjEndpoint, agent: PhoneCall, provider: Phone, tmp_path: Path) -> None:
    """The agent answers; the number rings with the agent's caller ID, answers; both talk."""
    agent.answer(200)
    agent.wait_state("CONFIRMED", 10)
    far = provider.wait_incoming(10)  # then the number, showing Ana's caller ID
    assert "+34910000001" in far.remote_uri, far.remote_uri
    far.answer(200)
    far.wait_state("CONFIRMED", 10)
    agent.wait_media(5)
    far.wait_media(5)
    talk_both_ways(ep, agent, far, tmp_path)
    agent.hangup()
    far.wait_state("DISCONNECTED", 5)


def test_click_to_call_connects_the_agent_and_the_number(
    ep: PjEndpoint,
    server_factory: Callable[..., Server],
    phone_factory: Callable[..., Phone],
    tmp_path: Path,
) -> None:
    server, web, provider = _switch(server_factory, phone_factory)
    ana = Pbx(server, phone_factory).phone("1001")
    _click(web)
    _answer_and_talk(ep, ana.wait_incoming(10), provider, tmp_path)  # Ana's phone first


def test_click_to_call_rings_both_phones_of_the_agent(
    ep: PjEndpoint,
    server_factory: Callable[..., Server],
    phone_factory: Callable[..., Phone],
    tmp_path: Path,
) -> None:
    server, web, provider = _switch(server_factory, phone_factory)
    pbx = Pbx(server, phone_factory)
    desk, softphone = pbx.phone("1001"), pbx.phone("1001")  # two contacts, one extension
    _click(web)
    ringing = desk.incoming, softphone.incoming
    ep.wait_for(lambda: sum(map(len, ringing)) >= 2, 10, "both phones of 1001 ringing")
    calls = {_port_rung(call): call for calls in ringing for call in calls}
    assert set(calls) == {desk.sip_port, softphone.sip_port}  # each of its phones rings
    on_desk, on_softphone = calls[desk.sip_port], calls[softphone.sip_port]
    on_desk.wait_state("EARLY", 5)
    on_softphone.wait_state("EARLY", 5)
    assert not provider.incoming  # nothing is dialled before the agent answers
    _answer_and_talk(ep, on_softphone, provider, tmp_path)
    on_desk.wait_state("DISCONNECTED", 5)  # the desk phone stopped ringing ...
    assert on_desk.last_code == 487  # ... cancelled, not answered nor refused
    assert "CONFIRMED" not in on_desk.states


def _port_rung(call: PhoneCall) -> int:
    """The SIP port of the contact the switch rang (INVITE sip:1001@127.0.0.1:PORT;ob)."""
    found = re.search(r"@[^:;>]+:(\d+)", call.request_uri)
    assert found is not None, call.request_uri
    return int(found.group(1))
