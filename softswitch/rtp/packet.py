"""RTP packets (RFC 3550 §5.1): parse, build, and the sender's numbering.

Only the media ports parse RTP (the relay forwards packets without looking inside), but they do
it for every packet of every stream they consume or produce: 50 packets/s per stream each way.
So both directions are one precompiled ``struct`` call plus a slice, and the packet is a
``NamedTuple`` (cheaper to make than a dataclass, still frozen and typed).

Sequence numbers wrap at 2**16 and timestamps at 2**32; the ``*_diff`` helpers give the signed
distance the RFC 1982 way (serial number arithmetic), which is how every comparison of them
must be made.
"""

from __future__ import annotations

import random
import struct
from typing import NamedTuple

__all__ = [
    "RTP_HEADER_SIZE",
    "RtpPacket",
    "RtpSender",
    "build_rtp",
    "parse_rtp",
    "seq_diff",
    "seq_newer",
    "ts_diff",
]

RTP_HEADER_SIZE = 12
_HEADER = struct.Struct("!BBHII")
_pack = _HEADER.pack
_unpack_from = _HEADER.unpack_from

# With rtcp-mux (RFC 5761 §4) RTCP SR/RR/SDES/BYE/APP arrive on the RTP socket; their packet
# type byte reads as marker + payload type 72..76, which is why those payload types are never
# used for RTP.
_RTCP_AS_PT = range(72, 77)
# SystemRandom: unpredictable SSRC and initial numbers are what make blind injection into a
# stream hard (RFC 3550 §5.1 asks for random initial values for exactly that reason).
_SYSTEM_RANDOM = random.SystemRandom()


class RtpPacket(NamedTuple):
    """One parsed RTP packet: the fields a media port uses, the payload without padding."""

    payload_type: int
    marker: bool
    sequence: int
    timestamp: int
    ssrc: int
    payload: bytes


# NamedTuple's generated __new__ takes keywords and costs twice what the bare tuple
# constructor does; parse_rtp runs once per received packet, so it calls the latter.
_new_packet = tuple.__new__


def parse_rtp(data: bytes) -> RtpPacket | None:
    """The packet in ``data``, or None if it is not a well-formed RTP version 2 packet.

    CSRCs and the header extension are skipped; padding is removed. RTCP packets that arrive
    on a muxed socket are refused too. The hot path: one unpack, bit tests and one slice.
    """
    if len(data) < RTP_HEADER_SIZE:
        return None
    first, second, sequence, timestamp, ssrc = _unpack_from(data)
    if first & 0xC0 != 0x80:
        return None
    payload_type = second & 0x7F
    if payload_type in _RTCP_AS_PT:
        return None
    start = RTP_HEADER_SIZE + ((first & 0x0F) << 2)
    if first & 0x10:  # extension: 16-bit profile, 16-bit length in 32-bit words (§5.3.1)
        if len(data) < start + 4:
            return None
        start += 4 + (((data[start + 2] << 8) | data[start + 3]) << 2)
    end = len(data)
    if first & 0x20:  # padding: the last octet counts the padding octets, itself included
        padding = data[-1]
        if padding == 0:
            return None
        end -= padding
    if end < start:
        return None
    fields = (payload_type, second > 0x7F, sequence, timestamp, ssrc, data[start:end])
    return _new_packet(RtpPacket, fields)


def build_rtp(pt: int, seq: int, ts: int, ssrc: int, payload: bytes, marker: bool = False) -> bytes:
    """A version 2 RTP packet without CSRCs, extension or padding. ``seq`` and ``ts`` wrap."""
    return _pack(0x80, (pt | 0x80) if marker else pt, seq & 0xFFFF, ts & 0xFFFFFFFF, ssrc) + payload


def seq_diff(a: int, b: int) -> int:
    """``a - b`` for 16-bit sequence numbers, in -32768..32767 (positive: ``a`` is newer)."""
    return ((a - b + 0x8000) & 0xFFFF) - 0x8000


def seq_newer(a: int, b: int) -> bool:
    """Whether sequence number ``a`` comes after ``b``, across the wrap."""
    return ((a - b + 0x8000) & 0xFFFF) > 0x8000


def ts_diff(a: int, b: int) -> int:
    """``a - b`` for 32-bit RTP timestamps, in -2**31..2**31-1."""
    return ((a - b + 0x80000000) & 0xFFFFFFFF) - 0x80000000


class RtpSender:
    """The numbering of one outgoing stream: SSRC, sequence number and RTP clock.

    The timestamp is the RTP clock of the stream, advanced by the samples each packet carries
    and by ``skip`` while nothing is sent, so it keeps running in real time across pauses as
    RFC 3550 §5.1 requires. ``packet_at`` sends with another timestamp without moving the
    clock: RFC 4733 events carry the timestamp at which the event began (see
    ``softswitch.rtp.dtmf.DtmfSender``) while sharing the stream's sequence numbers.

    Pass ``rng`` (e.g. ``random.Random(seed)``) or explicit values to make numbering
    reproducible; by default they come from the system CSPRNG.
    """

    __slots__ = ("_marker_next", "sequence", "ssrc", "timestamp")

    def __init__(
        self,
        *,
        ssrc: int | None = None,
        sequence: int | None = None,
        timestamp: int | None = None,
        rng: random.Random | None = None,
    ) -> None:
        rand = rng if rng is not None else _SYSTEM_RANDOM
        self.ssrc = ssrc if ssrc is not None else rand.getrandbits(32)
        # The next packet's sequence number and timestamp.
        self.sequence = sequence if sequence is not None else rand.getrandbits(16)
        self.timestamp = timestamp if timestamp is not None else rand.getrandbits(32)
        # The first packet of a stream starts a talkspurt (RFC 3551 §4.1).
        self._marker_next = True

    def packet(self, payload: bytes, pt: int, samples: int = 160, marker: bool = False) -> bytes:
        """The next packet carrying ``samples`` samples; advances sequence and clock."""
        data = self.packet_at(payload, pt, self.timestamp, marker)
        self.timestamp = (self.timestamp + samples) & 0xFFFFFFFF
        return data

    def packet_at(self, payload: bytes, pt: int, timestamp: int, marker: bool = False) -> bytes:
        """The next packet with an explicit timestamp; advances the sequence number only."""
        if self._marker_next:
            marker = True
            self._marker_next = False
        seq = self.sequence
        self.sequence = (seq + 1) & 0xFFFF
        pt = (pt | 0x80) if marker else pt
        return _pack(0x80, pt, seq, timestamp & 0xFFFFFFFF, self.ssrc) + payload

    def skip(self, samples: int) -> None:
        """Let ``samples`` of time pass without sending (silence suppression, a pause)."""
        self.timestamp = (self.timestamp + samples) & 0xFFFFFFFF

    def set_marker_next(self) -> None:
        """Set the marker bit on the next packet (the first of a talkspurt after a pause)."""
        self._marker_next = True
