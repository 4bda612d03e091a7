"""Call queues: the one owner of waiting callers and of agent state (DESIGN habit 4).

``QueueService`` is sans-IO. The shell reports what happens (``enqueue``, ``abandon``,
``offer_failed``, ``answered``, ``call_ended``, agents coming and going), asks ``offers(now)``
after every input for the agents to ring now, and re-arms one timer at ``next_deadline()``
to call ``handle_timer(now)`` (callers' ``max_wait``, each offer's ``ring_time``, wrap-up
ends, retry rounds). Events come back as frozen values.

Rules, and why:

* Only the caller at the head of a queue is offered to agents (Asterisk's ``autofill=no``).
  That is what makes "answered in arrival order" a guarantee instead of a race between
  agents' fingers, and what an agent sees on the display is the caller they get.
* ``ringall`` offers the head to every eligible agent at once; the other strategies offer it
  to one agent at a time, chosen by a pure selection function (``pick``). An agent whose offer
  failed is not offered the same caller again in that round; once every eligible agent has
  been tried the round restarts after ``retry`` seconds (Asterisk's ``retry``), so agents who
  reject are not rung in a tight loop.
* An agent is offered only when free: no offer ringing, not on a queue call (in any queue),
  past ``wrapup`` after their last queue call, not marked away, and not busy according to the
  injected ``busy`` predicate (direct calls, unregistered phones: the call registry and the
  location service own those facts, this service only asks).
* Across queues, free agents go first to the queue of higher ``priority``, then to the one
  whose head caller has waited longest.
* ``round_robin`` remembers the last agent offered per queue, across calls; ``fewest_calls``
  and ``least_talk_time`` use per-queue, per-agent statistics that ``stats()`` snapshots
  (``to_dict``/``from_dict``) so they survive a restart. Ties go to the configured order.
* ``max_callers`` (0 = no limit) turns the next caller away (``Full(on_full)``); ``max_wait``
  (0 = none) ends a caller's wait with ``TimedOut(on_timeout)``, even while an agent rings.

Races are absorbed: an answer for an offer already withdrawn gets ``AnswerRefused`` (the shell
hangs the agent's leg up), failures for withdrawn offers and abandons after leaving are ignored.
Everything is small (tens of callers and agents), so deadlines are a scan, not a heap; the
frequent call, ``offers`` with nobody waiting, returns before looking at any agent.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Hashable, Mapping, Sequence, Set
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Generic, TypeVar

__all__ = [
    "AgentState",
    "AgentStats",
    "AnswerRefused",
    "CancelReason",
    "Connected",
    "Enqueued",
    "Full",
    "Offer",
    "OfferCancelled",
    "PositionChanged",
    "QueueError",
    "QueueEvent",
    "QueueService",
    "QueueSpec",
    "QueueStats",
    "QueueStrategy",
    "StatsSnapshot",
    "TimedOut",
    "pick",
]

A = TypeVar("A", bound=Hashable)  # on_timeout / on_full actions: opaque here


class QueueStrategy(Enum):
    RINGALL = "ringall"
    ROUND_ROBIN = "round_robin"
    LEAST_TALK_TIME = "least_talk_time"
    FEWEST_CALLS = "fewest_calls"
    RANDOM = "random"


@dataclass(frozen=True, slots=True)
class QueueSpec(Generic[A]):
    """One ``[queues.NAME]``, as the service needs it."""

    agents: tuple[str, ...]
    strategy: QueueStrategy
    on_timeout: A
    on_full: A
    max_callers: int = 0  # 0 = no limit
    max_wait: float = 0.0  # seconds; 0 = no limit
    ring_time: float = 15.0  # per offer
    wrapup: float = 0.0
    announce_position: bool = False
    priority: int = 0
    retry: float = 5.0  # pause before offering a caller again to agents who all failed

    def __post_init__(self) -> None:
        object.__setattr__(self, "agents", tuple(dict.fromkeys(self.agents)))
        if self.ring_time <= 0 or min(self.max_wait, self.wrapup, self.retry) < 0:
            raise ValueError("ring_time must be > 0; max_wait, wrapup and retry >= 0")


class QueueError(ValueError):
    """An input only a buggy shell produces (unknown queue, a caller queued twice ...)."""


# ------------------------------------------------------------------------------ statistics


@dataclass(frozen=True, slots=True)
class AgentStats:
    calls: int = 0
    talk_time: float = 0.0


@dataclass(frozen=True, slots=True)
class QueueStats:
    agents: Mapping[str, AgentStats]
    last_offered: str | None = None


@dataclass(frozen=True, slots=True)
class StatsSnapshot:
    """What the strategies learn over time, per queue: persisted and restored as a dict."""

    queues: Mapping[str, QueueStats]

    def to_dict(self) -> dict[str, Any]:
        return {
            name: {
                "last_offered": q.last_offered,
                "agents": {
                    a: {"calls": s.calls, "talk_time": s.talk_time} for a, s in q.agents.items()
                },
            }
            for name, q in self.queues.items()
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StatsSnapshot:
        queues = {}
        for name, q in data.items():
            agents = {
                str(a): AgentStats(int(s["calls"]), float(s["talk_time"]))
                for a, s in q["agents"].items()
            }
            last = q.get("last_offered")
            queues[str(name)] = QueueStats(agents, None if last is None else str(last))
        return cls(queues)


# ------------------------------------------------------------------------------ values out


@dataclass(frozen=True, slots=True)
class Enqueued:
    position: int  # 1-based


@dataclass(frozen=True, slots=True)
class Full(Generic[A]):
    action: A


@dataclass(frozen=True, slots=True)
class Offer:
    """Ring ``agent`` for ``caller`` until ``until``. Compared by value: an agent has one
    offer at a time, and the shell reports each offer's outcome once."""

    queue: str
    caller: str
    agent: str
    until: float


class CancelReason(Enum):
    RING_TIMEOUT = "ring timeout"
    ANSWERED_ELSEWHERE = "answered elsewhere"
    CALLER_LEFT = "caller left"
    CALLER_TIMED_OUT = "caller timed out"


@dataclass(frozen=True, slots=True)
class OfferCancelled:
    """Stop ringing ``offer.agent``."""

    offer: Offer
    reason: CancelReason


@dataclass(frozen=True, slots=True)
class Connected:
    """The offer was answered: bridge the caller and the agent."""

    offer: Offer


@dataclass(frozen=True, slots=True)
class AnswerRefused:
    """The offer was withdrawn before this answer: hang the agent's leg up."""

    offer: Offer


@dataclass(frozen=True, slots=True)
class TimedOut(Generic[A]):
    caller: str
    queue: str
    action: A


@dataclass(frozen=True, slots=True)
class PositionChanged:
    """Sent only for queues with ``announce_position``."""

    caller: str
    queue: str
    position: int


QueueEvent = Connected | AnswerRefused | OfferCancelled | PositionChanged | TimedOut[A]


# ------------------------------------------------------------------------------ strategies


def pick(
    strategy: QueueStrategy,
    candidates: Sequence[str],
    *,
    order: Sequence[str],
    stats: Mapping[str, AgentStats],
    last: str | None,
    rng: random.Random,
) -> list[str]:
    """The agents to offer a caller to, among ``candidates`` (free, in configured order)."""
    if not candidates:
        return []
    if strategy is QueueStrategy.RINGALL:
        return list(candidates)
    if strategy is QueueStrategy.ROUND_ROBIN:
        return [_round_robin(candidates, order, last)]
    if strategy is QueueStrategy.RANDOM:
        return [rng.choice(candidates)]
    zero = AgentStats()
    if strategy is QueueStrategy.FEWEST_CALLS:
        return [min(candidates, key=lambda a: stats.get(a, zero).calls)]
    return [min(candidates, key=lambda a: stats.get(a, zero).talk_time)]  # min keeps the first


def _round_robin(candidates: Sequence[str], order: Sequence[str], last: str | None) -> str:
    """The first candidate after ``last`` in the configured order, wrapping around."""
    start = order.index(last) + 1 if last in order else 0
    wanted = set(candidates)
    for i in range(len(order)):
        agent = order[(start + i) % len(order)]
        if agent in wanted:
            return agent
    return candidates[0]  # candidates outside the configured order: not reached by the service


# ------------------------------------------------------------------------------ the service


class AgentState(Enum):
    FREE = "free"
    RINGING = "ringing"
    ON_CALL = "on call"
    WRAPUP = "wrapup"
    AWAY = "away"  # marked unavailable, or busy by the injected predicate


@dataclass(slots=True)
class _Caller:
    caller_id: str
    queue: str
    since: float
    seq: int
    deadline: float | None
    offers: dict[str, Offer] = field(default_factory=dict)  # agent -> offer
    tried: set[str] = field(default_factory=set)  # this round
    last_end: float = -math.inf  # when the last of its offers ended
    retry_at: float | None = None  # the next round, when every eligible agent failed


@dataclass(slots=True)
class _Agent:
    offer: Offer | None = None
    on_call: str | None = None  # the queue whose caller they are talking to
    rest_until: float | None = None  # wrap-up end
    away: bool = False


@dataclass(slots=True)
class _Queue(Generic[A]):
    name: str
    spec: QueueSpec[A]
    waiting: dict[str, _Caller] = field(default_factory=dict)  # in arrival order
    stats: dict[str, AgentStats] = field(default_factory=dict)
    last: str | None = None


class QueueService(Generic[A]):
    def __init__(
        self,
        queues: Mapping[str, QueueSpec[A]],
        rng: random.Random,
        *,
        busy: Callable[[str], bool] | Set[str] = frozenset(),
        stats: StatsSnapshot | None = None,
    ) -> None:
        self._queues = {name: _Queue(name, spec) for name, spec in queues.items()}
        self._rng = rng
        self._busy = busy.__contains__ if isinstance(busy, Set) else busy
        self._callers: dict[str, _Caller] = {}
        self._agents = {a: _Agent() for spec in queues.values() for a in spec.agents}
        self._seq = 0
        if stats is not None:
            self._restore(stats)

    # --- queries --------------------------------------------------------------------------
    def position(self, caller_id: str) -> int | None:
        caller = self._callers.get(caller_id)
        if caller is None:
            return None
        return list(self._queues[caller.queue].waiting).index(caller_id) + 1

    def waiting(self, queue: str) -> tuple[str, ...]:
        return tuple(self._queue(queue).waiting)

    def agent_state(self, agent: str, now: float) -> AgentState:
        a = self._agents[agent]
        if a.offer is not None:
            return AgentState.RINGING
        if a.on_call is not None:
            return AgentState.ON_CALL
        if a.rest_until is not None and now < a.rest_until:
            return AgentState.WRAPUP
        return AgentState.AWAY if a.away or self._busy(agent) else AgentState.FREE

    def stats(self) -> StatsSnapshot:
        return StatsSnapshot(
            {n: QueueStats(dict(q.stats), q.last) for n, q in self._queues.items()}
        )

    def next_deadline(self) -> float | None:
        times = [a.offer.until for a in self._agents.values() if a.offer is not None]
        times += [a.rest_until for a in self._agents.values() if a.rest_until is not None]
        for c in self._callers.values():
            times += [t for t in (c.deadline, c.retry_at) if t is not None]
        return min(times, default=None)

    # --- callers --------------------------------------------------------------------------
    def enqueue(self, queue: str, caller_id: str, now: float) -> Enqueued | Full[A]:
        q = self._queue(queue)
        if caller_id in self._callers:
            raise QueueError(f"caller {caller_id} is already queued")
        if q.spec.max_callers and len(q.waiting) >= q.spec.max_callers:
            return Full(q.spec.on_full)
        self._seq += 1
        deadline = now + q.spec.max_wait if q.spec.max_wait > 0 else None
        caller = _Caller(caller_id, queue, now, self._seq, deadline)
        q.waiting[caller_id] = self._callers[caller_id] = caller
        return Enqueued(len(q.waiting))

    def abandon(self, caller_id: str, now: float) -> list[QueueEvent[A]]:
        """The caller hung up (or was moved away). Unknown callers have already left."""
        caller = self._callers.get(caller_id)
        return [] if caller is None else self._leave(caller, CancelReason.CALLER_LEFT)

    # --- agents ---------------------------------------------------------------------------
    def agent_unavailable(self, agent: str, now: float) -> None:
        """Pushed instead of ``busy``: unregistered, do-not-disturb, on a direct call."""
        if agent in self._agents:
            self._agents[agent].away = True

    def agent_available(self, agent: str, now: float) -> None:
        if agent in self._agents:
            self._agents[agent].away = False

    def offers(self, now: float) -> list[Offer]:
        """The agents to ring now (call after every input; new offers only)."""
        heads = [(q, next(iter(q.waiting.values()))) for q in self._queues.values() if q.waiting]
        if not heads:
            return []
        heads.sort(key=lambda h: (-h[0].spec.priority, h[1].since, h[1].seq))
        free = {a for a in self._agents if self.agent_state(a, now) is AgentState.FREE}
        made: list[Offer] = []
        for q, caller in heads:
            if not free:
                break
            if caller.deadline is not None and caller.deadline <= now:
                continue  # leaves at handle_timer; nobody behind it may jump ahead
            if caller.offers and q.spec.strategy is not QueueStrategy.RINGALL:
                continue
            for agent in self._choose(q, caller, [a for a in q.spec.agents if a in free], now):
                made.append(self._offer(q, caller, agent, now))
                free.discard(agent)
        return made

    def offer_failed(self, offer: Offer, now: float) -> None:
        """The agent did not take it (busy, rejected, unreachable). Late reports are ignored."""
        if self._current(offer):
            self._withdraw(offer, now)

    def answered(self, offer: Offer, now: float) -> list[QueueEvent[A]]:
        if not self._current(offer):
            return [AnswerRefused(offer)]
        caller = self._callers[offer.caller]
        q = self._queues[offer.queue]
        self._withdraw(offer, now)
        self._agents[offer.agent].on_call = q.name
        old = q.stats.get(offer.agent, AgentStats())
        q.stats[offer.agent] = AgentStats(old.calls + 1, old.talk_time)
        return [Connected(offer), *self._leave(caller, CancelReason.ANSWERED_ELSEWHERE)]

    def call_ended(self, agent: str, talk_seconds: float, now: float) -> None:
        """A queue call ``Connected`` to ``agent`` ended: count it, start the wrap-up."""
        a = self._agents.get(agent)
        if a is None or a.on_call is None:
            raise QueueError(f"agent {agent} is not on a queue call")
        q = self._queues[a.on_call]
        old = q.stats.get(agent, AgentStats())
        q.stats[agent] = AgentStats(old.calls, old.talk_time + talk_seconds)
        a.on_call = None
        a.rest_until = now + q.spec.wrapup if q.spec.wrapup > 0 else None

    def handle_timer(self, now: float) -> list[QueueEvent[A]]:
        events: list[QueueEvent[A]] = []
        for caller in [c for c in self._callers.values() if _due(c.deadline, now)]:
            q = self._queues[caller.queue]
            events.append(TimedOut(caller.caller_id, q.name, q.spec.on_timeout))
            events += self._leave(caller, CancelReason.CALLER_TIMED_OUT)
        for a in self._agents.values():
            if a.offer is not None and a.offer.until <= now:
                events.append(OfferCancelled(a.offer, CancelReason.RING_TIMEOUT))
                self._withdraw(a.offer, now)
            if _due(a.rest_until, now):
                a.rest_until = None
        for caller in self._callers.values():
            if _due(caller.retry_at, now):
                caller.tried.clear()
                caller.retry_at = None
        return events

    # --- internals ------------------------------------------------------------------------
    def _queue(self, name: str) -> _Queue[A]:
        q = self._queues.get(name)
        if q is None:
            raise QueueError(f"no queue {name!r}")
        return q

    def _choose(self, q: _Queue[A], caller: _Caller, free: list[str], now: float) -> list[str]:
        """Pick among this queue's free agents; a round ends when all have been tried."""
        candidates = [a for a in free if a not in caller.tried]
        if not candidates and free and not caller.offers:
            if caller.retry_at is None:
                caller.retry_at = caller.last_end + q.spec.retry
            if now < caller.retry_at:
                return []
            caller.tried.clear()
            caller.retry_at = None
            candidates = free
        chosen = pick(
            q.spec.strategy,
            candidates,
            order=q.spec.agents,
            stats=q.stats,
            last=q.last,
            rng=self._rng,
        )
        if chosen and q.spec.strategy is QueueStrategy.ROUND_ROBIN:
            q.last = chosen[-1]
        return chosen

    def _offer(self, q: _Queue[A], caller: _Caller, agent: str, now: float) -> Offer:
        offer = Offer(q.name, caller.caller_id, agent, now + q.spec.ring_time)
        self._agents[agent].offer = caller.offers[agent] = offer
        caller.tried.add(agent)
        return offer

    def _current(self, offer: Offer) -> bool:
        a = self._agents.get(offer.agent)
        return a is not None and a.offer == offer

    def _withdraw(self, offer: Offer, now: float) -> None:
        self._agents[offer.agent].offer = None
        caller = self._callers[offer.caller]
        del caller.offers[offer.agent]
        caller.last_end = now

    def _leave(self, caller: _Caller, reason: CancelReason) -> list[QueueEvent[A]]:
        """The caller is out of the queue: withdraw its offers, tell those behind."""
        events: list[QueueEvent[A]] = []
        for offer in caller.offers.values():
            self._agents[offer.agent].offer = None
            events.append(OfferCancelled(offer, reason))
        q = self._queues[caller.queue]
        behind = list(q.waiting)
        index = behind.index(caller.caller_id)
        del q.waiting[caller.caller_id], self._callers[caller.caller_id]
        if q.spec.announce_position:
            for position, other in enumerate(behind[index + 1 :], start=index + 1):
                events.append(PositionChanged(other, q.name, position))
        return events

    def _restore(self, snapshot: StatsSnapshot) -> None:
        """Keep what still applies: stats of queues and agents that are still configured."""
        for name, saved in snapshot.queues.items():
            q = self._queues.get(name)
            if q is None:
                continue
            q.stats = {a: s for a, s in saved.agents.items() if a in q.spec.agents}
            q.last = saved.last_offered if saved.last_offered in q.spec.agents else None


def _due(deadline: float | None, now: float) -> bool:
    return deadline is not None and deadline <= now
