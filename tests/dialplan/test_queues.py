"""The queue service: strategies, timers, priorities, positions, stats; random sequences."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from softswitch.dialplan.queues import (
    AgentState,
    AgentStats,
    AnswerRefused,
    CancelReason,
    Connected,
    Enqueued,
    Full,
    Offer,
    OfferCancelled,
    PositionChanged,
    QueueError,
    QueueEvent,
    QueueService,
    QueueSpec,
    QueueStats,
    QueueStrategy,
    StatsSnapshot,
    TimedOut,
    pick,
)

AGENTS = ("1001", "1002", "1003")
S = QueueStrategy


def spec(
    strategy: S = S.ROUND_ROBIN, agents: tuple[str, ...] = AGENTS, **kw: Any
) -> QueueSpec[str]:
    return QueueSpec(agents, strategy, "voicemail:general", "voicemail:full", **kw)


def service(strategy: S = S.ROUND_ROBIN, seed: int = 7, **kw: Any) -> QueueService[str]:
    return QueueService({"soporte": spec(strategy, **kw)}, random.Random(seed))


def serve(svc: QueueService[str], caller: str, now: float, talk: float = 60.0) -> str:
    """Queue a caller, let the first agent offered answer, end the call: who took it."""
    assert isinstance(svc.enqueue("soporte", caller, now), Enqueued)
    offer = svc.offers(now)[0]
    assert svc.answered(offer, now + 2)[0] == Connected(offer)
    svc.call_ended(offer.agent, talk, now + 2 + talk)
    return offer.agent


# ---------------------------------------------------------------- joining


def test_positions_count_from_one_and_a_full_queue_turns_callers_away() -> None:
    svc = service(max_callers=2)
    assert svc.enqueue("soporte", "a", 0.0) == Enqueued(1)
    assert svc.enqueue("soporte", "b", 1.0) == Enqueued(2)
    assert svc.enqueue("soporte", "c", 2.0) == Full("voicemail:full")
    assert svc.waiting("soporte") == ("a", "b")
    assert svc.position("b") == 2 and svc.position("c") is None


def test_zero_max_callers_means_no_limit() -> None:
    svc = service(max_callers=0)
    for i in range(50):
        assert svc.enqueue("soporte", f"c{i}", float(i)) == Enqueued(i + 1)


def test_shell_bugs_raise() -> None:
    svc = service()
    svc.enqueue("soporte", "a", 0.0)
    with pytest.raises(QueueError):
        svc.enqueue("soporte", "a", 1.0)
    with pytest.raises(QueueError):
        svc.enqueue("ventas", "b", 1.0)
    with pytest.raises(QueueError):
        svc.call_ended("1001", 10.0, 2.0)


# ---------------------------------------------------------------- strategies


def test_ringall_offers_the_head_to_everyone_and_the_first_answer_wins() -> None:
    svc = service(S.RINGALL, ring_time=15.0)
    svc.enqueue("soporte", "a", 0.0)
    svc.enqueue("soporte", "b", 0.5)
    offers = svc.offers(1.0)
    assert offers == [Offer("soporte", "a", agent, 16.0) for agent in AGENTS]
    assert svc.offers(1.0) == []  # b waits: only the head is offered
    events = svc.answered(offers[1], 3.0)
    assert events == [
        Connected(offers[1]),
        OfferCancelled(offers[0], CancelReason.ANSWERED_ELSEWHERE),
        OfferCancelled(offers[2], CancelReason.ANSWERED_ELSEWHERE),
    ]
    assert svc.offers(3.0) == [Offer("soporte", "b", a, 18.0) for a in ("1001", "1003")]


def test_round_robin_spreads_calls_and_remembers_the_last_agent() -> None:
    svc = service(S.ROUND_ROBIN)
    takers = [serve(svc, f"c{i}", 100.0 * i) for i in range(5)]
    assert takers == ["1001", "1002", "1003", "1001", "1002"]
    assert Counter(takers) == {"1001": 2, "1002": 2, "1003": 1}
    assert svc.stats().queues["soporte"].last_offered == "1002"


def test_round_robin_passes_over_busy_agents() -> None:
    busy = {"1002"}
    svc = QueueService({"soporte": spec(S.ROUND_ROBIN)}, random.Random(1), busy=busy)
    assert [serve(svc, f"c{i}", 100.0 * i) for i in range(3)] == ["1001", "1003", "1001"]
    busy.clear()
    assert serve(svc, "c3", 400.0) == "1002"


def test_least_talk_time_and_fewest_calls_follow_the_stats() -> None:
    stats = {
        "1001": AgentStats(calls=5, talk_time=100.0),
        "1002": AgentStats(calls=1, talk_time=900.0),
        "1003": AgentStats(calls=3, talk_time=50.0),
    }
    kw: dict[str, Any] = {"order": AGENTS, "stats": stats, "last": None, "rng": random.Random(0)}
    assert pick(S.LEAST_TALK_TIME, AGENTS, **kw) == ["1003"]
    assert pick(S.FEWEST_CALLS, AGENTS, **kw) == ["1002"]
    assert pick(S.FEWEST_CALLS, ("1001", "1003"), **kw) == ["1003"]
    assert pick(S.RINGALL, ("1003", "1001"), **kw) == ["1003", "1001"]
    assert pick(S.ROUND_ROBIN, AGENTS, **{**kw, "last": "1003"}) == ["1001"]
    assert pick(S.ROUND_ROBIN, ("1001", "1002"), **{**kw, "last": "1002"}) == ["1001"]
    assert pick(S.FEWEST_CALLS, (), **kw) == []


def test_ties_go_to_the_configured_order() -> None:
    kw: dict[str, Any] = {"order": AGENTS, "stats": {}, "last": None, "rng": random.Random(0)}
    assert pick(S.LEAST_TALK_TIME, ("1002", "1003"), **kw) == ["1002"]
    assert pick(S.FEWEST_CALLS, AGENTS, **kw) == ["1001"]


def test_least_talk_time_in_service() -> None:
    svc = service(S.LEAST_TALK_TIME)
    assert serve(svc, "a", 0.0, talk=300.0) == "1001"
    assert serve(svc, "b", 1000.0, talk=10.0) == "1002"
    assert serve(svc, "c", 2000.0, talk=20.0) == "1003"
    assert serve(svc, "d", 3000.0, talk=20.0) == "1002"  # 10 s: the least
    assert serve(svc, "e", 4000.0) == "1003"  # 20 s, before 1002's 30 s


def test_fewest_calls_in_service() -> None:
    svc = service(S.FEWEST_CALLS)
    assert [serve(svc, f"c{i}", 100.0 * i) for i in range(4)] == [
        "1001",
        "1002",
        "1003",
        "1001",
    ]
    assert svc.stats().queues["soporte"].agents["1001"] == AgentStats(2, 120.0)


def test_random_follows_the_injected_generator() -> None:
    takers = [
        serve(svc, f"c{i}", 100.0 * i) for svc in [service(S.RANDOM, seed=42)] for i in range(30)
    ]
    rng = random.Random(42)
    assert takers == [rng.choice(AGENTS) for _ in range(30)]
    assert set(takers) == set(AGENTS)


# ---------------------------------------------------------------- ringing and retries


def test_an_unanswered_offer_moves_on_and_a_spent_round_waits_retry() -> None:
    svc = service(S.ROUND_ROBIN, agents=("1001", "1002"), ring_time=15.0, retry=5.0)
    svc.enqueue("soporte", "a", 0.0)
    first = svc.offers(0.0)[0]
    assert first == Offer("soporte", "a", "1001", 15.0)
    assert svc.next_deadline() == 15.0
    assert svc.handle_timer(14.0) == []
    assert svc.handle_timer(15.0) == [OfferCancelled(first, CancelReason.RING_TIMEOUT)]
    second = svc.offers(15.0)[0]
    assert second.agent == "1002"
    svc.offer_failed(second, 16.0)  # rejected
    assert svc.offers(16.0) == []  # both tried: wait retry seconds
    assert svc.next_deadline() == 21.0
    assert svc.handle_timer(21.0) == []
    assert [o.agent for o in svc.offers(21.0)] == ["1001"]


def test_late_reports_for_withdrawn_offers_are_harmless() -> None:
    svc = service(S.RINGALL, ring_time=10.0)
    svc.enqueue("soporte", "a", 0.0)
    offers = svc.offers(0.0)
    svc.handle_timer(10.0)
    svc.offer_failed(offers[0], 10.1)  # the CANCEL's 487
    assert svc.answered(offers[1], 10.2) == [AnswerRefused(offers[1])]
    assert svc.agent_state("1002", 10.2) is AgentState.FREE
    assert svc.abandon("nobody", 11.0) == []


def test_max_wait_times_out_even_while_an_agent_rings() -> None:
    svc = service(max_wait=60.0, ring_time=15.0, retry=0.0)
    svc.enqueue("soporte", "a", 0.0)
    offer = svc.offers(50.0)[0]
    assert svc.next_deadline() == 60.0
    events = svc.handle_timer(60.0)
    assert events == [
        TimedOut("a", "soporte", "voicemail:general"),
        OfferCancelled(offer, CancelReason.CALLER_TIMED_OUT),
    ]
    assert svc.answered(offer, 60.5) == [AnswerRefused(offer)]
    assert svc.position("a") is None and svc.next_deadline() is None


def test_a_caller_past_its_deadline_is_not_offered_and_nobody_jumps_ahead() -> None:
    svc = service(max_wait=60.0)
    svc.enqueue("soporte", "a", 0.0)
    svc.enqueue("soporte", "b", 30.0)
    svc.agent_unavailable("1001", 0.0)
    svc.agent_unavailable("1002", 0.0)
    svc.agent_unavailable("1003", 0.0)
    assert svc.offers(10.0) == []
    svc.agent_available("1002", 61.0)
    assert svc.offers(61.0) == []  # a is due to leave; b must not pass it
    assert svc.handle_timer(61.0)[0] == TimedOut("a", "soporte", "voicemail:general")
    assert svc.offers(61.0) == [Offer("soporte", "b", "1002", 76.0)]


def test_wrapup_rests_the_agent_after_a_queue_call() -> None:
    svc = service(S.RINGALL, agents=("1001",), wrapup=5.0)
    svc.enqueue("soporte", "a", 0.0)
    svc.answered(svc.offers(0.0)[0], 1.0)
    assert svc.agent_state("1001", 1.0) is AgentState.ON_CALL
    svc.call_ended("1001", 99.0, 100.0)
    svc.enqueue("soporte", "b", 100.0)
    assert svc.offers(100.0) == [] and svc.agent_state("1001", 102.0) is AgentState.WRAPUP
    assert svc.next_deadline() == 105.0
    assert svc.handle_timer(105.0) == []
    assert svc.next_deadline() is None
    assert svc.offers(105.0) == [Offer("soporte", "b", "1001", 120.0)]


def test_an_agent_on_a_call_is_not_offered_in_another_queue() -> None:
    queues = {"q1": spec(S.RINGALL, ("1001",)), "q2": spec(S.RINGALL, ("1001", "1002"))}
    svc = QueueService(queues, random.Random(0))
    svc.enqueue("q1", "a", 0.0)
    svc.answered(svc.offers(0.0)[0], 1.0)
    svc.enqueue("q2", "b", 2.0)
    assert svc.offers(2.0) == [Offer("q2", "b", "1002", 17.0)]


def test_busy_and_away_agents_are_not_offered() -> None:
    svc = QueueService({"soporte": spec(S.RINGALL)}, random.Random(0), busy={"1001"})
    svc.agent_unavailable("1003", 0.0)
    svc.agent_unavailable("9999", 0.0)  # not an agent: ignored
    svc.enqueue("soporte", "a", 0.0)
    assert [o.agent for o in svc.offers(0.0)] == ["1002"]
    assert svc.agent_state("1001", 0.0) is AgentState.AWAY
    svc.agent_available("1003", 1.0)
    assert [o.agent for o in svc.offers(1.0)] == ["1003"]


# ---------------------------------------------------------------- across queues


def test_a_shared_agent_takes_the_higher_priority_queue_first() -> None:
    queues = {
        "low": spec(S.RINGALL, ("1001",), priority=1),
        "high": spec(S.RINGALL, ("1001",), priority=5),
    }
    svc = QueueService(queues, random.Random(0))
    svc.enqueue("low", "early", 0.0)
    svc.enqueue("high", "late", 50.0)
    assert svc.offers(50.0) == [Offer("high", "late", "1001", 65.0)]


def test_at_equal_priority_the_longest_waiting_caller_goes_first() -> None:
    queues = {"q1": spec(S.RINGALL, ("1001",)), "q2": spec(S.RINGALL, ("1001",))}
    svc = QueueService(queues, random.Random(0))
    svc.enqueue("q1", "late", 10.0)
    svc.enqueue("q2", "early", 5.0)
    assert svc.offers(20.0) == [Offer("q2", "early", "1001", 35.0)]


def test_a_higher_priority_queue_busy_ringing_leaves_the_free_agent_to_another() -> None:
    queues = {"high": spec(priority=5), "low": spec(priority=1)}
    svc = QueueService(queues, random.Random(0))
    svc.enqueue("high", "h", 0.0)
    svc.enqueue("low", "l", 0.0)
    assert svc.offers(0.0) == [Offer("high", "h", "1001", 15.0), Offer("low", "l", "1002", 15.0)]


# ---------------------------------------------------------------- positions


def test_positions_are_announced_when_someone_ahead_leaves() -> None:
    svc = service(announce_position=True)
    for i, caller in enumerate("abcd"):
        svc.enqueue("soporte", caller, float(i))
    assert svc.abandon("b", 5.0) == [
        PositionChanged("c", "soporte", 2),
        PositionChanged("d", "soporte", 3),
    ]
    offer = svc.offers(6.0)[0]
    assert offer.caller == "a"
    events = svc.answered(offer, 7.0)
    assert events[1:] == [PositionChanged("c", "soporte", 1), PositionChanged("d", "soporte", 2)]
    assert svc.abandon("d", 8.0) == []  # last in line: nobody moves
    assert svc.position("c") == 1


def test_positions_are_only_queried_without_announce_position() -> None:
    svc = service(S.RINGALL, announce_position=False)
    svc.enqueue("soporte", "a", 0.0)
    svc.enqueue("soporte", "b", 1.0)
    offers = svc.offers(1.0)
    assert svc.abandon("a", 2.0) == [OfferCancelled(o, CancelReason.CALLER_LEFT) for o in offers]
    assert svc.position("b") == 1


# ---------------------------------------------------------------- statistics


def test_stats_survive_a_round_trip_and_a_restart() -> None:
    svc = service(S.FEWEST_CALLS)
    serve(svc, "a", 0.0, talk=30.0)
    serve(svc, "b", 100.0, talk=45.5)
    data = svc.stats().to_dict()
    assert data == {
        "soporte": {
            "last_offered": None,
            "agents": {
                "1001": {"calls": 1, "talk_time": 30.0},
                "1002": {"calls": 1, "talk_time": 45.5},
            },
        }
    }
    snapshot = StatsSnapshot.from_dict(data)
    assert snapshot == svc.stats()
    again = QueueService({"soporte": spec(S.FEWEST_CALLS)}, random.Random(0), stats=snapshot)
    assert serve(again, "c", 0.0) == "1003"  # the only one with no calls yet


def test_restoring_keeps_only_what_is_still_configured() -> None:
    old = StatsSnapshot(
        {
            "soporte": QueueStats(
                {"1001": AgentStats(4, 10.0), "1009": AgentStats(1, 1.0)}, "1009"
            ),
            "gone": QueueStats({"1001": AgentStats(9, 9.0)}),
        }
    )
    svc = QueueService({"soporte": spec(S.ROUND_ROBIN)}, random.Random(0), stats=old)
    assert svc.stats() == StatsSnapshot({"soporte": QueueStats({"1001": AgentStats(4, 10.0)})})


def test_a_restored_round_robin_continues_after_the_last_agent() -> None:
    old = StatsSnapshot({"soporte": QueueStats({}, "1002")})
    svc = QueueService({"soporte": spec(S.ROUND_ROBIN)}, random.Random(0), stats=old)
    assert serve(svc, "a", 0.0) == "1003"


def test_a_bad_spec_is_refused_and_duplicates_collapse() -> None:
    with pytest.raises(ValueError):
        spec(ring_time=0.0)
    with pytest.raises(ValueError):
        spec(max_wait=-1.0)
    assert spec(agents=("1001", "1002", "1001")).agents == ("1001", "1002")


# ---------------------------------------------------------------- random event sequences

QUEUES = {
    "q1": QueueSpec(("a1", "a2", "a3"), S.ROUND_ROBIN, "t", "f", 3, 40.0, 10.0, 3.0, True, 1, 2.0),
    "q2": QueueSpec(("a2", "a3"), S.RINGALL, "t", "f", 0, 0.0, 8.0, 0.0, True, 5, 0.0),
    "q3": QueueSpec(("a1", "a3", "a4"), S.LEAST_TALK_TIME, "t", "f", 2, 25.0, 12.0, 5.0, False, 1),
    "q4": QueueSpec(("a4", "a1"), S.RANDOM, "t", "f", 0, 0.0, 6.0, 0.0, False, 0, 1.0),
    "q5": QueueSpec(("a2", "a4"), S.FEWEST_CALLS, "t", "f", 1, 30.0, 9.0, 1.0, True, 5, 0.0),
}
ALL_AGENTS = sorted({a for q in QUEUES.values() for a in q.agents})
ops = st.lists(
    st.tuples(
        st.sampled_from(
            ["enqueue"] * 3
            + ["answer"] * 2
            + ["abandon", "fail", "end", "away", "back", "busy", "late"]
        ),
        st.integers(0, 20),
        st.floats(0.0, 15.0),
    ),
    max_size=60,
)


class Model:
    """What the shell would know, built only from the service's outputs."""

    def __init__(self) -> None:
        self.svc: QueueService[str]
        self.busy: set[str] = set()
        self.away: set[str] = set()
        self.call_queue: dict[str, str] = {}  # agent on a queue call -> its queue
        self.outstanding: dict[str, Offer] = {}  # agent -> offer
        self.on_call: set[str] = set()
        self.rest: dict[str, float] = {}
        self.arrival: dict[str, list[str]] = {q: [] for q in QUEUES}  # callers still waiting
        self.left: dict[str, str] = {}  # caller -> how
        self.withdrawn: list[Offer] = []  # offers the shell may still hear about, late

    def take(self, events: list[QueueEvent[str]], now: float) -> None:
        for event in events:
            if isinstance(event, OfferCancelled):
                assert self.outstanding.pop(event.offer.agent) == event.offer
                self.withdrawn.append(event.offer)
            elif isinstance(event, Connected):
                offer = event.offer
                assert self.outstanding.pop(offer.agent) == offer
                waiting = self.arrival[offer.queue]
                assert waiting[0] == offer.caller  # nobody who arrived earlier is still there
                self.leave(offer.caller, offer.queue, "answered")
                self.on_call.add(offer.agent)
                self.call_queue[offer.agent] = offer.queue
            elif isinstance(event, TimedOut):
                self.leave(event.caller, event.queue, "timed out")
            elif isinstance(event, PositionChanged):
                assert QUEUES[event.queue].announce_position
                assert self.arrival[event.queue].index(event.caller) + 1 == event.position

    def leave(self, caller: str, queue: str, how: str) -> None:
        assert caller not in self.left, (caller, self.left[caller], how)
        self.arrival[queue].remove(caller)
        self.left[caller] = how

    def offers(self, now: float) -> None:
        for offer in self.svc.offers(now):
            assert offer.agent not in self.outstanding  # never two callers at once
            assert offer.agent not in self.on_call | self.busy | self.away
            assert self.rest.get(offer.agent, -1.0) <= now
            assert offer.agent in QUEUES[offer.queue].agents
            assert self.arrival[offer.queue][0] == offer.caller  # only the head is offered
            assert offer.until == now + QUEUES[offer.queue].ring_time
            self.outstanding[offer.agent] = offer
        per_caller = Counter(o.caller for o in self.outstanding.values())
        for offer in self.outstanding.values():
            if QUEUES[offer.queue].strategy is not S.RINGALL:
                assert per_caller[offer.caller] == 1  # one agent at a time
        for queue, callers in self.arrival.items():
            for i, caller in enumerate(callers):
                assert self.svc.position(caller) == i + 1, queue


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(ops=ops, seed=st.integers(0, 2**16))
def test_random_sequences_keep_the_invariants(ops: list[tuple[str, int, float]], seed: int) -> None:
    m = Model()
    m.svc = svc = QueueService(QUEUES, random.Random(seed), busy=m.busy)
    now, serial = 0.0, 0
    for op, k, dt in ops:
        target = now + dt
        while (deadline := svc.next_deadline()) is not None and deadline <= target:
            now = deadline
            m.take(svc.handle_timer(now), now)
            m.offers(now)
            assert (later := svc.next_deadline()) is None or later > now
        now = target
        if op == "enqueue":
            serial += 1
            queue, caller = sorted(QUEUES)[k % len(QUEUES)], f"c{serial}"
            result = svc.enqueue(queue, caller, now)
            if isinstance(result, Enqueued):
                m.arrival[queue].append(caller)
                assert result.position == len(m.arrival[queue])
            else:
                assert len(m.arrival[queue]) == QUEUES[queue].max_callers
        elif op == "abandon":
            callers = [c for q in sorted(m.arrival) for c in m.arrival[q]]
            if callers:
                caller = callers[k % len(callers)]
                queue = next(q for q, cs in m.arrival.items() if caller in cs)
                events = svc.abandon(caller, now)
                m.leave(caller, queue, "abandoned")
                m.take(events, now)
        elif op in ("fail", "answer") and m.outstanding:
            offer = sorted(m.outstanding.values(), key=lambda o: o.agent)[k % len(m.outstanding)]
            if op == "fail":
                svc.offer_failed(offer, now)
                del m.outstanding[offer.agent]
                m.withdrawn.append(offer)
            else:
                m.take(svc.answered(offer, now), now)
        elif op == "late" and m.withdrawn:
            offer = m.withdrawn[k % len(m.withdrawn)]
            if offer not in m.outstanding.values():
                before = svc.next_deadline()
                svc.offer_failed(offer, now)
                assert svc.answered(offer, now) == [AnswerRefused(offer)]
                assert svc.next_deadline() == before
        elif op == "end" and m.on_call:
            agent = sorted(m.on_call)[k % len(m.on_call)]
            svc.call_ended(agent, float(k), now)
            m.on_call.discard(agent)
            m.rest[agent] = now + QUEUES[m.call_queue.pop(agent)].wrapup
        elif op in ("away", "back", "busy"):
            agent = ALL_AGENTS[k % len(ALL_AGENTS)]
            if op == "away":
                svc.agent_unavailable(agent, now)
                m.away.add(agent)
            elif op == "back":
                svc.agent_available(agent, now)
                m.away.discard(agent)
            else:
                m.busy.symmetric_difference_update({agent})
        m.offers(now)
    timed_out = {c for c, how in m.left.items() if how == "timed out"}
    answered = {c for c, how in m.left.items() if how == "answered"}
    assert not timed_out & answered
