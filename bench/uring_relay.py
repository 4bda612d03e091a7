"""A bare RTP relay on io_uring: every relay socket's packets received and sent in batches.

Why: a relay paying one ``recvfrom`` and one ``sendto`` per packet costs 10-13 µs a packet on
this kind of machine whatever else is done (bench/README.md), and 1,000 relayed calls need
about 6. Here each socket has ONE armed multishot ``recvmsg`` (the kernel takes a buffer from a
provided-buffer ring per datagram); every wake-up of the loop reads all completions at once as
numpy arrays, queues one ``sendmsg`` per packet whose iovec points into the receive buffer (no
copy), and hands them all over with one ``io_uring_enter``; a buffer goes back to the ring when
its send completes.

This is the prototype that measures the floor of that design (``bench_rtp_relay.py --relay
uring``): each socket forwards to a fixed destination, with none of ``RelaySocket``'s latching.
Measured at 800 calls it costs ~9 µs a packet, 86 % of it in the kernel's UDP path, so the
latching fast path was not built on it (figures and profile: bench/bench_rtp_relay.py).

A received buffer: struct io_uring_recvmsg_out, the source address in NAME_LEN reserved bytes,
then the payload::

    0: namelen u32 | controllen u32 | payloadlen u32 | flags u32
    16: sockaddr (NAME_LEN bytes reserved)      16 + NAME_LEN: payload

An SQE's user_data says what completed: the kind in the high 32 bits, and in the low ones the
socket's slot (receives) or the buffer id (sends).
"""

from __future__ import annotations

import asyncio
import ctypes
import errno
import socket
from typing import Any

import numpy as np
import numpy.typing as npt
from uring_ring import (
    CQE_F_BUFFER,
    CQE_F_MORE,
    IOSQE_BUFFER_SELECT,
    OP_ASYNC_CANCEL,
    OP_RECVMSG,
    OP_SENDMSG,
    RECV_MULTISHOT,
    SQE,
    BufferRing,
    Ring,
    UringUnavailable,
)

__all__ = ["NAME_LEN", "UringRelay", "UringUnavailable"]

NAME_LEN = 28  # sizeof(struct sockaddr_in6): room for either family's source address
_PAYLOAD_AT = 16 + NAME_LEN
_MSG_TRUNC = 0x20  # recvmsg_out.flags: the datagram did not fit the buffer
_RECV, _SEND, _CANCEL = 1, 2, 3  # user_data >> 32
_KIND_SHIFT = np.uint64(32)
_LOW = np.uint64(0xFFFFFFFF)
_MAX_ROUNDS = 4  # reap/submit rounds per wake-up before letting the loop's other work run
_CLOSE_WAITS = 1000  # bound on waits for the kernel's last completions when closing

# One sendmsg per buffer id: struct msghdr, its single iovec, and the destination's sockaddr
# (copied here, so a send never depends on memory that changes while it is in flight).
_RECORD = np.dtype(
    [
        ("msg_name", "<u8"),
        ("msg_namelen", "<u4"),
        ("pad0", "<u4"),
        ("msg_iov", "<u8"),
        ("msg_iovlen", "<u8"),
        ("msg_control", "<u8"),
        ("msg_controllen", "<u8"),
        ("msg_flags", "<i4"),
        ("pad1", "<u4"),
        ("iov_base", "<u8"),
        ("iov_len", "<u8"),
        ("name", "<u8", (4,)),
    ]
)
_IOV_AT, _NAME_AT = 56, 72
assert _RECORD.itemsize == 104 and _RECORD.fields is not None
assert _RECORD.fields["iov_base"][1] == _IOV_AT and _RECORD.fields["name"][1] == _NAME_AT


def sockaddr(family: int, addr: tuple[Any, ...]) -> bytes:
    """The raw sockaddr the kernel uses for ``addr`` (sockaddr_in or sockaddr_in6)."""
    port = int(addr[1]).to_bytes(2, "big")
    if family == socket.AF_INET:
        return socket.AF_INET.to_bytes(2, "little") + port + socket.inet_aton(addr[0]) + bytes(8)
    flow, scope = (int(addr[2]), int(addr[3])) if len(addr) == 4 else (0, 0)
    return (
        socket.AF_INET6.to_bytes(2, "little")
        + port
        + flow.to_bytes(4, "big")
        + socket.inet_pton(socket.AF_INET6, addr[0])
        + scope.to_bytes(4, "little")
    )


class UringRelay:
    """The ring, the receive buffers and every relay socket (a slot each).

    ``add`` arms a socket; ``forward(slot, out, dest)`` makes what it receives go out of slot
    ``out`` to ``dest`` (None: dropped). Runs on the running asyncio loop, woken by the ring's
    fd, which polls readable while completions are pending. Counters: ``relayed`` (sends
    queued), ``dropped`` (no route, or too big for a buffer), ``send_errors``.
    """

    def __init__(
        self,
        *,
        buffers: int = 4096,
        buffer_size: int = 2048,
        sq_entries: int = 4096,
        cq_entries: int = 16384,
    ) -> None:
        self._loop = asyncio.get_running_loop()
        self._ring = Ring(sq_entries, cq_entries)
        try:
            self._buffers = BufferRing(self._ring, buffers, buffer_size)
        except BaseException:
            self._ring.close()
            raise
        self._header = self._buffers.data.view("<u4")  # [bid, 0..3]: io_uring_recvmsg_out
        self._capacity = buffer_size - _PAYLOAD_AT
        self._records, self._record_at = _records(self._buffers)
        # The msghdr of every multishot recvmsg: only its namelen matters (the room reserved
        # for the source in each buffer); the kernel copies it when it prepares the SQE.
        self._recv_msghdr = ctypes.create_string_buffer(56)
        ctypes.c_uint32.from_buffer(self._recv_msghdr, 8).value = NAME_LEN
        self._slots = _Slots()
        self._armed: set[int] = set()  # slots with a multishot recvmsg in the kernel
        self._starved: set[int] = set()  # ended for want of a buffer: re-armed on the next give
        self._closing: set[int] = set()
        self.inflight = 0  # sends submitted, not yet completed
        self.relayed = self.dropped = self.send_errors = 0
        self.wakeups = self.completions = 0
        self._loop.add_reader(self._ring.fd, self._on_ready)

    @property
    def closed(self) -> bool:
        return self._ring.fd < 0

    @property
    def armed(self) -> int:
        """Sockets with a receive armed in the kernel (a removed one counts until cancelled)."""
        return len(self._armed)

    def fileno(self) -> int:
        """The ring's fd (the one the loop watches); -1 once closed."""
        return self._ring.fd

    # --- sockets --------------------------------------------------------------------------

    def add(self, sock: socket.socket) -> int:
        """Start receiving on ``sock`` (its owner keeps and closes it); its slot number."""
        slot = self._slots.add(sock.fileno(), sock.family)
        self._arm(np.array([slot], np.intp))
        self._ring.submit()
        return slot

    def forward(self, slot: int, out: int | None, dest: tuple[Any, ...] | None) -> None:
        """Send what ``slot`` receives out of slot ``out`` to ``dest`` (None: drop it)."""
        slots = self._slots
        if out is None or dest is None:
            slots.out[slot] = -1
            return
        raw = sockaddr(int(slots.family[out]), dest)
        slots.dest[out] = np.frombuffer(raw.ljust(32, b"\0"), "<u8")
        slots.dest_len[out] = len(raw)
        slots.out[slot] = out

    def remove(self, slot: int) -> None:
        """Stop receiving on ``slot``; it is reused once the kernel confirms the cancel."""
        out = self._slots.out
        out[slot] = -1
        out[out == slot] = -1  # nothing may be sent from a socket on its way out
        self._starved.discard(slot)
        if slot in self._armed:
            self._closing.add(slot)
            self._cancel(_RECV << 32 | slot)
            self._ring.submit()
        else:
            self._slots.free(slot)

    # --- the completion handler -------------------------------------------------------------

    def _on_ready(self) -> None:
        self.wakeups += 1
        ring = self._ring
        for _ in range(_MAX_ROUNDS):
            cqes = ring.reap()
            if not len(cqes):
                return
            self.completions += len(cqes)
            self._complete(cqes)
            ring.submit()  # the wake-up's sends and re-arms, in one io_uring_enter
        self._loop.call_soon(self._on_ready)  # still busy: after the loop's other callbacks

    def _complete(self, cqes: npt.NDArray[Any]) -> None:
        data, res, flags = cqes["user_data"], cqes["res"], cqes["flags"]
        kind = data >> _KIND_SHIFT
        low = (data & _LOW).astype(np.intp)
        sent = kind == _SEND
        freed = [low[sent]]
        self.inflight -= int(np.count_nonzero(sent))
        self.send_errors += int(np.count_nonzero(res[sent] < 0))
        received = kind == _RECV
        if received.any():
            freed.append(self._received(low[received], res[received], flags[received]))
        give = np.concatenate(freed)
        if len(give):
            self._buffers.give(give)
            if self._starved:  # buffers are back: the receives that ran out may resume
                starved = np.fromiter(self._starved, np.intp, len(self._starved))
                self._starved.clear()
                self._arm(starved)

    def _received(
        self, slots: npt.NDArray[np.intp], res: npt.NDArray[np.int32], flags: npt.NDArray[np.uint32]
    ) -> npt.NDArray[np.intp]:
        """Forward what arrived; the buffers to give back at once (dropped packets)."""
        ended = (flags & CQE_F_MORE) == 0
        if ended.any():
            self._ended(slots[ended], res[ended])
        got = (flags & CQE_F_BUFFER) != 0
        bids = (flags[got] >> 16).astype(np.intp)
        out = self._slots.out[slots[got]]
        go = (out >= 0) & ((self._header[bids, 3] & _MSG_TRUNC) == 0)
        go[go] = self._slots.dest_len[out[go]] > 0
        self._send(bids[go], out[go])
        drop: npt.NDArray[np.intp] = bids[~go]
        self.dropped += len(drop)
        return drop

    def _send(self, bids: npt.NDArray[np.intp], out: npt.NDArray[np.intp]) -> None:
        count = len(bids)
        if not count:
            return
        slots, records = self._slots, self._records
        records["iov_len"][bids] = self._header[bids, 2]
        records["msg_namelen"][bids] = slots.dest_len[out]
        records["name"][bids] = slots.dest[out]
        sqes = np.zeros(count, SQE)
        sqes["opcode"] = OP_SENDMSG
        sqes["fd"] = slots.fd[out]
        sqes["addr"] = self._record_at[bids]
        sqes["len"] = 1
        sqes["user_data"] = bids.astype(np.uint64) | np.uint64(_SEND << 32)
        self._ring.push(sqes)
        self.inflight += count
        self.relayed += count

    def _ended(self, slots: npt.NDArray[np.intp], res: npt.NDArray[np.int32]) -> None:
        """A multishot receive stopped: re-arm it (once buffers are back, if it ran out)."""
        again = []
        for slot, result in zip(slots.tolist(), res.tolist(), strict=True):
            self._armed.discard(slot)
            if slot in self._closing:
                self._closing.discard(slot)
                self._slots.free(slot)
            elif result == -errno.ENOBUFS:
                self._starved.add(slot)
            else:
                again.append(slot)
        if again:
            self._arm(np.array(again, np.intp))

    def _arm(self, slots: npt.NDArray[np.intp]) -> None:
        sqes = np.zeros(len(slots), SQE)
        sqes["opcode"] = OP_RECVMSG
        sqes["flags"] = IOSQE_BUFFER_SELECT
        sqes["ioprio"] = RECV_MULTISHOT
        sqes["fd"] = self._slots.fd[slots]
        sqes["addr"] = ctypes.addressof(self._recv_msghdr)
        sqes["len"] = 1
        sqes["buf_group"] = self._buffers.group
        sqes["user_data"] = slots.astype(np.uint64) | np.uint64(_RECV << 32)
        self._ring.push(sqes)
        self._armed.update(slots.tolist())

    def _cancel(self, user_data: int) -> None:
        sqe = np.zeros(1, SQE)
        sqe["opcode"] = OP_ASYNC_CANCEL
        sqe["fd"] = -1
        sqe["addr"] = user_data  # cancels the request submitted with this user_data
        sqe["user_data"] = _CANCEL << 32
        self._ring.push(sqe)

    # --- closing --------------------------------------------------------------------------

    def close(self) -> None:
        """Cancel every receive and wait until the kernel has let go of every socket and
        buffer (so the sockets' ports are free once their owners close them), then free the
        ring and the buffers. Closing twice is harmless."""
        ring = self._ring
        if ring.fd < 0:
            return
        self._loop.remove_reader(ring.fd)
        for slot in self._armed - self._closing:
            self._closing.add(slot)
            self._cancel(_RECV << 32 | slot)
        ring.submit()
        for _ in range(_CLOSE_WAITS):  # cancels and loopback sends complete at once
            cqes = ring.reap()
            if len(cqes):
                self._complete(cqes)
            if not self._armed and self.inflight <= 0:
                break
            ring.submit(wait=1)
        del self._header  # a view of the buffers: they cannot be unmapped while it exists
        self._buffers.close()
        ring.close()


def _records(buffers: BufferRing) -> tuple[npt.NDArray[Any], npt.NDArray[np.uint64]]:
    """The sendmsg record of every buffer id, and their addresses: the msghdr points at its
    own iovec and name, the iovec at the buffer's payload; only lengths change per send."""
    records = np.zeros(buffers.count, _RECORD)
    ids = np.arange(buffers.count, dtype=np.uint64)
    at = np.uint64(records.ctypes.data) + ids * np.uint64(_RECORD.itemsize)
    records["msg_name"] = at + np.uint64(_NAME_AT)
    records["msg_iov"] = at + np.uint64(_IOV_AT)
    records["msg_iovlen"] = 1
    records["iov_base"] = np.uint64(buffers.base + _PAYLOAD_AT) + ids * np.uint64(buffers.size)
    return records, at


class _Slots:
    """Per-socket arrays indexed by slot, grown by doubling; freed slots are reused."""

    def __init__(self, capacity: int = 64) -> None:
        self.fd = np.full(capacity, -1, np.int32)
        self.family = np.zeros(capacity, np.int32)
        self.out = np.full(capacity, -1, np.intp)
        self.dest = np.zeros((capacity, 4), np.uint64)  # the raw sockaddr this slot sends to
        self.dest_len = np.zeros(capacity, np.uint32)
        self._free: list[int] = []
        self._used = 0

    def add(self, fd: int, family: int) -> int:
        if self._free:
            slot = self._free.pop()
        else:
            if self._used == len(self.fd):
                self._grow()
            slot, self._used = self._used, self._used + 1
        self.fd[slot], self.family[slot] = fd, family
        self.out[slot], self.dest_len[slot] = -1, 0
        return slot

    def free(self, slot: int) -> None:
        self.fd[slot], self.out[slot], self.dest_len[slot] = -1, -1, 0
        self._free.append(slot)

    def _grow(self) -> None:
        size = len(self.fd)
        for name, fill in (("fd", -1), ("family", 0), ("out", -1), ("dest", 0), ("dest_len", 0)):
            old = getattr(self, name)
            new = np.full((size * 2, *old.shape[1:]), fill, old.dtype)
            new[:size] = old
            setattr(self, name, new)
