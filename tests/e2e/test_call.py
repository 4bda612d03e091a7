"""Calls between two real PJSIP phones through the softswitch (B2BUA with RTP anchoring):
audio both ways checked by FFT, RFC 4733 DTMF, hold/resume, and every way a call can end."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import Pbx, Server
from .phone import Phone, PhoneCall, PjEndpoint, analyse_tone, listen

pytestmark = pytest.mark.e2e

A_TO_B_HZ = 700
B_TO_A_HZ = 1300

# From as pjsua reports it: optional quoted display name, then <sip:user@host...>.
_FROM = re.compile(r'^\s*(?:"(?P<quoted>[^"]*)"|(?P<token>[^<"]*?))\s*<sips?:(?P<user>[^@>]+)@')


def _ring(pbx: Pbx, callee: str = "1002") -> tuple[Phone, Phone, PhoneCall, PhoneCall]:
    """1001 calls `callee`; returns once the callee's phone is ringing."""
    a = pbx.phone("1001")
    b = pbx.phone(callee)
    out = a.call(pbx.uri(callee))
    inc = b.wait_incoming(10)
    out.wait_state("EARLY", 5)
    return a, b, out, inc


def _answered(pbx: Pbx) -> tuple[PhoneCall, PhoneCall]:
    _, _, out, inc = _ring(pbx)
    inc.answer(200)
    out.wait_state("CONFIRMED", 10)
    inc.wait_state("CONFIRMED", 10)
    out.wait_media(5)
    inc.wait_media(5)
    return out, inc


def _assert_tones_both_ways(
    ep: PjEndpoint, out: PhoneCall, inc: PhoneCall, tmp_path: Path, tag: str
) -> None:
    out.play_tone(A_TO_B_HZ)
    inc.play_tone(B_TO_A_HZ)
    at_a, at_b = str(tmp_path / f"{tag}_at_a.wav"), str(tmp_path / f"{tag}_at_b.wav")
    listen(ep, [(out, at_a), (inc, at_b)])
    heard_b = analyse_tone(at_b, A_TO_B_HZ)
    heard_a = analyse_tone(at_a, B_TO_A_HZ)
    assert heard_b["ok"], f"callee did not hear {A_TO_B_HZ} Hz: {heard_b}"
    assert heard_a["ok"], f"caller did not hear {B_TO_A_HZ} Hz: {heard_a}"


def test_callee_sees_caller_name_and_number(pbx: Pbx) -> None:
    _, _, out, inc = _ring(pbx)
    m = _FROM.match(inc.remote_uri)
    assert m, inc.remote_uri
    assert (m["quoted"] or m["token"] or "").strip() == "Ana García"
    assert m["user"] == "1001"
    out.hangup()
    inc.wait_state("DISCONNECTED", 5)


def test_answered_call_carries_audio_both_ways(ep: PjEndpoint, pbx: Pbx, tmp_path: Path) -> None:
    out, inc = _answered(pbx)
    _assert_tones_both_ways(ep, out, inc, tmp_path, "call")
    # The media is anchored: each phone sends to, and hears from, a port of the server's
    # RTP range, never the other phone directly.
    lo, hi = pbx.server.rtp_range
    for call in (out, inc):
        for addr in call.rtp_peers():
            host, _, port = addr.rpartition(":")
            assert host == "127.0.0.1" and lo <= int(port) <= hi, (call.phone.user, addr)


def test_rfc4733_dtmf_reaches_the_other_phone(pbx: Pbx) -> None:
    out, inc = _answered(pbx)
    out.send_dtmf("123#")
    assert inc.wait_dtmf(4, 5) == "123#"
    assert {method for _, method in inc.dtmf} == {"rfc2833"}
    inc.send_dtmf("*0")
    assert out.wait_dtmf(2, 5) == "*0"


def test_hold_then_resume_keeps_audio(ep: PjEndpoint, pbx: Pbx, tmp_path: Path) -> None:
    out, inc = _answered(pbx)
    _assert_tones_both_ways(ep, out, inc, tmp_path, "before")
    out.hold()
    out.wait_media_status("LOCAL_HOLD", 5)  # the server answered the hold re-INVITE
    ep.sleep(0.5)
    out.unhold()
    out.wait_media_status("ACTIVE", 5)
    inc.wait_media(5)
    # A re-INVITE may rebuild the streams: tones and recorders are reconnected.
    _assert_tones_both_ways(ep, out, inc, tmp_path, "after")
    assert out.state == inc.state == "CONFIRMED"


def test_caller_cancels_while_ringing(pbx: Pbx) -> None:
    _, _, out, inc = _ring(pbx)
    out.hangup()  # before an answer: CANCEL
    out.wait_state("DISCONNECTED", 5)
    inc.wait_state("DISCONNECTED", 5)
    assert out.last_code == 487
    assert inc.last_code == 487  # the callee's INVITE was cancelled, not answered or failed
    assert "CONFIRMED" not in inc.states


def test_busy_callee_gives_486(pbx: Pbx) -> None:
    _, _, out, inc = _ring(pbx)
    inc.answer(486)
    out.wait_state("DISCONNECTED", 5)
    assert out.last_code == 486


def test_unknown_extension_gives_404(pbx: Pbx) -> None:
    a = pbx.phone("1001")
    out = a.call(pbx.uri("1999"))
    out.wait_state("DISCONNECTED", 5)
    assert out.last_code == 404


def test_unregistered_extension_gives_480(pbx: Pbx) -> None:
    a = pbx.phone("1001")
    out = a.call(pbx.uri("1003"))  # configured, but no phone registered
    out.wait_state("DISCONNECTED", 5)
    assert out.last_code == 480


@pytest.mark.parametrize("who", ["caller", "callee"])
def test_hangup_reaches_the_other_side(pbx: Pbx, who: str) -> None:
    out, inc = _answered(pbx)
    ender, other = (out, inc) if who == "caller" else (inc, out)
    ender.hangup()
    ender.wait_state("DISCONNECTED", 5)
    other.wait_state("DISCONNECTED", 5)
    assert "CONFIRMED" in other.states


def test_unanswered_call_ends_with_480_after_ring_time(
    ep: PjEndpoint, server_factory: Callable[..., Server], phone_factory: Callable[..., Phone]
) -> None:
    pbx = Pbx(server_factory(ring_time=2), phone_factory)
    _, _, out, inc = _ring(pbx)
    ep.sleep(1.0)
    assert out.state == "EARLY" and inc.state == "EARLY"  # still ringing before ring_time
    out.wait_state("DISCONNECTED", 6)
    assert out.last_code == 480
    inc.wait_state("DISCONNECTED", 5)
    assert inc.last_code == 487  # the server CANCELled the callee's leg
    assert "CONFIRMED" not in inc.states


def test_server_shutdown_hangs_up_live_calls(pbx: Pbx) -> None:
    out, inc = _answered(pbx)
    assert pbx.server.stop() == 0  # SIGTERM: a clean exit ...
    out.wait_state("DISCONNECTED", 5)  # ... after a BYE to both phones
    inc.wait_state("DISCONNECTED", 5)
