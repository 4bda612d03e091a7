"""Click-to-call with real PJSIP phones: an HTTP request with the token rings the agent's
phone; when the agent answers, the number is called through the trunk (the provider is a
pjsua account at 127.0.0.2) with the agent's caller ID, and both talk (FFT both ways)."""

from __future__ import annotations

import http.client
from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import HOST, Pbx, Server, free_port
from .phone import Phone, PjEndpoint, talk_both_ways

pytestmark = pytest.mark.e2e

TRUNK_HOST = "127.0.0.2"
TOKEN = "t0ken-0123456789abcdef"


def test_click_to_call_connects_the_agent_and_the_number(
    ep: PjEndpoint,
    server_factory: Callable[..., Server],
    phone_factory: Callable[..., Phone],
    tmp_path: Path,
) -> None:
    provider = phone_factory("provider", host=TRUNK_HOST)
    web = free_port()
    extra = f"""
[trunks.proveedor]
host = "{TRUNK_HOST}"
port = {provider.sip_port}
inbound_from = ["{TRUNK_HOST}/32"]

[[outbound_routes]]
match = "+34[6-9]XXXXXXXX"
trunk = "proveedor"
"""
    keys = {
        "server": f'http_listen = "{HOST}:{web}"\nclick_to_call_token = "{TOKEN}"',
        "1001": 'outbound = true\ncaller_ids = ["+34910000001"]',
    }
    server = server_factory(extra=extra, keys=keys)
    ana = Pbx(server, phone_factory).phone("1001")

    connection = http.client.HTTPConnection(HOST, web, timeout=10)
    headers = {
        "authorization": f"Bearer {TOKEN}",
        "content-type": "application/x-www-form-urlencoded",
    }
    connection.request("POST", "/click-to-call", "extension=1001&number=600111222", headers)
    assert connection.getresponse().status == 202
    connection.close()

    agent = ana.wait_incoming(10)  # Ana's phone rings first
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
