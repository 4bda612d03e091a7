"""The queues' runner: the shell around the sans-IO ``QueueService`` (queues.py).

``QueueRunner`` (one per config) owns the service, the statistics file, the queue sentences
and one ticker job; each waiting caller is a ``QueueCallerApp`` (queue_app.py).

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
"""

from __future__ import annotations

import logging
import math
import random
import threading
from collections import deque
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from softswitch.call.local import MediaServices
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
from softswitch.media.moh import MusicOnHold
from softswitch.media.texts_queue import SPOKEN_POSITIONS
from softswitch.storage.queue_stats import Background, QueueStatsFile

if TYPE_CHECKING:
    from softswitch.dialplan.queue_app import QueueCallerApp

__all__ = ["ALL_BUSY", "Frames", "Pcm", "QueueRunner", "position_key"]

log = logging.getLogger("softswitch.dialplan")

Pcm = npt.NDArray[np.int16]
Frames = npt.NDArray[np.int16]  # shape (n, FRAME_SAMPLES)
MissedHook = Callable[[str, str, str], None]  # (queue, caller number, caller name)

ALL_BUSY = "queue_all_busy"
MANY_AHEAD = "queue_position_many"
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
