"""Run-time failures a call survives: a prompt file removed after the server started, a trunk
that never answers; each is logged and passed over, and the call goes on to its next step."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import soundfile
from sipclient import RtpSocket

if TYPE_CHECKING:
    from pathlib import Path

    from conftest import SwitchFactory

TRUNK_HOST = "127.0.0.2"


def test_a_missing_prompt_file_is_skipped_and_the_call_goes_on(
    make_switch: SwitchFactory, tmp_path: Path
) -> None:
    wav = tmp_path / "saludo.wav"
    tone = (8000 * np.sin(2 * np.pi * 440 * np.arange(8000) / 8000)).astype(np.int16)
    soundfile.write(wav, tone, 8000, subtype="PCM_16")
    extra = f"""
[trunks.proveedor]
host = "{TRUNK_HOST}"
inbound_from = ["{TRUNK_HOST}/32"]

[prompts.saludo]
file = "{wav}"

[numbers."+34910000040"]
action = ["prompt:saludo", "extension:1002"]
"""
    sw = make_switch(extra=extra, server={"timezone": "UTC"})
    wav.unlink()  # gone after the check and the warm-up
    trunk = make_switch.peer(sw, "+34611222333", host=TRUNK_HOST)
    callee = make_switch.peer(sw, "1002")
    assert callee.register().status == 200
    rtp = RtpSocket(TRUNK_HOST)
    try:
        _invite, _dialog, _ok = trunk.answered_call("+34910000040", rtp.port)
        incoming = callee.expect_request("INVITE", timeout=5.0)  # the next step rings 1002
        assert "+34611222333" in incoming.from_.uri
    finally:
        rtp.close()


def test_an_unreachable_trunk_is_passed_over_and_the_call_goes_on(
    make_switch: SwitchFactory,
) -> None:
    silent = RtpSocket("127.0.0.3")  # a "provider" that never answers: a socket nobody reads
    extra = f"""
[trunks.proveedor]
host = "{TRUNK_HOST}"
inbound_from = ["{TRUNK_HOST}/32"]

[trunks.caido]
host = "127.0.0.3"
port = {silent.port}

[[outbound_routes]]
match = "+34[6-9]XXXXXXXX"
trunk = "caido"

[external_destinations.movil]
code = "2001"
number = "+34600111222"

[numbers."+34910000041"]
action = "group:movil"

[ring_groups.movil]
members = ["2001"]
ring_time = 2
on_failure = "extension:1002"
"""
    sw = make_switch(extra=extra, server={"timezone": "UTC"})
    trunk = make_switch.peer(sw, "+34611222333", host=TRUNK_HOST)
    callee = make_switch.peer(sw, "1002")
    assert callee.register().status == 200
    rtp = RtpSocket(TRUNK_HOST)
    try:
        _invite, _dialog, _ok = trunk.answered_call("+34910000041", rtp.port)
        assert silent.receive(1, timeout=3.0), "the INVITE did not go to the silent trunk"
        incoming = callee.expect_request("INVITE", timeout=6.0)  # then on_failure rings 1002
        assert "+34611222333" in incoming.from_.uri
    finally:
        rtp.close()
        silent.close()
