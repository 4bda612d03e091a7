"""Player, sans-IO: queued prompts and tones one frame per tick, barge-in, silence when idle.

The player drives a real ``MediaPort`` whose packets are captured; payloads are compared with
the codec's encoding of the expected samples, so every frame is checked exactly.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pytest

from softswitch.media.codecs import FRAME_SAMPLES, PCMU
from softswitch.media.player import Player
from softswitch.media.port import MediaPort
from softswitch.media.tones import TonePlan, tone
from softswitch.rtp.packet import RtpPacket, RtpSender, build_rtp, parse_rtp

Pcm = npt.NDArray[np.int16]
EVENT_PT = 101


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


class Rig:
    """A player on a PCMU port, its captured packets and the digits and ``done`` calls."""

    def __init__(self, event_pt: int | None = EVENT_PT) -> None:
        self.clock = Clock()
        self.sent: list[bytes] = []
        self.port = MediaPort(self.sent.append, PCMU, event_pt, self.clock)
        self.port.rtp = RtpSender(ssrc=42, sequence=65_534, timestamp=0)
        self.player = Player(self.port)
        self.done: list[tuple[str, bool]] = []
        self.n = 0

    def finished(self, name: str) -> Callable[[bool], None]:
        return lambda completed: self.done.append((name, completed))

    def tick(self, count: int = 1) -> None:
        for _ in range(count):
            self.clock.t = self.n * 0.02
            self.player.tick(self.n, self.clock.t)
            self.n += 1

    def packets(self) -> list[RtpPacket]:
        packets = [parse_rtp(data) for data in self.sent]
        return [p for p in packets if p is not None]

    def payloads(self) -> list[bytes]:
        return [p.payload for p in self.packets()]


def prompt(frames: float, seed: int = 1) -> Pcm:
    rng = np.random.default_rng(seed)
    return rng.integers(-8000, 8000, round(frames * FRAME_SAMPLES)).astype(np.int16)


def encoded_frames(samples: Pcm) -> list[bytes]:
    """What the phone must receive for ``samples``: 160-sample frames, the last zero-padded."""
    count = -(-len(samples) // FRAME_SAMPLES)
    padded = np.zeros(count * FRAME_SAMPLES, np.int16)
    padded[: len(samples)] = samples
    return [PCMU.encode(frame) for frame in padded.reshape(count, FRAME_SAMPLES)]


def test_prompt_of_three_and_a_half_frames_plays_as_four_then_silence() -> None:
    rig = Rig()
    samples = prompt(3.5)
    rig.player.play(samples, done=rig.finished("p"))
    assert rig.player.playing
    rig.tick(3)
    assert rig.done == []  # not before its last frame
    rig.tick(1)
    assert rig.done == [("p", True)]
    assert not rig.player.playing
    rig.tick(2)
    expected = encoded_frames(samples)
    assert len(expected) == 4
    assert rig.payloads() == [*expected, PCMU.silence, PCMU.silence]
    # The last prompt frame is half prompt, half zero padding.
    last = PCMU.decode(rig.payloads()[3])
    assert np.count_nonzero(last[80:]) == 0 and np.count_nonzero(last[:80]) > 70
    # One continuous stream across the prompt and the silence (and the 16-bit wrap).
    packets = rig.packets()
    assert [p.sequence for p in packets] == [65_534, 65_535, 0, 1, 2, 3]
    assert [p.timestamp for p in packets] == [160 * i for i in range(6)]


def test_idle_player_sends_silence_every_tick() -> None:
    rig = Rig()
    rig.tick(3)
    assert rig.payloads() == [PCMU.silence] * 3


def test_queued_items_play_back_to_back() -> None:
    rig = Rig()
    first, second = prompt(2, seed=1), prompt(1.25, seed=2)
    rig.player.play(first, done=rig.finished("first"))
    rig.player.play(second, done=rig.finished("second"))
    rig.tick(2)
    assert rig.done == [("first", True)]
    rig.tick(3)
    assert rig.done == [("first", True), ("second", True)]
    assert rig.payloads() == [*encoded_frames(first), *encoded_frames(second), PCMU.silence]


def test_interrupt_stops_barge_in_items_only() -> None:
    rig = Rig()
    barge, fixed, after = prompt(3, 1), prompt(2, 2), prompt(1, 3)
    rig.player.play(barge, done=rig.finished("barge"))
    rig.player.play(fixed, barge_in=False, done=rig.finished("fixed"))
    rig.player.play(after, done=rig.finished("after"))
    rig.tick(1)
    assert rig.player.interrupt() is True
    assert rig.done == [("barge", False)]
    # A non-barge-in item at the head shields itself and what follows it.
    assert rig.player.interrupt() is False
    rig.tick(2)
    assert rig.done == [("barge", False), ("fixed", True)]
    assert rig.player.interrupt() is True  # now "after" is at the head
    assert rig.done[-1] == ("after", False)
    rig.tick(1)
    assert rig.payloads() == [encoded_frames(barge)[0], *encoded_frames(fixed), PCMU.silence]


def test_interrupt_with_nothing_queued_is_false() -> None:
    rig = Rig()
    assert rig.player.interrupt() is False


def test_digit_heard_in_the_tick_barges_in_before_that_tick_sends() -> None:
    """An RFC 4733 event whose end packets are lost is reported by the tick's ``pull``; the
    prompt stops and the same tick already sends silence."""
    rig = Rig()
    digits: list[str] = []

    def on_digit(digit: str) -> None:
        digits.append(digit)
        rig.player.interrupt()

    rig.port.on_digit = on_digit
    samples = prompt(10)
    rig.player.play(samples, done=rig.finished("menu"))
    rig.tick(3)
    rig.clock.t = 0.05
    rig.port.receive(build_rtp(EVENT_PT, 1, 800, 9, struct.pack("!BBH", 3, 10, 160)))
    rig.tick(1)  # at 0.06: the event is not over yet
    assert digits == []
    rig.n = 16  # the ticker's tick 16, at 0.32: past the 0.25 s event timeout
    rig.tick(1)
    assert digits == ["3"]
    assert rig.done == [("menu", False)]
    assert rig.payloads() == [*encoded_frames(samples)[:4], PCMU.silence]


def test_clear_drops_the_queue_without_callbacks() -> None:
    rig = Rig()
    rig.player.play(prompt(3), done=rig.finished("a"))
    rig.player.play(prompt(3), barge_in=False, done=rig.finished("b"))
    rig.tick(1)
    rig.player.clear()
    rig.tick(1)
    assert not rig.player.playing
    assert rig.done == []
    assert rig.payloads()[1] == PCMU.silence


def test_one_shot_tone_plays_its_frames() -> None:
    rig = Rig()
    beep = tone("beep")
    count = beep.frame_count
    assert count == 13  # 250 ms: 12.5 frames, the last one padded
    rig.player.tone(beep, done=rig.finished("beep"))
    rig.tick(count + 1)
    assert rig.done == [("beep", True)]
    assert rig.payloads() == [PCMU.encode(beep.frame(k)) for k in range(count)] + [PCMU.silence]


def test_looping_tone_needs_a_frame_count() -> None:
    rig = Rig()
    busy = tone("busy")
    with pytest.raises(ValueError, match="looping"):
        rig.player.tone(busy)
    rig.player.tone(busy, frames=30, barge_in=False)
    rig.tick(31)
    payloads = rig.payloads()
    assert payloads[:30] == [PCMU.encode(busy.frame(k)) for k in range(30)]
    assert payloads[30] == PCMU.silence
    # busy is 200 ms on, 200 off: ticks 10..19 are its silent half
    assert all(np.count_nonzero(PCMU.decode(p)) == 0 for p in payloads[10:20])
    assert all(np.abs(PCMU.decode(p)).max() > 5000 for p in payloads[1:9])


def test_tone_frame_count_overrides_a_one_shot_plan() -> None:
    rig = Rig()
    plan = TonePlan("t", (((700.0,), 100),), loop=False)
    rig.player.tone(plan, frames=2)
    rig.tick(3)
    assert rig.payloads() == [PCMU.encode(plan.frame(0)), PCMU.encode(plan.frame(1)), PCMU.silence]


def test_listener_hears_each_tick_what_the_caller_sent() -> None:
    rig = Rig(event_pt=None)
    calls: list[tuple[Pcm | None, float]] = []
    rig.player.listener = lambda heard, now: calls.append((heard, now))
    spoken = prompt(3, seed=5)
    for k in range(3):
        payload = PCMU.encode(spoken[k * FRAME_SAMPLES : (k + 1) * FRAME_SAMPLES])
        rig.port.receive(build_rtp(0, 10 + k, 160 * k, 5, payload))
        rig.tick(1)
    assert [now for _, now in calls] == [0.0, 0.02, 0.04]
    assert calls[0][0] is None  # the jitter buffer's prefetch
    for k, (heard, _) in enumerate(calls[1:]):
        assert heard is not None
        chunk = spoken[k * FRAME_SAMPLES : (k + 1) * FRAME_SAMPLES]
        assert np.array_equal(heard, PCMU.decode(PCMU.encode(chunk)))
