"""Conference rooms with real PJSIP phones: the N-1 mix heard by FFT, the spoken PIN prompt,
barge-in by a DTMF digit, wrong PINs, and mute."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from .conftest import Pbx, Server
from .phone import Phone, PhoneCall, PjEndpoint, listen

pytestmark = pytest.mark.e2e

TONES = {"1001": 500, "1002": 900, "1003": 1300}
ROOMS = """
[conferences.sala]
number = "3001"
announce_join_leave = false
moh_when_alone = ""

[conferences.privada]
number = "3002"
pin = "4321"
"""


@pytest.fixture
def rooms(server_factory: Callable[..., Server], phone_factory: Callable[..., Phone]) -> Pbx:
    return Pbx(server_factory(extra=ROOMS), phone_factory)


def band_power(x: np.ndarray, rate: int, hz: float, tol: float = 25.0) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x)))) ** 2
    freqs = np.fft.rfftfreq(len(x), 1.0 / rate)
    return float(spec[np.abs(freqs - hz) <= tol].sum() / max(spec.sum(), 1e-30))


def read(path: str) -> tuple[np.ndarray, int]:
    x, rate = sf.read(path, dtype="float64", always_2d=False)
    return (x.mean(axis=1) if x.ndim > 1 else x), int(rate)


def join(pbx: Pbx, number: str, room: str = "3001") -> PhoneCall:
    call = pbx.phone(number).call(pbx.uri(room))
    call.wait_state("CONFIRMED", 10)
    call.wait_media(5)
    return call


def test_each_member_hears_the_other_two_and_not_itself(
    ep: PjEndpoint, rooms: Pbx, tmp_path: Path
) -> None:
    calls = {number: join(rooms, number) for number in TONES}
    for number, call in calls.items():
        call.play_tone(TONES[number])
    paths = {number: str(tmp_path / f"heard_{number}.wav") for number in TONES}
    listen(ep, [(calls[n], paths[n]) for n in TONES], seconds=2.0, settle=1.0)
    for number, path in paths.items():
        x, rate = read(path)
        assert np.sqrt((x**2).mean()) > 0.01, f"{number} heard silence"
        for other, hz in TONES.items():
            share = band_power(x, rate, hz)
            if other == number:
                assert share < 0.02, f"{number} hears its own {hz} Hz ({share:.3f})"
            else:
                assert share > 0.2, f"{number} does not hear {other}'s {hz} Hz ({share:.3f})"
    assert "joined conference sala (3 in the room)" in rooms.server.log_text()


def test_muted_member_is_not_heard_but_still_hears(
    ep: PjEndpoint, rooms: Pbx, tmp_path: Path
) -> None:
    a, b = join(rooms, "1001"), join(rooms, "1002")
    a.play_tone(TONES["1001"])
    b.play_tone(TONES["1002"])
    a.send_dtmf("*")
    ep.wait_for(lambda: "muted in sala" in rooms.server.log_text(), 5, "mute logged")
    at_a, at_b = str(tmp_path / "a.wav"), str(tmp_path / "b.wav")
    listen(ep, [(a, at_a), (b, at_b)], seconds=1.5, settle=0.5)
    xb, rate = read(at_b)
    assert np.sqrt((xb**2).mean()) < 0.005, "the muted member is still heard"
    xa, rate = read(at_a)
    assert band_power(xa, rate, TONES["1002"]) > 0.5, "the muted member hears nothing"


def _speech_stats(x: np.ndarray, rate: int) -> tuple[float, float]:
    """(share of energy in 300-3400 Hz, seconds of 20 ms frames louder than silence)."""
    spec = np.abs(np.fft.rfft(x)) ** 2
    freqs = np.fft.rfftfreq(len(x), 1.0 / rate)
    voice = float(spec[(freqs >= 300) & (freqs <= 3400)].sum() / max(spec.sum(), 1e-30))
    frame = rate // 50
    n = len(x) // frame
    energy = np.sqrt((x[: n * frame].reshape(n, frame) ** 2).mean(axis=1))
    return voice, float((energy > 0.003).sum() * 0.02)


def test_pin_prompt_is_speech_and_a_digit_stops_it(
    ep: PjEndpoint, rooms: Pbx, tmp_path: Path
) -> None:
    first = join(rooms, "1001", "3002")
    whole = str(tmp_path / "prompt.wav")
    listen(ep, [(first, whole)], seconds=6.0, settle=0.0)
    x, rate = read(whole)
    voice, spoken = _speech_stats(x, rate)
    assert voice > 0.8, f"prompt energy outside the voice band: {voice:.2f}"
    # "Introduzca el PIN de la conferencia y pulse la tecla almohadilla": about 4 s of speech.
    assert 2.0 < spoken < 5.5, f"implausible prompt length: {spoken:.2f} s"
    first.hangup()

    second = join(rooms, "1002", "3002")
    heard = str(tmp_path / "barge.wav")
    second.record(heard)
    ep.sleep(1.5)
    second.send_dtmf("9")  # a wrong first digit: the PIN is not complete yet
    ep.sleep(2.5)
    second.stop_record()
    x, rate = read(heard)
    before = x[int(0.3 * rate) : int(1.4 * rate)]
    after = x[int(2.3 * rate) : int(3.8 * rate)]  # the prompt would still be speaking here
    assert np.sqrt((before**2).mean()) > 0.01, "no prompt before the digit"
    assert np.sqrt((after**2).mean()) < 0.003, "the prompt went on after the digit"


def test_right_pin_joins_and_three_wrong_pins_hang_up(ep: PjEndpoint, rooms: Pbx) -> None:
    good = join(rooms, "1001", "3002")
    ep.sleep(0.5)
    good.send_dtmf("4321")
    ep.wait_for(
        lambda: "joined conference privada" in rooms.server.log_text(), 8, "joined after PIN"
    )
    bad = join(rooms, "1002", "3002")
    for _ in range(3):
        ep.sleep(0.5)
        bad.send_dtmf("1#")
        ep.sleep(2.0)  # "wrong PIN" is spoken before the next try
    bad.wait_state("DISCONNECTED", 10)
    assert rooms.server.log_text().count("wrong PIN for privada") == 3
    assert good.state == "CONFIRMED"


def test_pin_sent_as_sip_info_is_accepted(ep: PjEndpoint, rooms: Pbx) -> None:
    call = join(rooms, "1003", "3002")
    ep.sleep(0.5)
    call.send_dtmf("4321", method="info")
    ep.wait_for(
        lambda: "joined conference privada" in rooms.server.log_text(), 8, "joined by INFO PIN"
    )
    assert call.state == "CONFIRMED"
