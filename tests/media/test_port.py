"""MediaPort, sans-IO: RTP in (jitter buffer, RFC 4733, in-band DTMF), one numbered stream out.

Packets go out through ``send=list.append`` and time comes from a clock the test sets, so the
RTP numbering, the DTMF interleaving and the digit timing are checked exactly.
"""

from __future__ import annotations

import struct

import numpy as np
import numpy.typing as npt
import pytest

from softswitch.media.codecs import FRAME_SAMPLES, G711, PCMA, PCMU
from softswitch.media.port import MediaPort
from softswitch.media.tones import TonePlan
from softswitch.rtp.dtmf import DtmfReceiver
from softswitch.rtp.jitter import FrameStatus
from softswitch.rtp.packet import RtpPacket, RtpSender, build_rtp, parse_rtp

Pcm = npt.NDArray[np.int16]
EVENT_PT = 101
RATE = 8000


class Clock:
    """The port's ``monotonic``: whatever the test says it is."""

    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def make_port(
    codec: G711 = PCMU,
    event_pt: int | None = EVENT_PT,
    clock: Clock | None = None,
    *,
    sequence: int = 1000,
    timestamp: int = 50_000,
) -> tuple[MediaPort, list[bytes]]:
    sent: list[bytes] = []
    port = MediaPort(sent.append, codec, event_pt, clock or Clock())
    # Reproducible numbering instead of the CSPRNG's.
    port.rtp = RtpSender(ssrc=0x1234ABCD, sequence=sequence, timestamp=timestamp)
    return port, sent


def parsed(sent: list[bytes]) -> list[RtpPacket]:
    packets = [parse_rtp(data) for data in sent]
    assert all(p is not None for p in packets)
    return [p for p in packets if p is not None]


def sine(freq: float, frames: int, amplitude: float = 6000.0) -> Pcm:
    """``frames`` consecutive 20 ms frames of one continuous sine, shape ``(frames, 160)``."""
    t = np.arange(frames * FRAME_SAMPLES) / RATE
    wave = np.rint(amplitude * np.sin(2 * np.pi * freq * t)).astype(np.int16)
    return wave.reshape(frames, FRAME_SAMPLES)


def event_payload(digit_code: int, duration: int, end: bool = False) -> bytes:
    return struct.pack("!BBH", digit_code, (0x80 if end else 0) | 10, duration)


def send_digit_through_port(start_seq: int) -> tuple[list[RtpPacket], list[bytes]]:
    """3 audio ticks, then "7" queued and 15 more ticks, all through ``emit_payload``."""
    port, sent = make_port(sequence=start_seq)
    audio = [bytes([i]) * FRAME_SAMPLES for i in range(18)]
    for payload in audio[:3]:
        port.emit_payload(payload)
    port.dtmf_out.start("7")
    for payload in audio[3:]:
        port.emit_payload(payload)
    return parsed(sent), sent


# --- out: numbering and RFC 4733 ---------------------------------------------------------------


def test_rfc4733_digit_is_interleaved_and_decodes_as_seven() -> None:
    start_seq = 65_533  # the stream crosses the 16-bit wrap during the event
    packets, _ = send_digit_through_port(start_seq)
    assert len(packets) == 18  # one packet per tick, event or audio

    # One stream: consecutive sequence numbers across the wrap, one SSRC.
    assert [p.sequence for p in packets] == [(start_seq + i) & 0xFFFF for i in range(18)]
    assert {p.ssrc for p in packets} == {0x1234ABCD}

    kinds = [p.payload_type for p in packets]
    # A 100 ms digit: 4 updates and 3 end packets, in place of audio, from the tick it was queued.
    assert kinds == [0] * 3 + [EVENT_PT] * 7 + [0] * 8
    events = packets[3:10]
    # Every packet of the event carries the clock at which it began (RFC 4733 §2.5.1.2).
    assert {p.timestamp for p in events} == {50_000 + 3 * FRAME_SAMPLES}
    assert [p.marker for p in events] == [True] + [False] * 6

    # The audio clock ran on under the event: audio packet i has timestamp start + 160 i.
    for i, packet in enumerate(packets):
        if packet.payload_type == 0:
            assert packet.timestamp == 50_000 + i * FRAME_SAMPLES
            assert packet.payload == bytes([i]) * FRAME_SAMPLES  # no audio payload was lost

    receiver = DtmfReceiver()
    digits = [d for i, p in enumerate(events) for d in receiver.receive(p, 0.02 * i)]
    assert [(d.digit, d.duration_ms) for d in digits] == [("7", 100)]


def test_digit_sent_by_one_port_reaches_on_digit_of_another_once() -> None:
    _, sent = send_digit_through_port(7)
    far, _ = make_port()
    heard: list[str] = []
    far.on_digit = heard.append
    for data in sent:
        far.receive(data)
    assert heard == ["7"]  # three end packets, one digit
    # The event packets did not go into the voice buffer: only the 11 audio packets did.
    assert far.jitter.stats().received == 11


def test_no_event_packets_without_a_negotiated_telephone_event() -> None:
    port, sent = make_port(event_pt=None)
    port.dtmf_out.start("7")
    for _ in range(10):
        port.emit_payload(PCMU.silence)
    assert [p.payload_type for p in parsed(sent)] == [0] * 10


def test_emit_encodes_with_the_port_codec() -> None:
    pcm = sine(900, 1)[0]
    for codec in (PCMU, PCMA):
        port, sent = make_port(codec)
        port.emit(pcm)
        (packet,) = parsed(sent)
        assert packet.payload_type == codec.payload_type
        assert packet.payload == codec.encode(pcm)
        assert np.abs(codec.decode(packet.payload) - pcm).max() < 200  # G.711 step at 6000


def test_an_empty_tick_keeps_the_clock_running_and_marks_the_next_talkspurt() -> None:
    port, sent = make_port()
    frame = sine(500, 1)[0]
    port.emit(frame)
    port.emit(frame)
    port.emit(None)
    port.emit_payload(None)
    port.emit(frame)
    port.emit(frame)
    packets = parsed(sent)
    assert [p.sequence for p in packets] == [1000, 1001, 1002, 1003]  # no gap in numbering
    assert [p.timestamp - 50_000 for p in packets] == [0, 160, 640, 800]  # two frames skipped
    assert [p.marker for p in packets] == [True, False, True, False]


# --- in: jitter buffer and payload types -------------------------------------------------------


def feed_voice(port: MediaPort, clock: Clock, frames: Pcm, codec: G711 = PCMU) -> list[Pcm | None]:
    """One voice packet per tick, then the tick's pull; what each pull returned."""
    pulled = []
    for k, frame in enumerate(frames):
        clock.t = k * 0.02
        port.receive(
            build_rtp(codec.payload_type, 300 + k, 9000 + 160 * k, 77, codec.encode(frame))
        )
        pulled.append(port.pull(clock.t))
    return pulled


def status(port: MediaPort) -> FrameStatus:
    return port.last_status  # read through a call: it changes under mypy's narrowing


def test_voice_goes_through_the_jitter_buffer_and_is_decoded() -> None:
    clock = Clock()
    port, _ = make_port(PCMA, clock=clock)
    assert port.pull(0.0) is None
    assert status(port) is FrameStatus.EMPTY  # nothing received yet
    frames = sine(1300, 6)
    pulled = feed_voice(port, clock, frames, PCMA)
    assert pulled[0] is None
    assert port.jitter.stats().played == 5
    # Playout runs one frame behind (the 2-frame prefetch) and decodes with the port's law.
    for got, want in zip(pulled[1:], frames[:-1], strict=True):
        assert got is not None
        assert np.array_equal(got, PCMA.decode(PCMA.encode(want)))
    assert status(port) is FrameStatus.NORMAL


def test_rtp_of_other_payload_types_is_ignored() -> None:
    clock = Clock()
    port, _ = make_port(PCMU, event_pt=None, clock=clock)
    heard: list[str] = []
    port.on_digit = heard.append
    for k in range(6):
        clock.t = k * 0.02
        ts = 9000 + 160 * k
        port.receive(build_rtp(8, 300 + k, ts, 77, PCMA.encode(sine(500, 1)[0])))  # PCMA
        port.receive(build_rtp(EVENT_PT, 400 + k, 9000, 77, event_payload(7, 160 * k, k > 2)))
        port.receive(b"\x80")  # too short to be RTP
        port.receive(build_rtp(72, 1, 2, 3, b"rtcp"))  # RTCP SR seen through rtcp-mux
        assert port.pull(clock.t) is None
    assert port.jitter.stats().received == 0
    assert port.last_status is FrameStatus.EMPTY
    assert heard == []


# --- in: digits --------------------------------------------------------------------------------


def key_five(frames_after: int) -> Pcm:
    """DTMF "5" (770 + 1336 Hz) at -10 dBm0 for 100 ms, then silence, as 20 ms frames."""
    plan = TonePlan("5", (((770.0, 1336.0), 100),), loop=False, level_dbm0=-10.0)
    assert plan.frame_count == 5
    return plan.frames(5 + frames_after)


@pytest.mark.parametrize(("event_pt", "expected"), [(None, ["5"]), (EVENT_PT, [])])
def test_inband_tones_are_digits_only_without_telephone_event(
    event_pt: int | None, expected: list[str]
) -> None:
    clock = Clock()
    port, _ = make_port(PCMU, event_pt=event_pt, clock=clock)
    heard: list[str] = []
    port.on_digit = heard.append
    pulled = feed_voice(port, clock, key_five(8))
    assert heard == expected
    # Either way the tone is still audio the switch passes on.
    assert sum(frame is not None for frame in pulled) == 12


def test_inband_silence_and_speechlike_audio_give_no_digit() -> None:
    clock = Clock()
    port, _ = make_port(PCMU, event_pt=None, clock=clock)
    heard: list[str] = []
    port.on_digit = heard.append
    rng = np.random.default_rng(4)
    noise = rng.normal(0, 3000, (20, FRAME_SAMPLES)).astype(np.int16)
    feed_voice(port, clock, np.concatenate([sine(500, 10), noise]))
    assert heard == []


def test_event_whose_end_packets_are_lost_is_reported_by_the_tick() -> None:
    _, sent = send_digit_through_port(10)
    clock = Clock()
    far, _ = make_port(clock=clock)
    heard: list[str] = []
    far.on_digit = heard.append
    events = [
        data for p, data in zip(parsed(sent), sent, strict=True) if p.payload_type == EVENT_PT
    ]
    for k, data in enumerate(events[:3]):  # the updates only: every end packet is lost
        clock.t = 1.0 + 0.02 * k
        far.receive(data)
    assert heard == []
    far.pull(1.04 + 0.2)  # within the receiver's 0.25 s timeout
    assert heard == []
    far.pull(1.04 + 0.26)
    assert heard == ["7"]
    far.pull(2.0)
    assert heard == ["7"]  # reported once


def test_digit_from_any_source_reaches_the_handler() -> None:
    port, _ = make_port()
    port.digit("9")  # no handler yet: dropped without error
    heard: list[str] = []
    port.on_digit = heard.append
    port.digit("#")  # e.g. SIP INFO
    assert heard == ["#"]
