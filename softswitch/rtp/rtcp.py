"""What the switch reads of the RTCP the phones send: the loss they report, nothing else.

The relay passes RTCP through untouched; only ``/metrics`` looks inside, once per scrape and
once per endpoint at close, at the last packet each leg sent (``RelaySocket.last``). Every SR
or RR carries, per stream its sender receives, the cumulative number of packets lost
(RFC 3550 §6.4.1). Sans-IO: bytes in, a number out.
"""

from __future__ import annotations

__all__ = ["rtcp_cumulative_lost"]

_SR, _RR = 200, 201
_BLOCK = 24  # bytes in one report block
_SENDER_INFO = 20  # bytes an SR carries before its report blocks


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
            lost = _report_blocks_lost(packet, offset, end, first & 0x1F, kind == _SR)
            if lost is not None:
                found = True
                total += lost
        offset = end
    return total if found else None


def _report_blocks_lost(packet: bytes, offset: int, end: int, count: int, sr: bool) -> int | None:
    """The loss summed over one SR/RR's ``count`` blocks; None when they overrun ``end``."""
    blocks = offset + 8 + (_SENDER_INFO if sr else 0)  # header and sender SSRC first
    if blocks + count * _BLOCK > end:
        return None
    return sum(
        max(0, int.from_bytes(packet[at + 5 : at + 8], "big", signed=True))
        for at in range(blocks, blocks + count * _BLOCK, _BLOCK)
    )
