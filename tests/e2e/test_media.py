"""Media features of relayed calls with real PJSIP phones: music on hold heard by the held
party (and not the holder's audio), and a recorded call holding both parties' tones."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from .conftest import Pbx, Server
from .phone import Phone, PhoneCall, PjEndpoint, analyse_tone, listen

pytestmark = pytest.mark.e2e

RECORDED = """
[extensions."1004"]
name = "Dora Grabada"
password = "secret1004"
record = "all"
"""


def _call(
    pbx: Pbx, caller: str, callee: str, password: str | None = None
) -> tuple[PhoneCall, PhoneCall]:
    a = pbx.phone(caller, password=password)
    b = pbx.phone(callee)
    out = a.call(pbx.uri(callee))
    inc = b.wait_incoming(10)
    inc.answer(200)
    out.wait_state("CONFIRMED", 10)
    inc.wait_media(5)
    out.wait_media(5)
    return out, inc


def _band(path: str, hz: float) -> tuple[float, float]:
    """(share of the energy within 25 Hz of ``hz``, RMS) of a recording."""
    x, rate = sf.read(path, dtype="float64", always_2d=False)
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x)))) ** 2
    freqs = np.fft.rfftfreq(len(x), 1.0 / rate)
    share = float(spec[np.abs(freqs - hz) <= 25].sum() / max(spec.sum(), 1e-30))
    return share, float(np.sqrt((x**2).mean()))


def test_held_party_hears_music_then_the_caller_again(
    ep: PjEndpoint, pbx: Pbx, tmp_path: Path
) -> None:
    out, inc = _call(pbx, "1001", "1002")
    out.play_tone(700)
    out.hold()
    out.wait_media_status("LOCAL_HOLD", 5)
    held = str(tmp_path / "held.wav")
    inc.wait_media_status("REMOTE_HOLD", 5)
    listen(ep, [(inc, held)], seconds=2.0, settle=0.5)
    share, rms = _band(held, 700)
    assert rms > 0.01, "the held party hears silence, not music"
    assert share < 0.1, f"the held party still hears the holder's tone ({share:.2f})"
    assert "put on hold: music on hold" in pbx.server.log_text()
    out.unhold()
    out.wait_media_status("ACTIVE", 5)
    inc.wait_media(5)
    out.play_tone(700)
    back = str(tmp_path / "back.wav")
    listen(ep, [(inc, back)], seconds=1.5, settle=0.5)
    result = analyse_tone(back, 700)
    assert result["ok"], f"no audio from the caller after resume: {result}"


def test_recording_holds_both_parties(
    ep: PjEndpoint,
    server_factory: Callable[..., Server],
    phone_factory: Callable[..., Phone],
    tmp_path: Path,
) -> None:
    server = server_factory(extra=RECORDED)
    pbx = Pbx(server, phone_factory)
    out, inc = _call(pbx, "1004", "1002", password="secret1004")
    out.play_tone(500)
    inc.play_tone(900)
    ep.sleep(2.0)
    out.hangup()
    inc.wait_state("DISCONNECTED", 5)
    ep.sleep(0.3)
    (path,) = list((server.config_path.parent / "state" / "recordings").rglob("*.wav"))
    assert f"recording to {path}" in server.log_text()
    x, rate = sf.read(str(path), dtype="float64")
    assert x.shape[1] == 2 and 1.5 < len(x) / rate < 3.5
    for channel, hz in ((0, 500), (1, 900)):
        part = x[int(0.5 * rate) :, channel]
        spec = np.abs(np.fft.rfft(part)) ** 2
        freqs = np.fft.rfftfreq(len(part), 1 / rate)
        assert abs(freqs[np.argmax(spec)] - hz) < 15, (channel, freqs[np.argmax(spec)])
