"""The four RFC 3261 §17 transaction state machines, as tables.

Each machine is a table ``(state, input) -> Transition(actions, next_state)``; a pair that is
not in the table is illegal and raises :class:`IllegalTransition`. Everything that decides
what a transaction does lives here; ``transaction.py`` only executes the actions (send bytes,
arm timers, emit events) and owns the transaction map.

The INVITE machines carry RFC 6026's *Accepted* state: a 2xx no longer destroys the
transaction, so retransmitted INVITEs are absorbed (server) and retransmitted or forked 2xx
responses still reach the TU (client).

Choices the RFC leaves open, and why:

* Network inputs (responses, retransmitted requests, ACKs) have an entry in every live state,
  often "drop": a peer can send anything at any time and must never crash the layer.
* TU inputs after the final response (a late 1xx or a second final, e.g. a B2BUA relaying
  from the other leg while this one was cancelled) are discarded, as §17.2.2 says for
  non-INVITE servers; this also holds in TERMINATED so that the race is harmless over TCP too.
* TRANSPORT_ERROR is accepted in every live state: over TCP a lost connection must end even
  the states that have no timer (INVITE Proceeding).
* Timer C (§16.6, proxies) is borrowed for the INVITE client in Proceeding, which otherwise
  has no timer: a peer that rings forever and ignores CANCEL must not pin memory forever.
* The 2xx retransmission that §13.3.1.4 gives the UAS core runs here on the TU's behalf as
  TIMER_2XX (T1 doubling, capped at T2) in Accepted, until the TU reports the ACK (ACK_2XX);
  Timer L (64*T1, the same span as the core's ACK wait) then reports a missing ACK.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class State(IntEnum):
    CALLING = 0
    TRYING = 1
    PROCEEDING = 2
    COMPLETED = 3
    CONFIRMED = 4
    ACCEPTED = 5
    TERMINATED = 6


class Input(IntEnum):
    # Timers (RFC 3261 §17 table 4, RFC 6026 L and M, §16.6 C, §13.3.1.4 2xx retransmission).
    TIMER_A = 0
    TIMER_B = 1
    TIMER_C = 2
    TIMER_D = 3
    TIMER_E = 4
    TIMER_F = 5
    TIMER_G = 6
    TIMER_H = 7
    TIMER_I = 8
    TIMER_J = 9
    TIMER_K = 10
    TIMER_L = 11
    TIMER_M = 12
    TIMER_2XX = 13
    # From the network.
    RECV_1XX = 14
    RECV_2XX = 15
    RECV_3XX_6XX = 16
    RECV_REQUEST = 17  # a retransmission of the request that created a server transaction
    RECV_ACK = 18
    # From the TU.
    SEND_1XX = 19
    SEND_2XX = 20
    SEND_3XX_6XX = 21
    ACK_2XX = 22  # the TU saw the ACK for its 2xx (it belongs to the dialog, not to us)
    TRANSPORT_ERROR = 23


class Action(IntEnum):
    SEND_REQUEST = 0  # (re)send the request
    SEND_ACK = 1  # build the ACK for a non-2xx final once, (re)send it
    SEND_RESPONSE = 2  # send the TU's response and remember it for retransmission
    RESEND_RESPONSE = 3  # resend the last response, if any
    PASS_RESPONSE = 4  # ResponseReceived(retransmission=False)
    PASS_RESPONSE_AGAIN = 5  # ResponseReceived(retransmission=True): another 2xx in Accepted
    PASS_ACK = 6  # the ACK is the TU's (ACK for a 2xx): not absorbed
    MARK_ACKED = 7
    REPORT_TIMEOUT = 8  # TransactionTimedOut(timer letter)
    REPORT_ACK_TIMEOUT = 9  # AckTimedOut, if the 2xx was never acknowledged
    REPORT_TRANSPORT_ERROR = 10
    STOP_TIMERS = 11
    STOP_RETRANSMIT = 12
    DOUBLE = 13  # re-arm the retransmission timer that fired at twice its interval
    DOUBLE_CAPPED = 14  # ... at min(2 * interval, T2)
    INTERVAL_T2 = 15  # ... at T2
    START_A = 16
    START_E = 17
    START_G = 18
    START_2XX = 19
    START_B = 20
    START_C = 21
    START_D = 22
    START_F = 23
    START_H = 24
    START_I = 25
    START_J = 26
    START_K = 27
    START_L = 28
    START_M = 29


class Kind(IntEnum):
    INVITE_CLIENT = 0
    NON_INVITE_CLIENT = 1
    INVITE_SERVER = 2
    NON_INVITE_SERVER = 3


# Retransmission timers: first interval T1, only over unreliable transports (§17.1.1.2).
RETRANSMIT_TIMERS: dict[Action, Input] = {
    Action.START_A: Input.TIMER_A,
    Action.START_E: Input.TIMER_E,
    Action.START_G: Input.TIMER_G,
    Action.START_2XX: Input.TIMER_2XX,
}
# Timeout timers: at most one armed per transaction; starting one replaces the previous.
TIMEOUT_TIMERS: dict[Action, Input] = {
    Action.START_B: Input.TIMER_B,
    Action.START_C: Input.TIMER_C,
    Action.START_D: Input.TIMER_D,
    Action.START_F: Input.TIMER_F,
    Action.START_H: Input.TIMER_H,
    Action.START_I: Input.TIMER_I,
    Action.START_J: Input.TIMER_J,
    Action.START_K: Input.TIMER_K,
    Action.START_L: Input.TIMER_L,
    Action.START_M: Input.TIMER_M,
}
TIMER_INPUTS = frozenset(RETRANSMIT_TIMERS.values()) | frozenset(TIMEOUT_TIMERS.values())
NETWORK_INPUTS = frozenset(
    {Input.RECV_1XX, Input.RECV_2XX, Input.RECV_3XX_6XX, Input.RECV_REQUEST, Input.RECV_ACK}
)
TU_INPUTS = frozenset(
    {Input.SEND_1XX, Input.SEND_2XX, Input.SEND_3XX_6XX, Input.ACK_2XX, Input.TRANSPORT_ERROR}
)
# Actions that put bytes on the wire; none may run in TERMINATED.
SENDING_ACTIONS = frozenset(
    {Action.SEND_REQUEST, Action.SEND_ACK, Action.SEND_RESPONSE, Action.RESEND_RESPONSE}
)


@dataclass(frozen=True, slots=True)
class Transition:
    actions: tuple[Action, ...]
    next_state: State


class IllegalTransition(RuntimeError):
    """The input cannot happen in this state: a bug in the caller, never a peer's doing."""

    def __init__(self, kind: Kind, state: State, event: Input) -> None:
        super().__init__(f"{kind.name}: {event.name} is illegal in {state.name}")
        self.kind = kind
        self.state = state
        self.event = event


Table = dict[tuple[State, Input], Transition]

S, In, A = State, Input, Action
_T = Transition

# Shared fragments.
_FAIL = _T((A.REPORT_TRANSPORT_ERROR,), S.TERMINATED)
_DROP_IN = {s: _T((), s) for s in State}  # absorb without effect, stay
_LATE_TU = (In.SEND_1XX, In.SEND_2XX, In.SEND_3XX_6XX)


def _terminated_entries() -> Table:
    # A TU racing the end of its transaction is harmless: nothing happens, nothing is sent.
    late = (*_LATE_TU, In.ACK_2XX, In.TRANSPORT_ERROR)
    return {(S.TERMINATED, i): _DROP_IN[S.TERMINATED] for i in late}


# RFC 3261 §17.1.1 figure 5, as amended by RFC 6026 §8.4 (figure 3).
INVITE_CLIENT: Table = {
    (S.CALLING, In.TIMER_A): _T((A.SEND_REQUEST, A.DOUBLE), S.CALLING),
    (S.CALLING, In.TIMER_B): _T((A.REPORT_TIMEOUT,), S.TERMINATED),
    (S.CALLING, In.RECV_1XX): _T((A.STOP_TIMERS, A.PASS_RESPONSE, A.START_C), S.PROCEEDING),
    (S.CALLING, In.RECV_2XX): _T((A.STOP_TIMERS, A.PASS_RESPONSE, A.START_M), S.ACCEPTED),
    (S.CALLING, In.RECV_3XX_6XX): _T(
        (A.STOP_TIMERS, A.SEND_ACK, A.PASS_RESPONSE, A.START_D), S.COMPLETED
    ),
    (S.CALLING, In.TRANSPORT_ERROR): _FAIL,
    (S.PROCEEDING, In.TIMER_C): _T((A.REPORT_TIMEOUT,), S.TERMINATED),
    (S.PROCEEDING, In.RECV_1XX): _T((A.PASS_RESPONSE, A.START_C), S.PROCEEDING),
    (S.PROCEEDING, In.RECV_2XX): _T((A.PASS_RESPONSE, A.START_M), S.ACCEPTED),
    (S.PROCEEDING, In.RECV_3XX_6XX): _T((A.SEND_ACK, A.PASS_RESPONSE, A.START_D), S.COMPLETED),
    (S.PROCEEDING, In.TRANSPORT_ERROR): _FAIL,
    (S.COMPLETED, In.TIMER_D): _T((), S.TERMINATED),
    (S.COMPLETED, In.RECV_1XX): _DROP_IN[S.COMPLETED],  # late, reordered provisional
    (S.COMPLETED, In.RECV_2XX): _DROP_IN[S.COMPLETED],
    (S.COMPLETED, In.RECV_3XX_6XX): _T((A.SEND_ACK,), S.COMPLETED),  # our ACK was lost
    (S.COMPLETED, In.TRANSPORT_ERROR): _FAIL,
    (S.ACCEPTED, In.TIMER_M): _T((), S.TERMINATED),
    (S.ACCEPTED, In.RECV_1XX): _DROP_IN[S.ACCEPTED],
    # A retransmitted 2xx (our ACK was lost) or another fork's 2xx: the TU acks each.
    (S.ACCEPTED, In.RECV_2XX): _T((A.PASS_RESPONSE_AGAIN,), S.ACCEPTED),
    (S.ACCEPTED, In.RECV_3XX_6XX): _DROP_IN[S.ACCEPTED],
    (S.ACCEPTED, In.TRANSPORT_ERROR): _FAIL,
    **_terminated_entries(),
}

# RFC 3261 §17.1.2 figure 6.
_NI_FINAL_FIRST = _T((A.STOP_TIMERS, A.PASS_RESPONSE, A.START_K), S.COMPLETED)
NON_INVITE_CLIENT: Table = {
    (S.TRYING, In.TIMER_E): _T((A.SEND_REQUEST, A.DOUBLE_CAPPED), S.TRYING),
    (S.TRYING, In.TIMER_F): _T((A.REPORT_TIMEOUT,), S.TERMINATED),
    (S.TRYING, In.RECV_1XX): _T((A.PASS_RESPONSE,), S.PROCEEDING),  # E and F keep running
    (S.TRYING, In.RECV_2XX): _NI_FINAL_FIRST,
    (S.TRYING, In.RECV_3XX_6XX): _NI_FINAL_FIRST,
    (S.TRYING, In.TRANSPORT_ERROR): _FAIL,
    (S.PROCEEDING, In.TIMER_E): _T((A.SEND_REQUEST, A.INTERVAL_T2), S.PROCEEDING),
    (S.PROCEEDING, In.TIMER_F): _T((A.REPORT_TIMEOUT,), S.TERMINATED),
    (S.PROCEEDING, In.RECV_1XX): _T((A.PASS_RESPONSE,), S.PROCEEDING),
    (S.PROCEEDING, In.RECV_2XX): _NI_FINAL_FIRST,
    (S.PROCEEDING, In.RECV_3XX_6XX): _NI_FINAL_FIRST,
    (S.PROCEEDING, In.TRANSPORT_ERROR): _FAIL,
    (S.COMPLETED, In.TIMER_K): _T((), S.TERMINATED),
    (S.COMPLETED, In.RECV_1XX): _DROP_IN[S.COMPLETED],
    (S.COMPLETED, In.RECV_2XX): _DROP_IN[S.COMPLETED],  # retransmitted finals are absorbed
    (S.COMPLETED, In.RECV_3XX_6XX): _DROP_IN[S.COMPLETED],
    (S.COMPLETED, In.TRANSPORT_ERROR): _FAIL,
    **_terminated_entries(),
}

# RFC 3261 §17.2.1 figure 7, as amended by RFC 6026 §8.5-8.7 (figure 5).
INVITE_SERVER: Table = {
    # The last provisional, if the TU sent one, answers a retransmitted INVITE.
    (S.PROCEEDING, In.RECV_REQUEST): _T((A.RESEND_RESPONSE,), S.PROCEEDING),
    (S.PROCEEDING, In.RECV_ACK): _DROP_IN[S.PROCEEDING],  # nothing to acknowledge yet
    (S.PROCEEDING, In.SEND_1XX): _T((A.SEND_RESPONSE,), S.PROCEEDING),
    (S.PROCEEDING, In.SEND_2XX): _T((A.SEND_RESPONSE, A.START_2XX, A.START_L), S.ACCEPTED),
    (S.PROCEEDING, In.SEND_3XX_6XX): _T((A.SEND_RESPONSE, A.START_G, A.START_H), S.COMPLETED),
    (S.PROCEEDING, In.TRANSPORT_ERROR): _FAIL,
    (S.COMPLETED, In.TIMER_G): _T((A.RESEND_RESPONSE, A.DOUBLE_CAPPED), S.COMPLETED),
    (S.COMPLETED, In.TIMER_H): _T((A.REPORT_TIMEOUT,), S.TERMINATED),
    (S.COMPLETED, In.RECV_REQUEST): _T((A.RESEND_RESPONSE,), S.COMPLETED),
    (S.COMPLETED, In.RECV_ACK): _T((A.STOP_TIMERS, A.START_I), S.CONFIRMED),
    **{(S.COMPLETED, i): _DROP_IN[S.COMPLETED] for i in _LATE_TU},
    (S.COMPLETED, In.TRANSPORT_ERROR): _FAIL,
    (S.CONFIRMED, In.TIMER_I): _T((), S.TERMINATED),
    (S.CONFIRMED, In.RECV_REQUEST): _DROP_IN[S.CONFIRMED],
    (S.CONFIRMED, In.RECV_ACK): _DROP_IN[S.CONFIRMED],  # what Confirmed exists for
    **{(S.CONFIRMED, i): _DROP_IN[S.CONFIRMED] for i in _LATE_TU},
    (S.CONFIRMED, In.TRANSPORT_ERROR): _FAIL,
    (S.ACCEPTED, In.TIMER_2XX): _T((A.RESEND_RESPONSE, A.DOUBLE_CAPPED), S.ACCEPTED),
    (S.ACCEPTED, In.TIMER_L): _T((A.REPORT_ACK_TIMEOUT,), S.TERMINATED),
    (S.ACCEPTED, In.RECV_REQUEST): _DROP_IN[S.ACCEPTED],  # RFC 6026: absorbed, TU never sees it
    (S.ACCEPTED, In.RECV_ACK): _T((A.PASS_ACK,), S.ACCEPTED),  # an ACK for the 2xx is the TU's
    (S.ACCEPTED, In.SEND_1XX): _DROP_IN[S.ACCEPTED],
    (S.ACCEPTED, In.SEND_2XX): _T((A.SEND_RESPONSE,), S.ACCEPTED),
    (S.ACCEPTED, In.SEND_3XX_6XX): _DROP_IN[S.ACCEPTED],
    (S.ACCEPTED, In.ACK_2XX): _T((A.MARK_ACKED, A.STOP_RETRANSMIT), S.ACCEPTED),
    (S.ACCEPTED, In.TRANSPORT_ERROR): _FAIL,
    **_terminated_entries(),
}

# RFC 3261 §17.2.2 figure 8.
_NIS_FINAL = _T((A.SEND_RESPONSE, A.START_J), S.COMPLETED)
NON_INVITE_SERVER: Table = {
    (S.TRYING, In.RECV_REQUEST): _DROP_IN[S.TRYING],  # no response yet to repeat
    (S.TRYING, In.SEND_1XX): _T((A.SEND_RESPONSE,), S.PROCEEDING),
    (S.TRYING, In.SEND_2XX): _NIS_FINAL,
    (S.TRYING, In.SEND_3XX_6XX): _NIS_FINAL,
    (S.TRYING, In.TRANSPORT_ERROR): _FAIL,
    (S.PROCEEDING, In.RECV_REQUEST): _T((A.RESEND_RESPONSE,), S.PROCEEDING),
    (S.PROCEEDING, In.SEND_1XX): _T((A.SEND_RESPONSE,), S.PROCEEDING),
    (S.PROCEEDING, In.SEND_2XX): _NIS_FINAL,
    (S.PROCEEDING, In.SEND_3XX_6XX): _NIS_FINAL,
    (S.PROCEEDING, In.TRANSPORT_ERROR): _FAIL,
    (S.COMPLETED, In.TIMER_J): _T((), S.TERMINATED),
    (S.COMPLETED, In.RECV_REQUEST): _T((A.RESEND_RESPONSE,), S.COMPLETED),
    **{(S.COMPLETED, i): _DROP_IN[S.COMPLETED] for i in _LATE_TU},  # §17.2.2: discarded
    (S.COMPLETED, In.TRANSPORT_ERROR): _FAIL,
    **_terminated_entries(),
}

TABLES: dict[Kind, Table] = {
    Kind.INVITE_CLIENT: INVITE_CLIENT,
    Kind.NON_INVITE_CLIENT: NON_INVITE_CLIENT,
    Kind.INVITE_SERVER: INVITE_SERVER,
    Kind.NON_INVITE_SERVER: NON_INVITE_SERVER,
}

# What happens when a transaction is created: clients send and arm their timers, servers
# wait for the TU (which decides about 100 Trying, §17.2.1).
ENTRY: dict[Kind, Transition] = {
    Kind.INVITE_CLIENT: _T((A.SEND_REQUEST, A.START_A, A.START_B), S.CALLING),
    Kind.NON_INVITE_CLIENT: _T((A.SEND_REQUEST, A.START_E, A.START_F), S.TRYING),
    Kind.INVITE_SERVER: _T((), S.PROCEEDING),
    Kind.NON_INVITE_SERVER: _T((), S.TRYING),
}


def transition(kind: Kind, state: State, event: Input) -> Transition:
    """The table entry for ``(state, event)``, or :class:`IllegalTransition`."""
    entry = TABLES[kind].get((state, event))
    if entry is None:
        raise IllegalTransition(kind, state, event)
    return entry


def legal_timers(kind: Kind, state: State) -> frozenset[Input]:
    """The timers that may be armed while a ``kind`` transaction is in ``state``."""
    table = TABLES[kind]
    return frozenset(i for i in TIMER_INPUTS if (state, i) in table)


def compile_table(kind: Kind) -> list[list[Transition | None]]:
    """The table as ``rows[state][input]``: two list indexings on the hot path, no hashing."""
    table = TABLES[kind]
    return [[table.get((s, i)) for i in Input] for s in State]


def response_input(status: int) -> Input:
    """RECV_* input for a received response status."""
    if status < 200:
        return Input.RECV_1XX
    return Input.RECV_2XX if status < 300 else Input.RECV_3XX_6XX


def send_input(status: int) -> Input:
    """SEND_* input for a response status the TU sends."""
    if status < 200:
        return Input.SEND_1XX
    return Input.SEND_2XX if status < 300 else Input.SEND_3XX_6XX
