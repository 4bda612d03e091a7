"""ConferenceBridge, sans-IO: real ports fed RTP, the bridge ticked, each port's packets decoded.

What a participant hears is read back from the packets its port sent: an FFT tells which
speakers' tones are in it, and tones, music and announcements (which need no mixing when
nobody speaks) are compared payload for payload. Rooms that wait for an administrator and
recorded rooms are here too: recordings are real WAV files under tmp_path, named from an
injected wall clock, read back by soundfile and by their header bytes while the room is live.
"""

from __future__ import annotations

import logging
import struct
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
import soundfile

from softswitch.media.codecs import FRAME_SAMPLES, G711, PCMA, PCMU
from softswitch.media.conference import ConferenceBridge, Participant
from softswitch.media.conference_recording import ConferenceRecorder
from softswitch.media.moh import MohStream
from softswitch.media.port import MediaPort
from softswitch.media.recorder import HEADER_SIZE
from softswitch.media.tones import tone
from softswitch.rtp.packet import RtpPacket, RtpSender, build_rtp, parse_rtp

from .signals import AMPLITUDE, Clock, level, sine

Pcm = npt.NDArray[np.int16]
EVENT_PT = 101


class Phone:
    """One participant's phone: sends RTP into its port, decodes what the port sends back."""

    def __init__(self, clock: Clock, codec: G711 = PCMU, *, event_pt: int | None = None) -> None:
        self.codec = codec
        self.sent: list[bytes] = []
        self.port = MediaPort(self.sent.append, codec, event_pt, clock)
        self.port.rtp = RtpSender(ssrc=id(self) & 0xFFFFFFFF, sequence=0, timestamp=0)
        self.voice: Pcm | None = None  # frames it says, one per tick
        self._seq = 0

    def speak(self, k: int) -> None:
        if self.voice is None:
            return
        payload = self.codec.encode(self.voice[k % len(self.voice)])
        data = build_rtp(self.codec.payload_type, self._seq, 160 * self._seq, 99, payload)
        self._seq += 1
        self.port.receive(data)

    def packets(self) -> list[RtpPacket]:
        packets = [parse_rtp(data) for data in self.sent]
        return [p for p in packets if p is not None]

    def payloads(self) -> list[bytes]:
        return [p.payload for p in self.packets()]

    def heard(self, last: int) -> Pcm:
        """The last ``last`` frames it received, decoded and joined."""
        return np.concatenate([self.codec.decode(p) for p in self.payloads()[-last:]])


class Rig:
    def __init__(self) -> None:
        self.clock = Clock()
        self.wakes = 0
        self.bridge = ConferenceBridge(self.wake)
        self.phones: list[Phone] = []
        self.n = 0

    def wake(self) -> None:
        self.wakes += 1

    def phone(self, codec: G711 = PCMU, *, freq: float | None = None) -> Phone:
        phone = Phone(self.clock, codec)
        if freq is not None:
            phone.voice = sine(freq, 8)  # 8 frames: whole periods of 500/900/1300 Hz
        self.phones.append(phone)
        return phone

    def tick(self, count: int = 1) -> None:
        for _ in range(count):
            self.clock.t = self.n * 0.02
            for phone in self.phones:
                phone.speak(self.n)
            self.bridge.tick(self.n, self.clock.t)
            self.n += 1


def test_everyone_hears_the_others_and_never_themselves() -> None:
    rig = Rig()
    freqs = (500.0, 900.0, 1300.0)
    phones = [rig.phone(PCMU, freq=500), rig.phone(PCMA, freq=900), rig.phone(PCMU, freq=1300)]
    for phone in phones:
        rig.bridge.join("room", phone.port, tone=None)
    assert rig.bridge.members("room") == 3 and len(rig.bridge) == 3 and rig.bridge.active
    rig.tick(12)
    for phone, own in zip(phones, freqs, strict=True):
        packets = phone.packets()
        assert len(packets) == 12  # one packet every tick, silence until the buffers fill
        assert {p.payload_type for p in packets} == {phone.codec.payload_type}
        heard = phone.heard(8)
        for freq in freqs:
            if freq == own:
                assert level(heard, freq) < 0.01 * AMPLITUDE
            else:
                assert level(heard, freq) == pytest.approx(AMPLITUDE, rel=0.03)


def test_muted_participant_hears_but_is_not_heard() -> None:
    rig = Rig()
    a, b = rig.phone(freq=500), rig.phone(freq=900)
    pa = rig.bridge.join("room", a.port, tone=None)
    rig.bridge.join("room", b.port, tone=None)
    rig.bridge.set_muted(pa, True)
    assert rig.bridge.is_muted(pa)
    rig.tick(10)
    assert level(b.heard(8), 500) < 0.01 * AMPLITUDE
    assert level(a.heard(8), 900) == pytest.approx(AMPLITUDE, rel=0.03)


def test_rooms_do_not_hear_each_other() -> None:
    rig = Rig()
    a, b = rig.phone(freq=500), rig.phone(freq=900)
    c, d = rig.phone(freq=1300), rig.phone()
    for phone, room in ((a, "one"), (b, "one"), (c, "two"), (d, "two")):
        rig.bridge.join(room, phone.port, tone=None)
    rig.tick(10)
    assert level(a.heard(8), 900) > 0.9 * AMPLITUDE
    heard_d = d.heard(8)
    assert level(heard_d, 1300) > 0.9 * AMPLITUDE
    assert level(heard_d, 500) < 50 and level(heard_d, 900) < 50


def test_join_tone_plays_for_everyone_in_the_room_once() -> None:
    rig = Rig()
    a, b = rig.phone(), rig.phone()  # silent phones: what they hear is the tone alone
    rig.bridge.join("room", a.port, tone=tone("join"))  # alone: no tone for joining
    rig.tick(2)
    rig.bridge.join("room", b.port, tone=tone("join"))
    join = tone("join")
    count = join.frame_count
    assert count == 13
    rig.tick(count + 2)
    expected = [PCMU.encode(join.frame(k)) for k in range(count)] + [PCMU.silence] * 2
    assert a.payloads() == [PCMU.silence] * 2 + expected
    assert b.payloads() == expected


def test_leave_tone_plays_for_those_who_stay() -> None:
    rig = Rig()
    a, b, c = rig.phone(), rig.phone(), rig.phone()
    pa = rig.bridge.join("room", a.port, tone=None)
    for phone in (b, c):
        rig.bridge.join("room", phone.port, tone=None)
    rig.bridge.leave(pa, tone=tone("leave"))
    leave = tone("leave")
    rig.tick(14)
    assert a.payloads() == []
    expected = [PCMU.encode(leave.frame(k)) for k in range(13)] + [PCMU.silence]
    assert b.payloads() == expected and c.payloads() == expected
    assert rig.bridge.members("room") == 2


def music() -> MohStream:
    levels = np.array([1000, -2000, 3000], np.int16)
    return MohStream("default", np.repeat(levels, FRAME_SAMPLES))


def test_lone_participant_hears_the_music_until_someone_joins() -> None:
    rig = Rig()
    stream = music()
    a, b = rig.phone(freq=500), rig.phone(freq=900)
    rig.bridge.join("room", a.port, moh=stream, tone=None)
    rig.tick(5)
    assert a.payloads() == [PCMU.encode(stream.frame(n)) for n in range(5)]
    rig.bridge.join("room", b.port, tone=None)
    rig.tick(8)
    heard = a.heard(6)
    assert level(heard, 900) == pytest.approx(AMPLITUDE, rel=0.03)  # b, and no more music
    assert not any(p == PCMU.encode(stream.frame(n)) for n, p in enumerate(a.payloads()) if n > 5)


def test_announcement_replaces_the_mix_for_that_participant_only() -> None:
    rig = Rig()
    a, b = rig.phone(freq=500), rig.phone(freq=900)
    pa = rig.bridge.join("room", a.port, tone=None)
    rig.bridge.join("room", b.port, tone=None)
    rig.tick(4)
    rng = np.random.default_rng(3)
    announcement = rng.integers(-8000, 8000, 400).astype(np.int16)  # 2.5 frames
    pa.announce(announcement)
    rig.tick(3)
    padded = np.zeros(480, np.int16)
    padded[:400] = announcement
    assert a.payloads()[-3:] == [PCMU.encode(chunk) for chunk in padded.reshape(3, 160)]
    assert pa.overlay is None  # over after its last frame
    for payload in b.payloads()[-3:]:  # b heard a throughout
        assert level(PCMU.decode(payload), 500) == pytest.approx(AMPLITUDE, rel=0.05)
    rig.tick(2)
    assert level(a.heard(2), 900) == pytest.approx(AMPLITUDE, rel=0.03)  # back to the room


def test_announcement_over_the_music_stops_when_a_second_member_joins() -> None:
    rig = Rig()
    stream = music()
    a, b = rig.phone(), rig.phone()
    pa = rig.bridge.join("room", a.port, moh=stream, tone=None)
    alone = np.arange(-5000, 5000, 5, dtype=np.int16)[: 10 * FRAME_SAMPLES]
    pa.announce(alone)
    rig.tick(2)
    chunks = alone.reshape(10, FRAME_SAMPLES)
    assert a.payloads() == [PCMU.encode(chunks[0]), PCMU.encode(chunks[1])]  # not the music
    rig.bridge.join("room", b.port, tone=None)
    assert pa.overlay is None
    rig.tick(1)
    assert a.payloads()[-1] == PCMU.silence  # b says nothing; the announcement is cut off


def test_leave_of_a_non_member_is_harmless() -> None:
    rig = Rig()
    a, b, c = rig.phone(), rig.phone(), rig.phone()
    pa = rig.bridge.join("room", a.port, tone=None)
    pb = rig.bridge.join("room", b.port, tone=None)
    rig.bridge.leave(pa, tone=None)
    rig.bridge.leave(pa, tone=tone("leave"))  # twice: nothing happens, no tone either
    pc = rig.bridge.join("room", c.port, tone=None)
    assert pc.slot == pa.slot  # the freed slot was reused
    rig.bridge.leave(pa, tone=None)  # stale: must not remove c, who has that slot now
    stranger = Participant("elsewhere", pb.slot, a.port)
    rig.bridge.leave(stranger, tone=None)  # never joined, another's slot
    assert rig.bridge.members("room") == 2 and len(rig.bridge) == 2
    assert rig.bridge.members("elsewhere") == 0
    rig.tick(1)
    assert (len(a.sent), len(b.sent), len(c.sent)) == (0, 1, 1)
    assert b.payloads() == [PCMU.silence]  # no leave tone was started


def test_last_one_out_empties_the_bridge() -> None:
    rig = Rig()
    a = rig.phone()
    pa = rig.bridge.join("room", a.port, tone=None)
    assert rig.wakes == 1
    rig.bridge.leave(pa, tone=tone("leave"))
    assert not rig.bridge.active and rig.bridge.members("room") == 0
    rig.tick(1)
    assert a.sent == []
    pb = rig.bridge.join("room", a.port, tone=None)  # the room starts over
    assert rig.bridge.members("room") == 1 and pb.slot == pa.slot


def event_update(seq: int) -> bytes:
    """A telephone-event update for "#" (no end bit): the digit comes from the tick's timer."""
    return build_rtp(EVENT_PT, seq, 4000, 5, struct.pack("!BBH", 11, 10, 320))


def test_participant_leaving_from_its_digit_handler_during_the_tick() -> None:
    rig = Rig()
    a = Phone(rig.clock, event_pt=EVENT_PT)
    b, c = rig.phone(freq=900), rig.phone(freq=1300)
    pa = rig.bridge.join("room", a.port, tone=None)
    rig.bridge.join("room", b.port, tone=None)
    rig.bridge.join("room", c.port, tone=None)
    a.port.on_digit = lambda digit: rig.bridge.leave(pa, tone=None)  # "#": leave the room
    a.port.receive(event_update(1))  # its end packets are lost: the tick's pull reports it
    rig.n = 20  # 0.4 s: past the receiver's 0.25 s timeout
    rig.tick(1)
    assert rig.bridge.members("room") == 2
    assert (len(b.sent), len(c.sent)) == (1, 1)  # the others still got this tick's audio


def test_the_one_left_alone_hears_the_leave_tone_before_the_music() -> None:
    rig = Rig()
    stream = music()
    a, b = rig.phone(), rig.phone()
    rig.bridge.join("room", a.port, moh=stream, tone=None)
    pb = rig.bridge.join("room", b.port, tone=None)
    rig.bridge.leave(pb, tone=tone("leave"))
    rig.tick(1)
    heard = PCMU.decode(a.payloads()[0])
    assert level(heard, 900) > 1000  # the leave tone starts at 900 Hz


# -- rooms that wait for an administrator -------------------------------------------------------


def test_members_wait_hearing_music_and_not_each_other_until_an_admin_joins() -> None:
    rig = Rig()
    stream = music()
    a, b, admin = rig.phone(freq=500), rig.phone(freq=900), rig.phone(freq=1300)
    for phone in (a, b):
        rig.bridge.join("room", phone.port, moh=stream, tone=None, wait_for_admin=True)
    assert rig.bridge.is_waiting("room") and rig.bridge.members("room") == 2
    rig.tick(10)
    expected = [PCMU.encode(stream.frame(n)) for n in range(10)]
    assert a.payloads() == expected and b.payloads() == expected  # the music, nobody's voice
    rig.bridge.join("room", admin.port, tone=None, admin=True)
    assert not rig.bridge.is_waiting("room")
    rig.tick(10)
    heard = {phone: phone.heard(8) for phone in (a, b, admin)}
    assert level(heard[a], 900) == pytest.approx(AMPLITUDE, rel=0.03)
    assert level(heard[a], 1300) == pytest.approx(AMPLITUDE, rel=0.03)
    assert level(heard[b], 500) == pytest.approx(AMPLITUDE, rel=0.03)
    assert level(heard[admin], 500) == pytest.approx(AMPLITUDE, rel=0.03)
    assert level(heard[admin], 900) == pytest.approx(AMPLITUDE, rel=0.03)
    assert level(heard[a], 500) < 0.01 * AMPLITUDE  # still never themselves


def test_waiting_without_music_is_silence() -> None:
    rig = Rig()
    a, b = rig.phone(freq=500), rig.phone(freq=900)
    for phone in (a, b):
        rig.bridge.join("room", phone.port, tone=None, wait_for_admin=True)
    rig.tick(6)
    assert a.payloads() == [PCMU.silence] * 6 and b.payloads() == [PCMU.silence] * 6


def test_a_member_who_muted_while_waiting_stays_muted_when_the_room_starts() -> None:
    rig = Rig()
    a, b, admin = rig.phone(freq=500), rig.phone(freq=900), rig.phone()
    pa = rig.bridge.join("room", a.port, tone=None, wait_for_admin=True)
    rig.bridge.join("room", b.port, tone=None, wait_for_admin=True)
    rig.bridge.set_muted(pa, True)
    assert rig.bridge.is_muted(pa)
    rig.bridge.join("room", admin.port, tone=None, admin=True)
    rig.tick(10)
    heard = admin.heard(8)
    assert level(heard, 500) < 0.01 * AMPLITUDE  # a asked for mute: the start does not undo it
    assert level(heard, 900) == pytest.approx(AMPLITUDE, rel=0.03)
    assert level(a.heard(8), 900) == pytest.approx(AMPLITUDE, rel=0.03)  # muted, not deaf


def test_the_others_stay_mixed_after_the_admin_leaves_and_an_empty_room_waits_again() -> None:
    rig = Rig()
    stream = music()
    a, b, admin = rig.phone(freq=500), rig.phone(freq=900), rig.phone()
    pa = rig.bridge.join("room", a.port, moh=stream, tone=None, wait_for_admin=True)
    pb = rig.bridge.join("room", b.port, tone=None, wait_for_admin=True)
    padmin = rig.bridge.join("room", admin.port, tone=None, admin=True)
    rig.tick(4)
    rig.bridge.leave(padmin, tone=None)
    assert not rig.bridge.is_waiting("room")
    rig.tick(10)
    assert level(a.heard(8), 900) == pytest.approx(AMPLITUDE, rel=0.03)
    assert level(b.heard(8), 500) == pytest.approx(AMPLITUDE, rel=0.03)
    rig.bridge.leave(pa, tone=None)
    rig.bridge.leave(pb, tone=None)
    rig.bridge.join("room", a.port, moh=stream, tone=None, wait_for_admin=True)
    assert rig.bridge.is_waiting("room")  # a new session of the room: it waits again


def test_the_admins_arrival_cuts_the_waiting_sentence_but_another_member_does_not() -> None:
    rig = Rig()
    a, b, admin = rig.phone(), rig.phone(), rig.phone()
    pa = rig.bridge.join("room", a.port, tone=None, wait_for_admin=True)
    pa.announce(np.full(10 * FRAME_SAMPLES, 4000, np.int16))
    rig.bridge.join("room", b.port, tone=None, wait_for_admin=True)
    assert pa.overlay is not None  # b waits too: a still hears why it waits
    rig.bridge.join("room", admin.port, tone=None, admin=True)
    assert pa.overlay is None


# -- recording ----------------------------------------------------------------------------------

T0 = 1_768_473_005.0  # 2026-01-15 10:30:05 UTC
FIRST = Path("2026/01/15/conference-room-103005.wav")


def wav_sizes(path: Path) -> tuple[int, int, int]:
    """(file size, RIFF size, data size) as the header says."""
    data = path.read_bytes()
    riff, data_size = struct.unpack_from("<I", data, 4)[0], struct.unpack_from("<I", data, 40)[0]
    return len(data), riff, data_size


def test_the_room_is_recorded_from_the_second_member_with_a_valid_file_while_live(
    tmp_path: Path,
) -> None:
    rig = Rig()
    record = ConferenceRecorder(tmp_path, lambda: T0)
    a, b = rig.phone(freq=500), rig.phone(freq=900)
    pa = rig.bridge.join("room", a.port, tone=None, record=record)
    rig.tick(10)
    assert rig.bridge.recording("room") is None and not any(tmp_path.iterdir())  # alone
    pb = rig.bridge.join("room", b.port, tone=None, record=record)
    rig.tick(60)
    path = tmp_path / FIRST
    assert rig.bridge.recording("room") == path
    # Live: the first second is in the file, under a header that says exactly that much.
    size, riff, data = wav_sizes(path)
    assert (size, riff, data) == (HEADER_SIZE + 16000, size - 8, 16000)
    live, rate = soundfile.read(str(path), dtype="int16")
    assert rate == 8000 and len(live) == 8000
    both = live[-8 * FRAME_SAMPLES :]  # the full mix: both voices, not anyone's N-1
    assert level(both, 500) == pytest.approx(AMPLITUDE, rel=0.03)
    assert level(both, 900) == pytest.approx(AMPLITUDE, rel=0.03)
    rig.bridge.leave(pb, tone=None)
    rig.tick(5)  # still a session: a alone is recorded on
    rig.bridge.leave(pa, tone=None)
    assert rig.bridge.recording("room") is None
    whole, _ = soundfile.read(str(path), dtype="int16")
    assert len(whole) == 65 * FRAME_SAMPLES  # every tick from b's arrival until it emptied
    tail = whole[-4 * FRAME_SAMPLES :]
    assert level(tail, 500) == pytest.approx(AMPLITUDE, rel=0.03)
    assert level(tail, 900) < 0.01 * AMPLITUDE


def test_each_session_of_the_room_gets_its_own_file(tmp_path: Path) -> None:
    rig = Rig()
    record = ConferenceRecorder(tmp_path, lambda: T0)
    phones = [rig.phone(freq=500), rig.phone(freq=900)]
    for session in range(2):
        members = [rig.bridge.join("room", p.port, tone=None, record=record) for p in phones]
        rig.tick(3 + session)
        for member in members:
            rig.bridge.leave(member, tone=None)
    first, second = tmp_path / FIRST, tmp_path / "2026/01/15/conference-room-103005-2.wav"
    assert set(tmp_path.rglob("*.wav")) == {first, second}  # the same second: no overwrite
    assert soundfile.info(str(first)).frames == 3 * FRAME_SAMPLES
    assert soundfile.info(str(second)).frames == 4 * FRAME_SAMPLES


def test_a_waiting_room_is_recorded_from_the_admins_arrival_with_the_join_tone(
    tmp_path: Path,
) -> None:
    rig = Rig()
    record = ConferenceRecorder(tmp_path, lambda: T0)
    a, b, admin = rig.phone(), rig.phone(), rig.phone()
    for phone in (a, b):
        rig.bridge.join("room", phone.port, tone=None, wait_for_admin=True, record=record)
    rig.tick(20)
    assert rig.bridge.recording("room") is None  # two members, but nobody is mixed yet
    rig.bridge.join("room", admin.port, tone=tone("join"), admin=True)
    rig.tick(13)
    rig.bridge.close()  # shutdown: the file is finished, the room is not recorded again
    rig.tick(2)
    assert list(tmp_path.rglob("*.wav")) == [tmp_path / FIRST]
    samples, _ = soundfile.read(str(tmp_path / FIRST), dtype="int16")
    join = tone("join")
    assert np.array_equal(samples, np.concatenate([join.frame(k) for k in range(13)]))


class BrokenDisk:
    path = Path("/nowhere.wav")
    duration = 0.0

    def __init__(self) -> None:
        self.closed = 0

    def write(self, frame_a: Pcm | None, frame_b: Pcm | None = None) -> None:
        raise OSError(28, "No space left on device")

    def close(self) -> None:
        self.closed += 1


def test_a_failing_recording_leaves_the_room_talking(caplog: pytest.LogCaptureFixture) -> None:
    rig = Rig()
    disk = BrokenDisk()
    opened: list[str] = []

    def record(room: str) -> BrokenDisk:
        opened.append(room)
        return disk

    a, b = rig.phone(freq=500), rig.phone(freq=900)
    for phone in (a, b):
        rig.bridge.join("room", phone.port, tone=None, record=record)
    with caplog.at_level(logging.ERROR, "softswitch.media"):
        rig.tick(10)
    assert opened == ["room"] and disk.closed == 1  # tried once, then the room goes on
    assert rig.bridge.recording("room") is None
    assert "recording failed" in caplog.text
    assert level(a.heard(8), 900) == pytest.approx(AMPLITUDE, rel=0.03)


def test_a_recording_that_cannot_start_leaves_the_room_talking(tmp_path: Path) -> None:
    rig = Rig()
    (tmp_path / "2026").write_text("a file where the day's folder should go")
    record = ConferenceRecorder(tmp_path, lambda: T0)
    a, b = rig.phone(freq=500), rig.phone(freq=900)
    for phone in (a, b):
        rig.bridge.join("room", phone.port, tone=None, record=record)
    rig.tick(10)
    assert rig.bridge.recording("room") is None
    assert level(b.heard(8), 500) == pytest.approx(AMPLITUDE, rel=0.03)
