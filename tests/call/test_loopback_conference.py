"""A conference PIN typed by a phone without RFC 4733: the digits arrive as tones in the
audio and the switch hears them (in-band detection), over real sockets."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import numpy as np
from sipclient import RtpSocket, read_sdp, rtp_packet

from softswitch.media.codecs import PCMU

if TYPE_CHECKING:
    from conftest import SwitchFactory

ROOM = """
[conferences.privada]
number = "3002"
pin = "4321"
"""
KEYS = {"1": (697, 1209), "2": (697, 1336), "3": (697, 1477), "4": (770, 1209)}


def _pcmu_only_sdp(port: int) -> bytes:
    lines = [
        "v=0",
        "o=peer 1 1 IN IP4 127.0.0.1",
        "s=-",
        "c=IN IP4 127.0.0.1",
        "t=0 0",
        f"m=audio {port} RTP/AVP 0",
        "a=rtpmap:0 PCMU/8000",
        "a=sendrecv",
    ]
    return ("\r\n".join(lines) + "\r\n").encode()


def _frames(digits: str) -> list[np.ndarray]:
    """20 ms frames: each key 100 ms of its two tones, then 100 ms of silence."""
    out: list[np.ndarray] = []
    t = np.arange(800) / 8000.0
    for digit in digits:
        low, high = KEYS[digit]
        tone = 6000 * (np.sin(2 * np.pi * low * t) + np.sin(2 * np.pi * high * t)) / 2
        samples = np.concatenate([tone, np.zeros(800)]).astype(np.int16)
        out += list(samples.reshape(-1, 160))
    return out


def test_in_band_pin_joins_the_room(make_switch: SwitchFactory) -> None:
    sw = make_switch(extra=ROOM)
    caller = make_switch.peer(sw, "1001")
    rtp = RtpSocket()
    try:
        invite = caller.invite("3002", _pcmu_only_sdp(rtp.port))
        ok = caller.response(invite)
        assert ok.status == 200
        assert b"telephone-event" not in ok.body
        caller.ack_2xx(caller.uac_dialog(invite, ok))
        media = read_sdp(ok.body)
        prompt = rtp.receive(10, timeout=2.0)  # the PIN prompt is playing
        assert len(prompt) == 10
        for i, frame in enumerate(_frames("4321")):
            packet = rtp_packet(i, 160 * i, 0x77, PCMU.encode(frame))
            rtp.send(packet, (media.host, media.port))
            time.sleep(0.02)
        app = sw.app
        assert app is not None
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline:  # the switch's loop runs on its own thread
            if sw.call(lambda: app.media.bridge.members("privada")) == 1:
                break
            time.sleep(0.05)
        assert sw.call(lambda: app.media.bridge.members("privada")) == 1
    finally:
        rtp.close()
