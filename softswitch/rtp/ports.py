"""Bookkeeping of RTP/RTCP port pairs (sans-IO: no sockets here).

A pair is an even RTP port and the odd port above it for RTCP (RFC 3550 §11), both inside
``[port_min, port_max]``. Free pairs are handed out first-in first-out: a pair released at
hang-up goes to the back of the queue, so it is reused as late as possible and late packets
of the old call (a phone that keeps sending for a moment) do not leak into a new call.
"""

from __future__ import annotations

from collections import deque

__all__ = ["PortAllocator"]


class PortAllocator:
    __slots__ = ("_allocated", "_free", "bind_failures", "capacity", "port_max", "port_min")

    def __init__(self, port_min: int, port_max: int) -> None:
        if not 1 <= port_min <= port_max <= 65535:
            raise ValueError(f"bad RTP port range {port_min}-{port_max}")
        first = port_min + (port_min & 1)  # RTP takes the even port of each pair
        self._free: deque[int] = deque(range(first, port_max, 2))
        if not self._free:
            raise ValueError(f"RTP port range {port_min}-{port_max} holds no even/odd pair")
        self._allocated: set[int] = set()
        self.port_min = port_min
        self.port_max = port_max
        self.capacity = len(self._free)
        self.bind_failures = 0

    @property
    def in_use(self) -> int:
        return len(self._allocated)

    @property
    def available(self) -> int:
        return len(self._free)

    def allocate(self) -> int | None:
        """The RTP (even) port of the least recently used free pair; None when exhausted."""
        if not self._free:
            return None
        port = self._free.popleft()
        self._allocated.add(port)
        return port

    def release(self, port: int) -> None:
        """Return an allocated pair; it goes to the back of the queue."""
        self._take_back(port)
        self._free.append(port)

    def mark_unusable(self, port: int) -> None:
        """An allocated pair could not be bound: someone else holds one of its ports.

        The pair goes to the back of the queue rather than away for good: the other holder
        may be gone by the time every other pair has been tried, and a failed bind costs one
        system call.
        """
        self._take_back(port)
        self.bind_failures += 1
        self._free.append(port)

    def _take_back(self, port: int) -> None:
        try:
            self._allocated.remove(port)
        except KeyError:
            # A double release would put one pair twice in the queue and give it to two calls.
            raise ValueError(f"RTP port {port} is not allocated") from None
