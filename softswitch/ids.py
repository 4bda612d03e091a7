"""Random identifiers (tags, branches, Call-IDs, nonces) without a syscall each.

A call needs about ten of them; ``secrets.token_hex`` asks the kernel every time
(``getrandom``: 6 % of the server's time under load). This draws from one buffer of
``os.urandom`` bytes refilled 4 KiB at a time: the same kernel CSPRNG, one syscall per
few hundred identifiers. Unpredictable tags and Call-IDs are what keep an off-path attacker
from forging in-dialog requests, so a seeded PRNG is not an option.
"""

from __future__ import annotations

import os

_REFILL = 4096


class RandomPool:
    __slots__ = ("_buffer", "_offset")

    def __init__(self) -> None:
        self._buffer = b""
        self._offset = 0

    def take(self, size: int) -> bytes:
        if self._offset + size > len(self._buffer):
            self._buffer = os.urandom(max(_REFILL, size))
            self._offset = 0
        start = self._offset
        self._offset = start + size
        return self._buffer[start : start + size]

    def hex(self, size: int) -> str:
        """``size`` random bytes as 2*size hex digits."""
        return self.take(size).hex()


POOL = RandomPool()
