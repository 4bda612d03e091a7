"""The relay socket core, without sockets: forwarding, latching, strict source rules."""

from __future__ import annotations

import asyncio
import struct
from typing import Any, cast

from softswitch.rtp.relay import RTP_PROBATION, Address, RelaySocket

PHONE_A = ("10.0.0.1", 4000)
PHONE_B = ("10.0.0.2", 5000)
NAT_B = ("198.51.100.9", 61000)
ELSEWHERE = ("192.0.2.66", 7777)


class FakeTransport:
    """Records what the core asks to send (a unit-test fake for the sans-IO core)."""

    def __init__(self) -> None:
        self.sent: list[tuple[bytes, Address]] = []

    def sendto(self, data: bytes, addr: Address) -> None:
        self.sent.append((data, addr))


def rtp(seq: int, ssrc: int, payload: bytes = b"\xd5" * 160) -> bytes:
    return struct.pack("!BBHII", 0x80, 8, seq & 0xFFFF, seq * 160, ssrc) + payload


def rtcp(ssrc: int) -> bytes:
    return struct.pack("!BBHI", 0x80, 200, 6, ssrc) + bytes(20)


def make_pair(
    *, rtcp_sockets: bool = False
) -> tuple[RelaySocket, RelaySocket, FakeTransport, FakeTransport]:
    a, b = RelaySocket(rtcp=rtcp_sockets), RelaySocket(rtcp=rtcp_sockets)
    ta, tb = FakeTransport(), FakeTransport()
    a.connection_made(cast(asyncio.BaseTransport, cast(Any, ta)))
    b.connection_made(cast(asyncio.BaseTransport, cast(Any, tb)))
    a.link(b)
    b.link(a)
    return a, b, ta, tb


def test_packets_go_out_of_the_peer_socket_unmodified() -> None:
    a, b, ta, tb = make_pair()
    a.set_remote(PHONE_A)
    b.set_remote(PHONE_B)
    packet = rtp(1, 0x1111)
    a.datagram_received(packet, PHONE_A)
    assert tb.sent == [(packet, PHONE_B)]
    assert tb.sent[0][0] is packet  # not even copied
    b.datagram_received(rtp(9, 0x2222), PHONE_B)
    assert ta.sent == [(rtp(9, 0x2222), PHONE_A)]
    assert (a.packets_in, a.bytes_in, b.packets_out, b.bytes_out) == (1, 172, 1, 172)


def test_packet_before_the_peer_has_any_address_is_dropped() -> None:
    a, _b, _, tb = make_pair()
    a.datagram_received(rtp(1, 1), PHONE_A)
    assert tb.sent == []
    assert a.dropped == 1
    assert a.source == PHONE_A  # but the sender's own source is learnt


def test_unlinked_socket_drops() -> None:
    a, b, _, tb = make_pair()
    b.set_remote(PHONE_B)
    a.link(None)
    a.datagram_received(rtp(1, 1), PHONE_A)
    assert tb.sent == [] and a.dropped == 1


def test_latches_to_the_real_source_after_sdp_pointed_elsewhere() -> None:
    a, b, _, tb = make_pair()
    b.set_remote(PHONE_B)  # private address from the SDP
    a.datagram_received(rtp(1, 1), PHONE_A)
    assert tb.sent[-1][1] == PHONE_B
    b.datagram_received(rtp(100, 0xB), NAT_B)  # the phone's packets come through NAT
    a.datagram_received(rtp(2, 1), PHONE_A)
    assert tb.sent[-1][1] == NAT_B
    assert b.source == NAT_B and b.latches == 1


def test_same_sdp_address_again_keeps_the_latch_a_new_one_resets_it() -> None:
    _, b, _, _ = make_pair()
    b.set_remote(PHONE_B)
    b.datagram_received(rtp(1, 0xB), NAT_B)
    b.set_remote(PHONE_B)  # a session refresh re-INVITE
    assert b.dest == NAT_B
    b.set_remote(("10.0.0.3", 5000))
    assert b.source is None and b.dest == ("10.0.0.3", 5000)


def test_stray_packet_with_the_streams_ssrc_never_hijacks() -> None:
    a, b, ta, _ = make_pair()
    a.set_remote(PHONE_A)
    b.datagram_received(rtp(1, 0xB), NAT_B)
    for seq in range(2, 12):  # even a sequence of them
        b.datagram_received(rtp(seq, 0xB), ELSEWHERE)
    assert b.source == NAT_B
    assert b.rejected == 10
    assert len(ta.sent) == 1  # the copies were not relayed either


def test_new_ssrc_from_a_new_source_is_adopted_after_probation() -> None:
    a, b, ta, _ = make_pair()
    a.set_remote(PHONE_A)
    b.datagram_received(rtp(1, 0xB), NAT_B)
    b.datagram_received(rtp(500, 0xC), ELSEWHERE)  # one stray packet: rejected
    assert b.source == NAT_B
    for seq in range(501, 500 + RTP_PROBATION):
        b.datagram_received(rtp(seq, 0xC), ELSEWHERE)
    assert b.source == ELSEWHERE
    assert b.latches == 2
    # Only the packet that completed probation was relayed, after the first stream's.
    assert [struct.unpack_from("!I", p, 8)[0] for p, _ in ta.sent] == [0xB, 0xC]
    assert b.last_ssrc == 0xC


def test_probation_needs_consecutive_sequence_numbers() -> None:
    _, b, _, _ = make_pair()
    b.datagram_received(rtp(1, 0xB), NAT_B)
    for seq in (500, 502, 504, 506):
        b.datagram_received(rtp(seq, 0xC), ELSEWHERE)
    assert b.source == NAT_B
    b.datagram_received(rtp(0, 0xD), ELSEWHERE)
    b.datagram_received(rtp(1, 0xD), ELSEWHERE)
    assert b.source == ELSEWHERE


def test_sequence_wrap_counts_as_consecutive() -> None:
    _, b, _, _ = make_pair()
    b.datagram_received(rtp(1, 0xB), NAT_B)
    b.datagram_received(rtp(0xFFFF, 0xC), ELSEWHERE)
    b.datagram_received(rtp(0x10000, 0xC), ELSEWHERE)
    assert b.source == ELSEWHERE


def test_packet_from_the_latched_source_interrupts_probation() -> None:
    _, b, _, _ = make_pair()
    b.datagram_received(rtp(1, 0xB), NAT_B)
    b.datagram_received(rtp(500, 0xC), ELSEWHERE)
    b.datagram_received(rtp(2, 0xB), NAT_B)
    b.datagram_received(rtp(501, 0xC), ELSEWHERE)
    assert b.source == NAT_B


def test_ssrc_change_from_the_same_source_passes_through() -> None:
    a, b, _, tb = make_pair()
    b.set_remote(PHONE_B)
    a.datagram_received(rtp(1, 0x1111), PHONE_A)
    a.datagram_received(rtp(7000, 0x2222), PHONE_A)
    assert [p for p, _ in tb.sent] == [rtp(1, 0x1111), rtp(7000, 0x2222)]
    assert a.last_ssrc == 0x2222 and a.latches == 1 and a.rejected == 0


def test_non_rtp_packets_are_rejected_and_do_not_latch() -> None:
    a, b, _, tb = make_pair()
    b.set_remote(PHONE_B)
    stun = struct.pack("!HHI", 0x0001, 0, 0x2112A442) + bytes(12)
    a.datagram_received(stun, PHONE_A)
    a.datagram_received(b"\x80\x00", PHONE_A)  # too short for RTP
    assert a.source is None and a.rejected == 2 and tb.sent == []


def test_hold_mutes_even_a_latched_leg_and_resume_unmutes() -> None:
    a, b, _, tb = make_pair()
    b.set_remote(PHONE_B)
    b.datagram_received(rtp(1, 0xB), NAT_B)
    b.set_remote(None, muted=True)  # c=0.0.0.0
    a.datagram_received(rtp(1, 1), PHONE_A)
    b.datagram_received(rtp(2, 0xB), NAT_B)  # music from the held phone still flows to A
    a.datagram_received(rtp(2, 1), PHONE_A)
    assert tb.sent == [] and a.dropped == 2
    assert b.packets_in == 2
    b.set_remote(PHONE_B)
    a.datagram_received(rtp(3, 1), PHONE_A)
    assert tb.sent == [(rtp(3, 1), PHONE_B)]


def test_sink_takes_rtp_instead_of_the_peer() -> None:
    a, b, _, tb = make_pair()
    b.set_remote(PHONE_B)
    got: list[bytes] = []
    a.set_sink(got.append)
    a.datagram_received(rtp(1, 1), PHONE_A)
    assert got == [rtp(1, 1)] and tb.sent == []
    a.set_sink(None)
    a.datagram_received(rtp(2, 1), PHONE_A)
    assert got == [rtp(1, 1)] and tb.sent == [(rtp(2, 1), PHONE_B)]


def test_send_from_a_media_port() -> None:
    a, _, ta, _ = make_pair()
    a.send(rtp(1, 5))
    assert ta.sent == [] and a.dropped == 1
    a.set_remote(PHONE_A)
    a.send(rtp(2, 5))
    assert ta.sent == [(rtp(2, 5), PHONE_A)] and a.packets_out == 1


def test_rtcp_uses_the_sender_ssrc_and_no_sequence() -> None:
    a, b, ta, _ = make_pair(rtcp_sockets=True)
    a.set_remote(PHONE_A)
    b.datagram_received(rtcp(0xB), NAT_B)
    b.datagram_received(rtcp(0xB), ELSEWHERE)  # same SSRC elsewhere: rejected
    assert b.source == NAT_B and b.last_ssrc == 0xB
    b.datagram_received(rtcp(0xC), ELSEWHERE)
    b.datagram_received(rtcp(0xC), ELSEWHERE)
    assert b.source == ELSEWHERE
    assert [p for p, _ in ta.sent] == [rtcp(0xB), rtcp(0xC)]


def test_closed_socket_sends_nothing_and_stats_snapshot() -> None:
    a, b, _, tb = make_pair()
    b.set_remote(PHONE_B)
    a.datagram_received(rtp(1, 0xABCDEF01), PHONE_A)
    stats = a.stats()
    assert (stats.packets_in, stats.bytes_in, stats.source) == (1, 172, PHONE_A)
    assert stats.last_ssrc == 0xABCDEF01
    assert b.stats().packets_out == 1 and b.stats().remote == PHONE_B
    b.close()
    a.datagram_received(rtp(2, 0xABCDEF01), PHONE_A)
    assert len(tb.sent) == 1
