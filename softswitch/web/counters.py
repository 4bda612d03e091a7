"""Process totals for ``/metrics`` that no owner keeps today, counted where they happen.

A counter must only grow while the process lives, but the numbers it is made of do not stay:
an RTP socket's counters are zeroed when its endpoint is parked for the next call, the
guard forgets a failure once it bans, a call leaves the registry when it ends. So:

- ``CountingRelay`` is the ``RtpRelay`` that adds an endpoint's packet counters to its
  totals at ``close_endpoint``, just before they are zeroed; ``totals()`` is those plus the
  live endpoints' counters. Nothing is added to the per-packet path: the relay's sockets count
  already, this reads them once per endpoint at close and once per scrape.
- Packets *lost* are what the phones say in RTCP: every SR/RR a phone sends carries, per
  stream it receives, the cumulative number of packets lost (RFC 3550 §6.4.1), and the relay
  keeps the last RTCP packet each leg sent (``RelaySocket.last``). The relay passes RTP
  through untouched (same SSRC and sequence numbers), so a phone's count is the loss on the
  whole path from the other phone to it. Read at each scrape and at close; a loss reported
  after a leg's last report is not seen, and RTCP-mux phones (RTCP on the RTP port) are not
  read.
- ``CountingGuard`` is the ``Guard`` that counts failed authentications and bans, and says
  how many bans are in force (``Guard`` keeps an expired ban until that address is seen).
- ``CallCounter`` counts calls as the B2BUA finishes them (its ``on_finished`` hook).

These belong with their owners (DESIGN habit 4); until the owners count, the app builds the
counting variants (see the package docstring).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Protocol

from softswitch.rtp.transport import RtpEndpoint, RtpRelay
from softswitch.sip.guard import Guard

__all__ = [
    "CallCounter",
    "CountingGuard",
    "CountingRelay",
    "RtpTotals",
    "StreamTotals",
    "rtcp_cumulative_lost",
]

_SR, _RR = 200, 201
_BLOCK = 24  # bytes in one report block
MAX_BANS_TRACKED = 65536  # the guard's own default cap on its tables


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


class _Tally:
    __slots__ = ("counts", "lost")

    def __init__(self, counts: list[int] | None = None, lost: int = 0) -> None:
        self.counts = counts or [0] * 8  # received, sent, dropped, rejected; RTP then RTCP
        self.lost = lost

    def add(self, endpoint: RtpEndpoint, lost: int) -> None:
        counts = self.counts
        for at, sock in ((0, endpoint.rtp), (4, endpoint.rtcp)):
            counts[at] += sock.packets_in
            counts[at + 1] += sock.packets_out
            counts[at + 2] += sock.dropped
            counts[at + 3] += sock.rejected
        self.lost += lost

    def copy(self) -> _Tally:
        return _Tally(list(self.counts), self.lost)

    def totals(self) -> RtpTotals:
        c = self.counts
        return RtpTotals(StreamTotals(*c[:4]), StreamTotals(*c[4:]), self.lost)


class CountingRelay(RtpRelay):
    """An ``RtpRelay`` with process totals (same constructor)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._live: dict[int, RtpEndpoint] = {}  # handed out and not closed, by port
        self._retired = _Tally()
        self._lost: dict[int, int] = {}  # port -> the highest loss its phone reported

    async def open_endpoint(self) -> RtpEndpoint:
        endpoint = await super().open_endpoint()
        self._live[endpoint.local_port] = endpoint
        return endpoint

    def take_parked(self) -> RtpEndpoint | None:
        endpoint = super().take_parked()
        if endpoint is not None:
            self._live[endpoint.local_port] = endpoint
        return endpoint

    def close_endpoint(self, ep: RtpEndpoint) -> None:
        if self._live.get(ep.local_port) is ep:
            del self._live[ep.local_port]
            self._retired.add(ep, self._lost_of(ep))
            self._lost.pop(ep.local_port, None)
        super().close_endpoint(ep)

    def close(self) -> None:
        super().close()
        self._live.clear()
        self._lost.clear()

    def totals(self) -> RtpTotals:
        """Since start: closed endpoints' final counts plus live ones' counts so far."""
        tally = self._retired.copy()
        for endpoint in self._live.values():
            tally.add(endpoint, self._lost_of(endpoint))
        return tally.totals()

    def _lost_of(self, endpoint: RtpEndpoint) -> int:
        """The phone's latest loss report, never less than an earlier one (a report without
        blocks, or a new stream counting from zero, must not make the counter go back)."""
        port = endpoint.local_port
        seen = self._lost.get(port, 0)
        reported = rtcp_cumulative_lost(endpoint.rtcp.last)
        if reported is not None and reported > seen:
            self._lost[port] = seen = reported
        return seen


def rtcp_cumulative_lost(packet: bytes | None) -> int | None:
    """The sum of "cumulative number of packets lost" over the report blocks of the SR and
    RR packets in a compound RTCP packet (RFC 3550 §6.4); None when it has no SR or RR.
    Negative counts (duplicates outnumbering losses) count as 0; a malformed packet is read
    up to where it stops making sense."""
    if packet is None:
        return None
    offset, total, found = 0, 0, False
    while offset + 4 <= len(packet):
        first, kind = packet[offset], packet[offset + 1]
        end = offset + (int.from_bytes(packet[offset + 2 : offset + 4], "big") + 1) * 4
        if first >> 6 != 2 or end > len(packet):
            break
        if kind in (_SR, _RR):
            blocks = offset + (28 if kind == _SR else 8)  # SR: 20 bytes of sender info first
            count = first & 0x1F
            if blocks + count * _BLOCK <= end:
                found = True
                for at in range(blocks, blocks + count * _BLOCK, _BLOCK):
                    total += max(0, int.from_bytes(packet[at + 5 : at + 8], "big", signed=True))
        offset = end
    return total if found else None


class CountingGuard(Guard):
    """A ``Guard`` that counts what it sees (same constructor)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.auth_failures = 0
        self.bans = 0
        self._banned: OrderedDict[str, None] = OrderedDict()  # addresses banned, oldest first

    def record_auth_failure(self, ip: str, now: float) -> bool:
        banned = super().record_auth_failure(ip, now)
        self.auth_failures += 1
        if banned:
            self.bans += 1
            self._banned[ip] = None
            self._banned.move_to_end(ip)
            if len(self._banned) > MAX_BANS_TRACKED:
                self._banned.popitem(last=False)
        return banned

    def active_bans(self, now: float) -> int:
        """Addresses banned at ``now`` (a walk over the bans: a few, unless under attack)."""
        for ip in [ip for ip in self._banned if not self.is_banned(ip, now)]:
            del self._banned[ip]
        return len(self._banned)


class _Finished(Protocol):
    @property
    def answered(self) -> float | None: ...


class CallCounter:
    """Calls ended since start, answered or not; ``finished`` is the B2BUA's ``on_finished``
    (told once per call)."""

    def __init__(self) -> None:
        self.answered = 0
        self.unanswered = 0

    def finished(self, call: _Finished) -> None:
        if call.answered is None:
            self.unanswered += 1
        else:
            self.answered += 1
