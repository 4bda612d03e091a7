"""What the switch does to a relayed call's media, over real sockets: music on hold for the
held party, transcoding between a PCMU phone and a PCMA phone, and call recording."""

from __future__ import annotations

import itertools
import time
from typing import TYPE_CHECKING

import numpy as np
import pytest
import soundfile as sf
from conftest import Phones
from sipclient import RtpSocket, make_sdp, new_tag, read_sdp, rtp_packet
from test_loopback_calls import Call, answer, establish, ring

from softswitch.media.codecs import PCMA, PCMU

if TYPE_CHECKING:
    from conftest import SwitchFactory


def _tone(hz: float, n: int, start: int = 0) -> np.ndarray:
    t = (np.arange(n) + start) / 8000.0
    return (8000 * np.sin(2 * np.pi * hz * t)).astype(np.int16)


def _reinvite(p: Phones, call: Call, direction: str, version: int) -> None:
    reinvite = p.caller.in_dialog(
        call.a, "INVITE", body=make_sdp(p.caller_rtp.port, direction, version)
    )
    p.caller.send(reinvite)
    relayed = p.callee.expect_request("INVITE", call_id=call.incoming.call_id)
    answer_dir = "recvonly" if direction == "sendonly" else "sendrecv"
    p.callee.reply(relayed, 200, body=make_sdp(p.callee_rtp.port, answer_dir, version))
    assert p.caller.response(reinvite).status == 200
    p.caller.ack_2xx(call.a, cseq=reinvite.cseq.number)
    p.callee.expect_request("ACK", call_id=call.incoming.call_id)


def test_held_party_hears_music_and_not_the_holder(phones: Phones) -> None:
    p = phones
    call = establish(p)
    _reinvite(p, call, "sendonly", 2)
    # The caller's audio is not relayed while the callee is on hold...
    p.caller_rtp.send(
        rtp_packet(1, 0, 0xAAAA, b"\x11" * 160), (call.a_media.host, call.a_media.port)
    )
    music = p.callee_rtp.receive(25, timeout=2.0)
    assert len(music) == 25, "no music on hold reached the held party"
    ssrcs = {packet[8:12] for packet in music}
    assert len(ssrcs) == 1 and b"\x00\x00\xaa\xaa" not in ssrcs
    assert all(packet[1] & 0x7F == 0 for packet in music)  # PCMU, the callee's codec
    seqs = [int.from_bytes(packet[2:4], "big") for packet in music]
    assert all((b - a) & 0xFFFF == 1 for a, b in itertools.pairwise(seqs))
    pcm = np.concatenate([PCMU.decode(packet[12:]) for packet in music])
    assert np.sqrt(np.mean(pcm.astype(np.float64) ** 2)) > 300, "the music is silent"
    # ...and after resume the relay is back, untouched.
    _reinvite(p, call, "sendrecv", 3)
    time.sleep(0.1)
    p.callee_rtp.receive(100, timeout=0.2)  # music still in flight when resume arrived
    to_callee = [rtp_packet(100 + i, 160 * i, 0x1111, bytes([i]) * 160) for i in range(5)]
    for packet in to_callee:
        p.caller_rtp.send(packet, (call.a_media.host, call.a_media.port))
    assert p.callee_rtp.receive(5) == to_callee


def _only(sdp: bytes, pt: str, name: str) -> bytes:
    lines = [line for line in sdp.split(b"\r\n") if not line.startswith(b"a=rtpmap:")]
    out = []
    for line in lines:
        if line.startswith(b"m=audio"):
            m_line = b" ".join(line.split(b" ")[:3]) + f" {pt} 101".encode()
            out += [
                m_line,
                f"a=rtpmap:{pt} {name}/8000".encode(),
                b"a=rtpmap:101 telephone-event/8000",
            ]
        else:
            out.append(line)
    return b"\r\n".join(out)


def test_pcmu_caller_and_pcma_callee_are_transcoded(phones: Phones) -> None:
    p = phones
    invite = p.caller.invite("1002", _only(make_sdp(p.caller_rtp.port), "0", "PCMU"))
    assert p.caller.response(invite, final=False).status == 100
    incoming = p.callee.expect_request("INVITE")
    offer = read_sdp(incoming.body)
    assert b"a=rtpmap:8 PCMA/8000" in incoming.body, "the callee is not offered PCMA"
    tag = new_tag()
    p.callee.reply(incoming, 200, to_tag=tag, body=_only(make_sdp(p.callee_rtp.port), "8", "PCMA"))
    ok = p.caller.response(invite)
    assert ok.status == 200
    assert b"m=audio" in ok.body and b" 0 101" in ok.body and b"PCMA" not in ok.body
    a = p.caller.uac_dialog(invite, ok)
    p.caller.ack_2xx(a)
    p.callee.expect_request("ACK", call_id=incoming.call_id)
    a_media = read_sdp(ok.body)
    voice = _tone(700, 160)
    p.caller_rtp.send(rtp_packet(5, 800, 0x1234, PCMU.encode(voice)), (a_media.host, a_media.port))
    (got,) = p.callee_rtp.receive(1)
    assert got[1] & 0x7F == 8 and got[2:12] == rtp_packet(5, 800, 0x1234, b"")[2:12]
    assert np.max(np.abs(PCMA.decode(got[12:]).astype(int) - voice.astype(int))) < 300
    back = _tone(1300, 160)
    event = rtp_packet(9, 1600, 0x5678, b"\x05\x0a\x00\xa0", pt=101)
    for packet in (rtp_packet(8, 1440, 0x5678, PCMA.encode(back), pt=8), event):
        p.callee_rtp.send(packet, (offer.host, offer.port))
    voice_back, event_back = p.caller_rtp.receive(2)
    assert voice_back[1] & 0x7F == 0
    assert (
        np.max(np.abs(PCMU.decode(voice_back[12:]).astype(int) - back.astype(int))) < 600
    )  # A then µ quantisation
    assert event_back == event  # telephone-event passes untouched


@pytest.mark.parametrize("stereo", [True, False])
def test_recorded_call_holds_both_parties(make_switch: SwitchFactory, stereo: bool) -> None:
    sw = make_switch(
        server={"record_stereo": stereo}, extension_keys={"1001": {"record": "outbound"}}
    )
    caller, callee = make_switch.peer(sw, "1001"), make_switch.peer(sw, "1002")
    p = Phones(sw, caller, callee, RtpSocket(), RtpSocket())
    try:
        assert p.callee.register().status == 200
        call = answer(p, *ring(p))
        a_dest = (call.a_media.host, call.a_media.port)
        b_dest = (call.b_media.host, call.b_media.port)
        for i in range(100):  # 2 s, paced like a phone
            start = i * 160
            p.caller_rtp.send(
                rtp_packet(i, start, 0xA, PCMU.encode(_tone(500, 160, start))), a_dest
            )
            p.callee_rtp.send(
                rtp_packet(i, start, 0xB, PCMU.encode(_tone(900, 160, start))), b_dest
            )
            time.sleep(0.02)
        bye = p.caller.in_dialog(call.a, "BYE")
        p.caller.send(bye)
        assert p.caller.response(bye).status == 200
        state = sw.config_path.parent / "state" / "recordings"
        (path,) = list(state.rglob("*.wav"))
        x, rate = sf.read(path, dtype="float64", always_2d=True)
        assert rate == 8000 and x.shape[1] == (2 if stereo else 1) and 1.5 < len(x) / rate < 2.6
        freqs = np.fft.rfftfreq(len(x), 1 / rate)
        if stereo:  # the caller on the left, the callee on the right
            for channel, hz in ((0, 500), (1, 900)):
                spec = np.abs(np.fft.rfft(x[:, channel])) ** 2
                assert abs(freqs[np.argmax(spec)] - hz) < 10, (channel, freqs[np.argmax(spec)])
        else:  # one channel: both tones, and most of the energy is theirs
            spec = np.abs(np.fft.rfft(x[:, 0])) ** 2
            near = [spec[np.abs(freqs - hz) < 10].sum() / spec.sum() for hz in (500, 900)]
            assert min(near) > 0.2 and sum(near) > 0.9, near
    finally:
        p.caller_rtp.close()
        p.callee_rtp.close()


def test_inactive_hold_is_offered_as_sendonly_and_answered_inactive(phones: Phones) -> None:
    p = phones
    call = establish(p)
    reinvite = p.caller.in_dialog(call.a, "INVITE", body=make_sdp(p.caller_rtp.port, "inactive", 2))
    p.caller.send(reinvite)
    relayed = p.callee.expect_request("INVITE", call_id=call.incoming.call_id)
    assert read_sdp(relayed.body).direction == "sendonly"  # the switch sends it music
    p.callee.reply(relayed, 200, body=make_sdp(p.callee_rtp.port, "recvonly", 2))
    ok = p.caller.response(reinvite)
    assert ok.status == 200 and read_sdp(ok.body).direction == "inactive"
    p.caller.ack_2xx(call.a, cseq=reinvite.cseq.number)
    assert len(p.callee_rtp.receive(10, timeout=2.0)) == 10
