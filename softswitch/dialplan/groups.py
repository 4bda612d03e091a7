"""Ring groups as plans: who rings, until when, and when the group gives up.

A ``RingPlan`` is the pure decision core of one call to one ``[ring_groups.NAME]``. The shell
(the routing engine) creates a leg per ``Ring``, ends one per ``Cancel``, reports what the
legs do (``on_member_failed``, ``answered``), re-arms one timer at ``next_deadline()`` and
runs ``GiveUp.action`` (the group's ``on_failure``) when the plan says so.

Strategies:

* ``all``: every available member rings at once for ``ring_time``; the first answer wins and
  the others are cancelled. The group gives up at ``ring_time``, or as soon as the last
  ringing member fails (busy, rejected, unreachable): waiting on nobody helps no caller.
* ``sequential``: one member at a time in the configured order, ``ring_time`` each; a member
  that fails or lets its time run out is cancelled and the next one rings. Members that are
  unavailable (unregistered, busy) are skipped when their turn comes, not when the call
  starts, so someone who hangs up a call meanwhile still gets their turn.

Availability is asked, never tracked here: the location service and the call registry own it
(DESIGN habit 4), so the plan takes a predicate or a set of unavailable members.

Races are absorbed: a failure reported for a member already cancelled, a timer after the end,
a second answer (the plan answers it with ``Cancel``: the shell hangs that leg up).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Set
from dataclasses import dataclass
from enum import Enum
from typing import Generic, TypeVar

__all__ = [
    "Cancel",
    "GiveUp",
    "Ring",
    "RingGroup",
    "RingOutcome",
    "RingPlan",
    "RingStep",
    "RingStrategy",
    "caller_display",
    "with_prefix",
]

A = TypeVar("A", bound=Hashable)  # the on_failure action: opaque here


class RingStrategy(Enum):
    ALL = "all"
    SEQUENTIAL = "sequential"


@dataclass(frozen=True, slots=True)
class RingGroup(Generic[A]):
    """One ``[ring_groups.NAME]``, as the plan needs it."""

    members: tuple[str, ...]  # extension numbers and external destination codes, in order
    strategy: RingStrategy
    ring_time: float  # seconds: the whole group (all), or each member (sequential)
    on_failure: A
    prefix: str = ""  # shown before the caller's name on the members' phones

    def __post_init__(self) -> None:
        if self.ring_time <= 0:
            raise ValueError("ring_time must be > 0")


@dataclass(frozen=True, slots=True)
class Ring:
    """Ring ``member`` until ``until`` (the plan cancels it then, if it is still ringing)."""

    member: str
    until: float


@dataclass(frozen=True, slots=True)
class Cancel:
    """End ``member``'s leg: CANCEL while it rings, BYE if it answered too late."""

    member: str


@dataclass(frozen=True, slots=True)
class GiveUp(Generic[A]):
    """Nobody answered: run the group's ``on_failure``."""

    action: A


RingStep = Ring | Cancel | GiveUp[A]


class RingOutcome(Enum):
    PENDING = "pending"  # not started, or members are ringing
    ANSWERED = "answered"
    FAILED = "failed"


class RingPlan(Generic[A]):
    """One call's way through one ring group."""

    __slots__ = (
        "_deadline",
        "_next",
        "_ringing",
        "_rung",
        "_unavailable",
        "answered_by",
        "group",
        "outcome",
        "started",
    )

    def __init__(
        self,
        group: RingGroup[A],
        unavailable: Callable[[str], bool] | Set[str] = frozenset(),
    ) -> None:
        self.group = group
        self._unavailable = (
            unavailable.__contains__ if isinstance(unavailable, Set) else unavailable
        )
        self.outcome = RingOutcome.PENDING
        self.answered_by: str | None = None
        self.started = False
        # A member listed twice rings once (all) or gets one turn (sequential).
        self._next = 0  # sequential: index of the next member to try
        self._ringing: dict[str, float] = {}  # member -> until
        self._rung: set[str] = set()
        self._deadline: float | None = None

    @property
    def finished(self) -> bool:
        return self.outcome is not RingOutcome.PENDING

    @property
    def ringing(self) -> frozenset[str]:
        return frozenset(self._ringing)

    def next_deadline(self) -> float | None:
        return self._deadline

    def start(self, now: float) -> list[RingStep[A]]:
        if self.started:
            raise RuntimeError("a ring plan starts once")
        self.started = True
        if self.group.strategy is RingStrategy.SEQUENTIAL:
            return self._advance(now)
        until = now + self.group.ring_time
        steps: list[RingStep[A]] = []
        for member in dict.fromkeys(self.group.members):
            if not self._unavailable(member):
                steps.append(self._ring(member, until))
        self._deadline = until
        return steps or self._give_up()

    def on_member_failed(self, member: str, now: float) -> list[RingStep[A]]:
        """``member``'s leg ended without answering (busy, rejected, unreachable)."""
        if self._ringing.pop(member, None) is None or self.finished:
            return []  # cancelled by us already, or a late report
        if self.group.strategy is RingStrategy.SEQUENTIAL:
            return self._advance(now)
        return [] if self._ringing else self._give_up()

    def answered(self, member: str, now: float) -> list[RingStep[A]]:
        """``member`` answered: the others stop ringing. A second answer is hung up."""
        if member not in self._rung:
            raise ValueError(f"{member} was never rung")
        if self.finished or member not in self._ringing:
            return [Cancel(member)]
        del self._ringing[member]
        self.outcome = RingOutcome.ANSWERED
        self.answered_by = member
        self._deadline = None
        return self._cancel_all()

    def handle_timer(self, now: float) -> list[RingStep[A]]:
        if self._deadline is None or now < self._deadline:
            return []
        steps = self._cancel_all()
        if self.group.strategy is RingStrategy.SEQUENTIAL:
            return steps + self._advance(now)
        return steps + self._give_up()

    # --- internals ------------------------------------------------------------------------
    def _ring(self, member: str, until: float) -> Ring:
        self._ringing[member] = until
        self._rung.add(member)
        return Ring(member, until)

    def _advance(self, now: float) -> list[RingStep[A]]:
        """Sequential: ring the next available member, or give up at the end of the list."""
        members = self.group.members
        while self._next < len(members):
            member = members[self._next]
            self._next += 1
            if member not in self._rung and not self._unavailable(member):
                ring = self._ring(member, now + self.group.ring_time)
                self._deadline = ring.until
                return [ring]
        return self._give_up()

    def _cancel_all(self) -> list[RingStep[A]]:
        steps: list[RingStep[A]] = [Cancel(member) for member in self._ringing]
        self._ringing.clear()
        return steps

    def _give_up(self) -> list[RingStep[A]]:
        self.outcome = RingOutcome.FAILED
        self._deadline = None
        return [GiveUp(self.group.on_failure)]


def with_prefix(prefix: str, display: str) -> str:
    """``display`` with ``prefix`` in front, once: a call passing through two groups with
    the same prefix must not read "VENTAS VENTAS ..."."""
    prefix, display = prefix.strip(), display.strip()
    if not prefix or display == prefix or display.startswith(prefix + " "):
        return display or prefix
    return f"{prefix} {display}" if display else prefix


def caller_display(prefix: str, number: str, name: str | None = None) -> str:
    """The caller as the members' phones show it: ``caller_display("VENTAS", "1001", "Ana")``
    is ``"VENTAS 1001 Ana"``; empty parts are left out."""
    parts = (part.strip() for part in (number, name or ""))
    return with_prefix(prefix, " ".join(part for part in parts if part))
