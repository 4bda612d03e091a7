"""Ring-group plans: all and sequential with explicit times, availability, races, names."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from softswitch.dialplan.groups import (
    Cancel,
    GiveUp,
    Ring,
    RingGroup,
    RingOutcome,
    RingPlan,
    RingStep,
    RingStrategy,
    caller_display,
    with_prefix,
)

MEMBERS = ("1001", "1002", "2001")
FAIL = "voicemail:1001"


def group(strategy: RingStrategy, members: tuple[str, ...] = MEMBERS) -> RingGroup[str]:
    return RingGroup(members, strategy, ring_time=20.0, on_failure=FAIL, prefix="VENTAS")


def plan(strategy: RingStrategy, unavailable: set[str] | None = None) -> RingPlan[str]:
    return RingPlan(group(strategy), unavailable if unavailable is not None else set())


# ---------------------------------------------------------------- all


def test_all_rings_every_available_member_until_ring_time() -> None:
    p = plan(RingStrategy.ALL, {"1002"})
    assert p.start(100.0) == [Ring("1001", 120.0), Ring("2001", 120.0)]
    assert p.ringing == {"1001", "2001"}
    assert p.next_deadline() == 120.0
    assert not p.finished


def test_all_takes_a_predicate_for_availability() -> None:
    p = RingPlan(group(RingStrategy.ALL), lambda member: member.startswith("2"))
    assert p.start(0.0) == [Ring("1001", 20.0), Ring("1002", 20.0)]


def test_all_first_answer_wins_and_the_others_are_cancelled() -> None:
    p = plan(RingStrategy.ALL)
    p.start(0.0)
    assert p.answered("1002", 5.0) == [Cancel("1001"), Cancel("2001")]
    assert p.outcome is RingOutcome.ANSWERED and p.answered_by == "1002"
    assert p.next_deadline() is None
    assert p.handle_timer(20.0) == []
    assert p.answered("2001", 5.1) == [Cancel("2001")]  # a second answer is hung up
    assert p.answered_by == "1002"


def test_all_gives_up_at_ring_time() -> None:
    p = plan(RingStrategy.ALL)
    p.start(0.0)
    assert p.handle_timer(19.99) == []
    assert p.handle_timer(20.0) == [Cancel("1001"), Cancel("1002"), Cancel("2001"), GiveUp(FAIL)]
    assert p.outcome is RingOutcome.FAILED and p.next_deadline() is None
    assert p.handle_timer(40.0) == []


def test_all_gives_up_as_soon_as_the_last_member_fails() -> None:
    p = plan(RingStrategy.ALL)
    p.start(0.0)
    assert p.on_member_failed("1001", 1.0) == []
    assert p.on_member_failed("1001", 1.5) == []  # reported twice
    assert p.on_member_failed("2001", 2.0) == []
    assert p.ringing == {"1002"}
    assert p.on_member_failed("1002", 3.0) == [GiveUp(FAIL)]
    assert p.on_member_failed("1002", 3.1) == []


def test_all_with_nobody_available_gives_up_at_once() -> None:
    p = plan(RingStrategy.ALL, set(MEMBERS))
    assert p.start(0.0) == [GiveUp(FAIL)]
    assert p.finished and p.next_deadline() is None


def test_a_member_listed_twice_rings_once() -> None:
    p = RingPlan(group(RingStrategy.ALL, ("1001", "1002", "1001")))
    assert p.start(0.0) == [Ring("1001", 20.0), Ring("1002", 20.0)]
    seq = RingPlan(group(RingStrategy.SEQUENTIAL, ("1001", "1001")))
    seq.start(0.0)
    assert seq.handle_timer(20.0) == [Cancel("1001"), GiveUp(FAIL)]


# ---------------------------------------------------------------- sequential


def test_sequential_rings_each_member_in_turn_for_ring_time() -> None:
    p = plan(RingStrategy.SEQUENTIAL)
    assert p.start(0.0) == [Ring("1001", 20.0)]
    assert p.next_deadline() == 20.0
    assert p.handle_timer(20.0) == [Cancel("1001"), Ring("1002", 40.0)]
    assert p.on_member_failed("1002", 25.0) == [Ring("2001", 45.0)]  # busy: next at once
    assert p.next_deadline() == 45.0
    assert p.handle_timer(45.0) == [Cancel("2001"), GiveUp(FAIL)]
    assert p.outcome is RingOutcome.FAILED


def test_sequential_skips_members_unavailable_when_their_turn_comes() -> None:
    away = {"1001", "2001"}
    p = plan(RingStrategy.SEQUENTIAL, away)
    assert p.start(0.0) == [Ring("1002", 20.0)]
    away.discard("2001")  # hung up a call meanwhile: gets its turn
    assert p.handle_timer(20.0) == [Cancel("1002"), Ring("2001", 40.0)]


def test_sequential_answer_ends_the_plan() -> None:
    p = plan(RingStrategy.SEQUENTIAL)
    p.start(0.0)
    p.handle_timer(20.0)
    assert p.answered("1002", 30.0) == []
    assert p.outcome is RingOutcome.ANSWERED and p.answered_by == "1002"
    assert p.answered("1001", 30.1) == [Cancel("1001")]  # cancelled at 20 s, answered late
    assert p.on_member_failed("1002", 31.0) == []
    with pytest.raises(ValueError):
        p.answered("2001", 32.0)  # never rung: a bug in the shell


def test_a_failure_from_a_member_no_longer_ringing_is_ignored() -> None:
    p = plan(RingStrategy.SEQUENTIAL)
    p.start(0.0)
    p.handle_timer(20.0)
    assert p.on_member_failed("1001", 20.5) == []  # the CANCEL's 487, as the race goes
    assert p.ringing == {"1002"}


def test_a_plan_starts_once() -> None:
    p = plan(RingStrategy.ALL)
    p.start(0.0)
    with pytest.raises(RuntimeError):
        p.start(1.0)


def test_ring_time_must_be_positive() -> None:
    with pytest.raises(ValueError):
        RingGroup(MEMBERS, RingStrategy.ALL, 0.0, FAIL)


# ---------------------------------------------------------------- names


@pytest.mark.parametrize(
    ("prefix", "number", "name", "shown"),
    [
        ("VENTAS", "1001", "Ana", "VENTAS 1001 Ana"),
        ("VENTAS", "+34600111222", None, "VENTAS +34600111222"),
        ("", "1001", "Ana", "1001 Ana"),
        ("VENTAS", "", "", "VENTAS"),
        (" VENTAS ", "1001", " Ana ", "VENTAS 1001 Ana"),
    ],
)
def test_caller_display(prefix: str, number: str, name: str | None, shown: str) -> None:
    assert caller_display(prefix, number, name) == shown


def test_a_prefix_is_not_repeated() -> None:
    once = with_prefix("VENTAS", "MAD 600111222 Juan")
    assert once == "VENTAS MAD 600111222 Juan"
    assert with_prefix("VENTAS", once) == once
    assert with_prefix("VENTAS", "VENTASUR 1001") == "VENTAS VENTASUR 1001"


# ---------------------------------------------------------------- random plans

events = st.lists(
    st.tuples(
        st.sampled_from(["fail", "answer", "wait", "away", "back"]),
        st.sampled_from(MEMBERS),
        st.floats(0.0, 30.0),
    ),
    max_size=25,
)


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(
    strategy=st.sampled_from(RingStrategy), events=events, away=st.sets(st.sampled_from(MEMBERS))
)
def test_random_plans_keep_their_promises(
    strategy: RingStrategy, events: list[tuple[str, str, float]], away: set[str]
) -> None:
    p = RingPlan(group(strategy), away)
    model: set[str] = set()  # who rings, as the shell sees it from the steps
    steps: list[tuple[float, RingStep[str]]] = []

    def apply(now: float, out: list[RingStep[str]]) -> None:
        for step in out:
            steps.append((now, step))
            if isinstance(step, Ring):
                assert step.member not in model and step.until == now + 20.0
                model.add(step.member)
            elif isinstance(step, Cancel):
                model.discard(step.member)
        assert model == p.ringing
        if strategy is RingStrategy.SEQUENTIAL:
            assert len(model) <= 1
        if p.finished:
            assert not model and p.next_deadline() is None
        else:
            assert (deadline := p.next_deadline()) is not None and deadline > now

    now = 0.0
    apply(now, p.start(now))
    for kind, member, dt in events:
        target = now + dt
        while (deadline := p.next_deadline()) is not None and deadline <= target:
            now = deadline
            apply(now, p.handle_timer(now))
        now = target
        rung = {s.member for _, s in steps if isinstance(s, Ring)}
        if kind == "fail":
            model.discard(member)  # the leg is gone, whatever the plan makes of it
            apply(now, p.on_member_failed(member, now))
        elif kind == "answer" and member in rung:
            late = member not in model or p.finished
            model.discard(member)
            out = p.answered(member, now)
            assert (out == [Cancel(member)]) if late else (Cancel(member) not in out)
            apply(now, out)
        elif kind == "away":
            away.add(member)
        elif kind == "back":
            away.discard(member)
    rings = [s.member for _, s in steps if isinstance(s, Ring)]
    assert len(set(rings)) == len(rings)  # each member rings at most once
    gave_up = [i for i, (_, s) in enumerate(steps) if isinstance(s, GiveUp)]
    assert len(gave_up) <= 1
    assert (p.outcome is RingOutcome.FAILED) == bool(gave_up)
    assert (
        not gave_up
        or gave_up[0] == len(steps) - 1
        or all(isinstance(s, Cancel) for _, s in steps[gave_up[0] + 1 :])
    )
    if p.outcome is RingOutcome.ANSWERED:
        assert p.answered_by in rings
