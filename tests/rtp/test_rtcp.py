"""The loss the phones report in RTCP, read from SR and RR report blocks (RFC 3550 §6.4)."""

from __future__ import annotations

import struct

import pytest

from softswitch.rtp.rtcp import rtcp_cumulative_lost


def report_block(ssrc: int, lost: int) -> bytes:
    return struct.pack("!IB", ssrc, 5) + lost.to_bytes(3, "big", signed=True) + bytes(16)


def rtcp(kind: int, blocks: list[bytes], ssrc: int = 0x1234) -> bytes:
    sender_info = bytes(20) if kind == 200 else b""
    body = struct.pack("!I", ssrc) + sender_info + b"".join(blocks)
    return struct.pack("!BBH", 0x80 | len(blocks), kind, len(body) // 4) + body


def sdes(ssrc: int = 0x1234) -> bytes:
    chunk = struct.pack("!IBB", ssrc, 1, 2) + b"ab" + bytes(4)  # CNAME "ab", padded
    return struct.pack("!BBH", 0x81, 202, len(chunk) // 4) + chunk


def test_cumulative_loss_from_sender_and_receiver_reports() -> None:
    sr = rtcp(200, [report_block(1, 7), report_block(2, 5)])
    assert rtcp_cumulative_lost(sr) == 12
    assert rtcp_cumulative_lost(rtcp(201, [report_block(1, 40)]) + sdes()) == 40
    assert rtcp_cumulative_lost(sdes() + rtcp(201, [report_block(1, 3)])) == 3
    assert rtcp_cumulative_lost(rtcp(201, [])) == 0  # a report, with nothing received yet
    assert rtcp_cumulative_lost(rtcp(201, [report_block(1, -4)])) == 0  # duplicates


def test_every_report_of_a_compound_packet_counts() -> None:
    compound = rtcp(200, [report_block(1, 2)]) + sdes() + rtcp(201, [report_block(2, 0x7FFFFF)])
    assert rtcp_cumulative_lost(compound) == 2 + 0x7FFFFF  # the largest 24-bit count


def test_a_malformed_tail_keeps_what_came_before_it() -> None:
    good = rtcp(201, [report_block(1, 6)])
    assert rtcp_cumulative_lost(good + b"\x80\xc9\x00\x09") == 6  # says 40 bytes, has 4
    assert rtcp_cumulative_lost(good + b"\x00\x00") == 6  # not even a header


@pytest.mark.parametrize(
    "packet",
    [
        None,
        b"",
        sdes(),  # no report in it
        rtcp(201, [report_block(1, 7)])[:-1],  # cut short
        b"\x00" + rtcp(201, [report_block(1, 7)])[1:],  # not version 2
        struct.pack("!BBH", 0x82, 201, 7) + bytes(28),  # says 2 blocks, holds 1
    ],
)
def test_no_loss_is_read_from_what_is_no_report(packet: bytes | None) -> None:
    assert rtcp_cumulative_lost(packet) is None
