"""An io_uring instance driven from pure Python: the three syscalls by ctypes, the rings by mmap.

Why: relaying RTP with one ``recvfrom`` and one ``sendto`` per packet costs 10-13 µs of CPU a
packet here however the wake-ups are batched (bench/README.md, "Batching the wake-ups"); with
io_uring a whole batch of receives and sends costs one ``io_uring_enter``. This module is the
ring alone, no relay logic: ``Ring`` (submission and completion queues, read and written as
numpy views of the shared memory) and ``BufferRing`` (a provided-buffer ring the kernel picks
receive buffers from). Constants and layouts follow include/uapi/linux/io_uring.h.

Memory ordering: x86-64 keeps stores in program order and loads in program order, so it is
enough to write the entries before the tail that publishes them, and to read the tail before
the entries it covers (each numpy or ctypes access here is a separate C call, so nothing is
reordered by a compiler either). Other architectures would need fences: ``Ring`` refuses them.
"""

from __future__ import annotations

import ctypes
import errno
import mmap
import os
import platform
import struct
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "BUF",
    "CQE",
    "CQE_F_BUFFER",
    "CQE_F_MORE",
    "IOSQE_BUFFER_SELECT",
    "OP_ASYNC_CANCEL",
    "OP_RECVMSG",
    "OP_SENDMSG",
    "RECV_MULTISHOT",
    "SQE",
    "BufferRing",
    "Ring",
    "UringUnavailable",
]

# Syscall numbers (x86-64 and every other architecture: io_uring came after the unification).
_SYS_SETUP, _SYS_ENTER, _SYS_REGISTER = 425, 426, 427

OP_SENDMSG, OP_RECVMSG, OP_ASYNC_CANCEL = 9, 10, 14
IOSQE_BUFFER_SELECT = 1 << 5
RECV_MULTISHOT = 1 << 1  # sqe.ioprio of a recv/recvmsg
ASYNC_CANCEL_ALL, ASYNC_CANCEL_ANY = 1 << 0, 1 << 2
CQE_F_BUFFER, CQE_F_MORE = 1 << 0, 1 << 1
ENTER_GETEVENTS = 1 << 0
SETUP_CQSIZE, SETUP_SUBMIT_ALL, SETUP_COOP_TASKRUN = 1 << 3, 1 << 7, 1 << 8
FEAT_SINGLE_MMAP = 1 << 0
REGISTER_PBUF_RING, UNREGISTER_PBUF_RING = 22, 23
_OFF_SQ_RING, _OFF_CQ_RING, _OFF_SQES = 0, 0x8000000, 0x10000000

SQE = np.dtype(
    [
        ("opcode", "u1"),
        ("flags", "u1"),
        ("ioprio", "<u2"),
        ("fd", "<i4"),
        ("off", "<u8"),
        ("addr", "<u8"),
        ("len", "<u4"),
        ("op_flags", "<u4"),  # msg_flags, cancel_flags, ...: one union
        ("user_data", "<u8"),
        ("buf_group", "<u2"),
        ("personality", "<u2"),
        ("file_index", "<u4"),
        ("addr3", "<u8"),
        ("pad", "<u8"),
    ]
)
CQE = np.dtype([("user_data", "<u8"), ("res", "<i4"), ("flags", "<u4")])
# struct io_uring_buf; entry 0's ``resv`` is the ring's tail, so it is never written as a field.
BUF = np.dtype([("addr", "<u8"), ("len", "<u4"), ("bid", "<u2"), ("resv", "<u2")])
assert (SQE.itemsize, CQE.itemsize, BUF.itemsize) == (64, 16, 16)

# struct io_uring_params: 10 u32 (sq_entries … resv[3]), then io_sqring_offsets and
# io_cqring_offsets, each 8 u32 and a u64.
_PARAMS = struct.Struct("<10I8IQ8IQ")
_BUF_REG = struct.Struct("<QIHH3Q")  # struct io_uring_buf_reg

_libc = ctypes.CDLL(None, use_errno=True)
_syscall = _libc.syscall
_syscall.restype = ctypes.c_long
_syscall.argtypes = [ctypes.c_long] * 7  # the number and six arguments, all register-wide


class UringUnavailable(OSError):
    """io_uring cannot be used here (old kernel, seccomp, disabled by sysctl, not x86-64)."""


def _sys(number: int, *args: int) -> int:
    result = int(_syscall(number, *args, *(0,) * (6 - len(args))))
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return result


class Ring:
    """One io_uring: SQEs are queued with ``push`` (numpy records), sent by ``submit``;
    ``reap`` returns every pending CQE at once and frees their slots."""

    def __init__(self, sq_entries: int, cq_entries: int) -> None:
        if platform.machine() not in ("x86_64", "AMD64"):
            raise UringUnavailable("io_uring from Python is written for x86-64 ordering only")
        params = ctypes.create_string_buffer(_PARAMS.size)
        # COOP_TASKRUN: completions run when this thread enters the kernel anyway, no IPI to
        # interrupt it. (DEFER_TASKRUN was measured too: slower here, and the kernel then runs
        # only a few deferred completions per io_uring_enter, which needs polling for the rest.)
        flags = SETUP_CQSIZE | SETUP_SUBMIT_ALL | SETUP_COOP_TASKRUN
        cq_entries = max(cq_entries, sq_entries)  # the kernel refuses a CQ smaller than the SQ
        struct.pack_into("<3I", params, 0, 0, cq_entries, flags)
        try:
            self.fd = _sys(_SYS_SETUP, sq_entries, ctypes.addressof(params))
        except OSError as exc:
            raise UringUnavailable(exc.errno, f"io_uring_setup: {exc.strerror}") from exc
        self._maps: list[mmap.mmap] = []
        try:
            self._map(_PARAMS.unpack_from(params))
        except BaseException:
            self.close()
            raise

    def _map(self, p: tuple[int, ...]) -> None:
        sq_entries, cq_entries, features = p[0], p[1], p[5]
        sq_head, sq_tail, sq_mask, _, _, _, sq_array = p[10:17]
        cq_head, cq_tail, cq_mask, _, _, cqes = p[19:25]
        sq_size = sq_array + sq_entries * 4
        cq_size = cqes + cq_entries * CQE.itemsize
        if features & FEAT_SINGLE_MMAP:  # one mapping serves both rings
            sq_size = cq_size = max(sq_size, cq_size)
            sq_ring = cq_ring = self._mmap(sq_size, _OFF_SQ_RING)
        else:
            sq_ring, cq_ring = self._mmap(sq_size, _OFF_SQ_RING), self._mmap(cq_size, _OFF_CQ_RING)
        sqes = self._mmap(sq_entries * SQE.itemsize, _OFF_SQES)
        self.sq_entries, self.cq_entries = sq_entries, cq_entries
        self._sq_mask, self._cq_mask = _u32(sq_ring, sq_mask), _u32(cq_ring, cq_mask)
        self._sq_head, self._sq_tail = _u32_ref(sq_ring, sq_head), _u32_ref(sq_ring, sq_tail)
        self._cq_head, self._cq_tail = _u32_ref(cq_ring, cq_head), _u32_ref(cq_ring, cq_tail)
        # The SQ's index array never changes: slot i holds SQE i (no indirection needed).
        array = np.frombuffer(sq_ring, "<u4", sq_entries, sq_array)
        array[:] = np.arange(sq_entries, dtype=np.uint32)
        del array
        self._sqes = np.frombuffer(sqes, SQE, sq_entries)
        self._cqes = np.frombuffer(cq_ring, CQE, cq_entries, cqes)
        self._queued = 0  # SQEs written since the last submit

    def _mmap(self, size: int, offset: int) -> mmap.mmap:
        flags = mmap.MAP_SHARED | getattr(mmap, "MAP_POPULATE", 0)
        ring = mmap.mmap(self.fd, size, flags, mmap.PROT_READ | mmap.PROT_WRITE, offset=offset)
        self._maps.append(ring)
        return ring

    @property
    def sq_space(self) -> int:
        return self.sq_entries - ((self._sq_tail.value - self._sq_head.value) & 0xFFFFFFFF)

    def push(self, entries: npt.NDArray[Any]) -> None:
        """Queue SQEs (an array of ``SQE``); submits first if the queue would overflow."""
        count = len(entries)
        if count > self.sq_space:
            self.submit()
        done = 0
        while done < count:
            chunk = min(count - done, self.sq_space)
            if chunk == 0:
                raise OSError("io_uring submission queue full")
            self._write(entries[done : done + chunk])
            done += chunk
            if done < count:
                self.submit()

    def _write(self, entries: npt.NDArray[Any]) -> None:
        count = len(entries)
        tail = self._sq_tail.value
        start = tail & self._sq_mask
        first = min(count, self.sq_entries - start)
        self._sqes[start : start + first] = entries[:first]
        if first < count:  # wrapped round the end of the ring
            self._sqes[: count - first] = entries[first:]
        self._sq_tail.value = (tail + count) & 0xFFFFFFFF  # last: publishes the entries
        self._queued += count

    def submit(self, wait: int = 0) -> int:
        """One io_uring_enter: hand over the queued SQEs, run completions the kernel has
        pending (and flush an overflowed CQ); with ``wait``, block for that many CQEs."""
        try:
            submitted = _sys(_SYS_ENTER, self.fd, self._queued, wait, ENTER_GETEVENTS)
        except OSError as exc:
            # Interrupted, or the CQ overflowed (EBUSY): the SQEs stay queued for next time.
            if exc.errno in (errno.EINTR, errno.EAGAIN, errno.EBUSY):
                return 0
            raise
        self._queued -= min(submitted, self._queued)
        return submitted

    def reap(self) -> npt.NDArray[Any]:
        """Every CQE ready now (a copy), their slots given back to the kernel."""
        head, tail = self._cq_head.value, self._cq_tail.value  # tail first: then the entries
        count = (tail - head) & 0xFFFFFFFF
        if not count:
            return _NO_CQES
        start = head & self._cq_mask
        first = min(count, self.cq_entries - start)
        if first == count:
            out = self._cqes[start : start + count].copy()
        else:
            out = np.concatenate((self._cqes[start:], self._cqes[: count - first]))
        self._cq_head.value = tail
        return out

    def register(self, opcode: int, arg: int, count: int) -> int:
        return _sys(_SYS_REGISTER, self.fd, opcode, arg, count)

    def close(self) -> None:
        """Unmap and close (the kernel cancels whatever is still armed)."""
        if self.fd < 0:
            return
        for name in ("_sqes", "_cqes", "_sq_head", "_sq_tail", "_cq_head", "_cq_tail"):
            self.__dict__.pop(name, None)  # views first: an mmap with exports cannot close
        for ring in self._maps:
            ring.close()
        self._maps.clear()
        os.close(self.fd)
        self.fd = -1


_NO_CQES = np.zeros(0, CQE)


def _u32(buffer: mmap.mmap, offset: int) -> int:
    return int(struct.unpack_from("<I", buffer, offset)[0])


def _u32_ref(buffer: mmap.mmap, offset: int) -> ctypes.c_uint32:
    return ctypes.c_uint32.from_buffer(buffer, offset)


class BufferRing:
    """``count`` receive buffers of ``size`` bytes, provided to the kernel as buffer group
    ``group`` (IORING_REGISTER_PBUF_RING). A multishot receive takes one per datagram, its id
    in the CQE's flags; ``give`` hands ids back once their data has been sent."""

    def __init__(self, ring: Ring, count: int, size: int, group: int = 0) -> None:
        if count & (count - 1) or not 1 <= count <= 32768:
            raise ValueError("buffer count must be a power of two up to 32768")
        self.count, self.size, self.group = count, size, group
        self._ring = ring
        self._entries_map = mmap.mmap(-1, count * BUF.itemsize)  # page-aligned, as required
        self.memory = mmap.mmap(-1, count * size)
        self.data = np.frombuffer(self.memory, np.uint8).reshape(count, size)
        self.base = int(self.data.ctypes.data)
        self._entries = np.frombuffer(self._entries_map, BUF, count)
        self._tail = ctypes.c_uint16.from_buffer(self._entries_map, 14)  # bufs[0].resv
        self._registered = False
        reg = ctypes.create_string_buffer(_BUF_REG.size)
        _BUF_REG.pack_into(reg, 0, int(self._entries.ctypes.data), count, group, 0, 0, 0, 0)
        try:
            ring.register(REGISTER_PBUF_RING, ctypes.addressof(reg), 1)
        except BaseException:
            self.close()
            raise
        self._registered = True
        self.give(np.arange(count, dtype=np.uint16))

    def give(self, bids: npt.NDArray[Any]) -> None:
        """Hand buffers back to the kernel (entries first, then the tail that publishes them)."""
        count = len(bids)
        if not count:
            return
        tail = self._tail.value
        slots = (tail + np.arange(count)) & (self.count - 1)
        entries = self._entries
        entries["addr"][slots] = self.base + bids.astype(np.uint64) * self.size
        entries["len"][slots] = self.size
        entries["bid"][slots] = bids
        self._tail.value = (tail + count) & 0xFFFF

    def close(self) -> None:
        if self._registered and self._ring.fd >= 0:
            reg = ctypes.create_string_buffer(_BUF_REG.size)
            _BUF_REG.pack_into(reg, 0, 0, 0, self.group, 0, 0, 0, 0)
            self._ring.register(UNREGISTER_PBUF_RING, ctypes.addressof(reg), 1)
        self._registered = False
        for name in ("data", "_entries", "_tail"):
            self.__dict__.pop(name, None)
        self._entries_map.close()
        self.memory.close()
