"""Conference rooms reached by their number: PIN, joining the bridge, mute, leaving.

What a caller goes through (the flow of Asterisk's ConfBridge with a PIN, kept small):

1. a room with a ``pin`` or an ``admin_pin`` asks for a PIN with a spoken prompt; a digit
   stops the prompt (barge-in). The PIN is complete at ``#``, or as soon as the digits typed
   equal a PIN that no other PIN of the room continues. 10 s without a digit after the prompt
   counts as ``#``. Three wrong tries and the caller hears "wrong PIN", "goodbye" and is hung
   up;
2. a full room (``max_members``) says so and hangs up;
3. the caller joins the bridge: everyone hears everyone else; ``announce_join_leave`` plays
   the join tone to the room; a caller alone hears ``moh_when_alone``;
4. ``*`` toggles the caller's own mute; hanging up leaves the room (with the leave tone).

Administrators (the ``admin_pin``; ConfBridge's "marked" users with ``wait_marked``):

- the PIN prompt takes either PIN; whoever types the ``admin_pin`` is an administrator;
- a room with an ``admin_pin`` but no ``pin`` still asks everyone: an empty PIN (just ``#``,
  or the timeout) lets the caller in as an ordinary member;
- in a room with an ``admin_pin``, members who come before any administrator are told "the
  conference will start when the organiser joins" and then hear ``moh_when_alone`` (or
  silence); they neither hear nor are heard by anyone. The first administrator starts the
  session: from then on everyone is mixed;
- when the last administrator leaves, the others stay and go on talking (no ``end_marked``,
  and unlike ConfBridge they are not put back on hold); the room waits again only once it has
  emptied.

Recording (``record = true``, when the service has a recordings directory): each session of
the room, from the first moment two members are mixed until the room empties, goes to its own
WAV file (see ``softswitch.media.conference_recording``).

The state lives here, timing comes in as ``now`` from the player's tick (no timers of its own).
"""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt

from softswitch.call.local import LocalSession, SessionApp
from softswitch.config.model import Conference
from softswitch.media.conference import ConferenceBridge, Participant, RecordingFactory
from softswitch.media.conference_recording import ConferenceRecorder
from softswitch.media.engine import MediaEngine
from softswitch.media.moh import MusicOnHold
from softswitch.media.tones import tone

__all__ = ["ConferenceApp", "ConferenceService"]

log = logging.getLogger("softswitch.dialplan")

Pcm = npt.NDArray[np.int16]
MAX_TRIES = 3
DIGIT_TIMEOUT = 10.0  # seconds after the PIN prompt ends
MUTE_KEY = "*"


class _State(enum.Enum):
    ASKING = "asking"  # the PIN prompt is playing or the caller is typing
    LEAVING = "leaving"  # the last words before hanging up
    IN_ROOM = "in room"
    ENDED = "ended"


class ConferenceService:
    """Every configured room, the one bridge that mixes them, and what rooms need.

    ``recordings``: the directory recorded rooms write to (``state_dir / "recordings"``);
    without it no room is recorded. ``wall``: seconds since the epoch, for the file names.
    """

    def __init__(
        self,
        conferences: dict[str, Conference],
        bridge: ConferenceBridge,
        engine: MediaEngine,
        moh: MusicOnHold,
        speech: Callable[[str], Pcm],
        recordings: Path | None = None,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.by_number = {c.number: c for c in conferences.values()}
        self.bridge = bridge
        self.engine = engine
        self.moh = moh
        self.speech = speech  # system prompt key -> samples, in the server's language
        self.recorder: RecordingFactory | None = None
        if recordings is not None:
            self.recorder = ConferenceRecorder(recordings, wall)
        else:
            for room in conferences.values():
                if room.record:
                    log.warning("conference %s not recorded: no recordings directory", room.name)

    def app_for(self, number: str) -> ConferenceApp | None:
        room = self.by_number.get(number)
        return None if room is None else ConferenceApp(room, self)

    def enter(self, app: ConferenceApp) -> Participant:
        moh = self.moh.stream(app.room.moh_when_alone) if app.room.moh_when_alone else None
        announce = tone("join") if app.room.announce_join_leave else None
        participant = self.bridge.join(
            app.room.name,
            app.session.port,
            moh=moh,
            tone=announce,
            admin=app.admin,
            wait_for_admin=app.room.admin_pin is not None,
            record=self.recorder if app.room.record else None,
        )
        if self.bridge not in self.engine:
            self.engine.add(self.bridge)
        return participant

    def exit(self, participant: Participant, room: Conference) -> None:
        self.bridge.leave(participant, tone=tone("leave") if room.announce_join_leave else None)
        if not len(self.bridge):
            self.engine.remove(self.bridge)


class ConferenceApp(SessionApp):
    """One caller's way into a room (a ``LocalApp``)."""

    def __init__(self, room: Conference, service: ConferenceService) -> None:
        self.room = room
        self.service = service
        self.state = _State.ASKING
        self.typed = ""
        self.tries = 0
        self.deadline: float | None = None
        self.participant: Participant | None = None
        self.admin = False

    # --- LocalApp ------------------------------------------------------------------------------
    def start(self, session: LocalSession) -> None:
        self.attach(session, self._tick)
        if self.room.pin or self.room.admin_pin:
            self._ask()
        else:
            self._admit()

    def on_digit(self, digit: str) -> None:
        if self.state is _State.IN_ROOM:
            if digit == MUTE_KEY and self.participant is not None:
                muted = not self.service.bridge.is_muted(self.participant)
                self.service.bridge.set_muted(self.participant, muted)
                log.info(
                    "%s %s in %s",
                    self.session.call_id,
                    "muted" if muted else "unmuted",
                    self.room.name,
                )
            return
        if self.state is not _State.ASKING:
            return
        self.session.player.interrupt()  # barge-in: the prompt stops at the first digit
        self.deadline = None
        if digit == "#":
            self._check()
            return
        self.typed += digit
        if _complete(self.typed, self._pins()):
            self._check()

    def on_dial_failed(self, status: int) -> None:
        return None  # a room never dials

    def on_bridged(self, number: str) -> None:
        return None

    def stop(self) -> None:
        if self.participant is not None:
            self.service.exit(self.participant, self.room)
            log.info("%s left conference %s", self.session.call_id, self.room.name)
            self.participant = None
        self.state = _State.ENDED

    # --- the flow ------------------------------------------------------------------------------
    def _say(self, key: str, done: Callable[[bool], None] | None = None) -> None:
        self.session.player.play(self.service.speech(key), done=done)

    def _ask(self) -> None:
        self.state = _State.ASKING
        self.typed = ""
        self.deadline = None
        self._say("conference_enter_pin", done=self._prompt_over)

    def _prompt_over(self, finished: bool) -> None:
        if finished and self.state is _State.ASKING and not self.typed:
            self.deadline = -1.0  # armed on the next tick, which knows the time

    def _tick(self, heard: Pcm | None, now: float) -> None:
        if self.deadline == -1.0:
            self.deadline = now + DIGIT_TIMEOUT
        elif self.deadline is not None and now >= self.deadline:
            self.deadline = None
            self._check()

    def _pins(self) -> tuple[str, ...]:
        """What the prompt accepts: each PIN, and "" (just ``#``) when members need none."""
        pins = tuple(pin for pin in (self.room.admin_pin, self.room.pin) if pin)
        return pins if self.room.pin else (*pins, "")

    def _check(self) -> None:
        typed, self.typed = self.typed, ""
        if typed in self._pins():
            self.admin = bool(typed) and typed == self.room.admin_pin
            self._admit()
            return
        self.tries += 1
        log.info("%s wrong PIN for %s (try %d)", self.session.call_id, self.room.name, self.tries)
        if self.tries >= MAX_TRIES:
            self._say("conference_wrong_pin")
            self._leave("goodbye")
        else:
            self._say("conference_wrong_pin", done=lambda _: self._ask())
            self.state = _State.LEAVING  # no typing while "wrong PIN" plays

    def _admit(self) -> None:
        bridge = self.service.bridge
        if bridge.members(self.room.name) >= self.room.max_members:
            self._leave("conference_full")
            return
        self.state = _State.IN_ROOM
        self.session.stop_player()
        self.participant = self.service.enter(self)
        waiting = bridge.is_waiting(self.room.name)
        if waiting:
            self.participant.announce(self.service.speech("conference_wait_admin"))
        elif bridge.members(self.room.name) == 1:
            self.participant.announce(self.service.speech("conference_alone"))
        how = " as organiser" if self.admin else ", waiting for the organiser" if waiting else ""
        log.info(
            "%s joined conference %s (%d in the room)%s",
            self.session.call_id,
            self.room.name,
            bridge.members(self.room.name),
            how,
        )

    def _leave(self, key: str) -> None:
        self.state = _State.LEAVING
        self._say(key, done=lambda _: self.session.hangup("conference"))


def _complete(typed: str, pins: tuple[str, ...]) -> bool:
    """``typed`` is a PIN and no longer PIN begins with it (``#`` is not needed)."""
    if not typed or typed not in pins:
        return False
    return not any(len(pin) > len(typed) and pin.startswith(typed) for pin in pins)
