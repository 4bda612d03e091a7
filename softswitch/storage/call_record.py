"""One finished call as the history keeps it (``CallRecord``), and what its fields may hold.

Plain values, checked on construction: the history file (history.py), its CSV export and the
admin commands all read and write these.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

__all__ = [
    "DIRECTIONS",
    "DISPOSITIONS",
    "MISSED",
    "MISSED_DIRECTIONS",
    "CallRecord",
    "MissedCount",
    "stamp",
    "utc",
]

DIRECTIONS = ("inbound", "outbound", "internal")
DISPOSITIONS = ("answered", "no answer", "busy", "failed", "blocked", "voicemail", "cancelled")
# A missed call: someone called us (or a colleague) and nobody took it.
MISSED = ("no answer", "busy", "cancelled", "voicemail")
MISSED_DIRECTIONS = ("inbound", "internal")


@dataclass(frozen=True, slots=True)
class CallRecord:
    """One finished call. ``duration`` and ``billed`` (seconds) follow from the times."""

    call_id: str
    direction: str  # one of DIRECTIONS
    caller: str
    caller_name: str
    callee: str  # the final destination dialled: an extension or an external number
    did: str  # the number the call came in on, "" if none
    started: datetime  # aware; stored and returned in UTC
    answered: datetime | None
    ended: datetime
    disposition: str  # one of DISPOSITIONS
    place: str = ""  # "group:ventas", "queue:soporte", or "" for a call to one party
    agent: str = ""  # the extension that answered
    recording: str = ""  # path of the recording, or ""
    form: str = ""  # the agent's form entry as JSON text, or ""
    duration: float = field(init=False)
    billed: float = field(init=False)

    def __post_init__(self) -> None:
        if self.direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {DIRECTIONS}, not {self.direction!r}")
        if self.disposition not in DISPOSITIONS:
            raise ValueError(f"disposition must be one of {DISPOSITIONS}: {self.disposition!r}")
        started, ended = utc(self.started, "started"), utc(self.ended, "ended")
        answered = None if self.answered is None else utc(self.answered, "answered")
        if ended < started or (answered is not None and not started <= answered <= ended):
            raise ValueError("times must run started <= answered <= ended")
        # Frozen: the normalised values go in the way dataclasses do it themselves.
        object.__setattr__(self, "started", started)
        object.__setattr__(self, "answered", answered)
        object.__setattr__(self, "ended", ended)
        object.__setattr__(self, "duration", (ended - started).total_seconds())
        billed = 0.0 if answered is None else (ended - answered).total_seconds()
        object.__setattr__(self, "billed", billed)

    @property
    def missed(self) -> bool:
        return self.disposition in MISSED and self.direction in MISSED_DIRECTIONS


@dataclass(frozen=True, slots=True)
class MissedCount:
    """The missed calls of one extension, group or queue: how many, and the latest."""

    name: str
    count: int
    last: datetime  # UTC


def utc(value: datetime, name: str) -> datetime:
    if value.tzinfo is None:
        raise ValueError(f"{name} must be timezone-aware")
    return value.astimezone(UTC)


def stamp(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="microseconds")
