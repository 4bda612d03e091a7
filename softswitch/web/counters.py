"""``CallCounter``: calls ended since start, for ``/metrics``.

A counter must only grow while the process lives, but a call leaves the B2BUA's registry
when it ends, so the live calls cannot be summed into it. The B2BUA tells its ``on_finished``
hook once per call; this listens there and counts.

It is the one total kept here: the others live with their owners (DESIGN habit 4), the
relay's packets in ``softswitch.rtp.totals`` and the SIP guard's failures and bans in
``softswitch.sip.guard``. The B2BUA would own this one too, but nothing of the switch besides
``/metrics`` wants the number, so the metrics' own listener keeps it.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["CallCounter"]


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
