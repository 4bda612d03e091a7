"""Listening to a mailbox: mailbox number, PIN, then each message with a few keys.

What the owner goes through (Asterisk's ``VoiceMailMain()``, cut down to one folder):

1. without a known mailbox (reached from anywhere), "enter your mailbox number" and ``#``;
2. "enter your PIN" and ``#`` (a prompt stops at the first key; 10 s without a key after it,
   or after the last key, ends the entry as ``#`` would). A mailbox without a PIN opens
   straight away when the switch named it (the extension's own phone dialled in), but never
   from a typed number: anyone could type it. A typed number is always asked for its PIN, so
   the answer never says which mailboxes exist. Three wrong tries and the switch says goodbye
   and hangs up;
3. "you have one new message" / "new messages" / "no new messages" (fixed sentences: see
   ``texts_voicemail``), or "no messages, goodbye";
4. every message, new ones newest first and then the old ones; each is marked heard as it
   starts. During a message or the options after it:

   ======  ===========================================================
   ``1``   hear it again
   ``7``   delete it ("message deleted"), then the next one
   ``9``   keep it, next message (``#`` too; so does 10 s of silence)
   ``*``   goodbye, hang up
   ======  ===========================================================

5. after the last one, "no more messages, goodbye", and the switch hangs up.

Reading a message, marking it heard and deleting it run in a worker thread (the service's
``listen``/``delete``/``load``); meanwhile keys are ignored and the caller hears what is
queued, or silence. Timing comes in as ``now`` from the player's tick, as in the conference.
"""

from __future__ import annotations

import enum
import hmac
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from softswitch.call.local import LocalSession, SessionApp
from softswitch.storage.voicemail import Message

if TYPE_CHECKING:
    from softswitch.dialplan.voicemail_service import VoicemailService

__all__ = ["DIGIT_TIMEOUT", "KEYS", "MAX_TRIES", "VoicemailMenuApp"]

log = logging.getLogger("softswitch.dialplan")

Pcm = npt.NDArray[np.int16]
MAX_TRIES = 3
DIGIT_TIMEOUT = 10.0
MAX_DIGITS = 32  # a caller leaning on a key does not grow the entry for ever
REPLAY, DELETE, NEXT, EXIT = "replay", "delete", "next", "exit"
KEYS = {"1": REPLAY, "7": DELETE, "9": NEXT, "#": NEXT, "*": EXIT}


class _State(enum.Enum):
    MAILBOX = "mailbox"  # asking for the mailbox number, or the caller typing it
    PIN = "pin"
    WAITING = "waiting"  # the store is working, or a sentence plays that keys do not stop
    MESSAGE = "message"  # a message or its options play, or we wait for a key after them
    LEAVING = "leaving"
    ENDED = "ended"


class VoicemailMenuApp(SessionApp):
    """One owner listening to one mailbox (a ``LocalApp``)."""

    def __init__(self, service: VoicemailService, mailbox: str | None) -> None:
        self.service = service
        self.named = mailbox  # known from the call (the owner's own phone); None = ask
        self.mailbox = mailbox or ""
        self.state = _State.WAITING
        self.tries = 0
        self.typed = ""
        self.messages: list[Message] = []
        self.index = 0
        self._audio: Pcm | None = None
        self._arm = False  # set the digit deadline on the next tick (which knows the time)
        self._deadline: float | None = None

    # --- LocalApp ------------------------------------------------------------------------------
    def start(self, session: LocalSession) -> None:
        self.attach(session, self._tick)
        box = self.service.box(self.mailbox) if self.named is not None else None
        if self.named is None:
            self._ask(_State.MAILBOX, "voicemail_enter_mailbox")
        elif box is not None and box.pin is None:
            self._open()
        else:
            self._ask(_State.PIN, "voicemail_enter_pin")

    def on_digit(self, digit: str) -> None:
        if self.state in (_State.MAILBOX, _State.PIN):
            self.session.player.interrupt()
            self._wait_for_key()
            if digit == "#":
                self._entered()
            elif len(self.typed) < MAX_DIGITS:
                self.typed += digit
        elif self.state is _State.MESSAGE and digit in KEYS:
            self.session.player.clear()  # the message, its options, what still preceded them
            self._stop_waiting()
            self._choose(KEYS[digit])

    def on_dial_failed(self, status: int) -> None:
        return None

    def on_bridged(self, number: str) -> None:
        return None

    def stop(self) -> None:
        self.state = _State.ENDED

    # --- timing --------------------------------------------------------------------------------
    def _wait_for_key(self) -> None:
        self._arm, self._deadline = True, None

    def _stop_waiting(self) -> None:
        self._arm, self._deadline = False, None

    def _prompt_over(self, finished: bool) -> None:
        if finished and self.state in (_State.MAILBOX, _State.PIN, _State.MESSAGE):
            self._wait_for_key()

    def _tick(self, heard: Pcm | None, now: float) -> None:
        if self._arm:
            self._arm, self._deadline = False, now + DIGIT_TIMEOUT
        elif self._deadline is not None and now >= self._deadline:
            self._stop_waiting()
            if self.state in (_State.MAILBOX, _State.PIN):
                self._entered()
            elif self.state is _State.MESSAGE:
                self._next()

    # --- logging in ----------------------------------------------------------------------------
    def _ask(self, state: _State, key: str) -> None:
        self.state = state
        self.typed = ""
        self._stop_waiting()
        self._say(key, done=self._prompt_over, barge_in=True)

    def _entered(self) -> None:
        typed, self.typed = self.typed, ""
        self._stop_waiting()
        if self.state is _State.MAILBOX:
            self.mailbox = typed
            self._ask(_State.PIN, "voicemail_enter_pin")
        elif self._pin_ok(typed):
            self._open()
        else:
            self._wrong()

    def _pin_ok(self, typed: str) -> bool:
        box = self.service.box(self.mailbox)
        if box is None or box.pin is None:  # no such mailbox, or one only its phone may open
            return False
        return hmac.compare_digest(typed.encode(), box.pin.encode())

    def _wrong(self) -> None:
        self.tries += 1
        log.info(
            "%s wrong voicemail login for %r (try %d)",
            self.session.call_id,
            self.mailbox,
            self.tries,
        )
        key = "voicemail_wrong_pin" if self.named is not None else "voicemail_wrong_login"
        if self.tries >= MAX_TRIES:
            self._say(key)
            self._leave("goodbye")
            return
        self.state = _State.WAITING  # no typing while "wrong" plays
        again = (
            (_State.PIN, "voicemail_enter_pin")
            if self.named is not None
            else (_State.MAILBOX, "voicemail_enter_mailbox")
        )
        self._say(key, done=lambda _: self._retry(*again))

    def _retry(self, state: _State, key: str) -> None:
        if self.state is _State.WAITING:
            self._ask(state, key)

    # --- the messages --------------------------------------------------------------------------
    def _open(self) -> None:
        self.state = _State.WAITING
        log.info("%s listening to voicemail %s", self.session.call_id, self.mailbox)
        self.service.load(self.session, self.mailbox, self._loaded)

    def _loaded(self, messages: list[Message] | None) -> None:
        if self.state is not _State.WAITING:
            return
        if messages is None:
            self._leave("voicemail_unavailable")
            return
        if not messages:
            self._leave("voicemail_no_messages")
            return
        self.messages = messages
        new = sum(not m.heard for m in messages)
        self._say({0: "voicemail_no_new", 1: "voicemail_one_new"}.get(new, "voicemail_new"))
        self._fetch()  # read while the count plays

    def _fetch(self) -> None:
        self.state = _State.WAITING
        self.service.listen(self.session, self.messages[self.index], self._fetched)

    def _fetched(self, samples: Pcm | None) -> None:
        if self.state is not _State.WAITING:
            return
        if samples is None:  # unreadable (logged by the service): on to the next one
            self._next()
            return
        self._audio = samples
        self._play()

    def _play(self) -> None:
        assert self._audio is not None
        self.state = _State.MESSAGE
        self.session.player.play(self._audio)
        self._say("voicemail_options", done=self._prompt_over, barge_in=True)

    def _choose(self, action: str) -> None:
        if action == REPLAY:
            self._play()
        elif action == DELETE:
            self.state = _State.WAITING
            message = self.messages[self.index]
            self.service.delete(self.session, message, self._deleted)
        elif action == NEXT:
            self._next()
        else:
            self._leave("goodbye")

    def _deleted(self, deleted: bool) -> None:
        if self.state is not _State.WAITING:
            return
        if deleted:
            log.info("%s deleted voicemail %d", self.session.call_id, self.messages[self.index].id)
            self._say("voicemail_deleted")
        self._next()

    def _next(self) -> None:
        self._audio = None
        self.index += 1
        if self.index >= len(self.messages):
            self._leave("voicemail_no_more")
        else:
            self._fetch()

    # --- speaking ------------------------------------------------------------------------------
    def _say(
        self, key: str, done: Callable[[bool], None] | None = None, barge_in: bool = False
    ) -> None:
        self.session.player.play(self.service.say(key), barge_in=barge_in, done=done)

    def _leave(self, key: str) -> None:
        self.state = _State.LEAVING
        self._stop_waiting()
        session = self.session
        self._say(key, done=lambda _: session.hangup("voicemail"))
