"""Queues on calls: the runner and caller apps over fake sessions, real ports and real music.

A fake session records what the app asks of it (dial, stop_dialing, hangup) and lets the test
play the switch's part (an agent answers, nobody does, the caller hangs up). Its port is a
real ``MediaPort`` capturing packets; music and sentences are frames of distinct constant
levels, so what the caller heard in each tick is read straight off the decoded payloads.
Time is the test's: ``run`` ticks the real media engine on a virtual clock.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import numpy as np
import numpy.typing as npt
import pytest

from softswitch.call.local import LocalSession
from softswitch.config.routing_model import Action, Actions, Queue
from softswitch.dialplan.queue_app import ALL_BUSY, QueueCallerApp, QueueRunner, position_key
from softswitch.media.codecs import FRAME_SAMPLES, PCMU
from softswitch.media.engine import MediaEngine
from softswitch.media.moh import MusicOnHold
from softswitch.media.player import Player
from softswitch.media.port import MediaPort
from softswitch.media.tones import tone
from softswitch.rtp.packet import RtpSender, parse_rtp

Pcm = npt.NDArray[np.int16]
AGENTS = ("1001", "1002", "1003")
TIMEOUT: Actions = (Action("voicemail", "general"),)
FULL: Actions = (Action("prompt", "lleno"), Action("hangup", ""))
MUSIC = (1000, -2000, 3000, 5000)  # frame k of the music is MUSIC[k % 4] throughout
TICK = 0.02


def level_of(key: str) -> int:
    """The constant level of a sentence's samples (none equals a music level)."""
    if key == ALL_BUSY:
        return 7000
    if key == "queue_position_many":
        return 7500
    return -(300 * int(key.rsplit("_", 1)[1]) + 150)


def sentence(key: str) -> Pcm:
    frames = 2 if key == ALL_BUSY else 3
    return np.full(frames * FRAME_SAMPLES - 37, level_of(key), np.int16)  # padded to frames


def queue(**kw: Any) -> Queue:
    base = Queue(
        name="soporte",
        agents=AGENTS,
        strategy="round_robin",
        max_callers=0,
        max_wait=0.0,
        ring_time=15.0,
        wrapup=0.0,
        moh="default",
        agent_announcement=None,
        announce_position=False,
        priority=0,
        record=False,
        missed_call_email=None,
        on_timeout=TIMEOUT,
        on_full=FULL,
    )
    return replace(base, **kw)


class Services:
    def __init__(self, engine: MediaEngine, clock: Callable[[], float]) -> None:
        self.engine = engine
        self.monotonic = clock
        self.wakes = 0

    def wake(self) -> None:
        self.wakes += 1


class Call:
    def __init__(self, caller: str) -> None:
        self.caller = caller
        self.caller_name = f"Cliente {caller}"
        self.record = False


class FakeSession:
    """What QueueCallerApp uses of a LocalSession, recording it; the test drives the rest."""

    def __init__(self, call_id: str, caller: str, services: Services) -> None:
        self.call_id = call_id
        self.caller = caller
        self.call = Call(caller)
        self.services = services
        self.sent: list[bytes] = []
        self.port = MediaPort(self.sent.append, PCMU, None, services.monotonic)
        self.player = Player(self.port)
        self.app: QueueCallerApp | None = None
        self.dials: list[tuple[list[str], float | None]] = []
        self.dial_status = 0
        self.stopped_dialing = 0
        self.hung_up: list[str] = []

    # --- what the app calls ----------------------------------------------------------------
    def dial(self, numbers: list[str], ring_time: float | None = None) -> int:
        self.dials.append((list(numbers), ring_time))
        if self.dial_status == 0:  # as LocalSession: ringback queued in the player
            self.player.clear()
            self.player.tone(tone("ringback"), frames=100, barge_in=False)
        return self.dial_status

    def stop_dialing(self) -> None:
        self.stopped_dialing += 1

    def hangup(self, why: str) -> None:
        self.hung_up.append(why)

    def start_player(self) -> None:
        self.services.engine.add(self.player)

    def stop_player(self) -> None:
        self.player.clear()
        self.services.engine.remove(self.player)

    # --- the switch's part -----------------------------------------------------------------
    @property
    def player_on(self) -> bool:
        return self.player in self.services.engine

    def answer(self, number: str) -> None:
        self.stop_player()  # as LocalSession.bridged
        assert self.app is not None
        self.app.on_bridged(number)

    def no_answer(self, status: int = 480) -> None:
        self.player.clear()  # as LocalSession.dial_failed
        assert self.app is not None
        self.app.on_dial_failed(status)

    def hang_up(self) -> None:
        self.services.engine.remove(self.player)  # as LocalSession.close
        assert self.app is not None
        self.app.stop()

    def dialled(self) -> list[list[str]]:
        return [numbers for numbers, _ in self.dials]

    def sequences(self) -> list[int]:
        packets = [parse_rtp(data) for data in self.sent]
        return [p.sequence for p in packets if p is not None]

    def heard(self) -> list[int]:
        """The constant level of each packet's frame, in order."""
        levels = []
        for data in self.sent:
            packet = parse_rtp(data)
            assert packet is not None
            pcm = PCMU.decode(packet.payload)
            assert np.all(pcm[:100] == pcm[0])  # a sentence's last frame ends in padding
            levels.append(int(pcm[0]))
        return levels


def q(level: int) -> int:
    return int(PCMU.decode(PCMU.encode(np.array([level], np.int16)))[0])


class Switch:
    """A runner on a real engine and music on hold, with fake sessions for callers."""

    def __init__(
        self,
        stats: Path,
        queues: list[Queue] | None = None,
        *,
        busy: set[str] | None = None,
        unregistered: set[str] | None = None,
        rendered: bool = True,
        threads: bool = False,
    ) -> None:
        self.t = 100.0
        self.n = 0
        self.engine = MediaEngine()
        self.services = Services(self.engine, lambda: self.t)
        self.busy = busy if busy is not None else set()
        self.unregistered = unregistered if unregistered is not None else set()
        self.moh = MusicOnHold(self.engine, self.music, lambda: None)
        self.thens: list[tuple[str, Actions]] = []
        self.missed: list[tuple[str, str, str]] = []
        self.rendered: list[str] = []
        self.runner = QueueRunner(
            {x.name: x for x in queues or [queue()]},
            stats,
            self.busy.__contains__,
            lambda agent: agent not in self.unregistered,
            self.moh,
            self.system_prompt,
            lambda name: np.zeros(FRAME_SAMPLES, np.int16),
            lambda: self.t,
            rng=random.Random(5),
            on_missed=lambda *missed: self.missed.append(missed),
            background=None if threads else (lambda job: job()) if rendered else (lambda job: None),
        )
        self.calls = 0

    def music(self, name: str) -> Pcm:
        assert name == "default"
        return np.repeat(np.array(MUSIC, np.int16), FRAME_SAMPLES)

    def system_prompt(self, key: str) -> Pcm:
        self.rendered.append(key)
        return sentence(key)

    def call(self, queue_name: str = "soporte") -> FakeSession:
        self.calls += 1
        caller = f"60000000{self.calls}"
        session = FakeSession(f"call-{self.calls}", caller, self.services)
        session.app = QueueCallerApp(self.runner, queue_name, lambda a: self.then(caller, a))
        session.start_player()  # as answer_locally, before the app starts
        session.app.start(cast(LocalSession, session))
        return session

    def then(self, caller: str, actions: Actions) -> None:
        self.thens.append((caller, actions))

    def run(self, seconds: float) -> None:
        """Tick the engine on the virtual clock for ``seconds``."""
        for _ in range(round(seconds / TICK)):
            self.t = round(self.t + TICK, 6)
            self.n += 1
            self.engine.tick(self.n, self.t)

    @property
    def ticking(self) -> bool:
        return self.runner in self.engine


@pytest.fixture
def stats(tmp_path: Path) -> Path:
    return tmp_path / "state" / "queue_stats.json"


def serve(switch: Switch, talk: float = 10.0) -> str:
    """One caller, answered by the agent rung first, talking ``talk`` seconds: the agent."""
    session = switch.call()
    [agent] = session.dials[-1][0]
    switch.run(1.0)
    session.answer(agent)
    switch.run(talk)
    session.hang_up()
    return agent


# ---------------------------------------------------------------- strategies on calls


def test_round_robin_over_three_agents_answers_five_calls_two_two_one(stats: Path) -> None:
    switch = Switch(stats)
    served = [serve(switch) for _ in range(5)]
    assert served == ["1001", "1002", "1003", "1001", "1002"]
    agents = switch.runner.service.stats().queues["soporte"].agents
    assert {a: s.calls for a, s in agents.items()} == {"1001": 2, "1002": 2, "1003": 1}
    assert agents["1001"].talk_time == pytest.approx(20.0)
    assert switch.missed == [] and switch.thens == []
    assert not switch.ticking  # nobody waits: the job is off the ticker


def test_each_dial_rings_for_the_queue_ring_time_and_the_caller_keeps_the_music(
    stats: Path,
) -> None:
    switch = Switch(stats, [queue(ring_time=12.0)])
    session = switch.call()
    assert session.dials == [(["1001"], 12.0)]
    assert not session.player.playing and not session.player_on  # no ringback: music
    switch.run(0.2)
    assert session.heard() == [q(MUSIC[n % 4]) for n in range(1, 11)]


def test_ringall_rings_every_free_agent_in_one_dial_and_counts_who_answered(
    stats: Path,
) -> None:
    switch = Switch(stats, [queue(strategy="ringall")], busy={"1003"})
    session = switch.call()
    assert session.dialled() == [["1001", "1002"]]
    switch.run(2.0)
    session.answer("1002")
    assert switch.runner.service.stats().queues["soporte"].agents["1002"].calls == 1
    switch.busy.clear()
    switch.run(2.0)  # 1003 is free now, but nobody waits
    assert session.dialled() == [["1001", "1002"]] and session.stopped_dialing == 0


def test_an_agent_who_does_not_answer_passes_the_caller_to_the_next(stats: Path) -> None:
    switch = Switch(stats)
    session = switch.call()
    switch.run(3.0)
    session.no_answer(486)
    assert session.dialled() == [["1001"], ["1002"]]
    switch.run(15.0)  # 1002 rings out: the service withdraws the offer, the dial stops
    assert session.stopped_dialing == 1
    assert session.dialled() == [["1001"], ["1002"], ["1003"]]


def test_a_dial_refused_at_once_goes_straight_to_the_next_agent(stats: Path) -> None:
    switch = Switch(stats, busy=set(AGENTS))
    session = switch.call()
    session.dial_status = 480
    switch.busy.clear()
    switch.run(1.0)  # the poll finds them free; each dial fails synchronously
    assert session.dialled() == [["1001"], ["1002"], ["1003"]]
    session.dial_status = 0
    switch.run(4.0)  # the service's retry pause (5 s after the last failure) still runs
    assert len(session.dials) == 3
    switch.run(1.0)
    assert session.dialled()[3:] == [["1001"]]


def test_busy_and_unregistered_agents_are_never_offered(stats: Path) -> None:
    switch = Switch(stats, busy={"1001"}, unregistered={"1002"})
    session = switch.call()
    assert session.dialled() == [["1003"]]
    session.no_answer()
    switch.run(0.5)
    assert session.dialled() == [["1003"]]  # nobody else may be rung
    switch.busy.clear()  # 1001's direct call ended: nobody tells the service
    switch.run(1.0)  # the once-a-second poll finds out
    assert session.dialled() == [["1003"], ["1001"]]


def test_the_agent_rests_for_wrapup_before_the_next_call(stats: Path) -> None:
    switch = Switch(stats, [queue(agents=("1001",), wrapup=20.0)])
    first = switch.call()
    second = switch.call()
    first.answer("1001")
    switch.run(5.0)
    first.hang_up()
    switch.run(19.0)
    assert second.dials == []
    switch.run(1.5)
    assert second.dialled() == [["1001"]]


# ---------------------------------------------------------------- leaving the queue


def test_a_full_queue_hands_the_call_to_on_full(stats: Path) -> None:
    switch = Switch(stats, [queue(max_callers=1)], busy=set(AGENTS))
    first = switch.call()
    second = switch.call()
    assert switch.thens == [(second.caller, FULL)]
    assert switch.missed == [("soporte", second.caller, f"Cliente {second.caller}")]
    assert second.player_on and second.dials == []  # the next step plays as usual
    assert first.app is not None and first.app.position == 1
    second.hang_up()  # the next step's business now: the queue is not told
    assert switch.runner.service.waiting("soporte") == (first.app.caller_id,)


def test_a_full_queue_without_on_full_hangs_up(stats: Path) -> None:
    switch = Switch(stats, [queue(max_callers=1, on_full=None)], busy=set(AGENTS))
    switch.call()
    second = switch.call()
    assert switch.thens == [(second.caller, ())]


def test_max_wait_stops_the_ringing_and_hands_the_call_to_on_timeout(stats: Path) -> None:
    switch = Switch(stats, [queue(max_wait=40.0, ring_time=15.0)])
    session = switch.call()
    switch.run(39.9)
    assert session.dialled() == [["1001"], ["1002"], ["1003"]]
    assert session.stopped_dialing == 2 and switch.thens == []
    switch.run(0.2)
    assert session.stopped_dialing == 3
    assert switch.thens == [(session.caller, TIMEOUT)]
    assert switch.missed == [("soporte", session.caller, f"Cliente {session.caller}")]
    assert session.player_on and not session.player.playing  # no stale ringback
    assert not switch.ticking
    sent = len(session.sent)
    switch.run(1.0)  # the player speaks to the port again (silence), not the music
    assert session.heard()[sent:] == [0] * 50
    session.answer("1003")  # a late answer after the hand-back is not the queue's
    assert session.hung_up == [] and len(session.dials) == 3


def test_on_timeout_may_queue_the_call_again_elsewhere(stats: Path) -> None:
    ventas = queue(name="ventas", agents=("2001",))
    switch = Switch(stats, [queue(max_wait=10.0), ventas], busy=set(AGENTS))
    session = switch.call()
    app2 = QueueCallerApp(switch.runner, "ventas", lambda a: None)

    def then(actions: Actions) -> None:  # what an action list would do with queue:ventas
        session.app = app2
        app2.start(cast(LocalSession, session))

    assert session.app is not None
    session.app.then = then
    switch.run(10.5)
    assert session.dialled() == [["2001"]]
    assert switch.runner.service.waiting("soporte") == ()
    assert switch.runner.service.waiting("ventas") == (app2.caller_id,)
    assert switch.ticking and not session.player_on


def test_a_caller_hanging_up_abandons_and_the_next_caller_is_offered(stats: Path) -> None:
    switch = Switch(stats, [queue(agents=("1001",))])
    first = switch.call()
    second = switch.call()
    assert first.dialled() == [["1001"]] and second.dials == []
    switch.run(4.0)
    first.hang_up()
    assert second.dialled() == [["1001"]]
    assert switch.missed == [("soporte", first.caller, f"Cliente {first.caller}")]
    assert switch.thens == []


def test_an_answer_to_a_withdrawn_offer_hangs_up(stats: Path) -> None:
    switch = Switch(stats, [queue(agents=("1001", "1002"))])
    session = switch.call()
    switch.run(15.1)  # 1001 rang out; 1002 rings now
    assert session.dialled() == [["1001"], ["1002"]]
    session.answer("1001")  # a late answer the stopped dial let through
    assert session.hung_up == ["queue answer refused"]
    assert switch.runner.service.stats().queues["soporte"].agents == {}
    session.hang_up()
    assert switch.runner.service.waiting("soporte") == ()


# ---------------------------------------------------------------- what the caller hears


def test_music_reaches_the_port_one_frame_per_tick_after_the_busy_sentence(
    stats: Path,
) -> None:
    switch = Switch(stats, busy=set(AGENTS))
    session = switch.call()
    switch.run(0.2)  # ticks 1 to 10
    assert session.heard() == [q(7000)] * 2 + [q(MUSIC[n % 4]) for n in range(3, 11)]
    sequences = session.sequences()
    assert sequences == list(range(sequences[0], sequences[0] + 10))  # one packet a tick


def test_what_the_caller_sends_while_waiting_is_consumed_every_tick(stats: Path) -> None:
    switch = Switch(stats, busy=set(AGENTS))
    session = switch.call()
    phone = RtpSender(ssrc=77, sequence=1, timestamp=0)
    for _ in range(100):  # the phone's stream, one frame a tick
        session.port.receive(phone.packet(PCMU.silence, PCMU.payload_type))
        switch.run(TICK)
    jitter = session.port.jitter.stats()
    assert jitter.received == 100 and jitter.discarded == 0
    assert jitter.buffered <= 3 and jitter.played >= 97  # no backlog for what follows


def test_position_is_spoken_on_entry_and_when_it_changes_at_most_every_30_s(
    stats: Path,
) -> None:
    switch = Switch(stats, [queue(announce_position=True)], busy=set(AGENTS))
    callers = [switch.call() for _ in range(4)]
    fourth = callers[3]
    switch.run(5.0)
    callers[0].hang_up()  # 3rd now, but the entry announcement was 5 s ago: wait
    switch.run(5.0)
    callers[1].hang_up()  # 2nd now: still waiting for 30 s after the last one
    switch.run(60.0)
    callers[2].hang_up()  # 1st now, 40 s after the last announcement: said at once
    switch.run(5.0)
    music = {q(v) for v in MUSIC}
    heard = fourth.heard()
    starts = [  # (seconds after entry, level) where each sentence starts
        ((i + 1) * TICK, v)
        for i, v in enumerate(heard)
        if v not in music and (i == 0 or heard[i - 1] != v)
    ]
    expected = [(0.02, 7000), (0.06, level_of(position_key(4)))]
    expected += [(30.06, level_of(position_key(2))), (70.02, level_of(position_key(1)))]
    assert [v for _, v in starts] == [q(v) for _, v in expected]
    for (t, _), (want, _) in zip(starts, expected, strict=True):
        assert t == pytest.approx(want, abs=TICK + 1e-9)
    assert len(heard) == round(75.0 / TICK)  # a packet every tick, sentences or music


def test_a_long_queue_says_many_callers_ahead(stats: Path) -> None:
    switch = Switch(stats, [queue(announce_position=True)], busy=set(AGENTS))
    callers = [switch.call() for _ in range(11)]
    switch.run(0.2)
    assert q(7500) in callers[10].heard() and q(7500) not in callers[9].heard()


def test_sentences_not_rendered_yet_are_skipped_for_music(stats: Path) -> None:
    switch = Switch(stats, [queue(announce_position=True)], busy=set(AGENTS), rendered=False)
    session = switch.call()
    switch.run(0.1)
    assert session.heard() == [q(MUSIC[n % 4]) for n in range(1, 6)]
    switch.runner.warm()  # what the worker thread does, done late
    assert sorted(switch.rendered) == sorted(
        [ALL_BUSY, "queue_position_many", *(f"queue_position_{n}" for n in range(1, 11))]
    )
    late = switch.call()
    switch.run(0.1)
    assert late.heard()[:2] == [q(7000)] * 2


def test_the_runner_speaks_only_while_the_caller_waits(stats: Path) -> None:
    switch = Switch(stats)
    session = switch.call()
    switch.run(1.0)
    sent = len(session.sent)
    session.answer("1001")  # the agent's audio goes through the relay now
    switch.run(1.0)
    assert len(session.sent) == sent and not switch.ticking


# ---------------------------------------------------------------- statistics


def test_stats_survive_a_restart_and_keep_fewest_calls_order(stats: Path) -> None:
    fewest = [queue(strategy="fewest_calls")]
    switch = Switch(stats, fewest)
    assert [serve(switch), serve(switch)] == ["1001", "1002"]
    again = Switch(stats, fewest)
    assert again.call().dialled() == [["1003"]]
    fresh = Switch(stats.with_name("other.json"), fewest)
    assert fresh.call().dialled() == [["1001"]]


def test_stats_are_written_by_a_worker_thread_and_close_waits_for_them(stats: Path) -> None:
    fewest = [queue(strategy="fewest_calls")]
    switch = Switch(stats, fewest, threads=True)  # the runner's own threads, not the test's
    assert [serve(switch), serve(switch)] == ["1001", "1002"]
    switch.runner.close()
    again = Switch(stats, fewest)
    assert again.call().dialled() == [["1003"]]


def test_a_corrupt_stats_file_is_ignored(stats: Path, caplog: pytest.LogCaptureFixture) -> None:
    stats.parent.mkdir(parents=True)
    stats.write_text('{"version": 1, "queues": {"soporte": {"agents": 5}}}')
    switch = Switch(stats, [queue(strategy="fewest_calls")])
    assert "ignored" in caplog.text
    assert serve(switch) == "1001"
    assert '"1001"' in stats.read_text()
