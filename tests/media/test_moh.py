"""Music on hold: one looping stream, encoded once per codec per tick, fanned out to listeners.

Ports are real ``MediaPort``s with captured packets. The music is made of frames of distinct
constant levels so that which frame a listener got is read straight off the decoded payload.
"""

from __future__ import annotations

from typing import cast

import numpy as np
import numpy.typing as npt

from softswitch.media.codecs import FRAME_SAMPLES, G711, PCMA, PCMU
from softswitch.media.engine import MediaEngine
from softswitch.media.moh import MohStream, MusicOnHold
from softswitch.media.port import MediaPort
from softswitch.rtp.packet import RtpPacket, RtpSender, parse_rtp

Pcm = npt.NDArray[np.int16]
LEVELS = (1000, -2000, 3000, 5000)  # frame k of the music is LEVELS[k] throughout


class CountingCodec:
    """A G.711 law that counts its encodes (the stream must encode once per law per tick)."""

    def __init__(self, inner: G711) -> None:
        self.inner = inner
        self.name = inner.name
        self.payload_type = inner.payload_type
        self.silence = inner.silence
        self.encodes = 0

    def encode(self, pcm: Pcm) -> bytes:
        self.encodes += 1
        return self.inner.encode(pcm)

    def decode(self, payload: bytes) -> Pcm:
        return self.inner.decode(payload)


class Listener:
    def __init__(self, codec: G711 | CountingCodec, ssrc: int) -> None:
        self.sent: list[bytes] = []
        self.port = MediaPort(self.sent.append, cast(G711, codec), None, lambda: 0.0)
        self.port.rtp = RtpSender(ssrc=ssrc, sequence=100 * ssrc, timestamp=0)

    def packets(self) -> list[RtpPacket]:
        packets = [parse_rtp(data) for data in self.sent]
        return [p for p in packets if p is not None]


def music(frames: float) -> Pcm:
    whole = np.repeat(np.array(LEVELS, np.int16), FRAME_SAMPLES)
    return whole[: round(frames * FRAME_SAMPLES)]


def levels_heard(listener: Listener, codec: G711) -> list[int]:
    """The constant level of each frame the listener received (checking it is constant)."""
    heard = []
    for packet in listener.packets():
        pcm = codec.decode(packet.payload)
        assert np.all(pcm == pcm[0])
        heard.append(int(pcm[0]))
    return heard


def quantised(level: int, codec: G711) -> int:
    return int(codec.decode(codec.encode(np.array([level], np.int16)))[0])


def test_each_listener_gets_one_packet_per_tick_with_its_own_numbering() -> None:
    pcmu, pcma = CountingCodec(PCMU), CountingCodec(PCMA)
    listeners = [Listener(pcmu, 1), Listener(pcmu, 2), Listener(pcma, 3), Listener(pcmu, 4)]
    stream = MohStream("default", music(3))
    for listener in listeners:
        stream.add(listener.port)
    assert len(stream) == 4
    for n in range(5):
        stream.tick(n, n * 0.02)
        # One encode per law per tick, however many listen.
        assert (pcmu.encodes, pcma.encodes) == (n + 1, n + 1)
    for ssrc, listener in enumerate(listeners, start=1):
        packets = listener.packets()
        assert len(packets) == 5
        assert {p.ssrc for p in packets} == {ssrc}
        assert [p.sequence for p in packets] == [100 * ssrc + i for i in range(5)]
        expected_pt = 8 if listener.port.codec.name == "PCMA" else 0
        assert {p.payload_type for p in packets} == {expected_pt}
    # Listeners of one law receive the very same payload; the other law its own encoding.
    mu = [p.payload for p in listeners[0].packets()]
    assert mu == [p.payload for p in listeners[1].packets()]
    assert mu == [p.payload for p in listeners[3].packets()]
    a_law = [p.payload for p in listeners[2].packets()]
    assert mu[0] == PCMU.encode(music(1)) and a_law[0] == PCMA.encode(music(1))


def test_music_loops_over_whole_frames_like_a_radio() -> None:
    stream = MohStream("default", music(3.5))  # the half frame is dropped: never a short one
    early, late = Listener(PCMU, 1), Listener(PCMA, 2)
    stream.add(early.port)
    for n in range(4):
        stream.tick(n, 0.0)
    stream.add(late.port)  # joins where the music is, not at its start
    for n in range(4, 8):
        stream.tick(n, 0.0)
    order = [LEVELS[n % 3] for n in range(8)]  # 1000, -2000, 3000, 1000, ...
    assert levels_heard(early, PCMU) == [quantised(v, PCMU) for v in order]
    assert levels_heard(late, PCMA) == [quantised(v, PCMA) for v in order[4:]]


def test_music_shorter_than_a_frame_is_padded() -> None:
    stream = MohStream("short", music(0.5))
    frame = stream.frame(0)
    assert frame.shape == (FRAME_SAMPLES,)
    assert np.all(frame[:80] == LEVELS[0]) and np.all(frame[80:] == 0)
    assert np.array_equal(stream.frame(1), frame)  # one frame: it loops on itself


def test_frame_is_the_same_array_for_everyone_in_a_tick() -> None:
    stream = MohStream("default", music(4))
    assert stream.frame(6) is stream.frame(6)
    assert int(stream.frame(6)[0]) == LEVELS[2]
    assert int(stream.frame(7)[0]) == LEVELS[3]


def test_discarded_listener_stops_receiving() -> None:
    stream = MohStream("default", music(2))
    stays, leaves, stranger = Listener(PCMU, 1), Listener(PCMU, 2), Listener(PCMU, 3)
    stream.add(stays.port)
    stream.add(leaves.port)
    stream.add(stays.port)  # adding twice does not double the packets
    stream.tick(0, 0.0)
    stream.discard(leaves.port)
    stream.discard(stranger.port)  # never listened: harmless
    stream.tick(1, 0.02)
    assert len(stream) == 1
    assert (len(stays.packets()), len(leaves.packets()), len(stranger.packets())) == (2, 1, 0)


class MohRig:
    def __init__(self) -> None:
        self.engine = MediaEngine()
        self.loaded: list[str] = []
        self.wakes = 0
        self.moh = MusicOnHold(self.engine, self.load, self.wake)

    def load(self, name: str) -> Pcm:
        self.loaded.append(name)
        return music(2 if name == "jazz" else 3)

    def wake(self) -> None:
        self.wakes += 1


def test_music_on_hold_puts_a_class_on_the_engine_while_listened_to() -> None:
    rig = MohRig()
    one, two = Listener(PCMU, 1), Listener(PCMA, 2)
    stream = rig.moh.listen("jazz", one.port)
    assert stream in rig.engine and rig.wakes == 1
    assert rig.moh.listen("jazz", two.port) is stream
    assert rig.wakes == 1  # already ticking
    assert rig.loaded == ["jazz"]  # loaded once per class
    rig.engine.tick(0, 0.0)
    rig.engine.tick(1, 0.02)
    assert levels_heard(one, PCMU) == [quantised(v, PCMU) for v in LEVELS[:2]]
    assert len(two.packets()) == 2

    rig.moh.stop(stream, one.port)
    assert stream in rig.engine  # two still listens
    rig.engine.tick(2, 0.04)
    assert (len(one.packets()), len(two.packets())) == (2, 3)
    rig.moh.stop(stream, two.port)
    assert stream not in rig.engine and not rig.engine.active

    assert rig.moh.listen("jazz", one.port) is stream  # kept, not reloaded
    assert rig.wakes == 2 and rig.loaded == ["jazz"]


def test_classes_are_separate_streams() -> None:
    rig = MohRig()
    jazz_fan, default_fan = Listener(PCMU, 1), Listener(PCMU, 2)
    jazz = rig.moh.listen("jazz", jazz_fan.port)
    default = rig.moh.listen("default", default_fan.port)
    assert jazz is not default and len(rig.engine) == 2
    for n in range(3):
        rig.engine.tick(n, 0.02 * n)
    assert levels_heard(jazz_fan, PCMU) == [quantised(LEVELS[n % 2], PCMU) for n in range(3)]
    assert levels_heard(default_fan, PCMU) == [quantised(LEVELS[n % 3], PCMU) for n in range(3)]
