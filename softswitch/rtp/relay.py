"""The per-socket core of the RTP/RTCP relay: latching and forwarding, no sockets.

One ``RelaySocket`` is the asyncio protocol of one UDP socket on the switch (a leg's RTP or its
RTCP socket). It is written for the hot path: a relayed call is 200 packets/s through the
switch, so a packet costs one comparison of its source with the latched one, one attribute
lookup of the peer socket and one ``sendto``; payloads are never parsed or copied. Everything
else (learning a source, SSRC checks) runs only for packets from an unexpected source.

Where a socket sends (its ``dest``), symmetric RTP (RFC 4961 practice, "comedia"):

- before any packet arrives: the address from the SDP (``set_remote``);
- once packets arrive: the address they come from ("latched"), so phones behind NAT work;
- a new SDP address resets the latch; 0.0.0.0 or port 0 (hold, RFC 2543; disabled stream)
  mutes the socket: nothing is sent until a usable address is set again.

Which source is accepted once latched, the strict-RTP rule (Asterisk's ``strictrtp`` idea):

- packets from the latched source always pass, whatever their SSRC (a phone restarting its
  stream from the same place just continues);
- a packet from another source carrying the SSRC of the current stream is dropped: it is a
  copy or a spoof of the stream we already have, and must never steal it;
- another source with a new SSRC (a far end that restarted its media elsewhere) is adopted
  after ``probation`` consecutive packets from it with that SSRC (and, for RTP, consecutive
  sequence numbers, RFC 3550 A.1); those probation packets are dropped. One stray packet
  therefore never hijacks a call;
- before anything is latched, the first valid packet latches at once (the SDP address of a
  phone behind NAT is usually unreachable, so waiting would only lose audio).

Media ports (IVR, recording, conference) attach with a ``sink``: received RTP goes to the
callback instead of a peer, and ``send`` emits packets they produce.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NewType, Protocol, cast

__all__ = [
    "RTCP_PROBATION",
    "RTP_PROBATION",
    "Address",
    "RelaySocket",
    "SocketStats",
    "Ssrc",
]

Address = tuple[Any, ...]  # (host, port), or the 4-tuple asyncio gives for IPv6
Ssrc = NewType("Ssrc", int)
Sink = Callable[[bytes], None]

# RFC 3550 A.1 MIN_SEQUENTIAL: a source is valid after two packets in sequence.
RTP_PROBATION = 2
RTCP_PROBATION = 2


class _Sender(Protocol):
    def sendto(self, data: bytes, addr: Address, /) -> None: ...


class _Closed:
    """Stands for the transport before connection_made and after close: sends nothing."""

    def sendto(self, data: bytes, addr: Address, /) -> None:
        return None


_CLOSED = _Closed()


@dataclass(frozen=True, slots=True)
class SocketStats:
    """A snapshot of one socket. ``dropped``: received or asked to send with nowhere to send;
    ``rejected``: not accepted from their source (not RTP/RTCP, or strict latching)."""

    packets_in: int
    bytes_in: int
    packets_out: int
    bytes_out: int
    dropped: int
    rejected: int
    errors: int
    latches: int
    last_ssrc: Ssrc | None
    source: Address | None
    remote: Address | None
    muted: bool


class RelaySocket(asyncio.DatagramProtocol):
    """Protocol and latching state of one relay socket (RTP or RTCP)."""

    __slots__ = (
        "_cand_addr",
        "_cand_count",
        "_cand_mark",
        "_cand_seq",
        "_cand_ssrc",
        "_min_len",
        "_probation",
        "_ssrc_at",
        "bytes_in",
        "bytes_out",
        "dest",
        "dropped",
        "errors",
        "is_rtcp",
        "last",
        "latches",
        "muted",
        "out",
        "packets_in",
        "packets_out",
        "peer",
        "rejected",
        "remote",
        "sink",
        "source",
        "transport",
    )

    def __init__(self, *, rtcp: bool = False) -> None:
        self.is_rtcp = rtcp
        # RTP: 12-byte header, SSRC at 8 (RFC 3550 §5.1); RTCP: SSRC of sender at 4 (§6.4).
        self._min_len, self._ssrc_at = (8, 4) if rtcp else (12, 8)
        self._probation = RTCP_PROBATION if rtcp else RTP_PROBATION
        self.transport: _Sender = _CLOSED
        self._clear()

    def _clear(self) -> None:
        """Forget everything about the call this socket served (a reused socket starts clean)."""
        self.remote: Address | None = None  # from SDP
        self.muted = False  # SDP said hold (0.0.0.0) or disabled (port 0)
        self.source: Address | None = None  # latched
        self.dest: Address | None = None  # where packets for this leg go now
        self.peer: RelaySocket | None = None  # linked socket of the other leg
        self.sink: Sink | None = None
        self.out: RelaySocket | None = None  # peer, unless a sink takes the packets
        self.last: bytes | None = None  # last accepted packet: its SSRC, read lazily
        self.packets_in = self.bytes_in = self.packets_out = self.bytes_out = 0
        self.dropped = self.rejected = self.errors = self.latches = 0
        # The source on probation (see the module docstring): address, SSRC, last sequence
        # number, packets so far, and packets_in when its last packet came.
        self._cand_addr: Address | None = None
        self._cand_ssrc: Ssrc | None = None
        self._cand_seq = -1
        self._cand_count = 0
        self._cand_mark = -1

    # --- asyncio protocol ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(_Sender, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = _CLOSED

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable from a phone that went away: nothing to do but count it.
        self.errors += 1

    def datagram_received(self, data: bytes, addr: Address) -> None:  # the hot path
        self.packets_in += 1
        size = len(data)
        self.bytes_in += size
        if addr != self.source and not self._admit(data, addr):
            return
        self.last = data
        out = self.out
        if out is not None:
            dest = out.dest
            if dest is not None:
                out.transport.sendto(data, dest)
                out.packets_out += 1
                out.bytes_out += size
                return
        else:
            sink = self.sink
            if sink is not None:
                sink(data)
                return
        self.dropped += 1

    # --- control --------------------------------------------------------------------------

    def send(self, data: bytes) -> None:
        """Send a packet produced by the switch (a media port) to this leg."""
        dest = self.dest
        if dest is None:
            self.dropped += 1
            return
        self.transport.sendto(data, dest)
        self.packets_out += 1
        self.bytes_out += len(data)

    def set_remote(self, remote: Address | None, *, muted: bool = False) -> None:
        """Where the SDP says this leg wants packets; a change forgets the latched source."""
        if muted:
            remote = None
        if remote != self.remote or muted != self.muted:
            self.source = None
            self._reset_candidate()
        self.remote = remote
        self.muted = muted
        self._update_dest()

    def link(self, peer: RelaySocket | None) -> None:
        """Send what this socket receives out of ``peer`` (None: unlink)."""
        self.peer = peer
        self._route()

    def set_sink(self, sink: Sink | None) -> None:
        self.sink = sink
        self._route()

    def reset(self) -> None:
        """Make the open socket ready for another call: no remote, no latch, no counters."""
        self._clear()

    def close(self) -> None:
        self.peer = self.sink = self.out = None
        self.transport = _CLOSED

    @property
    def last_ssrc(self) -> Ssrc | None:
        return _ssrc(self.last, self._ssrc_at)

    def stats(self) -> SocketStats:
        return SocketStats(
            self.packets_in,
            self.bytes_in,
            self.packets_out,
            self.bytes_out,
            self.dropped,
            self.rejected,
            self.errors,
            self.latches,
            self.last_ssrc,
            self.source,
            self.remote,
            self.muted,
        )

    # --- latching (slow path: packets from a source other than the latched one) ------------

    def _admit(self, data: bytes, addr: Address) -> bool:
        if len(data) < self._min_len or data[0] & 0xC0 != 0x80:  # not version 2: STUN, junk
            self.rejected += 1
            return False
        if self.source is None:
            self._latch(addr)
            return True
        ssrc = _ssrc(data, self._ssrc_at)
        if ssrc == self.last_ssrc or not self._on_probation(data, addr, ssrc):
            self.rejected += 1
            return False
        self._latch(addr)
        return True

    def _on_probation(self, data: bytes, addr: Address, ssrc: Ssrc | None) -> bool:
        """Count one more packet for a candidate source; True once it has served probation."""
        seq = -1 if self.is_rtcp else (data[2] << 8) | data[3]
        consecutive = (
            addr == self._cand_addr
            and ssrc == self._cand_ssrc
            and self._cand_mark == self.packets_in - 1  # nothing else arrived in between
            and (self.is_rtcp or seq == (self._cand_seq + 1) & 0xFFFF)
        )
        if consecutive:
            self._cand_count += 1
        else:
            self._cand_addr, self._cand_ssrc, self._cand_count = addr, ssrc, 1
        self._cand_seq = seq
        self._cand_mark = self.packets_in
        return self._cand_count >= self._probation

    def _latch(self, addr: Address) -> None:
        self.source = addr
        self.latches += 1
        self._reset_candidate()
        self._update_dest()

    def _reset_candidate(self) -> None:
        self._cand_addr = None
        self._cand_ssrc = None
        self._cand_seq = -1
        self._cand_count = 0
        self._cand_mark = -1

    def _update_dest(self) -> None:
        self.dest = None if self.muted else (self.source or self.remote)

    def _route(self) -> None:
        self.out = None if self.sink is not None else self.peer


def _ssrc(packet: bytes | None, offset: int) -> Ssrc | None:
    if packet is None or len(packet) < offset + 4:
        return None
    return Ssrc(int.from_bytes(packet[offset : offset + 4], "big"))
