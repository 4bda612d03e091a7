"""The SIP transaction layer (RFC 3261 §17, RFC 6026): sans-IO, time as an input.

The layer owns every live transaction and its timers. It treats messages as opaque (generic
``M``) and destinations as opaque (generic ``D``): the endpoint computes transaction keys
(§17.1.3, §17.2.3), status codes and wire bytes, and feeds them in with ``now``. What the
layer decides comes out through :meth:`TransactionLayer.take_outgoing` (bytes to send) and
:meth:`TransactionLayer.take_events` (what the TU must know). The state machines themselves
are the tables in :mod:`softswitch.sip.transaction_fsm`; this module only executes them.

Timers live in :class:`TimerQueues`: one FIFO per distinct duration, merged through a tiny
heap of the FIFO heads (see there for why this beats one big heap).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from heapq import heappop, heappush, heapreplace
from itertools import count
from typing import Any, Generic, TypeAlias, TypeVar

from softswitch.sip.transaction_fsm import (
    ENTRY,
    RETRANSMIT_TIMERS,
    TIMEOUT_TIMERS,
    Action,
    IllegalTransition,
    Input,
    Kind,
    State,
    Transition,
    compile_table,
    response_input,
    send_input,
)

M = TypeVar("M")
D = TypeVar("D")

ServerKey: TypeAlias = Hashable
ClientKey: TypeAlias = Hashable

T1, T2, T4 = 0.5, 4.0, 5.0
TIMER_D_UDP = 32.0  # §17.1.1.2: "at least 32 seconds", whatever T1 is
TIMER_C = 180.0  # §16.6: three minutes; see transaction_fsm for why a UA uses it

_ROWS = {kind: compile_table(kind) for kind in Kind}
_LETTER = {i: i.name.removeprefix("TIMER_") for i in Input if i.name.startswith("TIMER_")}
_COMPACT_MIN = 4096
_INPUTS = tuple(Input)  # by value
_TERMINATED = State.TERMINATED
_CLIENTS = (Kind.INVITE_CLIENT, Kind.NON_INVITE_CLIENT)


P = TypeVar("P")


class TimerQueues(Generic[P]):
    """Timers with O(1) arming and cancelling, fired in ``(deadline, arming order)`` order.

    Nearly every timer here has one of a dozen durations (T1 * 2^k, T2, T4, 32 s, 64*T1), and
    ``now`` never goes backwards, so the timers of one duration expire in the order they were
    armed: a FIFO per duration stays sorted with a plain append, and a heap over the FIFO
    heads (a dozen entries) merges them. One big heap measured slower: at 1,000 calls/s it
    holds ~300k entries and every push and pop walks ~18 levels of cache-missing tuples.

    Cancelling removes ``seq`` from the armed map; the stale entry is skipped when it comes
    out. Entries do not reference their payload, so a cancelled timer never keeps a finished
    transaction (and the call its TU data points to) alive, and the FIFOs are compacted when
    stale entries outnumber live ones.
    """

    __slots__ = ("_armed", "_compact_at", "_entries", "_heads", "_queues", "_seq")

    def __init__(self) -> None:
        # Entries hold the input as a plain int: a tuple of floats and ints is untracked by
        # the cyclic GC, one holding an enum member is traversed by every full collection.
        self._queues: dict[float, deque[tuple[float, int, int]]] = {}
        self._heads: list[tuple[float, int, float]] = []  # (deadline, seq, duration) per FIFO
        self._armed: dict[int, P] = {}
        self._seq = count(1)
        self._entries = 0  # live and stale, across all FIFOs
        self._compact_at = _COMPACT_MIN

    def arm(self, payload: P, event: Input, duration: float, now: float) -> int:
        """Arm ``event`` for ``payload`` at ``now + duration``; returns its ``seq`` (> 0)."""
        seq = next(self._seq)
        deadline = now + duration
        queue = self._queues.get(duration)
        if queue is None:
            queue = self._queues[duration] = deque()
        if not queue:
            heappush(self._heads, (deadline, seq, duration))
        queue.append((deadline, seq, event.value))
        self._armed[seq] = payload
        self._entries += 1
        if self._entries > self._compact_at:
            self._compact()
        return seq

    def cancel(self, seq: int) -> None:
        self._armed.pop(seq, None)

    def next_deadline(self) -> float | None:
        heads, armed = self._heads, self._armed
        while heads and heads[0][1] not in armed:
            self._advance(heads[0][2])  # cancelled: drop it so the caller does not wake for it
        return heads[0][0] if heads else None

    def pop_due(self, now: float) -> tuple[P, int, Input] | None:
        """The next live timer due at ``now`` (disarmed), or None."""
        heads, armed = self._heads, self._armed
        while heads and heads[0][0] <= now:
            _, seq, event = self._advance(heads[0][2])
            payload = armed.pop(seq, None)
            if payload is not None:
                return payload, seq, _INPUTS[event]
        return None

    def __len__(self) -> int:
        return len(self._armed)

    @property
    def backlog(self) -> int:
        """Entries held, armed or cancelled (memory use; compaction keeps it bounded)."""
        return self._entries

    def _advance(self, duration: float) -> tuple[float, int, int]:
        """Pop the head of the FIFO for ``duration`` and re-key the heads heap."""
        queue = self._queues[duration]
        entry = queue.popleft()
        self._entries -= 1
        if queue:
            head = queue[0]
            heapreplace(self._heads, (head[0], head[1], duration))
        else:
            heappop(self._heads)
        return entry

    def _compact(self) -> None:
        armed = self._armed
        self._heads = []
        for duration, queue in self._queues.items():
            live = deque(e for e in queue if e[1] in armed)
            self._queues[duration] = live
            if live:
                heappush(self._heads, (live[0][0], live[0][1], duration))
        self._entries = sum(len(q) for q in self._queues.values())
        self._compact_at = max(_COMPACT_MIN, 2 * self._entries)


class _Transaction(Generic[M, D]):
    __slots__ = (
        "_retx_interval",
        "_retx_seq",
        "_retx_timer",
        "_rows",
        "_timeout_seq",
        "_timeout_timer",
        "dest",
        "key",
        "kind",
        "method",
        "reliable",
        "state",
        "status",
        "tu",
    )

    def __init__(self, kind: Kind, key: Hashable, method: str, dest: D, reliable: bool) -> None:
        self.kind = kind
        self.key = key
        self.method = method
        self.dest = dest
        self.reliable = reliable
        self.state = ENTRY[kind].next_state
        self.status = 0  # last status sent (server) or received (client); 0 = none yet
        self.tu: object = None  # the TU's slot: its leg, call, registration...
        self._rows = _ROWS[kind]
        self._retx_seq = 0  # heap seq of the armed retransmission timer, 0 = none
        self._retx_timer: Input | None = None
        self._retx_interval = 0.0
        self._timeout_seq = 0
        self._timeout_timer: Input | None = None

    @property
    def armed_timers(self) -> frozenset[Input]:
        """The timers currently armed (for tests and diagnostics)."""
        return frozenset(t for t in (self._retx_timer, self._timeout_timer) if t is not None)

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} {self.kind.name} {self.state.name} "
            f"key={self.key!r} status={self.status}>"
        )


class ServerTransaction(_Transaction[M, D]):
    """A UAS transaction: created by :meth:`TransactionLayer.receive_request`."""

    __slots__ = ("acked", "last_response", "request")

    def __init__(self, key: ServerKey, method: str, request: M, dest: D, reliable: bool) -> None:
        kind = Kind.INVITE_SERVER if method == "INVITE" else Kind.NON_INVITE_SERVER
        super().__init__(kind, key, method, dest, reliable)
        # None once a final response is sent: only its bytes are needed after that (for
        # retransmissions), and a parsed message kept for 32 s per transaction is most of
        # what the garbage collector would have to walk under load.
        self.request: M | None = request
        self.last_response: bytes | None = None
        self.acked = False  # the TU reported the ACK for our 2xx


class ClientTransaction(_Transaction[M, D]):
    """A UAC transaction: created by :meth:`TransactionLayer.send_request`."""

    __slots__ = ("ack", "data", "make_ack")

    def __init__(
        self,
        key: ClientKey,
        method: str,
        data: bytes,
        dest: D,
        reliable: bool,
        *,
        make_ack: Callable[[M], bytes] | None,
    ) -> None:
        kind = Kind.INVITE_CLIENT if method == "INVITE" else Kind.NON_INVITE_CLIENT
        super().__init__(kind, key, method, dest, reliable)
        self.data = data
        self.make_ack = make_ack
        self.ack: bytes | None = None  # built once, re-sent for every retransmitted final


@dataclass(frozen=True, slots=True)
class ResponseReceived(Generic[M, D]):
    """A response the TU must see. ``retransmission``: another 2xx while Accepted (a lost
    ACK or a second fork; compare To tags), to be acknowledged again."""

    txn: ClientTransaction[M, D]
    response: M
    status: int
    retransmission: bool


@dataclass(frozen=True, slots=True)
class TransactionTimedOut(Generic[M, D]):
    """Timer B, C or F (client, no final response) or H (server, no ACK for a non-2xx)."""

    txn: ClientTransaction[M, D] | ServerTransaction[M, D]
    timer: str


@dataclass(frozen=True, slots=True)
class AckTimedOut(Generic[M, D]):
    """No ACK for our 2xx within 64*T1 (§13.3.1.4): the TU should end the session."""

    txn: ServerTransaction[M, D]


@dataclass(frozen=True, slots=True)
class TransportFailed(Generic[M, D]):
    txn: ClientTransaction[M, D] | ServerTransaction[M, D]


@dataclass(frozen=True, slots=True)
class TransactionTerminated(Generic[M, D]):
    """The transaction is gone from the layer; the TU may drop its references."""

    txn: ClientTransaction[M, D] | ServerTransaction[M, D]


TransactionEvent: TypeAlias = (
    ResponseReceived[M, D]
    | TransactionTimedOut[M, D]
    | AckTimedOut[M, D]
    | TransportFailed[M, D]
    | TransactionTerminated[M, D]
)

# handler(txn, input, now, data, message, status): the action's effect.
_Handler: TypeAlias = Callable[[Any, Input, float, "bytes | None", Any, int], None]


class TransactionLayer(Generic[M, D]):
    """Every live transaction, its timers, and the bytes and events they produce."""

    def __init__(
        self, t1: float = T1, t2: float = T2, t4: float = T4, timer_c: float = TIMER_C
    ) -> None:
        self.t1, self.t2, self.t4 = t1, t2, t4
        self._servers: dict[ServerKey, ServerTransaction[M, D]] = {}
        self._clients: dict[ClientKey, ClientTransaction[M, D]] = {}
        self._out: list[tuple[D, bytes]] = []
        self._events: list[TransactionEvent[M, D]] = []
        self._timers: TimerQueues[_Transaction[M, D]] = TimerQueues()
        self._immediate: Input | None = None  # a zero-length timer to fire after a transition
        span = 64 * t1
        # Timeout durations per action: (unreliable, reliable); §17 table 4.
        self._timeouts: dict[Action, tuple[float, float]] = {
            Action.START_B: (span, span),
            Action.START_C: (timer_c, timer_c),
            Action.START_D: (TIMER_D_UDP, 0.0),
            Action.START_F: (span, span),
            Action.START_H: (span, span),
            Action.START_I: (t4, 0.0),
            Action.START_J: (span, 0.0),
            Action.START_K: (t4, 0.0),
            Action.START_L: (span, span),
            Action.START_M: (span, span),
        }
        self._handlers = self._build_handlers()

    # ------------------------------------------------------------------ server side (UAS)

    def receive_request(
        self, key: ServerKey, method: str, request: M, dest: D, reliable: bool, now: float
    ) -> ServerTransaction[M, D] | None:
        """A new request -> its new server transaction (the TU handles it). A retransmission
        -> None: absorbed, the last response (if any) queued again. ACKs go to receive_ack."""
        if method == "ACK":
            raise ValueError("an ACK is not a request retransmission: use receive_ack()")
        txn = self._servers.get(key)
        if txn is not None:
            self._fire(txn, Input.RECV_REQUEST, now, None, request, 0)
            return None
        txn = ServerTransaction(key, method, request, dest, reliable)
        self._servers[key] = txn
        return txn

    def receive_ack(self, key: ServerKey, now: float) -> bool:
        """Offer an ACK (``key`` computed with method INVITE). True: absorbed by an INVITE
        server transaction (the ACK for its non-2xx final). False: the ACK is the TU's (it
        acknowledges a 2xx; the dialog layer takes it and calls :meth:`ack_2xx`)."""
        txn = self._servers.get(key)
        if txn is None or txn.kind is not Kind.INVITE_SERVER:
            return False
        entry = self._fire(txn, Input.RECV_ACK, now, None, None, 0)
        return Action.PASS_ACK not in entry.actions

    def send_response(
        self, txn: ServerTransaction[M, D], status: int, data: bytes, now: float
    ) -> None:
        """Queue ``data`` to ``txn.dest`` and drive the machine (a response after the final
        one, or after the end, is discarded: §17.2.2)."""
        self._fire(txn, send_input(status), now, data, None, status)
        if status >= 200:
            txn.request = None

    def ack_2xx(self, txn: ServerTransaction[M, D], now: float) -> None:
        """The TU received the ACK for this INVITE's 2xx: stop retransmitting it."""
        self._fire(txn, Input.ACK_2XX, now, None, None, 0)

    def find_server(self, key: ServerKey) -> ServerTransaction[M, D] | None:
        """The live server transaction with ``key`` (e.g. the INVITE a CANCEL names)."""
        return self._servers.get(key)

    # ------------------------------------------------------------------ client side (UAC)

    def send_request(
        self,
        key: ClientKey,
        method: str,
        data: bytes,
        dest: D,
        reliable: bool,
        now: float,
        make_ack: Callable[[M], bytes] | None = None,
    ) -> ClientTransaction[M, D]:
        """Start a client transaction: ``data`` is queued and its timers armed. An INVITE
        needs ``make_ack``, which builds the ACK for a non-2xx final response (§17.1.1.3)."""
        if key in self._clients:
            raise ValueError(f"client transaction {key!r} already exists (branch reused)")
        if method == "INVITE" and make_ack is None:
            raise ValueError("an INVITE client transaction needs make_ack")
        if method == "ACK":
            raise ValueError("an ACK is not sent through a transaction")
        txn = ClientTransaction(key, method, data, dest, reliable, make_ack=make_ack)
        self._clients[key] = txn
        # The entry actions only send and arm timers: the input argument is not consulted.
        self._run(txn, ENTRY[txn.kind], Input.TRANSPORT_ERROR, now, None, None, 0)
        return txn

    def receive_response(
        self, key: ClientKey, status: int, response: M, now: float
    ) -> ClientTransaction[M, D] | None:
        """Feed a response. None: no transaction matches (the caller drops it, or passes a
        2xx to the dialog layer). Otherwise the matched transaction; whatever the TU must
        see comes out as a :class:`ResponseReceived` event."""
        txn = self._clients.get(key)
        if txn is None:
            return None
        self._fire(txn, response_input(status), now, None, response, status)
        return txn

    def find_client(self, key: ClientKey) -> ClientTransaction[M, D] | None:
        return self._clients.get(key)

    # ------------------------------------------------------------------ both sides

    def transport_error(
        self, txn: ClientTransaction[M, D] | ServerTransaction[M, D], now: float
    ) -> None:
        """Sending for ``txn`` failed: TransportFailed, then the transaction ends."""
        self._fire(txn, Input.TRANSPORT_ERROR, now, None, None, 0)

    def next_deadline(self) -> float | None:
        """When :meth:`handle_timer` must next run, or None if no timer is armed."""
        return self._timers.next_deadline()

    def handle_timer(self, now: float) -> None:
        """Fire every timer due at ``now``, in deadline order (ties: the earlier armed)."""
        pop_due = self._timers.pop_due
        while (due := pop_due(now)) is not None:
            txn, seq, event = due
            if txn._retx_seq == seq:
                txn._retx_seq, txn._retx_timer = 0, None
            else:
                txn._timeout_seq, txn._timeout_timer = 0, None
            self._fire(txn, event, now, None, None, 0)

    def take_outgoing(self) -> list[tuple[D, bytes]]:
        """Drain the ``(destination, bytes)`` pairs to send, in order."""
        out, self._out = self._out, []
        return out

    def take_events(self) -> list[TransactionEvent[M, D]]:
        """Drain the events for the TU, in order."""
        events, self._events = self._events, []
        return events

    def __len__(self) -> int:
        return len(self._servers) + len(self._clients)

    def __bool__(self) -> bool:
        # A service, not a container: an idle layer must not be falsy (``layer or default``).
        return True

    # ------------------------------------------------------------------ the machine

    def _fire(
        self,
        txn: _Transaction[M, D],
        event: Input,
        now: float,
        data: bytes | None,
        msg: M | None,
        status: int,
    ) -> Transition:
        entry = txn._rows[txn.state][event]
        if entry is None:
            raise IllegalTransition(txn.kind, txn.state, event)
        self._run(txn, entry, event, now, data, msg, status)
        return entry

    def _run(
        self,
        txn: _Transaction[M, D],
        entry: Transition,
        event: Input,
        now: float,
        data: bytes | None,
        msg: M | None,
        status: int,
    ) -> None:
        was = txn.state
        handlers = self._handlers
        for action in entry.actions:
            handlers[action](txn, event, now, data, msg, status)
        txn.state = state = entry.next_state
        if state is _TERMINATED:
            self._immediate = None
            if was is not _TERMINATED:
                self._terminate(txn)
        elif self._immediate is not None:
            # A zero-length timer (D, I, J, K over a reliable transport) fires right away.
            timer, self._immediate = self._immediate, None
            self._fire(txn, timer, now, None, None, 0)

    def _terminate(self, txn: _Transaction[M, D]) -> None:
        self._stop_timers(txn)
        table: dict[Hashable, Any] = self._clients if txn.kind in _CLIENTS else self._servers
        if table.get(txn.key) is txn:
            del table[txn.key]
        self._events.append(TransactionTerminated(txn))  # type: ignore[arg-type]

    # ------------------------------------------------------------------ timers

    def _arm_retransmit(
        self, txn: _Transaction[M, D], event: Input, interval: float, now: float
    ) -> None:
        if txn._retx_seq:
            self._timers.cancel(txn._retx_seq)
        txn._retx_interval = interval
        txn._retx_timer = event
        txn._retx_seq = self._timers.arm(txn, event, interval, now)

    def _stop_retransmit(self, txn: _Transaction[M, D]) -> None:
        if txn._retx_seq:
            self._timers.cancel(txn._retx_seq)
            txn._retx_seq, txn._retx_timer = 0, None

    def _stop_timers(self, txn: _Transaction[M, D]) -> None:
        self._stop_retransmit(txn)
        if txn._timeout_seq:
            self._timers.cancel(txn._timeout_seq)
            txn._timeout_seq, txn._timeout_timer = 0, None

    # ------------------------------------------------------------------ actions

    def _build_handlers(self) -> list[_Handler]:
        handlers: dict[Action, _Handler] = {
            Action.SEND_REQUEST: self._send_request,
            Action.SEND_ACK: self._send_ack,
            Action.SEND_RESPONSE: self._send_response,
            Action.RESEND_RESPONSE: self._resend_response,
            Action.PASS_RESPONSE: self._pass_response,
            Action.PASS_RESPONSE_AGAIN: self._pass_response_again,
            Action.PASS_ACK: _nothing,
            Action.MARK_ACKED: _mark_acked,
            Action.REPORT_TIMEOUT: self._report_timeout,
            Action.REPORT_ACK_TIMEOUT: self._report_ack_timeout,
            Action.REPORT_TRANSPORT_ERROR: self._report_transport_error,
            Action.STOP_TIMERS: lambda txn, *_: self._stop_timers(txn),
            Action.STOP_RETRANSMIT: lambda txn, *_: self._stop_retransmit(txn),
            Action.DOUBLE: lambda txn, ev, now, *_: self._arm_retransmit(
                txn, ev, 2 * txn._retx_interval, now
            ),
            Action.DOUBLE_CAPPED: lambda txn, ev, now, *_: self._arm_retransmit(
                txn, ev, min(2 * txn._retx_interval, self.t2), now
            ),
            Action.INTERVAL_T2: lambda txn, ev, now, *_: self._arm_retransmit(
                txn, ev, self.t2, now
            ),
        }
        for action, timer in RETRANSMIT_TIMERS.items():
            handlers[action] = self._start_retransmit_handler(timer)
        for action, timer in TIMEOUT_TIMERS.items():
            handlers[action] = self._start_timeout_handler(timer, *self._timeouts[action])
        return [handlers[a] for a in Action]

    def _start_retransmit_handler(self, timer: Input) -> _Handler:
        def start(txn: _Transaction[M, D], _ev: Input, now: float, *_: object) -> None:
            if not txn.reliable:  # a reliable transport retransmits for us (§17.1.1.2)
                self._arm_retransmit(txn, timer, self.t1, now)

        return start

    def _start_timeout_handler(self, timer: Input, unreliable: float, reliable: float) -> _Handler:
        def start(txn: _Transaction[M, D], _ev: Input, now: float, *_: object) -> None:
            if txn._timeout_seq:
                self._timers.cancel(txn._timeout_seq)
            duration = reliable if txn.reliable else unreliable
            if duration <= 0.0:
                txn._timeout_seq, txn._timeout_timer = 0, None
                self._immediate = timer
                return
            txn._timeout_timer = timer
            txn._timeout_seq = self._timers.arm(txn, timer, duration, now)

        return start

    def _send_request(self, txn: ClientTransaction[M, D], *_: object) -> None:
        self._out.append((txn.dest, txn.data))

    def _send_ack(self, txn: ClientTransaction[M, D], _e: Input, _n: float,
                  _d: object, msg: M, _s: int) -> None:  # fmt: skip
        ack = txn.ack
        if ack is None:
            assert txn.make_ack is not None  # send_request insists for INVITE
            ack = txn.ack = txn.make_ack(msg)
        self._out.append((txn.dest, ack))

    def _send_response(self, txn: ServerTransaction[M, D], _e: Input, _n: float,
                       data: bytes | None, _m: M, st: int) -> None:  # fmt: skip
        assert data is not None  # send_response always supplies it
        txn.last_response = data
        txn.status = st
        self._out.append((txn.dest, data))

    def _resend_response(self, txn: ServerTransaction[M, D], *_: object) -> None:
        if txn.last_response is not None:
            self._out.append((txn.dest, txn.last_response))

    def _pass_response(self, txn: ClientTransaction[M, D], _e: Input, _n: float,
                       _d: object, msg: M, st: int) -> None:  # fmt: skip
        txn.status = st
        if st >= 200:
            txn.make_ack = None  # SEND_ACK ran first if it was needed; the builder may hold a call
        self._events.append(ResponseReceived(txn, msg, st, False))

    def _pass_response_again(self, txn: ClientTransaction[M, D], _e: Input, _n: float,
                             _d: object, msg: M, st: int) -> None:  # fmt: skip
        self._events.append(ResponseReceived(txn, msg, st, True))

    def _report_timeout(self, txn: Any, event: Input, *_: object) -> None:
        self._events.append(TransactionTimedOut(txn, _LETTER[event]))

    def _report_ack_timeout(self, txn: ServerTransaction[M, D], *_: object) -> None:
        if not txn.acked:
            self._events.append(AckTimedOut(txn))

    def _report_transport_error(self, txn: Any, *_: object) -> None:
        self._events.append(TransportFailed(txn))


def _nothing(*_: object) -> None:
    return None


def _mark_acked(txn: ServerTransaction[Any, Any], *_: object) -> None:
    txn.acked = True
