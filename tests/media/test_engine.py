"""MediaEngine (jobs in order, a failing job dropped, removals mid-tick) and its Ticker shell.

The ticker's skip arithmetic is checked by calling ``_fire`` with a controlled clock, and its
schedule end to end on a real asyncio loop whose injected clock is always exactly on time or
late, so no callback ever waits on the wall clock.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from softswitch.media.engine import MediaEngine
from softswitch.media.ticker import MAX_LATE_TICKS, PTIME, Ticker

Log = list[tuple[str, int, float]]


@dataclass
class Job:
    """Records its ticks into a shared log; ``action`` runs inside its tick."""

    name: str
    log: Log
    action: Callable[[int], None] | None = None

    def tick(self, n: int, now: float) -> None:
        self.log.append((self.name, n, now))
        if self.action is not None:
            self.action(n)


class Broken:
    def __init__(self) -> None:
        self.calls = 0

    def tick(self, n: int, now: float) -> None:
        self.calls += 1
        raise RuntimeError("disk full")


def new_log() -> Log:
    return []


def names(log: Log) -> list[str]:
    return [name for name, _, _ in log]


def test_jobs_run_in_the_order_they_were_added() -> None:
    engine, log = MediaEngine(), new_log()
    jobs = [Job(name, log) for name in "cab"]
    for job in jobs:
        engine.add(job)
    assert engine.active and len(engine) == 3 and all(job in engine for job in jobs)
    engine.tick(7, 1.25)
    assert log == [("c", 7, 1.25), ("a", 7, 1.25), ("b", 7, 1.25)]
    assert engine.ticks == 1


def test_equal_jobs_are_still_separate_jobs() -> None:
    engine, log = MediaEngine(), new_log()
    first, second = Job("same", log), Job("same", log)
    assert first == second  # dataclass equality must not merge two players
    engine.add(first)
    engine.add(second)
    engine.add(first)  # adding again keeps one entry
    engine.tick(0, 0.0)
    assert len(engine) == 2 and len(log) == 2


def test_a_failing_job_is_removed_and_logged_and_the_others_keep_running(
    caplog: pytest.LogCaptureFixture,
) -> None:
    engine, log = MediaEngine(), new_log()
    before, broken, after = Job("before", log), Broken(), Job("after", log)
    for job in (before, broken, after):
        engine.add(job)
    with caplog.at_level(logging.ERROR, logger="softswitch.media"):
        engine.tick(0, 0.0)
    assert names(log) == ["before", "after"]  # the job after it ran in the same tick
    assert broken not in engine and len(engine) == 2
    assert engine.failures == 1
    (record,) = caplog.records
    assert "failed and was removed" in record.getMessage()
    assert record.exc_info is not None and isinstance(record.exc_info[1], RuntimeError)
    engine.tick(1, 0.02)
    assert broken.calls == 1
    assert names(log) == ["before", "after", "before", "after"]
    assert engine.ticks == 2


def test_a_job_removed_during_the_tick_does_not_run_in_it() -> None:
    engine, log = MediaEngine(), new_log()
    victim = Job("victim", log)
    hangup = Job("hangup", log, action=lambda n: engine.remove(victim))
    engine.add(hangup)
    engine.add(Job("middle", log))
    engine.add(victim)
    engine.tick(0, 0.0)
    assert names(log) == ["hangup", "middle"]
    assert victim not in engine
    engine.remove(victim)  # removing again is harmless


def test_a_job_removing_itself_finishes_its_tick_and_leaves() -> None:
    engine, log = MediaEngine(), new_log()
    once = Job("once", log)
    once.action = lambda n: engine.remove(once)
    engine.add(once)
    engine.add(Job("other", log))
    engine.tick(0, 0.0)
    engine.tick(1, 0.02)
    assert names(log) == ["once", "other", "other"]


def test_a_job_added_during_the_tick_starts_with_the_next_one() -> None:
    engine, log = MediaEngine(), new_log()
    late = Job("late", log)
    engine.add(Job("adder", log, action=lambda n: engine.add(late)))
    engine.tick(0, 0.0)
    engine.tick(1, 0.02)
    assert log == [("adder", 0, 0.0), ("adder", 1, 0.02), ("late", 1, 0.02)]


def test_empty_engine_is_inactive() -> None:
    engine = MediaEngine()
    assert not engine.active and len(engine) == 0
    engine.tick(0, 0.0)
    assert engine.ticks == 1 and engine.failures == 0


# --- the ticker --------------------------------------------------------------------------------


class Clock:
    def __init__(self, t: float = 0.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def fire_at(ticker: Ticker, clock: Clock, t: float) -> None:
    """Run one ``_fire`` at fake time ``t`` (inside a loop: it re-arms its timer)."""

    async def once() -> None:
        clock.t = t
        ticker._fire()
        ticker.stop()

    asyncio.run(once())


def make_ticker(start: float, n: int) -> tuple[Ticker, Clock, Log]:
    engine, log, clock = MediaEngine(), new_log(), Clock()
    engine.add(Job("job", log))
    ticker = Ticker(engine, clock)
    ticker._start, ticker._n = start, n
    return ticker, clock, log


def test_a_tick_up_to_three_frames_late_runs_with_its_own_number() -> None:
    ticker, clock, log = make_ticker(100.0, 10)
    fire_at(ticker, clock, 100.0 + 10 * PTIME + MAX_LATE_TICKS * PTIME - 0.001)
    assert log == [("job", 10, clock.t)]
    assert ticker.skipped == 0 and ticker._n == 11
    assert ticker.late_max == pytest.approx(0.059)


def test_a_tick_more_than_three_frames_late_skips_to_the_current_one() -> None:
    ticker, clock, log = make_ticker(100.0, 10)
    fire_at(ticker, clock, 100.0 + 10 * PTIME + 0.105)  # tick 15 was due 5 ms ago
    assert log == [("job", 15, clock.t)]
    assert ticker.skipped == 5 and ticker._n == 16
    fire_at(ticker, clock, 100.0 + 16 * PTIME + 0.001)  # back on schedule: no more skips
    assert [n for _, n, _ in log] == [15, 16]
    assert ticker.skipped == 5
    assert ticker.late_max == pytest.approx(0.105)


def test_lateness_just_over_the_limit_skips_three() -> None:
    ticker, clock, log = make_ticker(0.0, 0)
    fire_at(ticker, clock, MAX_LATE_TICKS * PTIME + 0.001)
    assert [n for _, n, _ in log] == [3] and ticker.skipped == 3


def test_ticker_runs_the_absolute_schedule_on_a_loop_and_sleeps_when_idle() -> None:
    """Each tick sets the fake clock for the next one: on time (zero delay), once 110 ms late
    (after tick 2), so the ticks are 0 1 2, then 8 (5 skipped), up to 12 when the job leaves."""
    clock = Clock(50.0)
    engine = MediaEngine()
    ticker = Ticker(engine, clock)
    seen: list[tuple[int, float]] = []

    async def run() -> None:
        finished = asyncio.Event()

        def step(n: int) -> None:
            seen.append((n, clock.t))
            due_next = 50.0 + (n + 1) * PTIME
            clock.t = due_next + (0.11 if n == 2 else 0.0)
            if n >= 12:
                engine.remove(job)
                finished.set()

        job = Job("job", new_log(), action=step)
        ticker.wake()  # idle engine: nothing to do
        assert ticker._handle is None
        engine.add(job)
        ticker.wake()
        ticker.wake()  # already ticking: no second timer
        await asyncio.wait_for(finished.wait(), 5)
        assert ticker._handle is None  # no job left: the ticker sleeps

    asyncio.run(run())
    assert [n for n, _ in seen] == [0, 1, 2, 8, 9, 10, 11, 12]
    assert ticker.skipped == 5
    # Every tick ran at its due time except the late one.
    for n, t in seen:
        expected = 50.0 + n * PTIME + (0.01 if n == 8 else 0.0)
        assert t == pytest.approx(expected)


def test_stop_cancels_the_timer() -> None:
    clock = Clock()
    engine, log = MediaEngine(), new_log()
    engine.add(Job("job", log))
    ticker = Ticker(engine, clock)

    async def run() -> None:
        clock.t = 10.0
        ticker.wake()
        ticker.stop()
        await asyncio.sleep(0)
        await asyncio.sleep(0)

    asyncio.run(run())
    assert log == [] and ticker._handle is None
