"""Call queues on real calls: the shell around the sans-IO ``QueueService`` (queues.py).

``QueueRunner`` (one per config) owns the service, the statistics file, the queue sentences
and one ticker job. ``QueueCallerApp`` is one caller in one queue: a ``LocalApp`` an action
list hands the call to (``queue:NAME``) and that hands it back through ``then`` on timeout or
when the queue is full. A waiting caller hears "all our agents are busy" when nobody can be
rung at once, the position with ``announce_position`` (on entry, then on a change, at most
every 30 s), and otherwise the queue's music, also while an agent rings (Asterisk's default).
The agents of a caller's offers ring in one ``LocalSession.dial`` (``ringall``: all at once).

Why one ticker job (``QueueRunner.tick``), not the player's listener nor an asyncio timer: a
waiting caller's player is off the ticker (one job per port may emit), so its listener does
not run; and the job must run each tick anyway to pick every waiting caller's frame, music or
sentence, so the music pauses and resumes on a frame boundary with exactly one packet a tick
(handing the port between ``MusicOnHold.listen`` and the player would switch between jobs
whose order in a tick is not fixed: a packet lost or doubled each time). It also pulls each
port (the jitter buffer drains, DTMF keeps working). The service's deadline then costs one
comparison a tick and is honoured within 20 ms, with time still an input. Offers are also
asked for every second: ``busy`` and ``registered`` change without telling the service.

Blocking work stays off the loop: the sentences are rendered into 20 ms frames by a thread
started at construction (text-to-speech measured 3-13 ms a sentence, more for the first:
most of a tick of every call; one not rendered yet is skipped), and the statistics are saved
by the file's worker thread.

``agent_announcement`` is played to the agent who answers, before the caller is joined
(``LocalSession.callee_announcement``).
"""

from __future__ import annotations

import logging
import math
import random
import threading
from collections import deque
from collections.abc import Callable, Mapping
from enum import Enum
from pathlib import Path

import numpy as np
import numpy.typing as npt

from softswitch.call.local import LocalSession, MediaServices, SessionApp
from softswitch.config.routing_model import Actions, Queue
from softswitch.dialplan.queues import (
    CancelReason,
    Connected,
    Enqueued,
    Full,
    Offer,
    OfferCancelled,
    PositionChanged,
    QueueEvent,
    QueueService,
    QueueSpec,
    QueueStrategy,
    StatsSnapshot,
    TimedOut,
)
from softswitch.media.codecs import FRAME_SAMPLES
from softswitch.media.moh import MohStream, MusicOnHold
from softswitch.media.texts_queue import SPOKEN_POSITIONS
from softswitch.storage.queue_stats import Background, QueueStatsFile

__all__ = ["ALL_BUSY", "QueueCallerApp", "QueueRunner", "position_key"]

log = logging.getLogger("softswitch.dialplan")

Pcm = npt.NDArray[np.int16]
Frames = npt.NDArray[np.int16]  # shape (n, FRAME_SAMPLES)
MissedHook = Callable[[str, str, str], None]  # (queue, caller number, caller name)

ALL_BUSY = "queue_all_busy"
MANY_AHEAD = "queue_position_many"
ANNOUNCE_GAP = 30.0  # seconds between two position announcements to one caller
POLL_INTERVAL = 1.0  # seconds between offers asked for without an input


def position_key(position: int) -> str:
    """The system text that tells a caller their position."""
    return f"queue_position_{position}" if position <= SPOKEN_POSITIONS else MANY_AHEAD


def _in_thread(job: Callable[[], None]) -> None:
    threading.Thread(target=job, name="queue-sentences", daemon=True).start()


def _frames(samples: Pcm) -> Frames:
    """A sentence as whole 20 ms frames (the tail padded with silence)."""
    samples = np.pad(samples, (0, -len(samples) % FRAME_SAMPLES))
    return np.ascontiguousarray(samples, dtype=np.int16).reshape(-1, FRAME_SAMPLES)


def _spec(queue: Queue) -> QueueSpec[Actions]:
    return QueueSpec(
        agents=queue.agents,
        strategy=QueueStrategy(queue.strategy),
        on_timeout=queue.on_timeout or (),  # () = hang up
        on_full=queue.on_full or (),
        max_callers=queue.max_callers,
        max_wait=queue.max_wait,
        ring_time=queue.ring_time,
        wrapup=queue.wrapup,
        announce_position=queue.announce_position,
        priority=queue.priority,
    )


class QueueRunner:
    """Every configured queue on real calls (a ticker job while anyone waits).

    ``on_missed`` hears of every caller who leaves unanswered (hung up, timed out, queue
    full). ``background`` runs blocking jobs (tests pass one that runs them at once); by
    default the sentences get a thread and the statistics their file's worker (``close``)."""

    def __init__(
        self,
        queues: Mapping[str, Queue],
        stats_path: Path,
        busy: Callable[[str], bool],
        registered: Callable[[str], bool],
        moh: MusicOnHold,
        system_prompt: Callable[[str], Pcm],
        prompt: Callable[[str], Pcm],
        monotonic: Callable[[], float],
        *,
        rng: random.Random | None = None,
        on_missed: MissedHook | None = None,
        background: Background | None = None,
    ) -> None:
        self.queues = dict(queues)
        self.moh = moh
        self.prompt = prompt  # for agent_announcement
        self.monotonic = monotonic
        self.on_missed = on_missed
        self._system_prompt = system_prompt
        self._file = QueueStatsFile(stats_path, background)
        specs = {name: _spec(q) for name, q in queues.items()}
        self.service: QueueService[Actions] = QueueService(
            specs,
            rng or random.Random(),
            busy=lambda agent: busy(agent) or not registered(agent),
            stats=self._load(),
        )
        self._saved = self.service.stats().to_dict()
        self._agents = len({a for q in queues.values() for a in q.agents})
        self._waiting: dict[str, QueueCallerApp] = {}  # caller id -> app, while queued
        self._sentences: dict[str, Frames] = {}  # filled by ``warm`` (another thread)
        self._services: MediaServices | None = None  # the ticker, known from the first caller
        self._due: float | None = None
        self._poll_at = math.inf
        self._later: deque[Callable[[], None]] = deque()
        self._seq = 0
        if queues:
            (background or _in_thread)(self.warm)

    # --- setup and statistics ----------------------------------------------------------------
    def warm(self) -> None:
        """Render the queue sentences (blocking: text-to-speech)."""
        keys = [ALL_BUSY, MANY_AHEAD, *map(position_key, range(1, SPOKEN_POSITIONS + 1))]
        for key in keys:
            try:
                self._sentences[key] = _frames(self._system_prompt(key))
            except Exception as exc:  # a missing voice must not kill the queues: just quieter
                log.warning("queue sentence %s not rendered: %s", key, exc)

    def sentence(self, key: str) -> Frames | None:
        return self._sentences.get(key)

    def _load(self) -> StatsSnapshot | None:
        data = self._file.load()
        try:
            return StatsSnapshot.from_dict(data) if data else None
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            log.warning("queue statistics %s ignored: %r", self._file.path, exc)
            return None

    def save(self) -> None:
        """Have the statistics written if they changed (by a worker thread: see storage)."""
        data = self.service.stats().to_dict()
        if data == self._saved:
            return
        self._saved = data
        self._file.save_soon(data)

    def close(self) -> None:
        """At shutdown: finish writing the statistics."""
        self._file.close()

    # --- inputs from the callers' apps ---------------------------------------------------------
    def join(self, app: QueueCallerApp, now: float) -> Enqueued | Full[Actions]:
        self._seq += 1  # one id per stay: a call may come back to a queue after leaving it
        app.caller_id = f"{app.session.call_id}#{self._seq}"
        result = self.service.enqueue(app.queue.name, app.caller_id, now)
        if isinstance(result, Enqueued):
            self._waiting[app.caller_id] = app
            self._services = app.session.services
        return result

    def leave(self, app: QueueCallerApp, now: float) -> None:
        """The caller hung up while waiting."""
        self._waiting.pop(app.caller_id, None)
        self._dispatch(self.service.abandon(app.caller_id, now), now)
        self.settle(now)

    def dial_failed(self, app: QueueCallerApp, now: float) -> None:
        for offer in app.ringing.values():
            self.service.offer_failed(offer, now)
        app.ringing.clear()
        self.settle(now)

    def answered(self, app: QueueCallerApp, offer: Offer, now: float) -> bool:
        """``offer``'s agent answered: False when the service refuses (offer withdrawn)."""
        events = self.service.answered(offer, now)
        if not isinstance(events[0], Connected):
            return False
        self._waiting.pop(app.caller_id, None)
        app.connected(offer, now)
        self._dispatch(events[1:], now)
        self.save()
        self.settle(now)
        return True

    def ended(self, agent: str, talk: float, now: float) -> None:
        """A queue call ended after ``talk`` seconds."""
        self.service.call_ended(agent, talk, now)
        self.save()
        self.settle(now)

    def missed(self, app: QueueCallerApp) -> None:
        call = app.session.call
        try:
            if self.on_missed is not None:
                self.on_missed(app.queue.name, call.caller, call.caller_name)
        except Exception:  # the mail is someone else's: a failure there must not strand a call
            log.exception("missed-call hook failed for queue %s", app.queue.name)

    def later(self, job: Callable[[], None]) -> None:
        """Run ``job`` once the current input is fully handled (``then`` may re-enter)."""
        self._later.append(job)

    def settle(self, now: float) -> None:
        """After every input: ring what the service offers, re-arm, run what waited."""
        self._pump(now)
        self._due = self.service.next_deadline()
        self._poll_at = now + POLL_INTERVAL
        services = self._services
        if services is not None:
            if not self._waiting:
                services.engine.remove(self)
            elif self not in services.engine:
                services.engine.add(self)
                services.wake()
        while self._later:
            self._later.popleft()()

    # --- the ticker job ------------------------------------------------------------------------
    def tick(self, n: int, now: float) -> None:
        """Every 20 ms while anyone waits. Hot path: per caller a pull and one emit (music is
        encoded once per class and law per tick); the timers cost two comparisons."""
        payloads: dict[tuple[str, str], bytes] = {}
        for app in list(self._waiting.values()):
            app.hold_tick(n, now, payloads)
        if self._due is not None and now >= self._due:
            self._dispatch(self.service.handle_timer(now), now)
            self.settle(now)
        elif now >= self._poll_at:
            self.settle(now)

    # --- internals -----------------------------------------------------------------------------
    def _pump(self, now: float) -> None:
        """Ring every new offer, one dial per caller. A dial refused at once is reported and
        the service asked again (another agent may be free), a bounded number of times."""
        for _ in range(self._agents + 1):
            offers = self.service.offers(now)
            if not offers:
                return
            by_caller: dict[str, list[Offer]] = {}
            for offer in offers:
                by_caller.setdefault(offer.caller, []).append(offer)
            failed = False
            for caller, group in by_caller.items():
                app = self._waiting.get(caller)
                if app is None or not app.ring(group, now):
                    for offer in group:
                        self.service.offer_failed(offer, now)
                    failed = True
            if not failed:
                return

    def _dispatch(self, events: list[QueueEvent[Actions]], now: float) -> None:
        for event in events:
            if isinstance(event, TimedOut):
                app = self._waiting.pop(event.caller, None)
                if app is not None:
                    app.timed_out(event.action)
            elif isinstance(event, OfferCancelled):
                app = self._waiting.get(event.offer.caller)
                # Answered elsewhere: the B2BUA already cancelled the other forks of the dial.
                if app is not None and event.reason is not CancelReason.ANSWERED_ELSEWHERE:
                    app.offer_withdrawn(event.offer)
            elif isinstance(event, PositionChanged):
                app = self._waiting.get(event.caller)
                if app is not None:
                    app.moved(event.position, now)


class _State(Enum):
    NEW = "new"
    WAITING = "waiting"  # queued: music, sentences, maybe an agent ringing
    TALKING = "talking"  # joined to an agent
    DONE = "done"  # hung up, or handed back through ``then``: nothing more is ours


class QueueCallerApp(SessionApp):
    """One caller in queue ``queue_name`` (a ``LocalApp``); ``then`` gets the actions to run
    next when the caller times out (``on_timeout``) or the queue is full (``on_full``); an
    empty tuple means hang up."""

    def __init__(
        self, runner: QueueRunner, queue_name: str, then: Callable[[Actions], None]
    ) -> None:
        self.runner = runner
        self.queue = runner.queues[queue_name]
        self.then = then
        self.state = _State.NEW
        self.caller_id = ""
        self.position = 0
        self.agent: str | None = None
        self._since = 0.0
        self.ringing: dict[str, Offer] = {}  # agent -> offer, of the dial in progress
        self._music: MohStream | None = None
        self._speech: deque[Frames] = deque()
        self._spoken = 0  # frames of the first sentence already sent
        self._announce_at: float | None = None
        self._announced = -math.inf

    # --- LocalApp ------------------------------------------------------------------------------
    def start(self, session: LocalSession) -> None:
        self.attach(session)
        session.call.record |= self.queue.record  # the talk with the agent, once bridged
        session.call.place = f"queue:{self.queue.name}"
        now = self.runner.monotonic()
        result = self.runner.join(self, now)
        if isinstance(result, Full):
            log.info("%s queue %s full", session.call_id, self.queue.name)
            self._hand_back(result.action)
            self.runner.settle(now)
            return
        log.info("%s queued in %s at %d", session.call_id, self.queue.name, result.position)
        self.state = _State.WAITING
        self.position = result.position
        session.stop_player()  # the runner's job speaks to the port while the caller waits
        self._music = self.runner.moh.stream(self.queue.moh)
        self.runner.settle(now)
        if self.state is _State.WAITING and not self.ringing:
            self._say(ALL_BUSY)
        if self.queue.announce_position:
            self._announce_at = now

    def on_digit(self, digit: str) -> None:
        return None  # no exit key (Asterisk's queue context): callers just wait

    def on_dial_failed(self, status: int) -> None:
        if self.state is _State.WAITING:
            log.info("%s queue %s: no answer (%d)", self.session.call_id, self.queue.name, status)
            self.runner.dial_failed(self, self.runner.monotonic())

    def on_bridged(self, number: str) -> None:
        if self.state is not _State.WAITING:
            return  # a later step's dial, once the call was handed back
        offer = self.ringing.pop(number, None)  # None: withdrawn, its dial stopped too late
        self.ringing.clear()
        if offer is None or not self.runner.answered(self, offer, self.runner.monotonic()):
            log.warning(
                "%s queue %s: answer from %s refused", self.session.call_id, self.queue.name, number
            )
            self.session.hangup("queue answer refused")

    def stop(self) -> None:
        now = self.runner.monotonic()
        state, self.state = self.state, _State.DONE
        if state is _State.WAITING:
            self.runner.missed(self)
            self.runner.leave(self, now)
        elif state is _State.TALKING and self.agent is not None:
            self.runner.ended(self.agent, now - self._since, now)

    # --- from the runner -----------------------------------------------------------------------
    def ring(self, offers: list[Offer], now: float) -> bool:
        """Dial the agents of these offers; False when they cannot ring."""
        if self.ringing:
            return False  # one dial at a time: agents freed meanwhile wait for the next round
        announcement = self.queue.agent_announcement
        if announcement:  # the agent hears it on answering, before the caller is joined
            self.session.callee_announcement = self.runner.prompt(announcement)
        status = self.session.dial([o.agent for o in offers], offers[0].until - now)
        if status:
            log.info("%s queue %s: cannot ring: %d", self.session.call_id, self.queue.name, status)
            return False
        self.session.player.clear()  # dial queued ringback: this caller keeps the music
        self.ringing = {o.agent: o for o in offers}
        return True

    def offer_withdrawn(self, offer: Offer) -> None:
        """Ring timeout or the caller leaving: once no offer of the dial is left, stop it."""
        if self.ringing.get(offer.agent) == offer:
            del self.ringing[offer.agent]
            if not self.ringing:
                self.session.stop_dialing()

    def timed_out(self, action: Actions) -> None:
        log.info("%s queue %s: waited too long", self.session.call_id, self.queue.name)
        if self.ringing:
            self.ringing.clear()
            self.session.stop_dialing()
        self._hand_back(action)

    def connected(self, offer: Offer, now: float) -> None:
        log.info("%s queue %s: answered by %s", self.session.call_id, self.queue.name, offer.agent)
        self.state = _State.TALKING
        self.agent = offer.agent
        self._since = now
        self._speech.clear()

    def moved(self, position: int, now: float) -> None:
        self.position = position
        if self.queue.announce_position:
            self._announce_at = max(now, self._announced + ANNOUNCE_GAP)

    def hold_tick(self, n: int, now: float, payloads: dict[tuple[str, str], bytes]) -> None:
        """This tick's frame for a waiting caller: a sentence's, or the music's."""
        port = self.session.port
        port.pull(now)
        if self._announce_at is not None and now >= self._announce_at and not self._speech:
            self._announce_at = None
            self._announced = now
            self._say(position_key(self.position))
        if self._speech:
            sentence = self._speech[0]
            port.emit(sentence[self._spoken])
            self._spoken += 1
            if self._spoken == len(sentence):
                self._speech.popleft()
                self._spoken = 0
            return
        music = self._music
        assert music is not None
        key = (music.name, port.codec.name)
        payload = payloads.get(key)
        if payload is None:
            payload = payloads[key] = port.codec.encode(music.frame(n))
        port.emit_payload(payload)

    # --- internals -----------------------------------------------------------------------------
    def _say(self, key: str) -> None:
        sentence = self.runner.sentence(key)
        if sentence is None or not len(sentence):
            log.debug("%s queue sentence %s not rendered yet", self.session.call_id, key)
        else:
            self._speech.append(sentence)

    def _hand_back(self, action: Actions) -> None:
        """Out of the queue unanswered: the player is the caller's again, ``then`` runs."""
        waited = self.state is _State.WAITING
        self.state = _State.DONE
        self._speech.clear()
        if waited:
            self.session.player.clear()
            self.session.start_player()
        self.runner.missed(self)
        self.runner.later(lambda: self.then(action))
