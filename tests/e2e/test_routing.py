"""A call from a trunk with real PJSIP phones: the provider (a pjsua account sending from its
own loopback address, 127.0.0.2) calls the company's number, the IVR answers with a spoken
prompt, the caller presses 2 (RFC 4733) and the agent's phone rings; both talk (FFT)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import HOST, TRUNK_HOST, Pbx, Server
from .phone import Phone, PjEndpoint, analyse_tone, listen, talk_both_ways

pytestmark = pytest.mark.e2e

ROUTING = f"""
[trunks.proveedor]
host = "{TRUNK_HOST}"
inbound_from = ["{TRUNK_HOST}/32"]

[prompts.menu]
text = "Para ventas, pulse dos."
language = "es"

[numbers."+34910000000"]
prefix = "MAD"
action = "ivr:principal"

[ivrs.principal]
prompt = "menu"
timeout = 8
retries = 1

[ivrs.principal.options]
"2" = "extension:1002"
"""


def test_did_reaches_the_ivr_and_option_two_rings_the_agent(
    ep: PjEndpoint,
    server_factory: Callable[..., Server],
    phone_factory: Callable[..., Phone],
    tmp_path: Path,
) -> None:
    server = server_factory(extra=ROUTING)
    pbx = Pbx(server, phone_factory)
    agent = pbx.phone("1002")
    provider = phone_factory("+34611222333", host=TRUNK_HOST)
    call = provider.call(f"sip:910000000@{HOST}:{server.port}")
    call.wait_state("CONFIRMED", 10)
    call.wait_media(5)
    prompt = str(tmp_path / "prompt.wav")
    listen(ep, [(call, prompt)], seconds=1.0, settle=0.2)
    assert analyse_tone(prompt, 440)["rms"] > 0.01, "the IVR prompt is silent"
    call.send_dtmf("2")
    ringing = agent.wait_incoming(10)
    assert "MAD" in ringing.remote_uri and "+34611222333" in ringing.remote_uri
    ringing.answer(200)
    ringing.wait_state("CONFIRMED", 10)
    ringing.wait_media(5)
    talk_both_ways(ep, call, ringing, tmp_path)
    call.hangup()
    ringing.wait_state("DISCONNECTED", 5)
