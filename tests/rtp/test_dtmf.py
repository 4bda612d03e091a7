"""RFC 4733 DTMF: the sender's packet train, the receiver's robustness, round trips."""

from __future__ import annotations

import random
import struct

import pytest

from softswitch.rtp.dtmf import DIGITS, DtmfDigit, DtmfReceiver, DtmfSender
from softswitch.rtp.packet import RtpPacket, RtpSender, parse_rtp

TE = 101  # the negotiated telephone-event payload type
TICK = 0.02


def transmit(sender: DtmfSender, rtp: RtpSender, ticks: int) -> list[RtpPacket]:
    """What a media port sends for ``ticks`` ticks: events when due, audio otherwise."""
    sent = []
    for _ in range(ticks):
        frame = sender.next_payload(rtp.timestamp)
        if frame is None:
            data = rtp.packet(b"\xd5" * 160, 8)
        else:
            data = rtp.packet_at(frame.payload, TE, frame.timestamp, frame.marker)
            rtp.skip(160)
        packet = parse_rtp(data)
        assert packet is not None
        sent.append(packet)
    return sent


def events(packets: list[RtpPacket]) -> list[RtpPacket]:
    return [p for p in packets if p.payload_type == TE]


def deliver(
    receiver: DtmfReceiver, packets: list[RtpPacket], start: float = 0.0
) -> list[DtmfDigit]:
    """Feed packets one per tick, then let the receiver's timer run out."""
    digits = []
    now = start
    for packet in packets:
        digits += receiver.receive(packet, now)
        now += TICK
    deadline = receiver.next_deadline()
    if deadline is not None:
        digits += receiver.handle_timer(deadline)
    return digits


def event(ts: int, code: int, duration: int, end: bool = False, marker: bool = False) -> RtpPacket:
    payload = struct.pack("!BBH", code, (0x80 if end else 0) | 10, duration)
    return RtpPacket(TE, marker, 0, ts, 0x1234, payload)


def press(ts: int, code: int, marker_on: str = "first") -> list[RtpPacket]:
    """A 100 ms key press as a phone sends it; ``marker_on``: first, none or all packets."""
    packets = [event(ts, code, d) for d in (160, 320, 480, 640)]
    packets += [event(ts, code, 800, end=True) for _ in range(3)]
    return [
        p._replace(marker=marker_on == "all" or (marker_on == "first" and i == 0))
        for i, p in enumerate(packets)
    ]


def test_sender_packet_train_for_one_digit() -> None:
    sender = DtmfSender()
    sender.start("5", 100)
    frames = [sender.next_payload(8000 + 160 * i) for i in range(8)]
    assert frames[-1] is None
    train = [f for f in frames if f is not None]
    assert [f.marker for f in train] == [True] + [False] * 6
    assert {f.timestamp for f in train} == {8000}  # all carry the start timestamp
    fields = [struct.unpack("!BBH", f.payload) for f in train]
    assert fields == [(5, 10, d) for d in (160, 320, 480, 640)] + [(5, 0x80 | 10, 800)] * 3
    assert [f.end for f in train] == [False] * 4 + [True] * 3


def test_sender_short_digit_is_only_end_packets() -> None:
    sender = DtmfSender()
    sender.start("#", 10)
    train = [sender.next_payload(0) for _ in range(3)]
    assert [f.marker for f in train if f] == [True, False, False]
    assert [struct.unpack("!BBH", f.payload) for f in train if f] == [(11, 0x80 | 10, 80)] * 3


def test_sender_interleaves_with_audio_on_one_sequence_and_clock() -> None:
    rtp = RtpSender(ssrc=7, sequence=65530, timestamp=0)
    sender = DtmfSender()
    transmit(sender, rtp, 2)
    sender.start("9")
    packets = transmit(sender, rtp, 12)
    sequences = [p.sequence for p in packets]
    assert sequences == [(65532 + i) & 0xFFFF for i in range(12)]
    assert [p.payload_type for p in packets] == [TE] * 7 + [8] * 5
    assert {p.timestamp for p in packets[:7]} == {320}  # the clock when the event began
    assert packets[7].timestamp == 320 + 7 * 160  # the clock kept running meanwhile


def test_sender_queues_digits_with_a_pause_between() -> None:
    rtp = RtpSender(ssrc=7, sequence=0, timestamp=0)
    sender = DtmfSender(gap_ms=40)
    sender.start("12")
    kinds = "".join("e" if p.payload_type == TE else "a" for p in transmit(sender, rtp, 18))
    assert kinds == "eeeeeee" + "aa" + "eeeeeee" + "aa"
    assert not sender.busy


def test_sender_rejects_what_it_cannot_send() -> None:
    sender = DtmfSender()
    for digits in ("", "5x", "E"):
        with pytest.raises(ValueError):
            sender.start(digits)
    with pytest.raises(ValueError):
        sender.start("1", 0)
    with pytest.raises(ValueError):
        sender.start("1", 9000)  # beyond the 16-bit duration field
    with pytest.raises(ValueError):
        DtmfSender(volume=64)
    assert not sender.busy


@pytest.mark.parametrize("digit", list(DIGITS))
def test_every_digit_round_trips(digit: str) -> None:
    rtp = RtpSender(rng=random.Random(4733))
    sender = DtmfSender()
    sender.start(digit.lower(), 160)
    received = deliver(DtmfReceiver(), events(transmit(sender, rtp, 15)), start=5.0)
    assert received == [DtmfDigit(digit, 160, 5.0)]


def test_a_sequence_of_digits_round_trips_in_order() -> None:
    rtp = RtpSender(rng=random.Random(1))
    sender = DtmfSender()
    sender.start("123")
    received = deliver(DtmfReceiver(), events(transmit(sender, rtp, 40)))
    assert [d.digit for d in received] == ["1", "2", "3"]
    assert all(d.duration_ms == 100 for d in received)


def test_the_same_digit_twice_is_two_presses() -> None:
    rtp = RtpSender(rng=random.Random(2))
    sender = DtmfSender()
    sender.start("55")
    received = deliver(DtmfReceiver(), events(transmit(sender, rtp, 20)))
    assert [d.digit for d in received] == ["5", "5"]


def test_digit_reported_at_the_first_end_packet() -> None:
    receiver = DtmfReceiver()
    packets = press(1000, 7)
    reports = [receiver.receive(p, i * TICK) for i, p in enumerate(packets)]
    assert [len(r) for r in reports] == [0, 0, 0, 0, 1, 0, 0]
    assert reports[4] == [DtmfDigit("7", 100, 0.0)]
    assert receiver.next_deadline() is None


@pytest.mark.parametrize("marker_on", ["first", "none", "all"])
def test_marker_bit_never_creates_or_suppresses_digits(marker_on: str) -> None:
    packets = press(1000, 3, marker_on) + press(1800, 3, marker_on)
    received = deliver(DtmfReceiver(), packets)
    assert [d.digit for d in received] == ["3", "3"]


def test_duplicated_packets_give_one_digit() -> None:
    packets = [copy for p in press(1000, 4) for copy in (p, p)]
    assert [d.digit for d in deliver(DtmfReceiver(), packets)] == ["4"]


def test_reordered_packets_give_one_digit_in_order() -> None:
    rng = random.Random(99)
    for _ in range(50):
        packets = press(1000, 1) + press(2000, 2) + press(3000, 3)
        for i in range(0, len(packets) - 1, 2):  # adjacent swaps, at random
            if rng.random() < 0.5:
                packets[i], packets[i + 1] = packets[i + 1], packets[i]
        assert [d.digit for d in deliver(DtmfReceiver(), packets)] == ["1", "2", "3"]


def test_late_update_after_the_end_is_ignored() -> None:
    packets = press(1000, 6)
    late = packets.pop(2)
    assert [d.digit for d in deliver(DtmfReceiver(), [*packets, late])] == ["6"]


def test_lost_end_packets_give_the_digit_after_the_timeout() -> None:
    receiver = DtmfReceiver(timeout=0.25)
    for i, packet in enumerate(press(1000, 9)[:4]):  # start and updates only
        assert receiver.receive(packet, 10.0 + i * TICK) == []
    assert receiver.next_deadline() == pytest.approx(10.06 + 0.25)
    assert receiver.handle_timer(10.3) == []
    assert receiver.handle_timer(10.32) == [DtmfDigit("9", 80, 10.0)]
    assert receiver.next_deadline() is None
    assert receiver.handle_timer(99.0) == []


def test_lost_end_packets_then_a_new_event_reports_both_in_order() -> None:
    packets = press(1000, 1)[:3] + press(2000, 2)
    receiver = DtmfReceiver()
    reports = [receiver.receive(p, i * TICK) for i, p in enumerate(packets)]
    assert [d.digit for r in reports for d in r] == ["1", "2"]
    assert reports[3] == [DtmfDigit("1", 60, 0.0)]  # reported when the next event began


def test_straggler_of_an_older_event_keeps_the_order() -> None:
    # Event 1 survives only as a late end packet that arrives after event 2 has begun.
    first_end = press(1000, 1)[4]
    second = press(2000, 2)
    packets = [second[0], first_end, *second[1:]]
    assert [d.digit for d in deliver(DtmfReceiver(), packets)] == ["1", "2"]


def test_packets_after_the_timeout_report_do_not_repeat_the_digit() -> None:
    receiver = DtmfReceiver(timeout=0.1)
    packets = press(1000, 8)
    receiver.receive(packets[0], 0.0)
    assert [d.digit for d in receiver.handle_timer(0.2)] == ["8"]
    assert [receiver.receive(p, 0.3) for p in packets[1:]] == [[]] * 6


def test_a_new_ssrc_with_the_same_timestamp_is_a_new_event() -> None:
    other = [p._replace(ssrc=0x9999) for p in press(1000, 2)]
    assert [d.digit for d in deliver(DtmfReceiver(), press(1000, 2) + other)] == ["2", "2"]


def test_garbage_and_non_dtmf_events_are_ignored() -> None:
    receiver = DtmfReceiver()
    junk = [
        RtpPacket(TE, True, 0, 1000, 1, b""),
        RtpPacket(TE, True, 0, 1000, 1, b"\x05\x8a\x03"),  # three bytes: short
        event(2000, 16, 800, end=True),  # flash
        event(3000, 255, 800, end=True),
    ]
    assert deliver(receiver, junk) == []
    assert receiver.next_deadline() is None
    assert [d.digit for d in deliver(receiver, press(4000, 0))] == ["0"]


def test_duration_follows_the_clock_rate() -> None:
    receiver = DtmfReceiver(clock_rate=16000)
    assert receiver.receive(event(0, 2, 1600, end=True), 0.0) == [DtmfDigit("2", 100, 0.0)]
