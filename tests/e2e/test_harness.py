"""Proves the harness itself, with no softswitch: two pjsua2 phones call each other directly
(peer to peer on 127.0.0.1), and the tone analysis and DTMF capture see what was sent."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from .phone import Phone, PhoneCall, PjEndpoint, analyse_tone, listen

pytestmark = pytest.mark.e2e

A_TO_B_HZ = 700
B_TO_A_HZ = 1300


def _connect(phone_factory: Callable[..., Phone]) -> tuple[PhoneCall, PhoneCall]:
    alice = phone_factory("alice")
    bob = phone_factory("bob")
    out = alice.call(bob.uri)
    inc = bob.wait_incoming(5)
    inc.answer(200)
    out.wait_state("CONFIRMED", 5)
    inc.wait_state("CONFIRMED", 5)
    out.wait_media(5)
    inc.wait_media(5)
    return out, inc


def test_tones_both_ways_peer_to_peer(
    ep: PjEndpoint, phone_factory: Callable[..., Phone], tmp_path: Path
) -> None:
    out, inc = _connect(phone_factory)
    out.play_tone(A_TO_B_HZ)
    inc.play_tone(B_TO_A_HZ)
    at_a, at_b = str(tmp_path / "at_a.wav"), str(tmp_path / "at_b.wav")
    listen(ep, [(out, at_a), (inc, at_b)])
    heard_b = analyse_tone(at_b, A_TO_B_HZ)
    heard_a = analyse_tone(at_a, B_TO_A_HZ)
    assert heard_b["ok"], heard_b
    assert heard_a["ok"], heard_a
    assert heard_b["tone_seconds"] > 1.0
    # The analysis must also say no when the tone is not the expected one.
    assert not analyse_tone(at_b, B_TO_A_HZ)["ok"]


def test_silence_is_not_a_tone(
    ep: PjEndpoint, phone_factory: Callable[..., Phone], tmp_path: Path
) -> None:
    _, inc = _connect(phone_factory)
    path = str(tmp_path / "silence.wav")
    listen(ep, [(inc, path)], seconds=1.0)
    res = analyse_tone(path, A_TO_B_HZ)
    assert not res["ok"], res
    assert res["seconds"] > 0.5  # the recorder did run


def test_rfc4733_dtmf_peer_to_peer(phone_factory: Callable[..., Phone]) -> None:
    out, inc = _connect(phone_factory)
    out.send_dtmf("123#")
    assert inc.wait_dtmf(4, 5) == "123#"
    assert {m for _, m in inc.dtmf} == {"rfc2833"}
    inc.send_dtmf("9*")
    assert out.wait_dtmf(2, 5) == "9*"


def test_hold_and_resume_peer_to_peer(
    ep: PjEndpoint, phone_factory: Callable[..., Phone], tmp_path: Path
) -> None:
    out, inc = _connect(phone_factory)
    out.play_tone(A_TO_B_HZ)
    out.hold()
    out.wait_media_status("LOCAL_HOLD")
    inc.wait_media_status("REMOTE_HOLD")
    out.unhold()
    out.wait_media_status("ACTIVE")
    inc.wait_media_status("ACTIVE")
    out.play_tone(A_TO_B_HZ)  # the stream may have been rebuilt: reconnect the tone
    resumed = str(tmp_path / "resumed.wav")
    listen(ep, [(inc, resumed)])
    heard = analyse_tone(resumed, A_TO_B_HZ)
    assert heard["ok"], heard


def test_hangup_reaches_the_peer(phone_factory: Callable[..., Phone]) -> None:
    out, inc = _connect(phone_factory)
    inc.hangup()
    out.wait_state("DISCONNECTED", 5)
    inc.wait_state("DISCONNECTED", 5)
    assert out.last_code == 200  # a BYE-ended call keeps its 200
