"""Voicemail with real PJSIP phones and a real SMTP server: a busy extension's caller leaves a
message (a 700 Hz tone, ended with #); the mail arrives with the WAV attached and the tone in
it; the extension's phone gets the message-waiting NOTIFY; with the PIN, *97 plays it back."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from mailserver import Collector

from softswitch.sip.mwi import parse_message_summary

from .conftest import Pbx, Server
from .phone import Phone, PjEndpoint, analyse_tone, listen

pytestmark = pytest.mark.e2e


def _voicemail(port: int) -> str:
    return f"""
[email]
server = "smtp://127.0.0.1:{port}"
from = "centralita@example.com"

[extensions."1002".voicemail]
pin = "2002"
email = "bruno@example.com"
attach = true
"""


def test_busy_extension_takes_a_message_mailed_with_its_tone_and_lights_the_lamp(
    ep: PjEndpoint,
    server_factory: Callable[..., Server],
    phone_factory: Callable[..., Phone],
    smtp: tuple[Collector, int],
    tmp_path: Path,
) -> None:
    mail, port = smtp
    server = server_factory(extra=_voicemail(port))
    pbx = Pbx(server, phone_factory)
    caller, bruno = pbx.phone("1001"), pbx.phone("1002")
    call = caller.call(pbx.uri("1002"))
    ringing = bruno.wait_incoming(10)
    ringing.answer(486)  # busy: the call goes to his voicemail
    call.wait_state("CONFIRMED", 10)
    call.wait_media(5)
    call.send_dtmf("#")  # skips the greeting: straight to the beep
    ep.sleep(1.5)
    call.play_tone(700)
    ep.sleep(3.0)
    call.stop_tone()
    call.send_dtmf("#")  # ends the message
    call.wait_state("DISCONNECTED", 15)  # "message saved, goodbye", then the switch hangs up

    ep.wait_for(lambda: mail.envelopes, 15, "the voicemail mail")
    message = mail.received()
    assert message["To"] == "bruno@example.com"
    attachments = list(message.iter_attachments())
    assert len(attachments) == 1
    wav = tmp_path / "attached.wav"
    wav.write_bytes(attachments[0].get_content())
    heard = analyse_tone(str(wav), 700)
    assert heard["ok"], f"the mailed message does not hold the caller's tone: {heard}"
    assert 2.0 <= float(heard["tone_seconds"]) <= 4.5

    def lamp_on() -> bool:
        for notify in bruno.mwi:
            summary = parse_message_summary(notify.split("\r\n\r\n", 1)[1].encode())
            voice = summary.voice
            if summary.waiting and voice is not None and voice.new == 1:
                return True
        return False

    ep.wait_for(lamp_on, 10, "an MWI NOTIFY saying 1 new message")

    # Bruno listens with his PIN: the message plays (the 700 Hz tone), and 7 deletes it.
    listening = bruno.call(pbx.uri("*97"))
    listening.wait_state("CONFIRMED", 10)
    listening.wait_media(5)
    ep.sleep(1.0)
    listening.send_dtmf("2002#")
    recorded = str(tmp_path / "played.wav")
    ep.sleep(2.5)  # "you have one new message"
    listen(ep, [(listening, recorded)], seconds=4.0, settle=0.0)
    assert analyse_tone(recorded, 700, skip_s=0.0)["band_ratio"] > 0.2, "message not played"
    listening.send_dtmf("7")

    def lamp_off() -> bool:
        last = bruno.mwi[-1].split("\r\n\r\n", 1)[1].encode()
        voice = parse_message_summary(last).voice
        return voice is not None and voice.new == 0 and voice.old == 0

    ep.wait_for(lamp_off, 10, "an MWI NOTIFY saying the box is empty")
    listening.hangup()
