"""Leaving a voicemail message: greeting, beep, recording, "message saved".

What a caller goes through (Asterisk's ``VoiceMail()``, kept small):

1. the greeting: the mailbox's own ``greeting`` prompt, else the system sentence for why the
   call is here (not available, on another call, or plain "leave a message"). ``#`` skips the
   rest of it and goes straight to the beep, as in Asterisk (its ``leave_voicemail`` skips the
   instructions on ``#``); other keys do nothing here (Asterisk's ``0`` and ``*`` leave for an
   operator or an assistant, which the switch has no use for);
2. the beep, then the recording of what the caller says, which ends on
   - ``#``: the last ``HASH_TRIM`` seconds are cut, so the key's tone (which reaches us in the
     audio too, before the detector or the RFC 4733 event could say so) is not in the message;
   - ``SILENCE_SECONDS`` of silence (below ``SILENCE_LEVEL``; a frame that did not come counts
     as silence);
   - ``MAX_SECONDS`` of recording;
   - the caller hanging up, the way most callers end a voicemail: the message is kept;
3. trailing silence is cut (``TAIL`` seconds of it stay, so the last word is not clipped); a
   message with less than ``MIN_VOICE_SECONDS`` of sound is dropped (Asterisk's ``minsecs``);
4. the service stores it in a worker thread (see ``voicemail_service``). Only when the store
   said so does the caller hear "message saved", then the switch hangs up.

The state lives here; audio and time come in through the player's listener, once per tick.
Per tick and recording caller the cost is one 160-sample energy (a float32 dot product, about
1 µs) and two list appends: the frames are joined once, in the worker thread.
"""

from __future__ import annotations

import enum
import logging
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from softswitch.call.local import LocalSession, SessionApp
from softswitch.media.codecs import FRAME_SAMPLES
from softswitch.media.tones import tone
from softswitch.storage.voicemail import Message

if TYPE_CHECKING:
    from softswitch.dialplan.voicemail_service import Reason, VoicemailService

__all__ = [
    "HASH_TRIM",
    "MAX_SECONDS",
    "MIN_VOICE_SECONDS",
    "SILENCE_LEVEL",
    "SILENCE_SECONDS",
    "TAIL",
    "VoicemailApp",
]

log = logging.getLogger("softswitch.dialplan")

Pcm = npt.NDArray[np.int16]

FRAMES_PER_SECOND = 50
MAX_SECONDS = 180.0
SILENCE_SECONDS = 5.0
# RMS below which a frame is silence: about -46 dBov, above a quiet line's noise and below
# soft speech (Asterisk's voicemail default, 128 mean absolute, is about the same).
SILENCE_LEVEL = 160.0
MIN_VOICE_SECONDS = 1.0
HASH_TRIM = 0.2  # seconds cut before a "#"
TAIL = 0.5  # seconds of trailing silence kept
END_KEY = "#"

_MAX_FRAMES = round(MAX_SECONDS * FRAMES_PER_SECOND)
_SILENCE_FRAMES = round(SILENCE_SECONDS * FRAMES_PER_SECOND)
_MIN_VOICED = round(MIN_VOICE_SECONDS * FRAMES_PER_SECOND)
_HASH_FRAMES = round(HASH_TRIM * FRAMES_PER_SECOND)
_TAIL_FRAMES = round(TAIL * FRAMES_PER_SECOND)
_ENERGY = SILENCE_LEVEL * SILENCE_LEVEL * FRAME_SAMPLES  # sum of squares of a frame at the level
_SILENT_FRAME = np.zeros(FRAME_SAMPLES, np.int16)
_SILENT_FRAME.setflags(write=False)


class _State(enum.Enum):
    GREETING = "greeting"
    BEEP = "beep"
    RECORDING = "recording"
    SAVING = "saving"  # the worker thread is storing the message
    LEAVING = "leaving"  # the last words before hanging up
    ENDED = "ended"


def _voiced(frame: Pcm) -> bool:
    samples = frame.astype(np.float32)
    return float(np.dot(samples, samples)) >= _ENERGY


class VoicemailApp(SessionApp):
    """One caller leaving a message in one mailbox (a ``LocalApp``)."""

    def __init__(
        self, service: VoicemailService, mailbox: str, reason: Reason, called: str
    ) -> None:
        self.service = service
        self.mailbox = mailbox
        self.reason: Reason = reason
        self.called = called
        self.state = _State.GREETING
        self.message: Message | None = None  # once stored
        self._frames: list[Pcm] = []
        self._voiced = bytearray()  # 1 per frame above the silence level
        self._silent_run = 0  # silent frames since the last voiced one

    # --- LocalApp ------------------------------------------------------------------------------
    def start(self, session: LocalSession) -> None:
        self.attach(session, self._tick)
        session.call.outcome = "voicemail"
        log.info("%s voicemail for %s (%s)", session.call_id, self.mailbox, self.reason)
        greeting = self.service.greeting(self.mailbox, self.reason)
        session.player.play(greeting, done=self._greeted)

    def on_digit(self, digit: str) -> None:
        if digit != END_KEY:
            return
        if self.state is _State.GREETING:
            self.session.player.interrupt()  # calls _greeted: the beep comes next
        elif self.state is _State.RECORDING:
            self._finish(_HASH_FRAMES, "#")

    def on_dial_failed(self, status: int) -> None:
        return None  # voicemail never dials

    def on_bridged(self, number: str) -> None:
        return None

    def stop(self) -> None:
        if self.state is _State.RECORDING:
            self._finish(0, "hang-up")
        elif self.state in (_State.GREETING, _State.BEEP):
            log.info("%s hung up before the tone", self.session.call_id)
        self.state = _State.ENDED

    # --- the flow ------------------------------------------------------------------------------
    def _greeted(self, finished: bool) -> None:
        if self.state is _State.GREETING:
            self.state = _State.BEEP
            self.session.player.tone(tone("beep"), barge_in=False, done=self._beeped)

    def _beeped(self, finished: bool) -> None:
        if self.state is _State.BEEP:
            self.state = _State.RECORDING

    def _tick(self, heard: Pcm | None, now: float) -> None:
        if self.state is not _State.RECORDING:
            return
        voiced = heard is not None and _voiced(heard)
        self._frames.append(_SILENT_FRAME if heard is None else heard)
        self._voiced.append(voiced)
        self._silent_run = 0 if voiced else self._silent_run + 1
        if self._silent_run >= _SILENCE_FRAMES:
            self._finish(0, "silence")
        elif len(self._frames) >= _MAX_FRAMES:
            self._finish(0, "maximum length")

    def _finish(self, cut: int, why: str) -> None:
        """Recording over (``cut`` frames off the end): store it, or say nothing was."""
        frames = self._kept(cut)
        seconds = len(self._frames) / FRAMES_PER_SECOND
        self._frames, self._voiced = [], bytearray()
        session = self.session
        hung_up = why == "hang-up"
        if frames is None:
            log.info("%s voicemail too short (%.1f s, %s): dropped", session.call_id, seconds, why)
            if not hung_up:
                self._leave("voicemail_not_saved")
            return
        log.info("%s voicemail recorded (%.1f s, ended by %s)", session.call_id, seconds, why)
        self.state = _State.SAVING
        caller_name = session.call.caller_name
        self.service.save(
            session, self.mailbox, frames, session.caller, caller_name, self.called, self._saved
        )

    def _kept(self, cut: int) -> list[Pcm] | None:
        """The frames to store: ``cut`` off the end, then trailing silence beyond ``TAIL``;
        None when too little of it is sound."""
        end = max(0, len(self._frames) - cut)
        voiced = self._voiced[:end]
        if voiced.count(1) < _MIN_VOICED:
            return None
        last = voiced.rfind(1)
        return self._frames[: min(end, last + 1 + _TAIL_FRAMES)]

    def _saved(self, message: Message | None) -> None:
        self.message = message
        if self.state is _State.SAVING:  # else the caller hung up: the message stays anyway
            self._leave("voicemail_saved" if message is not None else "voicemail_failed")

    def _leave(self, key: str) -> None:
        self.state = _State.LEAVING
        session = self.session
        session.player.play(
            self.service.say(key), barge_in=False, done=lambda _: session.hangup("voicemail")
        )
