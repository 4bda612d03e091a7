"""Calls out with real PJSIP phones: the provider is a pjsua account at 127.0.0.2 that the
trunk points at. An extension with outbound permission reaches it, presenting its caller ID,
and they talk (FFT); one without permission hears why and gets 403; the provider never rings."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import TRUNK_HOST, Pbx, Server, outbound_trunk
from .phone import Phone, PjEndpoint, analyse_tone, listen, talk_both_ways

pytestmark = pytest.mark.e2e


def test_outbound_permission_and_caller_id(
    ep: PjEndpoint,
    server_factory: Callable[..., Server],
    phone_factory: Callable[..., Phone],
    tmp_path: Path,
) -> None:
    provider = phone_factory("provider", host=TRUNK_HOST)
    extra = outbound_trunk(provider.sip_port)
    keys = {"1001": 'outbound = true\ncaller_ids = ["+34910000001"]'}
    server = server_factory(extra=extra, keys=keys)
    pbx = Pbx(server, phone_factory)
    ana, bruno = pbx.phone("1001"), pbx.phone("1002")

    refused = bruno.call(pbx.uri("600111222"))
    refused.wait_media(10)  # the sentence comes as early media
    heard = str(tmp_path / "refusal.wav")
    listen(ep, [(refused, heard)], seconds=1.0, settle=0.3)
    assert analyse_tone(heard, 440)["rms"] > 0.01, "the refusal is silent"
    refused.wait_state("DISCONNECTED", 15)
    assert refused.last_code == 403
    assert not provider.incoming

    call = ana.call(pbx.uri("600111222"))
    ringing = provider.wait_incoming(10)
    assert "+34910000001" in ringing.remote_uri, ringing.remote_uri
    ringing.answer(200)
    call.wait_state("CONFIRMED", 10)
    call.wait_media(5)
    ringing.wait_media(5)
    talk_both_ways(ep, call, ringing, tmp_path)
    call.hangup()
    ringing.wait_state("DISCONNECTED", 5)
