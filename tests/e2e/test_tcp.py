"""Real phones over TCP: register, call in both transport combinations, audio both ways.

The switch reaches a TCP-registered phone over the connection the phone opened (it is the
only way to reach a phone behind NAT over TCP), and keeps each leg on its own transport.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import Pbx
from .phone import PjEndpoint, analyse_tone, listen

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize(
    ("caller_tp", "callee_tp"), [("tcp", "tcp"), ("udp", "tcp"), ("tcp", "udp")]
)
def test_call_over_tcp_carries_audio_both_ways(
    ep: PjEndpoint, pbx: Pbx, tmp_path: Path, caller_tp: str, callee_tp: str
) -> None:
    a = pbx.phone("1001", transport=caller_tp)
    b = pbx.phone("1002", transport=callee_tp)
    suffix = ";transport=tcp" if caller_tp == "tcp" else ""
    out = a.call(pbx.uri("1002") + suffix)
    inc = b.wait_incoming(10)
    inc.answer(200)
    out.wait_state("CONFIRMED", 10)
    inc.wait_state("CONFIRMED", 10)
    out.wait_media(5)
    inc.wait_media(5)
    out.play_tone(700)
    inc.play_tone(1300)
    at_a, at_b = str(tmp_path / "at_a.wav"), str(tmp_path / "at_b.wav")
    listen(ep, [(out, at_a), (inc, at_b)])
    heard_b, heard_a = analyse_tone(at_b, 700), analyse_tone(at_a, 1300)
    assert heard_b["ok"], f"callee did not hear 700 Hz: {heard_b}"
    assert heard_a["ok"], f"caller did not hear 1300 Hz: {heard_a}"
    inc.hangup()
    out.wait_state("DISCONNECTED", 5)
    # Each phone really used the transport under test, and the callee was reached on it.
    log = pbx.server.log_text()
    assert f"REGISTER sip:1001@127.0.0.1: 1 binding(s) from {caller_tp}:" in log
    assert f"answered by 1002 ({callee_tp}:127.0.0.1:" in log
