"""Run-time failures a call survives: a prompt file removed after the server started is
logged and skipped, and the call goes on to its next step."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import soundfile
from sipclient import RtpSocket, make_sdp

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
        sdp = make_sdp(rtp.port).replace(b"127.0.0.1", TRUNK_HOST.encode())
        invite = trunk.invite("+34910000040", sdp, authenticate=False)
        ok = trunk.response(invite)
        assert ok.status == 200
        trunk.ack_2xx(trunk.uac_dialog(invite, ok))
        incoming = callee.expect_request("INVITE", timeout=5.0)  # the next step rings 1002
        assert "+34611222333" in incoming.from_.uri
    finally:
        rtp.close()
