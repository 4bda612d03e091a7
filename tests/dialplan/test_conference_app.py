"""Conference rooms on fake sessions: PINs and administrators, waiting rooms, recordings.

Each caller is a fake session around a real ``MediaPort`` and ``Player``; the service, the
bridge, music on hold and the media engine are real, and the engine is ticked on the test's
clock. A caller's phone says a sine of its own frequency every tick (RTP into its port) and
types digits as RFC 4733 or SIP INFO would deliver them. What a caller hears is read off the
packets its port sent: sentences and music are frames of distinct constant levels, so each
packet is labelled exactly; mixed voices are told apart by an FFT. Recordings are real WAV
files under tmp_path, named from an injected wall clock.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import numpy as np
import numpy.typing as npt
import pytest
import soundfile
from media.signals import AMPLITUDE, level, sine

from softswitch.call.local import LocalSession
from softswitch.config.model import Conference
from softswitch.dialplan.conference import DIGIT_TIMEOUT, ConferenceApp, ConferenceService
from softswitch.media.codecs import FRAME_SAMPLES, PCMU
from softswitch.media.conference import ConferenceBridge
from softswitch.media.engine import MediaEngine
from softswitch.media.moh import MusicOnHold
from softswitch.media.player import Player
from softswitch.media.port import MediaPort
from softswitch.rtp.packet import RtpSender, parse_rtp

Pcm = npt.NDArray[np.int16]
TICK = 0.02
T0 = 1_768_473_005.0  # 2026-01-15 10:30:05 UTC
MUSIC = (1000, -2000, 3000, 5000)  # frame k of the music is MUSIC[k % 4]
LEVELS = {
    "conference_enter_pin": -1500,
    "conference_wrong_pin": -2500,
    "conference_alone": -3500,
    "conference_wait_admin": -4500,
    "conference_full": -5500,
    "goodbye": -6500,
}
SENTENCE_FRAMES = 3


def sentence(key: str) -> Pcm:
    return np.full(SENTENCE_FRAMES * FRAME_SAMPLES, LEVELS[key], np.int16)


def music(name: str) -> Pcm:
    return np.repeat(np.array(MUSIC, np.int16), FRAME_SAMPLES)


LABELS = {PCMU.encode(sentence(key)[:FRAME_SAMPLES]): key for key in LEVELS}
LABELS.update({PCMU.encode(np.full(FRAME_SAMPLES, v, np.int16)): "music" for v in MUSIC})
LABELS[PCMU.silence] = "-"


def room(**kw: Any) -> Conference:
    base = Conference(
        name="sala",
        number="3001",
        pin=None,
        admin_pin=None,
        max_members=10,
        record=False,
        announce_join_leave=False,
        moh_when_alone="default",
    )
    return replace(base, **kw)


class Caller:
    """What ConferenceApp uses of a LocalSession, and the phone at the other end."""

    def __init__(self, rig: Rig, call_id: str, freq: float) -> None:
        self.call_id = call_id
        self.rig = rig
        self.sent: list[bytes] = []
        self.port = MediaPort(self.sent.append, PCMU, 101, rig.clock)  # digits by events
        self.player = Player(self.port)
        self.voice = sine(freq, 8)  # whole periods of 500/900/1300 Hz
        self.phone = RtpSender(ssrc=len(rig.callers) + 1, sequence=0, timestamp=0)
        self.hung_up: list[str] = []
        self.app: ConferenceApp | None = None

    # --- what the app calls ----------------------------------------------------------------
    def stop_player(self) -> None:
        self.player.clear()
        self.rig.engine.remove(self.player)

    def hangup(self, why: str) -> None:
        self.hung_up.append(why)

    # --- the phone -------------------------------------------------------------------------
    def speak(self, n: int) -> None:
        payload = PCMU.encode(self.voice[n % len(self.voice)])
        self.port.receive(self.phone.packet(payload, PCMU.payload_type))

    def keys(self, digits: str) -> None:
        for digit in digits:
            self.port.digit(digit)

    def hang_up(self) -> None:  # as LocalSession.close
        self.rig.engine.remove(self.player)
        self.rig.callers.remove(self)
        assert self.app is not None
        self.app.stop()

    @property
    def state(self) -> str:
        assert self.app is not None
        return self.app.state.value

    def timeline(self) -> list[str]:
        """What it heard, one label per run of packets ("voices": a mix, not a sentence)."""
        runs: list[str] = []
        for data in self.sent:
            packet = parse_rtp(data)
            assert packet is not None
            label = LABELS.get(packet.payload, "voices")
            if not runs or runs[-1] != label:
                runs.append(label)
        return runs

    def heard(self, frames: int) -> Pcm:
        payloads = [p.payload for p in map(parse_rtp, self.sent[-frames:]) if p is not None]
        return np.concatenate([PCMU.decode(payload) for payload in payloads])


class Rig:
    def __init__(self, rooms: list[Conference], recordings: Path | None = None) -> None:
        self.t = 0.0
        self.n = 0
        self.wall = T0
        self.engine = MediaEngine()
        self.bridge = ConferenceBridge(lambda: None)
        moh = MusicOnHold(self.engine, music, lambda: None)
        self.service = ConferenceService(
            {r.name: r for r in rooms},
            self.bridge,
            self.engine,
            moh,
            sentence,
            recordings=recordings,
            wall=lambda: self.wall,
        )
        self.callers: list[Caller] = []

    def clock(self) -> float:
        return self.t

    def call(self, number: str, freq: float) -> Caller:
        app = self.service.app_for(number)
        assert app is not None
        caller = Caller(self, f"call-{len(self.callers) + 1}", freq)
        caller.app = app
        caller.port.on_digit = app.on_digit
        self.callers.append(caller)
        self.engine.add(caller.player)  # as LocalSession.start_player, at the answer
        app.start(cast(LocalSession, caller))
        return caller

    def tick(self, count: int = 1) -> None:
        for _ in range(count):
            self.t = self.n * TICK
            for caller in self.callers:
                caller.speak(self.n)
            self.engine.tick(self.n, self.t)
            self.n += 1


# -- PINs and administrators --------------------------------------------------------------------


def test_the_admin_pin_admits_an_organiser_and_the_pin_a_member(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rig = Rig([room(pin="1111", admin_pin="2222")])
    organiser, member = rig.call("3001", 500), rig.call("3001", 900)
    rig.tick(1)
    with caplog.at_level(logging.INFO, "softswitch.dialplan"):
        organiser.keys("2222")  # complete without "#": no other PIN goes on from it
        member.keys("1111")
    assert organiser.app is not None and organiser.app.admin and organiser.state == "in room"
    assert member.app is not None and not member.app.admin and member.state == "in room"
    assert caplog.messages == [
        "call-1 joined conference sala (1 in the room) as organiser",
        "call-2 joined conference sala (2 in the room)",
    ]
    rig.tick(12)
    assert level(organiser.heard(8), 900) == pytest.approx(AMPLITUDE, rel=0.03)
    assert level(member.heard(8), 500) == pytest.approx(AMPLITUDE, rel=0.03)


def test_members_wait_with_music_until_the_organiser_comes_then_everyone_is_mixed() -> None:
    rig = Rig([room(admin_pin="2222")])  # no member PIN: "#" lets a member in
    a, b = rig.call("3001", 500), rig.call("3001", 900)
    rig.tick(1)
    a.keys("#")
    rig.tick(2)
    b.keys("#")
    assert a.state == b.state == "in room" and rig.service.bridge.is_waiting("sala")
    rig.tick(20)
    # Told why, then the music: b's arrival did not cut a's sentence, and nobody's voice.
    assert a.timeline() == ["conference_enter_pin", "conference_wait_admin", "music"]
    assert b.timeline() == ["conference_enter_pin", "conference_wait_admin", "music"]
    organiser = rig.call("3001", 1300)
    rig.tick(1)
    organiser.keys("2222")
    assert not rig.service.bridge.is_waiting("sala")
    rig.tick(12)
    assert a.timeline()[-1] == b.timeline()[-1] == "voices"
    heard_a, heard_b, heard_o = a.heard(8), b.heard(8), organiser.heard(8)
    for heard, freqs in ((heard_a, (900, 1300)), (heard_b, (500, 1300)), (heard_o, (500, 900))):
        for freq in freqs:
            assert level(heard, freq) == pytest.approx(AMPLITUDE, rel=0.03)
    assert organiser.timeline() == ["conference_enter_pin", "voices"]  # no "alone"


def test_the_organiser_alone_is_told_so_and_members_then_join_straight_in() -> None:
    rig = Rig([room(admin_pin="2222")])
    organiser = rig.call("3001", 500)
    rig.tick(1)
    organiser.keys("2222")
    rig.tick(SENTENCE_FRAMES + 2)
    assert organiser.timeline() == ["conference_enter_pin", "conference_alone", "music"]
    member = rig.call("3001", 900)
    rig.tick(1)
    member.keys("#")
    rig.tick(12)
    assert "conference_wait_admin" not in member.timeline()
    assert level(member.heard(8), 500) == pytest.approx(AMPLITUDE, rel=0.03)
    organiser.hang_up()  # the last organiser leaves: the others stay, talking
    third = rig.call("3001", 1300)
    rig.tick(1)
    third.keys("#")
    rig.tick(12)
    assert not rig.service.bridge.is_waiting("sala")
    assert level(member.heard(8), 1300) == pytest.approx(AMPLITUDE, rel=0.03)


def test_a_pin_another_pin_goes_on_from_waits_for_the_hash_key() -> None:
    rig = Rig([room(pin="1234", admin_pin="123456")])
    member, organiser = rig.call("3001", 500), rig.call("3001", 900)
    rig.tick(1)
    member.keys("1234")
    assert member.state == "asking"  # it may be the start of the admin PIN
    member.keys("#")
    assert member.state == "in room" and member.app is not None and not member.app.admin
    organiser.keys("123456")
    assert organiser.state == "in room" and organiser.app is not None and organiser.app.admin


def test_an_empty_pin_is_a_wrong_try_when_members_have_a_pin() -> None:
    rig = Rig([room(pin="1234", admin_pin="5678")])
    caller = rig.call("3001", 500)
    rig.tick(1)
    caller.keys("#")
    assert caller.state == "leaving" and caller.app is not None and caller.app.tries == 1
    rig.tick(SENTENCE_FRAMES + 1)
    assert caller.state == "asking"  # "wrong PIN", then the prompt again
    for _ in range(2):
        caller.keys("#")
        rig.tick(SENTENCE_FRAMES + 1)
    rig.tick(SENTENCE_FRAMES + 1)
    assert caller.hung_up == ["conference"] and rig.bridge.members("sala") == 0


def test_silence_after_the_prompt_counts_as_hash_when_members_need_no_pin() -> None:
    rig = Rig([room(admin_pin="2222")])
    caller = rig.call("3001", 500)
    rig.tick(SENTENCE_FRAMES + 1)
    assert caller.state == "asking"
    rig.tick(round(DIGIT_TIMEOUT / TICK) - 1)
    assert caller.state == "asking"
    rig.tick(1)
    assert caller.state == "in room" and rig.service.bridge.is_waiting("sala")


# -- recording ----------------------------------------------------------------------------------


def test_a_recorded_room_writes_one_file_per_session_under_the_day(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    recordings = tmp_path / "recordings"
    rig = Rig([room(record=True, moh_when_alone=None)], recordings)
    with caplog.at_level(logging.INFO, "softswitch.media"):
        a, b = rig.call("3001", 500), rig.call("3001", 900)
        rig.tick(60)
        first = recordings / "2026/01/15/conference-sala-103005.wav"
        assert rig.bridge.recording("sala") == first
        live, rate = soundfile.read(str(first), dtype="int16")  # readable while live
        assert rate == 8000 and len(live) == 8000
        assert level(live[-1280:], 500) == pytest.approx(AMPLITUDE, rel=0.03)
        assert level(live[-1280:], 900) == pytest.approx(AMPLITUDE, rel=0.03)
        a.hang_up()
        b.hang_up()
        assert rig.bridge not in rig.engine
        rig.wall = T0 + 3600.0
        for freq in (500.0, 1300.0):
            rig.call("3001", freq)
        rig.tick(10)
    second = recordings / "2026/01/15/conference-sala-113005.wav"
    assert set(recordings.rglob("*.wav")) == {first, second}
    assert soundfile.info(str(first)).frames == 60 * FRAME_SAMPLES
    assert f"conference sala recording to {first}" in caplog.text
    assert f"conference sala recording ended: {first} (1.2 s)" in caplog.text
    assert f"conference sala recording to {second}" in caplog.text


def test_without_a_recordings_directory_nothing_is_recorded(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, "softswitch.dialplan"):
        rig = Rig([room(record=True)])
    assert "conference sala not recorded: no recordings directory" in caplog.text
    rig.call("3001", 500)
    rig.call("3001", 900)
    rig.tick(10)
    assert rig.bridge.members("sala") == 2 and rig.bridge.recording("sala") is None
