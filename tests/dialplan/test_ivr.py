"""The IVR menu table: every (state, input) pair, each rule with explicit times, random play."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from softswitch.dialplan.ivr import (
    TABLE,
    Action,
    DirectDial,
    Exit,
    Goto,
    IllegalTransition,
    Input,
    IvrEffect,
    IvrMenu,
    IvrSession,
    Play,
    State,
    StopPlayback,
    transition,
)

OPTIONS = {"1": "group:ventas", "2": "queue:soporte", "9": "voicemail:general"}
NUMBERS = frozenset({"1001", "1002", "2001", "100", "3001"})
EXITS = {Action.GOTO_OPTION, Action.GOTO_NUMBER, Action.GOTO_TIMEOUT, Action.GOTO_INVALID}


def menu(
    *,
    retries: int = 2,
    direct_dial: bool = True,
    options: dict[str, str] | None = None,
    numbers: frozenset[str] = NUMBERS,
) -> IvrMenu[str]:
    return IvrMenu(
        prompt="bienvenida",
        timeout=8.0,
        retries=retries,
        options=OPTIONS if options is None else options,
        on_timeout="group:recepcion",
        on_invalid="ivr:principal",
        direct_dial=direct_dial,
        extension_numbers=numbers,
        interdigit=3.0,
    )


def started(m: IvrMenu[str] | None = None, now: float = 0.0) -> IvrSession[str]:
    session = IvrSession(m or menu())
    assert session.start(now) == [Play("bienvenida", barge_in=True, attempt=1)]
    return session


def listening(now: float = 10.0, m: IvrMenu[str] | None = None) -> IvrSession[str]:
    """A session whose first prompt ended at ``now``."""
    session = started(m)
    assert session.prompt_done(now) == []
    return session


def state(session: IvrSession[str]) -> State:
    return session.state  # read afresh: an assert on the attribute would narrow it for mypy


# ---------------------------------------------------------------- the table itself


def test_every_pair_has_an_entry_or_raises() -> None:
    for state, event in itertools.product(State, Input):
        try:
            entry = transition(state, event)
        except IllegalTransition as error:
            assert (error.state, error.event) == (state, event)
            assert (state, event) not in TABLE
        else:
            assert entry is TABLE[state, event]


def test_done_is_final_and_silent() -> None:
    for (state, _), entry in TABLE.items():
        if state is State.DONE:
            assert entry == transition(State.DONE, Input.PROMPT_DONE)
            assert entry.actions == ()
            assert entry.next_state is State.DONE


def test_exits_are_exactly_the_entries_into_done() -> None:
    for (state, event), entry in TABLE.items():
        exits = [a for a in entry.actions if a in EXITS]
        entering_done = entry.next_state is State.DONE and state is not State.DONE
        assert len(exits) == (1 if entering_done else 0), (state, event)


def test_a_key_during_the_prompt_always_stops_it_first() -> None:
    for (state, event), entry in TABLE.items():
        if state is State.PLAYING and event is not Input.PROMPT_DONE:
            assert entry.actions[0] is Action.STOP_PLAYBACK, event


def test_only_start_is_legal_before_start_and_never_after() -> None:
    assert [e for (s, e) in TABLE if s is State.IDLE] == [Input.START]
    assert [s for (s, e) in TABLE if e is Input.START] == [State.IDLE]
    session = started()
    with pytest.raises(IllegalTransition):
        session.start(1.0)
    with pytest.raises(IllegalTransition):
        IvrSession(menu()).digit("1", 0.0)


# ---------------------------------------------------------------- options and barge-in


def test_an_option_during_the_prompt_stops_it_and_goes() -> None:
    session = started(menu(direct_dial=False))
    assert session.digit("2", 1.5) == [StopPlayback(), Goto("queue:soporte", Exit.OPTION)]
    assert session.state is State.DONE
    assert session.next_deadline() is None


def test_an_option_after_the_prompt_goes_without_stopping_anything() -> None:
    session = listening(10.0)
    assert session.next_deadline() == 18.0
    assert session.digit("9", 12.0) == [Goto("voicemail:general", Exit.OPTION)]
    assert session.next_deadline() is None


def test_pound_can_be_an_option() -> None:
    session = listening(m=menu(options={"#": "hangup"}))
    assert session.digit("#", 11.0) == [Goto("hangup", Exit.OPTION)]


def test_an_option_key_that_is_also_a_whole_number_is_the_option() -> None:
    session = listening(m=menu(options={"5": "conference:sala"}, numbers=frozenset({"5", "6"})))
    assert session.digit("5", 11.0) == [Goto("conference:sala", Exit.OPTION)]


# ---------------------------------------------------------------- timeouts and retries


def test_no_input_replays_retries_times_then_on_timeout() -> None:
    session = listening(10.0)
    assert session.handle_timer(17.9) == []
    assert session.handle_timer(18.0) == [Play("bienvenida", attempt=2)]
    assert session.state is State.PLAYING and session.next_deadline() is None
    assert session.handle_timer(100.0) == []  # nothing is timed while the prompt plays
    session.prompt_done(30.0)
    assert session.handle_timer(38.0) == [Play("bienvenida", attempt=3)]
    session.prompt_done(50.0)
    assert session.next_deadline() == 58.0
    assert session.handle_timer(58.5) == [Goto("group:recepcion", Exit.TIMEOUT)]
    assert state(session) is State.DONE and session.next_deadline() is None


def test_no_retries_means_the_first_timeout_decides() -> None:
    session = listening(10.0, menu(retries=0))
    assert session.handle_timer(18.0) == [Goto("group:recepcion", Exit.TIMEOUT)]


def test_an_invalid_key_replays_and_counts_as_a_retry() -> None:
    session = started(menu(direct_dial=False))
    assert session.digit("7", 2.0) == [StopPlayback(), Play("bienvenida", attempt=2)]
    session.prompt_done(10.0)
    assert session.handle_timer(18.0) == [Play("bienvenida", attempt=3)]  # second retry
    session.prompt_done(30.0)
    assert session.digit("4", 31.0) == [Goto("ivr:principal", Exit.INVALID)]


def test_the_last_failure_decides_the_exit() -> None:
    session = started(menu(retries=1, direct_dial=False))
    assert session.digit("7", 2.0) == [StopPlayback(), Play("bienvenida", attempt=2)]
    session.prompt_done(10.0)
    assert session.handle_timer(18.0) == [Goto("group:recepcion", Exit.TIMEOUT)]


def test_without_direct_dial_a_number_is_just_an_invalid_key() -> None:
    session = listening(10.0, menu(direct_dial=False))
    assert session.digit("3", 11.0) == [Play("bienvenida", attempt=2)]
    assert session.digits == ""


def test_pound_with_nothing_typed_and_no_pound_option_is_invalid() -> None:
    session = listening(10.0)
    assert session.digit("#", 11.0) == [Play("bienvenida", attempt=2)]


# ---------------------------------------------------------------- direct dial


def test_a_number_nothing_longer_begins_with_is_dialled_at_its_last_digit() -> None:
    session = started()
    assert session.digit("3", 1.0) == [StopPlayback()]
    assert session.state is State.COLLECTING and session.next_deadline() == 4.0
    assert session.digit("0", 2.0) == []
    assert session.next_deadline() == 5.0  # the inter-digit timer restarts with each key
    assert session.digit("0", 4.5) == []
    assert session.digit("1", 7.0) == [DirectDial("3001")]
    assert state(session) is State.DONE and session.next_deadline() is None


def test_an_option_that_starts_a_number_waits_the_interdigit_time_then_is_the_option() -> None:
    session = listening(10.0)
    assert session.digit("1", 11.0) == []
    assert session.digits == "1" and session.next_deadline() == 14.0
    assert session.handle_timer(13.9) == []
    assert session.handle_timer(14.0) == [Goto("group:ventas", Exit.OPTION)]


def test_an_option_that_starts_a_number_becomes_the_number_if_typing_goes_on() -> None:
    session = listening(10.0)
    for t, key in ((11.0, "1"), (12.0, "0"), (13.0, "0")):
        assert session.digit(key, t) == []
    assert session.digit("2", 14.0) == [DirectDial("1002")]


def test_pound_ends_the_input_at_once() -> None:
    session = listening(10.0)
    session.digit("1", 11.0)
    assert session.digit("#", 11.5) == [Goto("group:ventas", Exit.OPTION)]
    session = listening(10.0)
    for key in "100":
        session.digit(key, 11.0)
    assert session.digit("#", 11.5) == [DirectDial("100")]


def test_a_number_that_begins_a_longer_one_is_taken_after_the_interdigit_time() -> None:
    session = listening(10.0)
    for key in "100":
        session.digit(key, 11.0)
    assert session.handle_timer(14.0) == [DirectDial("100")]


def test_digits_that_stop_short_of_a_number_are_invalid_and_forgotten() -> None:
    session = listening(10.0)
    session.digit("2", 11.0)
    session.digit("0", 12.0)
    assert session.handle_timer(15.0) == [Play("bienvenida", attempt=2)]
    assert session.digits == "" and session.next_deadline() is None
    session = listening(10.0)
    session.digit("2", 11.0)
    session.digit("0", 11.1)
    assert session.digit("#", 11.2) == [Play("bienvenida", attempt=2)]
    session = listening(10.0)
    session.digit("3", 11.0)
    assert session.digit("5", 11.2) == [Play("bienvenida", attempt=2)]  # "35" leads nowhere


# ---------------------------------------------------------------- races and validation


def test_the_end_of_a_stopped_prompt_is_ignored() -> None:
    session = started(menu(direct_dial=False))
    session.digit("7", 2.0)  # invalid: the prompt restarts as attempt 2
    assert session.prompt_done(2.1, attempt=1) == []
    assert session.state is State.PLAYING and session.next_deadline() is None
    assert session.prompt_done(9.0, attempt=2) == []
    assert state(session) is State.WAITING and session.next_deadline() == 17.0
    assert session.prompt_done(9.5) == []  # a duplicate report changes nothing
    assert session.next_deadline() == 17.0


def test_keys_after_the_decision_are_dropped() -> None:
    session = listening(10.0)
    session.digit("9", 11.0)
    assert session.digit("1", 11.1) == []
    assert session.prompt_done(11.2) == []
    assert session.handle_timer(1000.0) == []


@pytest.mark.parametrize(
    ("options", "retries", "timeout"),
    [({"12": "x"}, 1, 5.0), ({"x": "x"}, 1, 5.0), ({}, -1, 5.0), ({}, 1, 0.0)],
)
def test_a_bad_menu_is_refused(options: dict[str, str], retries: int, timeout: float) -> None:
    with pytest.raises(ValueError):
        IvrMenu("p", timeout, retries, options, "t", "i")


def test_a_non_dtmf_key_is_refused() -> None:
    with pytest.raises(ValueError):
        started().digit("x", 1.0)


# ---------------------------------------------------------------- random sessions

KEYS = "0123456789*#"
steps = st.lists(
    st.one_of(
        st.tuples(st.just("key"), st.sampled_from(KEYS), st.floats(0.0, 4.0)),
        st.tuples(st.just("done"), st.sampled_from([None, 0, 1, 2, 3]), st.floats(0.0, 20.0)),
        st.tuples(st.just("wait"), st.just(""), st.floats(0.0, 12.0)),
    ),
    max_size=40,
)


@settings(max_examples=400, deadline=None, derandomize=True, database=None)
@given(steps=steps, retries=st.integers(0, 3), direct_dial=st.booleans())
def test_random_sessions_keep_the_rules(
    steps: list[tuple[str, str | int | None, float]], retries: int, direct_dial: bool
) -> None:
    m = menu(retries=retries, direct_dial=direct_dial)
    session = IvrSession(m)
    now = 0.0
    effects: list[IvrEffect[str]] = list(session.start(now))

    def advance(to: float) -> float:
        # As the shell does: each timer fires at its deadline, before any later input.
        while (deadline := session.next_deadline()) is not None and deadline <= to:
            assert session.handle_timer(deadline - 0.001) == []
            effects.extend(session.handle_timer(deadline))
        return to

    for kind, arg, dt in steps:
        now = advance(now + dt)
        before = session.state
        if kind == "key":
            assert isinstance(arg, str)
            out = session.digit(arg, now)
        elif kind == "done":
            assert not isinstance(arg, str)
            out = session.prompt_done(now, arg)
        else:
            out = session.handle_timer(now)
            assert out == []  # everything due has fired
        if StopPlayback() in out:
            assert before is State.PLAYING and out[0] == StopPlayback()
        if session.state in (State.PLAYING, State.DONE):
            assert session.next_deadline() is None
        else:
            assert (deadline := session.next_deadline()) is not None and deadline > now
        effects += out
    advance(now + 100.0)
    plays = [e for e in effects if isinstance(e, Play)]
    assert [p.attempt for p in plays] == list(range(1, len(plays) + 1))
    assert len(plays) <= retries + 1
    exits = [i for i, e in enumerate(effects) if isinstance(e, Goto | DirectDial)]
    assert len(exits) <= 1
    assert exits == [] or exits[0] == len(effects) - 1  # nothing after the decision
    assert (session.state is State.DONE) == bool(exits)
    for e in effects:
        if isinstance(e, DirectDial):
            assert direct_dial and e.number in NUMBERS
        if isinstance(e, Goto) and e.cause is Exit.OPTION:
            assert e.action in OPTIONS.values()
        if isinstance(e, Goto) and e.cause is not Exit.OPTION:
            assert len(plays) == retries + 1  # every retry was spent first
