"""The relay's process totals for ``/metrics``: packets received, relayed, dropped and
rejected, RTP and RTCP, and the packets the phones report lost.

A counter must only grow while the process lives, but a socket's counters are zeroed when
its endpoint is parked for the next call. So the relay hands each endpoint to ``retire``
at ``close_endpoint``, just before the zeroing, and a reading is the retired counts plus the
live endpoints' counts so far. Nothing is added to the per-packet path: the relay's sockets
count already, this reads them once per endpoint at close and once per scrape.

Packets *lost* are what the phones say in RTCP (``rtcp.rtcp_cumulative_lost`` of the last
report each leg sent). The relay passes RTP through untouched (same SSRC and sequence
numbers), so a phone's count is the loss on the whole path from the other phone to it. A
loss reported after a leg's last report is not seen, and RTCP-mux phones (RTCP on the RTP
port) are not read.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from softswitch.rtp.relay import RelaySocket
from softswitch.rtp.rtcp import rtcp_cumulative_lost

__all__ = ["RelayTotals", "RtpTotals", "StreamTotals"]


@dataclass(frozen=True, slots=True)
class StreamTotals:
    """Packets of one kind (RTP or RTCP) since start: received from phones, sent to phones
    (relayed from the other leg or played by the switch), dropped for want of a destination,
    rejected from an unexpected source (strict latching) or not being RTP at all."""

    received: int = 0
    sent: int = 0
    dropped: int = 0
    rejected: int = 0


@dataclass(frozen=True, slots=True)
class RtpTotals:
    rtp: StreamTotals
    rtcp: StreamTotals
    lost: int  # packets the phones reported lost, RTCP cumulative counts


class _Endpoint(Protocol):
    """``transport.RtpEndpoint`` (named by shape: the transport imports this module)."""

    @property
    def local_port(self) -> int: ...
    @property
    def rtp(self) -> RelaySocket: ...
    @property
    def rtcp(self) -> RelaySocket: ...


class RelayTotals:
    """Counts of the endpoints a relay closed, and the highest loss each live one reported."""

    __slots__ = ("_counts", "_lost", "_reported")

    def __init__(self) -> None:
        self._counts = [0] * 8  # received, sent, dropped, rejected; RTP then RTCP
        self._lost = 0
        self._reported: dict[int, int] = {}  # port -> the highest loss its phone reported

    def retire(self, endpoint: _Endpoint) -> None:
        """Keep a closing endpoint's counts; call before its sockets are zeroed, once."""
        _add(self._counts, endpoint)
        self._lost += self._lost_of(endpoint)
        self._reported.pop(endpoint.local_port, None)

    def read(self, live: Iterable[_Endpoint]) -> RtpTotals:
        """Since start: the retired counts plus those of ``live`` (the open endpoints)."""
        counts, lost = list(self._counts), self._lost
        for endpoint in live:
            _add(counts, endpoint)
            lost += self._lost_of(endpoint)
        return RtpTotals(StreamTotals(*counts[:4]), StreamTotals(*counts[4:]), lost)

    def _lost_of(self, endpoint: _Endpoint) -> int:
        """The phone's latest loss report, never less than an earlier one (a report without
        blocks, or a new stream counting from zero, must not make the counter go back)."""
        port = endpoint.local_port
        seen = self._reported.get(port, 0)
        reported = rtcp_cumulative_lost(endpoint.rtcp.last)
        if reported is not None and reported > seen:
            self._reported[port] = seen = reported
        return seen


def _add(counts: list[int], endpoint: _Endpoint) -> None:
    for at, sock in ((0, endpoint.rtp), (4, endpoint.rtcp)):
        counts[at] += sock.packets_in
        counts[at + 1] += sock.packets_out
        counts[at + 2] += sock.dropped
        counts[at + 3] += sock.rejected
