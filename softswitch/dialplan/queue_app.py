"""One caller in a call queue: ``QueueCallerApp``, run by the ``QueueRunner`` (queue_runner.py).

The app is a ``LocalApp`` an action list hands the call to (``queue:NAME``) and that hands it
back through ``then`` on timeout or when the queue is full. A waiting caller hears "all our
agents are busy" when nobody can be rung at once, the position with ``announce_position`` (on
entry, then on a change, at most every 30 s), and otherwise the queue's music, also while an
agent rings (Asterisk's default); the runner's ticker job picks each frame (``hold_tick``).
The agents of a caller's offers ring in one ``LocalSession.dial`` (``ringall``: all at once).

``agent_announcement`` is played to the agent who answers, before the caller is joined
(``LocalSession.callee_announcement``).
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Callable
from enum import Enum

from softswitch.call.local import LocalSession, SessionApp
from softswitch.config.routing_model import Actions
from softswitch.dialplan.queue_runner import ALL_BUSY, Frames, QueueRunner, position_key
from softswitch.dialplan.queues import Full, Offer
from softswitch.media.moh import MohStream

__all__ = ["ALL_BUSY", "QueueCallerApp", "QueueRunner", "position_key"]

log = logging.getLogger("softswitch.dialplan")

ANNOUNCE_GAP = 30.0  # seconds between two position announcements to one caller


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
