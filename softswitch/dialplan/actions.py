"""Running a number's actions on a call the switch has answered: prompts, IVR menus, rooms.

An action list (``["prompt:cerrado", "ivr:principal"]``) runs in order: a prompt plays and the
next step follows; an IVR menu hands its choice back as the next action; a conference room
takes the call over; ``hangup`` (or the end of the list) hangs up.

An ``extension:`` or ``external:`` step rings while the caller hears ringback; whoever
answers is joined to the caller, and if nobody does the next step runs (an extension with a
mailbox and no next step: its voicemail, busy or unavailable greeting as the failure says).
A ``group:`` becomes such steps. ``queue:`` and ``voicemail:`` hand the call to their apps
(``ActionContext.delegate``), which hand it back with the actions to run next.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from softswitch.call.local import LocalApp, LocalSession, SessionApp
from softswitch.config.routing_model import Action, Actions, Ivr, RingGroup
from softswitch.dialplan.conference import ConferenceApp
from softswitch.dialplan.groups import with_prefix
from softswitch.dialplan.ivr import DirectDial, Goto, IvrEffect, IvrMenu, IvrSession, Play
from softswitch.dialplan.mail import PlaceKind

__all__ = ["ActionApp", "ActionContext"]

log = logging.getLogger("softswitch.dialplan")

Pcm = npt.NDArray[np.int16]
# Steps an answered call may take today (see the module docstring for the rest).
LOCAL_KINDS = frozenset(
    {
        "prompt",
        "ivr",
        "conference",
        "hangup",
        "extension",
        "external",
        "group",
        "queue",
        "voicemail",
    }
)
DELEGATED = frozenset({"queue", "voicemail"})
MAX_STEPS = 50  # a hop limit: an IVR whose invalid choice loops to itself ends one day
_HANGUP: Actions = (Action("hangup", ""),)


@dataclass(frozen=True, slots=True)
class _Dial:
    """Ring these extensions together (one step of a ring group)."""

    numbers: tuple[str, ...]
    ring_time: float


@dataclass(frozen=True, slots=True)
class _GroupDone:
    """Every member of group ``name`` was rung and nobody answered: the group missed it."""

    name: str


Step = Action | _Dial | _GroupDone
# (where it was missed, its name, the session): missed-call mail
MissedHook = Callable[[PlaceKind, str, LocalSession], None]


# (kind, target, why the last dial failed (0: none did), hand back) -> the app, or None
Delegate = Callable[[str, str, int, Callable[[Actions], None]], LocalApp | None]


class ActionContext:
    """What running actions needs from the switch: prompts, menus, rooms, extension codes."""

    def __init__(
        self,
        prompt: Callable[[str], Pcm],
        ivrs: dict[str, Ivr],
        conference: Callable[[str], ConferenceApp | None],
        codes: frozenset[str],
        groups: dict[str, RingGroup] | None = None,
        delegate: Delegate | None = None,
        mailbox_of: Callable[[str], str | None] = lambda extension: None,
        missed: MissedHook | None = None,
    ) -> None:
        self.missed = missed
        self.prompt = prompt
        self.ivrs = ivrs
        self.groups = groups or {}
        self.conference = conference
        self.codes = codes  # what an IVR's direct dial may reach
        self.delegate = delegate
        self.mailbox_of = mailbox_of  # an extension's voicemail box, if it has one


class ActionApp(SessionApp):
    """A ``LocalApp`` that runs an action list on an answered call."""

    def __init__(self, actions: tuple[Action, ...], context: ActionContext) -> None:
        self._pending: list[Step] = list(actions)
        self._context = context
        self._delegate: LocalApp | None = None
        self._last_failure = 0  # status of the last dial nobody answered
        self._ringing: tuple[PlaceKind, str] | None = None  # where a miss is reported
        self._ivr: IvrSession[Actions] | None = None
        self._steps = 0
        self.ended = False

    # --- LocalApp ------------------------------------------------------------------------------
    def start(self, session: LocalSession) -> None:
        self.attach(session, self._tick)
        self._next()

    def on_digit(self, digit: str) -> None:
        if self._delegate is not None:
            self._delegate.on_digit(digit)
        elif self._ivr is not None:
            self._apply(self._ivr.digit(digit, self.session.services.monotonic()))

    def on_dial_failed(self, status: int) -> None:
        """Nobody answered what this step rang: on to the next step."""
        if self._delegate is not None:
            self._delegate.on_dial_failed(status)
            return
        self._last_failure = status
        if self._ringing is not None and self._ringing[0] is not PlaceKind.GROUP:
            self._missed()
        self._next()

    def on_bridged(self, number: str) -> None:
        """The caller now talks to ``number``: nothing more to run."""
        self._ringing = None
        if self._delegate is not None:
            self._delegate.on_bridged(number)

    def _missed(self) -> None:
        place, self._ringing = self._ringing, None
        if place is not None and self._context.missed is not None:
            self._context.missed(*place, self.session)

    def stop(self) -> None:
        if not self.ended:
            self._missed()  # the caller hung up while something rang
        self.ended = True
        if self._delegate is not None:
            self._delegate.stop()

    # --- the steps -----------------------------------------------------------------------------
    def _next(self) -> None:
        if self.ended:
            return
        self._ivr = None
        self._steps += 1
        if not self._pending or self._steps > MAX_STEPS:
            self._hangup("end of the actions" if not self._pending else "too many steps")
            return
        action = self._pending.pop(0)
        if isinstance(action, _GroupDone):
            self._missed()
            self._next()
            return
        if isinstance(action, _Dial):
            log.info("%s ringing %s", self.session.call_id, ", ".join(action.numbers))
            self._dial(list(action.numbers), action.ring_time)
            return
        kind, target = action
        log.info("%s action %s:%s", self.session.call_id, kind, target)
        if kind == "prompt":
            self.session.player.play(self._context.prompt(target), done=lambda _: self._next())
        elif kind == "ivr":
            self._start_ivr(self._context.ivrs[target])
        elif kind == "conference":
            self._conference(target)
        elif kind == "hangup":
            self._hangup("hangup action")
        elif kind == "extension":
            if not self._pending:  # no next step given: its voicemail, if it has one
                mailbox = self._context.mailbox_of(target)
                if mailbox is not None:
                    self._pending = [Action("voicemail", mailbox)]
            self._ringing = (PlaceKind.EXTENSION, target)
            self._dial([target], None)
        elif kind == "external":
            self._ringing = (PlaceKind.EXTERNAL, target)
            self._dial([f"external:{target}"], None)
        elif kind == "group":
            self._group(self._context.groups[target])
        elif kind in DELEGATED:
            self._hand_over(kind, target)
        else:
            log.warning(
                "%s %s:%s after answering is not supported yet: hanging up",
                self.session.call_id,
                kind,
                target,
            )
            self._hangup("unsupported action")

    def _dial(self, numbers: list[str], ring_time: float | None) -> None:
        self._last_failure = 0
        status = self.session.dial(numbers, ring_time)
        if status:
            log.info("%s %s: %d", self.session.call_id, ",".join(numbers), status)
            self._last_failure = status
            if self._ringing is not None and self._ringing[0] is not PlaceKind.GROUP:
                self._ringing = None  # nothing rang: nothing was missed
            self._next()

    def _hand_over(self, kind: str, target: str) -> None:
        """A queue or a mailbox takes the call; it hands it back with what to run next."""
        factory = self._context.delegate
        app = factory(kind, target, self._last_failure, self._resume) if factory else None
        if app is None:
            log.warning("%s %s:%s is not available: next step", self.session.call_id, kind, target)
            self._next()
            return
        self._delegate = app
        app.start(self.session)

    def _resume(self, actions: Actions) -> None:
        """The delegate is done: ``actions`` first, then the rest of the list."""
        if self.ended:
            return
        self._delegate = None
        self.session.player.listener = self._tick
        self._pending = [*actions, *self._pending]
        self._next()

    def _group(self, group: RingGroup) -> None:
        """A ring group becomes dial steps: all members at once, or one after the other for
        ``ring_time`` each; then ``on_failure`` (or hang up)."""
        members = [
            target if kind == "extension" else f"external:{target}"
            for kind, target in group.members
        ]
        call = self.session.call
        call.place = f"group:{group.name}"
        call.record |= group.record  # the talk with whoever answers, once bridged
        if group.prefix:
            call.caller_name = with_prefix(group.prefix, call.caller_name or call.caller)
        # on_failure, else the next step of the list (hang up when there is none)
        after: list[Step] = [_GroupDone(group.name), *(group.on_failure or ())]
        self._ringing = (PlaceKind.GROUP, group.name)
        if group.strategy == "all":
            steps: list[Step] = [_Dial(tuple(members), group.ring_time)]
        else:
            steps = [_Dial((member,), group.ring_time) for member in members]
        self._pending = [*steps, *after, *self._pending]
        self._next()

    def _conference(self, name: str) -> None:
        app = self._context.conference(name)
        if app is None:
            self._hangup(f"no conference {name}")
            return
        self._delegate = app
        app.start(self.session)

    def _start_ivr(self, ivr: Ivr) -> None:
        menu: IvrMenu[Actions] = IvrMenu(
            prompt=ivr.prompt,
            timeout=ivr.timeout,
            retries=ivr.retries,
            options=dict(ivr.options),
            on_timeout=ivr.on_timeout or _HANGUP,
            on_invalid=ivr.on_invalid or _HANGUP,
            direct_dial=ivr.direct_dial,
            extension_numbers=self._context.codes,
        )
        self._ivr = IvrSession(menu)
        self._apply(self._ivr.start(self.session.services.monotonic()))

    def _apply(self, effects: list[IvrEffect[Actions]]) -> None:
        session = self.session
        for effect in effects:
            if isinstance(effect, Play):
                session.player.play(
                    self._context.prompt(effect.prompt),
                    done=functools.partial(self._prompt_done, attempt=effect.attempt),
                )
            elif isinstance(effect, Goto):
                session.player.interrupt()
                self._pending = list(effect.action)
                self._next()
                return
            elif isinstance(effect, DirectDial):
                session.player.interrupt()
                self._pending = [Action("extension", effect.number)]
                self._next()
                return
            else:  # StopPlayback
                session.player.interrupt()

    def _prompt_done(self, finished: bool, attempt: int) -> None:
        if finished and self._ivr is not None:
            now = self.session.services.monotonic()
            self._apply(self._ivr.prompt_done(now, attempt))

    def _tick(self, heard: Pcm | None, now: float) -> None:
        ivr = self._ivr
        if ivr is not None:
            deadline = ivr.next_deadline()
            if deadline is not None and deadline <= now:
                self._apply(ivr.handle_timer(now))

    def _hangup(self, why: str) -> None:
        self.ended = True
        # Let the last words out before the BYE: the player's queue drains first.
        if self.session.player.playing:
            self.session.player.play(np.zeros(0, np.int16), done=lambda _: self.session.hangup(why))
        else:
            self.session.hangup(why)
