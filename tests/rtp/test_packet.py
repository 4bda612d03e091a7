"""RTP packets: header parsing edge cases, building, serial-number arithmetic, the sender."""

from __future__ import annotations

import random
import struct

from hypothesis import given
from hypothesis import strategies as st

from softswitch.rtp.packet import (
    RtpPacket,
    RtpSender,
    build_rtp,
    parse_rtp,
    seq_diff,
    seq_newer,
    ts_diff,
)

HEADER = struct.Struct("!BBHII")


def raw(first: int, second: int = 0, seq: int = 7, ts: int = 1234, ssrc: int = 0xABCD) -> bytes:
    return HEADER.pack(first, second, seq, ts, ssrc)


def test_parse_reads_every_header_field() -> None:
    data = HEADER.pack(0x80, 0x80 | 8, 0xBEEF, 0xDEADBEEF, 0x01020304) + b"payload"
    assert parse_rtp(data) == RtpPacket(8, True, 0xBEEF, 0xDEADBEEF, 0x01020304, b"payload")


def test_parse_accepts_an_empty_payload() -> None:
    assert parse_rtp(raw(0x80)) == RtpPacket(0, False, 7, 1234, 0xABCD, b"")


def test_parse_refuses_short_packets_and_other_versions() -> None:
    assert parse_rtp(b"") is None
    assert parse_rtp(raw(0x80)[:11]) is None
    for version_bits in (0x00, 0x40, 0xC0):  # versions 0, 1, 3: STUN, junk
        assert parse_rtp(raw(version_bits) + b"x") is None


def test_parse_skips_csrcs() -> None:
    data = raw(0x82) + struct.pack("!II", 11, 22) + b"audio"
    packet = parse_rtp(data)
    assert packet is not None
    assert packet.payload == b"audio"


def test_parse_refuses_csrcs_beyond_the_data() -> None:
    assert parse_rtp(raw(0x83) + struct.pack("!II", 11, 22)) is None


def test_parse_skips_the_extension_header() -> None:
    extension = struct.pack("!HH", 0xBEDE, 2) + bytes(8)  # two 32-bit words of extension
    packet = parse_rtp(raw(0x91) + struct.pack("!I", 5) + extension + b"audio")
    assert packet is not None
    assert packet.payload == b"audio"


def test_parse_refuses_a_truncated_extension() -> None:
    assert parse_rtp(raw(0x90) + b"\xbe\xde") is None  # no room for the extension header
    assert parse_rtp(raw(0x90) + struct.pack("!HH", 0xBEDE, 3) + bytes(8)) is None


def test_parse_removes_padding() -> None:
    packet = parse_rtp(raw(0xA0) + b"audio" + b"\x00\x00\x03")
    assert packet is not None
    assert packet.payload == b"audio"


def test_parse_refuses_impossible_padding() -> None:
    assert parse_rtp(raw(0xA0) + b"audio\x00") is None  # zero padding count
    assert parse_rtp(raw(0xA0) + b"\x00\x09") is None  # more padding than payload


def test_parse_refuses_muxed_rtcp() -> None:
    for packet_type in (200, 201, 202, 203, 204):  # SR RR SDES BYE APP
        assert parse_rtp(raw(0x81, packet_type) + bytes(20)) is None


def test_build_wraps_sequence_and_timestamp() -> None:
    packet = parse_rtp(build_rtp(0, 0x10001, 0x100000002, 9, b"x", marker=True))
    assert packet == RtpPacket(0, True, 1, 2, 9, b"x")


@given(
    pt=st.integers(0, 127).filter(lambda pt: not 72 <= pt <= 76),
    seq=st.integers(0, 0xFFFF),
    ts=st.integers(0, 0xFFFFFFFF),
    ssrc=st.integers(0, 0xFFFFFFFF),
    payload=st.binary(max_size=200),
    marker=st.booleans(),
)
def test_build_then_parse_round_trips(
    pt: int, seq: int, ts: int, ssrc: int, payload: bytes, marker: bool
) -> None:
    data = build_rtp(pt, seq, ts, ssrc, payload, marker)
    assert len(data) == 12 + len(payload)
    assert parse_rtp(data) == RtpPacket(pt, marker, seq, ts, ssrc, payload)


@given(st.binary(max_size=64))
def test_parse_never_raises_and_never_overreads(data: bytes) -> None:
    packet = parse_rtp(data)
    if packet is not None:
        assert len(packet.payload) <= len(data) - 12


def test_sequence_difference_across_the_wrap() -> None:
    assert seq_diff(2, 65534) == 4
    assert seq_diff(65534, 2) == -4
    assert seq_diff(100, 100) == 0
    assert seq_diff(0x8000 + 5, 5) == -0x8000  # exactly half way counts as older
    assert seq_newer(0, 65535)
    assert not seq_newer(65535, 0)
    assert not seq_newer(9, 9)


def test_timestamp_difference_across_the_wrap() -> None:
    assert ts_diff(80, 0xFFFFFFFF - 79) == 160
    assert ts_diff(0xFFFFFFFF - 79, 80) == -160
    assert ts_diff(1_000_000, 999_840) == 160


def test_sender_numbering_is_reproducible_with_a_seeded_rng() -> None:
    a, b = RtpSender(rng=random.Random(42)), RtpSender(rng=random.Random(42))
    assert (a.ssrc, a.sequence, a.timestamp) == (b.ssrc, b.sequence, b.timestamp)
    assert a.packet(b"x", 0) == b.packet(b"x", 0)


def test_sender_advances_sequence_and_clock_per_packet() -> None:
    sender = RtpSender(ssrc=5, sequence=65534, timestamp=0xFFFFFF00)
    packets = [parse_rtp(sender.packet(bytes([i]), 8)) for i in range(3)]
    assert [(p.sequence, p.timestamp) for p in packets if p] == [
        (65534, 0xFFFFFF00),
        (65535, 0xFFFFFFA0),
        (0, 0x40),
    ]
    assert all(p is not None and p.ssrc == 5 and p.payload_type == 8 for p in packets)


def test_sender_marks_the_first_packet_and_on_request() -> None:
    sender = RtpSender(ssrc=1, sequence=0, timestamp=0)
    marks = []
    for i in range(5):
        if i == 3:
            sender.set_marker_next()
        packet = parse_rtp(sender.packet(b"", 0))
        assert packet is not None
        marks.append(packet.marker)
    assert marks == [True, False, False, True, False]
    explicit = parse_rtp(sender.packet(b"", 0, marker=True))
    assert explicit is not None and explicit.marker


def test_sender_skip_moves_the_clock_without_a_packet() -> None:
    sender = RtpSender(ssrc=1, sequence=10, timestamp=1000)
    sender.packet(b"", 0, samples=160)
    sender.skip(480)  # 60 ms of silence suppression
    packet = parse_rtp(sender.packet(b"", 0, samples=80))
    assert packet is not None
    assert (packet.sequence, packet.timestamp) == (11, 1000 + 160 + 480)
    assert sender.timestamp == 1000 + 160 + 480 + 80


def test_packet_at_uses_the_given_timestamp_and_shares_the_sequence() -> None:
    sender = RtpSender(ssrc=1, sequence=10, timestamp=1000)
    event = parse_rtp(sender.packet_at(b"ev", 101, 777, marker=True))
    audio = parse_rtp(sender.packet(b"au", 0))
    assert event == RtpPacket(101, True, 10, 777, 1, b"ev")
    assert audio == RtpPacket(0, False, 11, 1000, 1, b"au")
