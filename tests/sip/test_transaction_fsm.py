"""The four transaction tables: every (state, input) pair, and random input sequences."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from softswitch.sip.transaction import (
    ClientTransaction,
    ServerTransaction,
    TransactionLayer,
    TransactionTerminated,
)
from softswitch.sip.transaction_fsm import (
    ENTRY,
    NETWORK_INPUTS,
    RETRANSMIT_TIMERS,
    SENDING_ACTIONS,
    TABLES,
    TIMEOUT_TIMERS,
    Action,
    IllegalTransition,
    Input,
    Kind,
    State,
    compile_table,
    legal_timers,
    response_input,
    send_input,
    transition,
)

CLIENT_KINDS = (Kind.INVITE_CLIENT, Kind.NON_INVITE_CLIENT)
PEER_INPUTS = {
    Kind.INVITE_CLIENT: {Input.RECV_1XX, Input.RECV_2XX, Input.RECV_3XX_6XX},
    Kind.NON_INVITE_CLIENT: {Input.RECV_1XX, Input.RECV_2XX, Input.RECV_3XX_6XX},
    Kind.INVITE_SERVER: {Input.RECV_REQUEST, Input.RECV_ACK},
    Kind.NON_INVITE_SERVER: {Input.RECV_REQUEST},
}
STARTS = {**RETRANSMIT_TIMERS, **TIMEOUT_TIMERS}


def reachable(kind: Kind) -> set[State]:
    seen = {ENTRY[kind].next_state}
    frontier = list(seen)
    while frontier:
        state = frontier.pop()
        for (s, _), entry in TABLES[kind].items():
            if s is state and entry.next_state not in seen:
                seen.add(entry.next_state)
                frontier.append(entry.next_state)
    return seen


# ---------------------------------------------------------------- the tables themselves


@pytest.mark.parametrize("kind", list(Kind))
def test_every_pair_has_an_entry_or_raises(kind: Kind) -> None:
    rows = compile_table(kind)
    for state, event in itertools.product(State, Input):
        try:
            entry = transition(kind, state, event)
        except IllegalTransition as error:
            assert (error.kind, error.state, error.event) == (kind, state, event)
            assert rows[state][event] is None
        else:
            assert rows[state][event] is entry
            assert entry is TABLES[kind][state, event]


@pytest.mark.parametrize("kind", list(Kind))
def test_terminated_is_final_and_silent(kind: Kind) -> None:
    for (state, event), entry in TABLES[kind].items():
        if state is State.TERMINATED:
            assert entry.next_state is State.TERMINATED
            assert entry.actions == (), event
        if entry.next_state is State.TERMINATED:
            assert not SENDING_ACTIONS & set(entry.actions), (state, event)


@pytest.mark.parametrize("kind", list(Kind))
def test_a_peer_can_never_cause_an_illegal_transition(kind: Kind) -> None:
    live = reachable(kind) - {State.TERMINATED}
    assert live
    for state in live:
        for event in PEER_INPUTS[kind]:
            transition(kind, state, event)  # must not raise
        assert transition(kind, state, Input.TRANSPORT_ERROR).next_state is State.TERMINATED


@pytest.mark.parametrize("kind", list(Kind))
def test_peer_inputs_of_the_other_side_are_illegal(kind: Kind) -> None:
    foreign = NETWORK_INPUTS - PEER_INPUTS[kind]
    for state, event in itertools.product(State, foreign):
        with pytest.raises(IllegalTransition):
            transition(kind, state, event)


@pytest.mark.parametrize("kind", list(Kind))
def test_every_timer_started_can_fire_in_the_state_it_is_started_for(kind: Kind) -> None:
    entries = [*TABLES[kind].values(), ENTRY[kind]]
    for entry in entries:
        for action in entry.actions:
            if action in STARTS:
                assert STARTS[action] in legal_timers(kind, entry.next_state), (entry, action)


@pytest.mark.parametrize("kind", list(Kind))
def test_every_state_is_reachable_and_every_machine_can_end(kind: Kind) -> None:
    states = {s for s, _ in TABLES[kind]} | {e.next_state for e in TABLES[kind].values()}
    assert reachable(kind) == states
    assert State.TERMINATED in states


def test_status_classes_map_to_inputs() -> None:
    assert [response_input(s) for s in (100, 199, 200, 299, 300, 699)] == [
        Input.RECV_1XX,
        Input.RECV_1XX,
        Input.RECV_2XX,
        Input.RECV_2XX,
        Input.RECV_3XX_6XX,
        Input.RECV_3XX_6XX,
    ]
    assert [send_input(s) for s in (180, 202, 404)] == [
        Input.SEND_1XX,
        Input.SEND_2XX,
        Input.SEND_3XX_6XX,
    ]


# ---------------------------------------------------------------- random input sequences

ADVANCES = st.sampled_from([0.0, 0.25, 0.5, 1.0, 4.0, 5.0, 31.5, 32.0, 40.0, 200.0])
CLIENT_OPS = st.one_of(
    st.tuples(st.just("response"), st.sampled_from([100, 180, 200, 202, 302, 486, 603])),
    st.tuples(st.just("advance"), ADVANCES),
    st.tuples(st.just("next_timer"), st.just(0)),
    st.tuples(st.just("transport_error"), st.just(0)),
)
SERVER_OPS = st.one_of(
    st.tuples(st.just("send"), st.sampled_from([100, 180, 200, 486])),
    st.tuples(st.just("retransmission"), st.just(0)),
    st.tuples(st.just("ack"), st.just(0)),
    st.tuples(st.just("ack_2xx"), st.just(0)),
    st.tuples(st.just("advance"), ADVANCES),
    st.tuples(st.just("next_timer"), st.just(0)),
    st.tuples(st.just("transport_error"), st.just(0)),
)

Layer = TransactionLayer[int, str]
Txn = ClientTransaction[int, str] | ServerTransaction[int, str]


class Driver:
    """Applies one random op to a single transaction and checks the invariants around it."""

    def __init__(self, layer: Layer, txn: Txn) -> None:
        self.layer = layer
        self.txn = txn
        self.now = 0.0
        self.terminated_events = 0

    def apply(self, op: str, arg: float) -> None:
        txn, before = self.txn, self.txn.state
        timers_before = txn.armed_timers
        event = self._input_of(op, arg)
        legal = event is None or (before, event) in TABLES[txn.kind]
        try:
            self._do(op, arg)
        except IllegalTransition:
            assert not legal
            assert txn.state is before
            assert txn.armed_timers == timers_before
            assert self.layer.take_outgoing() == []
            assert self.layer.take_events() == []
            return
        assert legal
        sent = self.layer.take_outgoing()
        events = self.layer.take_events()
        self.terminated_events += sum(isinstance(e, TransactionTerminated) for e in events)
        if before is State.TERMINATED:
            assert txn.state is State.TERMINATED
            assert sent == []
            assert events == []
        if txn.reliable and op in ("advance", "next_timer"):
            assert sent == [], "nothing is retransmitted over a reliable transport"
        assert txn.armed_timers <= legal_timers(txn.kind, txn.state)
        assert self.terminated_events == (txn.state is State.TERMINATED)
        assert len(self.layer) == (txn.state is not State.TERMINATED)

    def _input_of(self, op: str, arg: float) -> Input | None:
        """The TU input an op feeds (None: peer inputs and timers, which must never raise)."""
        return {
            "send": send_input(int(arg)),
            "ack_2xx": Input.ACK_2XX,
            "transport_error": Input.TRANSPORT_ERROR,
        }.get(op)

    def _do(self, op: str, arg: float) -> None:
        layer, txn = self.layer, self.txn
        if op == "advance":
            self.now += arg
            layer.handle_timer(self.now)
        elif op == "next_timer":
            deadline = layer.next_deadline()
            if deadline is not None:
                assert deadline >= self.now
                self.now = deadline
                layer.handle_timer(self.now)
        elif op == "transport_error":
            layer.transport_error(txn, self.now)
        elif op == "response":
            assert isinstance(txn, ClientTransaction)
            live = txn.state is not State.TERMINATED
            matched = layer.receive_response(txn.key, int(arg), int(arg), self.now)
            assert matched is (txn if live else None)
        else:
            assert isinstance(txn, ServerTransaction)
            self._do_server(op, arg, txn)

    def _do_server(self, op: str, arg: float, txn: ServerTransaction[int, str]) -> None:
        layer, live = self.layer, txn.state is not State.TERMINATED
        if op == "send":
            layer.send_response(txn, int(arg), f"{int(arg)}".encode(), self.now)
        elif op == "ack_2xx":
            layer.ack_2xx(txn, self.now)
        elif op == "retransmission":
            again = layer.receive_request(txn.key, txn.method, 0, "peer", txn.reliable, self.now)
            if not live:  # the key is free again: a new transaction, which we end at once
                assert again is not None and again is not txn
                layer.transport_error(again, self.now)
                layer.take_events()
            else:
                assert again is None
        elif op == "ack":
            state = txn.state
            absorbed = layer.receive_ack(txn.key, self.now)
            assert absorbed is (live and txn.kind is Kind.INVITE_SERVER and (
                state is not State.ACCEPTED
            ))  # fmt: skip

    def finish(self) -> None:
        """End the transaction the way its TU eventually would, then let every timer run."""
        txn = self.txn
        if isinstance(txn, ServerTransaction) and txn.state in (State.TRYING, State.PROCEEDING):
            self.apply("send", 486)
        for _ in range(200):
            if self.layer.next_deadline() is None:
                break
            self.apply("next_timer", 0)
        assert txn.state is State.TERMINATED
        assert len(self.layer) == 0
        assert self.layer.next_deadline() is None
        assert txn.armed_timers == frozenset()
        assert self.terminated_events == 1


def ack(status: int) -> bytes:
    return f"ACK {status}".encode()


@settings(max_examples=300, deadline=None)
@given(
    invite=st.booleans(),
    reliable=st.booleans(),
    ops=st.lists(CLIENT_OPS, max_size=25),
)
def test_client_machines_under_random_inputs(
    invite: bool, reliable: bool, ops: list[tuple[str, float]]
) -> None:
    layer: Layer = TransactionLayer()
    method = "INVITE" if invite else "MESSAGE"
    txn = layer.send_request(("b", method), method, b"REQ", "peer", reliable, 0.0, ack)
    assert layer.take_outgoing() == [("peer", b"REQ")]
    driver = Driver(layer, txn)
    for op, arg in ops:
        driver.apply(op, arg)
    driver.finish()


@settings(max_examples=300, deadline=None)
@given(
    invite=st.booleans(),
    reliable=st.booleans(),
    ops=st.lists(SERVER_OPS, max_size=25),
)
def test_server_machines_under_random_inputs(
    invite: bool, reliable: bool, ops: list[tuple[str, float]]
) -> None:
    layer: Layer = TransactionLayer()
    method = "INVITE" if invite else "SUBSCRIBE"
    txn = layer.receive_request(("b", "h", method), method, 0, "peer", reliable, 0.0)
    assert txn is not None
    driver = Driver(layer, txn)
    for op, arg in ops:
        driver.apply(op, arg)
    driver.finish()


def test_timers_and_retransmissions_follow_the_entry_actions() -> None:
    layer: Layer = TransactionLayer()
    invite = layer.send_request(("i", "INVITE"), "INVITE", b"I", "p", False, 0.0, ack)
    options = layer.send_request(("o", "OPTIONS"), "OPTIONS", b"O", "p", False, 0.0)
    tcp = layer.send_request(("t", "OPTIONS"), "OPTIONS", b"T", "p", True, 0.0)
    assert invite.armed_timers == {Input.TIMER_A, Input.TIMER_B}
    assert options.armed_timers == {Input.TIMER_E, Input.TIMER_F}
    assert tcp.armed_timers == {Input.TIMER_F}
    assert Action.START_A in ENTRY[Kind.INVITE_CLIENT].actions
    assert all(ENTRY[k].actions == () for k in Kind if k not in CLIENT_KINDS)
