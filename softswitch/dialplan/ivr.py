"""One caller in an IVR menu, as a table: the prompt with barge-in, choices, retries, direct dial.

Sans-IO: the shell feeds ``start``, ``prompt_done``, ``digit`` and ``handle_timer`` with ``now``
and carries out the effects (``Play``, ``StopPlayback``, ``Goto``, ``DirectDial``); it re-arms
one timer at ``next_deadline()``. Everything that decides what the menu does lives in
``TABLE``; the session only classifies raw inputs and executes actions.

The rules (those of Asterisk's Background + WaitExten, kept small):

* the prompt plays with barge-in: the first digit stops it;
* ``timeout`` seconds after the prompt ends with no digit, the prompt plays again, up to
  ``retries`` times; the next timeout goes to ``on_timeout``;
* a digit that is neither an option nor the start of a number is invalid: the prompt plays
  again, and this counts as one of the same ``retries``; once they are spent an invalid digit
  goes to ``on_invalid``. Whichever failure comes last decides the exit;
* ``options`` map single keys (``0-9 * #``) to actions;
* with ``direct_dial``, digits that spell one of ``extension_numbers`` dial it. Matching is
  Asterisk's extension matching: a number no longer number begins with is dialled at once;
  while the digits typed could still become a longer number (an option key that is also the
  first digit of a number, or a number that is the prefix of another), the menu waits
  ``interdigit`` seconds for the next digit and then takes what the digits match exactly
  (the option, or the shorter number). ``#`` ends the input at once the same way. An option
  key that is itself a whole number is taken as the option: the menu author said so.
* ``#`` with nothing typed is the ``#`` option if there is one, otherwise invalid.

Races the shell cannot avoid are absorbed, never raised: a ``PROMPT_DONE`` from a playback
that was stopped (filtered by its ``attempt`` number, or dropped by the table outside
PLAYING) and digits after the menu has decided. Inputs that only a buggy shell produces
(a digit before ``start``, a second ``start``) raise :class:`IllegalTransition`.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from enum import Enum, IntEnum
from typing import Generic, TypeVar

__all__ = [
    "DTMF_KEYS",
    "END_KEY",
    "INTERDIGIT",
    "TABLE",
    "Action",
    "DirectDial",
    "Exit",
    "Goto",
    "IllegalTransition",
    "Input",
    "IvrEffect",
    "IvrMenu",
    "IvrSession",
    "Play",
    "State",
    "StopPlayback",
    "Transition",
    "transition",
]

A = TypeVar("A", bound=Hashable)  # what an option leads to: opaque here, mapped by the lead

DTMF_KEYS = frozenset("0123456789*#ABCD")
END_KEY = "#"
INTERDIGIT = 3.0  # seconds between digits of a number (Asterisk's digit timeout is 3-5 s)


@dataclass(frozen=True, slots=True)
class IvrMenu(Generic[A]):
    """One ``[ivrs.NAME]``: what every caller in the menu goes through."""

    prompt: str
    timeout: float
    retries: int
    options: Mapping[str, A]
    on_timeout: A
    on_invalid: A
    direct_dial: bool = False
    extension_numbers: frozenset[str] = frozenset()
    interdigit: float = INTERDIGIT
    # Every strict prefix of a dialable number: "could this still become a longer number?"
    # is one set lookup per digit, computed once per menu rather than once per caller.
    number_prefixes: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        bad = [key for key in self.options if len(key) != 1 or key not in DTMF_KEYS]
        if bad:
            raise ValueError(f"IVR options must be single keys 0-9 * #: {bad}")
        if self.timeout <= 0 or self.interdigit <= 0 or self.retries < 0:
            raise ValueError("IVR timeout and interdigit must be > 0, retries >= 0")
        numbers = self.extension_numbers if self.direct_dial else frozenset()
        partial = frozenset(n[:i] for n in numbers for i in range(1, len(n)))
        object.__setattr__(self, "number_prefixes", partial)


# ------------------------------------------------------------------------------ effects


@dataclass(frozen=True, slots=True)
class Play:
    """Play the menu prompt from the start; a digit interrupts it (barge-in)."""

    prompt: str
    barge_in: bool = True
    attempt: int = 1  # 1 the first time, +1 per replay; echoed by prompt_done


@dataclass(frozen=True, slots=True)
class StopPlayback:
    """Stop the prompt now (the caller pressed a key)."""


class Exit(Enum):
    OPTION = "option"
    TIMEOUT = "timeout"
    INVALID = "invalid"


@dataclass(frozen=True, slots=True)
class Goto(Generic[A]):
    """The menu is over: run ``action`` (an option's, ``on_timeout`` or ``on_invalid``)."""

    action: A
    cause: Exit


@dataclass(frozen=True, slots=True)
class DirectDial:
    """The menu is over: the caller dialled ``number`` (one of ``extension_numbers``)."""

    number: str


IvrEffect = Play | StopPlayback | Goto[A] | DirectDial


# ------------------------------------------------------------------------------ the table


class State(IntEnum):
    IDLE = 0
    PLAYING = 1  # the prompt is playing, nothing typed yet
    WAITING = 2  # the prompt ended; the no-input timer runs
    COLLECTING = 3  # digits typed that may still grow; the inter-digit timer runs
    DONE = 4  # Goto or DirectDial emitted


class Input(IntEnum):
    """Raw inputs (start, prompt end, a key, a timer), classified by what they mean."""

    START = 0
    PROMPT_DONE = 1
    CHOSE_OPTION = 2  # the keys typed are an option and can become nothing else
    CHOSE_NUMBER = 3  # the keys typed are a number and can become nothing else
    PARTIAL = 4  # the keys typed may still grow into a number: wait for the next
    INVALID = 5  # the keys typed lead nowhere; retries remain
    INVALID_LAST = 6  # ... and they are spent
    NO_INPUT = 7  # the no-input timer fired; retries remain
    NO_INPUT_LAST = 8  # ... and they are spent


class Action(IntEnum):
    PLAY = 0  # next attempt: clear the digits, disarm, Play
    COUNT_FAILURE = 1
    STOP_PLAYBACK = 2
    COLLECT = 3  # keep the digits typed so far
    ARM_NO_INPUT = 4
    ARM_INTERDIGIT = 5
    DISARM = 6
    GOTO_OPTION = 7
    GOTO_NUMBER = 8
    GOTO_TIMEOUT = 9
    GOTO_INVALID = 10


@dataclass(frozen=True, slots=True)
class Transition:
    actions: tuple[Action, ...]
    next_state: State


class IllegalTransition(RuntimeError):
    """The input cannot happen in this state: a bug in the shell, never the caller's doing."""

    def __init__(self, state: State, event: Input) -> None:
        super().__init__(f"IVR: {event.name} is illegal in {state.name}")
        self.state = state
        self.event = event


S, In, Ac, _T = State, Input, Action, Transition

_RETRY = (Ac.COUNT_FAILURE, Ac.PLAY)  # PLAY disarms whatever timer ran


def _deciding(state: State, stop: tuple[Action, ...]) -> dict[tuple[State, Input], Transition]:
    """What a classified key does in a live state; ``stop`` ends the prompt or the timer."""
    return {
        (state, In.CHOSE_OPTION): _T((*stop, Ac.GOTO_OPTION), S.DONE),
        (state, In.CHOSE_NUMBER): _T((*stop, Ac.GOTO_NUMBER), S.DONE),
        (state, In.PARTIAL): _T((*stop, Ac.COLLECT, Ac.ARM_INTERDIGIT), S.COLLECTING),
        (state, In.INVALID): _T((*stop, *_RETRY), S.PLAYING),
        (state, In.INVALID_LAST): _T((*stop, Ac.GOTO_INVALID), S.DONE),
    }


_CALLER_INPUTS = (In.PROMPT_DONE, In.CHOSE_OPTION, In.CHOSE_NUMBER, In.PARTIAL, In.INVALID)

TABLE: dict[tuple[State, Input], Transition] = {
    (S.IDLE, In.START): _T((Ac.PLAY,), S.PLAYING),
    (S.PLAYING, In.PROMPT_DONE): _T((Ac.ARM_NO_INPUT,), S.WAITING),
    **_deciding(S.PLAYING, (Ac.STOP_PLAYBACK,)),
    (S.WAITING, In.PROMPT_DONE): _T((), S.WAITING),  # a duplicate report: nothing plays
    **_deciding(S.WAITING, (Ac.DISARM,)),
    (S.WAITING, In.NO_INPUT): _T(_RETRY, S.PLAYING),
    (S.WAITING, In.NO_INPUT_LAST): _T((Ac.DISARM, Ac.GOTO_TIMEOUT), S.DONE),
    (S.COLLECTING, In.PROMPT_DONE): _T((), S.COLLECTING),  # the stopped prompt, late
    **_deciding(S.COLLECTING, (Ac.DISARM,)),
    # The menu has decided; the caller may still be typing while the call moves on.
    **{(S.DONE, i): _T((), S.DONE) for i in (*_CALLER_INPUTS, In.INVALID_LAST)},
}


def transition(state: State, event: Input) -> Transition:
    """The table entry for ``(state, event)``, or :class:`IllegalTransition`."""
    entry = TABLE.get((state, event))
    if entry is None:
        raise IllegalTransition(state, event)
    return entry


# ------------------------------------------------------------------------------ the session


class _Timer(IntEnum):
    NO_INPUT = 0
    INTERDIGIT = 1


class IvrSession(Generic[A]):
    """One caller's pass through one menu."""

    __slots__ = (
        "_attempt",
        "_candidate",
        "_deadline",
        "_failures",
        "_timer",
        "digits",
        "menu",
        "state",
    )

    def __init__(self, menu: IvrMenu[A]) -> None:
        self.menu = menu
        self.state: State = State.IDLE
        self.digits = ""  # what the caller has typed towards a number
        self._candidate = ""  # the digits the current input proposes
        self._attempt = 0
        self._failures = 0
        self._timer = _Timer.NO_INPUT
        self._deadline: float | None = None

    def next_deadline(self) -> float | None:
        return self._deadline

    def start(self, now: float) -> list[IvrEffect[A]]:
        return self._apply(In.START, now)

    def prompt_done(self, now: float, attempt: int | None = None) -> list[IvrEffect[A]]:
        """The prompt played to its end. ``attempt``, if given, must be the current Play's."""
        if attempt is not None and attempt != self._attempt:
            return []  # the end of a playback we already stopped
        return self._apply(In.PROMPT_DONE, now)

    def digit(self, key: str, now: float) -> list[IvrEffect[A]]:
        if len(key) != 1 or key not in DTMF_KEYS:
            raise ValueError(f"not a DTMF key: {key!r}")
        if key == END_KEY and (self.digits or END_KEY not in self.menu.options):
            return self._apply(self._resolve(self.digits), now)
        return self._apply(self._classify(self.digits + key), now)

    def handle_timer(self, now: float) -> list[IvrEffect[A]]:
        if self._deadline is None or now < self._deadline:
            return []
        if self._timer is _Timer.INTERDIGIT:
            return self._apply(self._resolve(self.digits), now)
        return self._apply(In.NO_INPUT_LAST if self._spent() else In.NO_INPUT, now)

    # --- classification: what a raw input means, given the menu and what was typed -----------
    def _spent(self) -> bool:
        return self._failures >= self.menu.retries

    def _classify(self, typed: str) -> Input:
        """A key was added: decide now, or wait for more while a longer number is possible."""
        self._candidate = typed
        if typed in self.menu.number_prefixes:
            return In.PARTIAL
        return self._resolve(typed)

    def _resolve(self, typed: str) -> Input:
        """Input ends here (``#``, the inter-digit timer, or nothing longer is possible)."""
        self._candidate = typed
        menu = self.menu
        if len(typed) == 1 and typed in menu.options:
            return In.CHOSE_OPTION
        if menu.direct_dial and typed in menu.extension_numbers:
            return In.CHOSE_NUMBER
        return In.INVALID_LAST if self._spent() else In.INVALID

    # --- execution ------------------------------------------------------------------------
    def _apply(self, event: Input, now: float) -> list[IvrEffect[A]]:
        entry = transition(self.state, event)
        effects: list[IvrEffect[A]] = []
        for action in entry.actions:
            effect = self._run(action, now)
            if effect is not None:
                effects.append(effect)
        self.state = entry.next_state
        return effects

    def _run(self, action: Action, now: float) -> IvrEffect[A] | None:
        menu = self.menu
        if action is Ac.PLAY:
            self._attempt += 1
            self.digits = ""
            self._deadline = None
            return Play(menu.prompt, barge_in=True, attempt=self._attempt)
        if action is Ac.STOP_PLAYBACK:
            return StopPlayback()
        if action is Ac.COUNT_FAILURE:
            self._failures += 1
        elif action is Ac.COLLECT:
            self.digits = self._candidate
        elif action is Ac.ARM_NO_INPUT:
            self._timer, self._deadline = _Timer.NO_INPUT, now + menu.timeout
        elif action is Ac.ARM_INTERDIGIT:
            self._timer, self._deadline = _Timer.INTERDIGIT, now + menu.interdigit
        elif action is Ac.DISARM:
            self._deadline = None
        else:
            return self._exit(action)
        return None

    def _exit(self, action: Action) -> IvrEffect[A]:
        menu = self.menu
        if action is Ac.GOTO_OPTION:
            return Goto(menu.options[self._candidate], Exit.OPTION)
        if action is Ac.GOTO_NUMBER:
            return DirectDial(self._candidate)
        if action is Ac.GOTO_TIMEOUT:
            return Goto(menu.on_timeout, Exit.TIMEOUT)
        return Goto(menu.on_invalid, Exit.INVALID)
