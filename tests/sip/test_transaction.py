"""The transaction layer in virtual time: exact retransmission schedules, absorption, ACKs."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from softswitch.clock import VirtualClock
from softswitch.sip.transaction import (
    T1,
    T2,
    T4,
    TIMER_C,
    AckTimedOut,
    ClientTransaction,
    ResponseReceived,
    ServerTransaction,
    TimerQueues,
    TransactionEvent,
    TransactionLayer,
    TransactionTerminated,
    TransactionTimedOut,
    TransportFailed,
)
from softswitch.sip.transaction_fsm import IllegalTransition, Input, State

PEER = "udp:192.0.2.7:5060"
SPAN = 64 * T1  # B, F, H, J (UDP), L, M


@dataclass(frozen=True)
class Msg:
    """Stands in for a parsed message: the layer never looks inside."""

    status: int
    tag: str = ""


class Run:
    """A layer on a virtual clock that records what it sends and reports, with the time
    relative to the start."""

    def __init__(self, layer: TransactionLayer[Msg, str] | None = None) -> None:
        self.clock = VirtualClock()
        self.t0 = self.clock.monotonic()
        self.layer: TransactionLayer[Msg, str] = layer if layer else TransactionLayer()
        self.sent: list[tuple[float, str, bytes]] = []
        self.events: list[tuple[float, TransactionEvent[Msg, str]]] = []

    @property
    def now(self) -> float:
        return self.clock.monotonic()

    def collect(self) -> None:
        t = self.now - self.t0
        self.sent += [(t, dest, data) for dest, data in self.layer.take_outgoing()]
        self.events += [(t, e) for e in self.layer.take_events()]

    def at(self, t: float) -> None:
        """Fire every timer due up to ``t`` (each at its own deadline), then move to ``t``."""
        self.collect()
        while (deadline := self.layer.next_deadline()) is not None and deadline <= self.t0 + t:
            self.clock.set(deadline)
            self.layer.handle_timer(deadline)
            self.collect()
        self.clock.set(self.t0 + t)

    def run_out(self) -> None:
        while (deadline := self.layer.next_deadline()) is not None:
            self.at(deadline - self.t0)

    def times(self, data: bytes) -> list[float]:
        return [t for t, _, d in self.sent if d == data]

    def kinds(self) -> list[tuple[float, str]]:
        return [(t, type(e).__name__) for t, e in self.events]

    # Shorthands for the calls tests make over and over.
    def invite_client(self, reliable: bool = False) -> ClientTransaction[Msg, str]:
        txn = self.layer.send_request(
            ("z9hG4bK1", "INVITE"), "INVITE", b"INVITE", PEER, reliable, self.now, make_ack
        )
        self.collect()
        return txn

    def client(
        self, method: str = "OPTIONS", reliable: bool = False
    ) -> ClientTransaction[Msg, str]:
        txn = self.layer.send_request(("z9hG4bK2", method), method, method.encode(), PEER,
                                      reliable, self.now)  # fmt: skip
        self.collect()
        return txn

    def respond_to_client(
        self, txn: ClientTransaction[Msg, str], status: int, tag: str = ""
    ) -> None:
        assert self.layer.receive_response(txn.key, status, Msg(status, tag), self.now) is txn
        self.collect()

    def server(self, method: str = "INVITE", reliable: bool = False) -> ServerTransaction[Msg, str]:
        txn = self.layer.receive_request(("z9hG4bK3", "pc:5060", method), method, Msg(0), PEER,
                                         reliable, self.now)  # fmt: skip
        assert txn is not None
        return txn

    def respond(self, txn: ServerTransaction[Msg, str], status: int) -> bytes:
        data = f"SIP/2.0 {status}".encode()
        self.layer.send_response(txn, status, data, self.now)
        self.collect()
        return data

    def retransmit(self, txn: ServerTransaction[Msg, str]) -> None:
        assert (
            self.layer.receive_request(txn.key, txn.method, Msg(0), PEER, False, self.now) is None
        )
        self.collect()


def make_ack(response: Msg) -> bytes:
    return f"ACK for {response.status}".encode()


def uniform(first: float, step: float, last: float) -> list[float]:
    """first, first + step, ... up to last: the T2-capped part of a schedule."""
    out = []
    t = first
    while t <= last:
        out.append(t)
        t += step
    return out


# ---------------------------------------------------------------- client transactions


def test_invite_client_udp_retransmits_on_timer_a_until_timer_b() -> None:
    run = Run()
    txn = run.invite_client()
    run.run_out()
    assert run.times(b"INVITE") == [0.0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5]
    assert run.kinds() == [(32.0, "TransactionTimedOut"), (32.0, "TransactionTerminated")]
    assert run.events[0][1] == TransactionTimedOut(txn, "B")
    assert txn.state is State.TERMINATED
    assert len(run.layer) == 0


def test_non_invite_client_udp_schedule_caps_at_t2_until_timer_f() -> None:
    run = Run()
    txn = run.client()
    run.run_out()
    assert run.times(b"OPTIONS") == [0.0, 0.5, 1.5, 3.5, *uniform(7.5, T2, SPAN)]
    assert run.times(b"OPTIONS")[-1] == 31.5
    assert run.events[0] == (32.0, TransactionTimedOut(txn, "F"))
    assert len(run.layer) == 0


def test_non_invite_client_in_proceeding_resends_every_t2() -> None:
    run = Run()
    txn = run.client()
    run.at(1.0)
    run.respond_to_client(txn, 100)
    assert txn.state is State.PROCEEDING
    run.run_out()
    # Timer E was due at 1.5 (interval 1 s); in Proceeding it fires and resets to T2.
    assert run.times(b"OPTIONS") == [0.0, 0.5, *uniform(1.5, T2, SPAN)]
    assert run.kinds() == [
        (1.0, "ResponseReceived"),
        (32.0, "TransactionTimedOut"),
        (32.0, "TransactionTerminated"),
    ]


def test_non_invite_client_final_absorbs_retransmissions_then_timer_k() -> None:
    run = Run()
    txn = run.client()
    run.at(0.75)
    run.respond_to_client(txn, 200)
    run.at(2.0)
    run.respond_to_client(txn, 200)  # retransmitted final: matched, absorbed
    run.run_out()
    assert run.times(b"OPTIONS") == [0.0, 0.5]
    assert run.events[0] == (0.75, ResponseReceived(txn, Msg(200), 200, False))
    assert run.kinds()[1:] == [(0.75 + T4, "TransactionTerminated")]
    assert txn.status == 200


def test_non_invite_client_over_tcp_never_retransmits_and_ends_at_once() -> None:
    run = Run()
    txn = run.client(reliable=True)
    assert txn.armed_timers == {Input.TIMER_F}
    run.at(10.0)
    run.respond_to_client(txn, 404)
    assert run.times(b"OPTIONS") == [0.0]
    assert run.kinds() == [(10.0, "ResponseReceived"), (10.0, "TransactionTerminated")]
    assert len(run.layer) == 0
    assert run.layer.next_deadline() is None


def test_invite_client_non_2xx_final_is_acked_and_ack_resent_on_retransmission() -> None:
    built: list[Msg] = []

    def ack_once(response: Msg) -> bytes:
        built.append(response)
        return make_ack(response)

    run = Run()
    txn = run.layer.send_request(("b", "INVITE"), "INVITE", b"INVITE", PEER, False, run.now,
                                 ack_once)  # fmt: skip
    run.at(0.25)
    run.respond_to_client(txn, 180)
    run.at(5.0)
    run.respond_to_client(txn, 486)
    assert txn.state is State.COMPLETED
    run.at(6.0)
    run.respond_to_client(txn, 486)  # our ACK was lost: the same ACK again, TU not told
    run.run_out()
    assert run.times(b"INVITE") == [0.0]  # a provisional stops Timer A
    assert run.times(b"ACK for 486") == [5.0, 6.0]
    assert built == [Msg(486)]
    assert run.kinds() == [
        (0.25, "ResponseReceived"),
        (5.0, "ResponseReceived"),
        (5.0 + 32.0, "TransactionTerminated"),  # Timer D
    ]


def test_invite_client_2xx_enters_accepted_and_passes_every_2xx() -> None:
    run = Run()
    txn = run.invite_client()
    run.at(1.0)
    run.respond_to_client(txn, 200, "a")
    assert txn.state is State.ACCEPTED
    run.at(1.8)
    run.respond_to_client(txn, 200, "a")  # retransmission: the TU must ACK again
    run.respond_to_client(txn, 200, "b")  # another fork
    run.respond_to_client(txn, 180, "c")  # late provisional: dropped
    run.run_out()
    assert run.times(b"INVITE") == [0.0, 0.5]
    assert not [d for _, _, d in run.sent if d.startswith(b"ACK")]  # ACK for 2xx is the TU's
    assert [e for _, e in run.events][:3] == [
        ResponseReceived(txn, Msg(200, "a"), 200, False),
        ResponseReceived(txn, Msg(200, "a"), 200, True),
        ResponseReceived(txn, Msg(200, "b"), 200, True),
    ]
    assert run.kinds()[3:] == [(1.0 + SPAN, "TransactionTerminated")]  # Timer M


def test_invite_client_over_tcp_no_timer_a_and_zero_timer_d() -> None:
    run = Run()
    txn = run.invite_client(reliable=True)
    assert txn.armed_timers == {Input.TIMER_B}
    run.at(3.0)
    run.respond_to_client(txn, 503)
    assert run.times(b"INVITE") == [0.0]
    assert run.times(b"ACK for 503") == [3.0]
    assert run.kinds() == [(3.0, "ResponseReceived"), (3.0, "TransactionTerminated")]
    assert len(run.layer) == 0


def test_invite_client_timer_b_over_tcp() -> None:
    run = Run()
    run.invite_client(reliable=True)
    run.run_out()
    assert run.times(b"INVITE") == [0.0]
    assert run.kinds()[0] == (SPAN, "TransactionTimedOut")


def test_invite_client_proceeding_timer_c_restarts_on_each_provisional() -> None:
    run = Run()
    txn = run.invite_client(reliable=True)
    run.at(1.0)
    run.respond_to_client(txn, 180)
    # Timer B is cancelled: the next deadline is Timer C, not B's 32 s.
    assert run.layer.next_deadline() == run.t0 + 1.0 + TIMER_C
    run.at(100.0)
    run.respond_to_client(txn, 183)
    run.run_out()
    assert run.events[-2] == (100.0 + TIMER_C, TransactionTimedOut(txn, "C"))


def test_tie_between_retransmission_and_timeout_fires_the_timeout_first() -> None:
    # With T2 == T1, Timer E falls due exactly with Timer F: F was armed first, so it wins
    # and nothing is sent at the instant the transaction times out.
    run = Run(TransactionLayer(t1=0.5, t2=0.5))
    run.client()
    run.run_out()
    assert run.times(b"OPTIONS") == uniform(0.0, 0.5, 31.5)
    assert run.kinds()[0] == (32.0, "TransactionTimedOut")


def test_responses_without_a_transaction_are_not_matched() -> None:
    run = Run()
    assert run.layer.receive_response(("nope", "INVITE"), 200, Msg(200), run.now) is None
    assert run.layer.take_events() == []


# ---------------------------------------------------------------- server transactions


def test_invite_server_non_2xx_retransmits_on_timer_g_until_ack_then_timer_i() -> None:
    run = Run()
    txn = run.server()
    run.at(0.125)
    final = run.respond(txn, 486)
    run.at(5.0)
    run.retransmit(txn)  # the INVITE again: the final response again
    assert run.layer.receive_ack(txn.key, run.now) is True
    assert txn.state is State.CONFIRMED
    run.at(6.0)
    run.retransmit(txn)  # Confirmed absorbs silently
    assert run.layer.receive_ack(txn.key, run.now) is True
    run.run_out()
    assert run.times(final) == [0.125, 0.625, 1.625, 3.625, 5.0]
    assert run.kinds() == [(5.0 + T4, "TransactionTerminated")]  # Timer I


def test_invite_server_timer_h_without_ack() -> None:
    run = Run()
    txn = run.server()
    final = run.respond(txn, 603)
    run.run_out()
    assert run.times(final) == [0.0, 0.5, 1.5, 3.5, *uniform(7.5, T2, SPAN)]
    assert run.events[0] == (SPAN, TransactionTimedOut(txn, "H"))
    assert len(run.layer) == 0


def test_invite_server_2xx_retransmitted_until_the_tu_reports_the_ack() -> None:
    run = Run()
    txn = run.server()
    ok = run.respond(txn, 200)
    assert txn.state is State.ACCEPTED
    run.at(9.0)
    run.retransmit(txn)  # RFC 6026: absorbed, and nothing re-sent for it
    assert run.layer.receive_ack(txn.key, run.now) is False  # an ACK for a 2xx is the TU's
    run.layer.ack_2xx(txn, run.now)
    run.layer.ack_2xx(txn, run.now)  # the ACK retransmitted: harmless
    run.run_out()
    assert run.times(ok) == [0.0, 0.5, 1.5, 3.5, 7.5]
    assert run.kinds() == [(SPAN, "TransactionTerminated")]  # Timer L, no AckTimedOut


def test_invite_server_2xx_without_ack_reports_ack_timeout() -> None:
    run = Run()
    txn = run.server()
    ok = run.respond(txn, 200)
    run.run_out()
    assert run.times(ok) == [0.0, 0.5, 1.5, 3.5, *uniform(7.5, T2, SPAN)]
    assert [e for _, e in run.events] == [AckTimedOut(txn), TransactionTerminated(txn)]
    assert run.events[0][0] == SPAN


def test_invite_server_over_tcp_sends_once_and_has_zero_timer_i() -> None:
    run = Run()
    txn = run.server(reliable=True)
    final = run.respond(txn, 480)
    assert txn.armed_timers == {Input.TIMER_H}
    run.at(2.0)
    assert run.layer.receive_ack(txn.key, run.now) is True
    run.collect()
    assert run.times(final) == [0.0]
    assert run.kinds() == [(2.0, "TransactionTerminated")]


def test_invite_server_2xx_over_tcp_waits_for_the_ack_without_retransmitting() -> None:
    run = Run()
    txn = run.server(reliable=True)
    ok = run.respond(txn, 200)
    run.run_out()
    assert run.times(ok) == [0.0]
    assert run.kinds() == [(SPAN, "AckTimedOut"), (SPAN, "TransactionTerminated")]


def test_invite_server_retransmission_before_any_response_is_absorbed() -> None:
    run = Run()
    txn = run.server()
    run.retransmit(txn)
    assert run.sent == []
    ringing = run.respond(txn, 180)
    run.retransmit(txn)  # answered with the last provisional
    assert run.times(ringing) == [0.0, 0.0]
    assert run.layer.receive_ack(txn.key, run.now) is True  # stray ACK: dropped, not the TU's
    assert txn.state is State.PROCEEDING


def test_non_invite_server_absorbs_and_resends_then_timer_j() -> None:
    run = Run()
    txn = run.server("REGISTER")
    run.retransmit(txn)  # Trying: nothing to resend
    trying = run.respond(txn, 100)
    run.at(1.0)
    run.retransmit(txn)
    ok = run.respond(txn, 200)
    run.at(3.0)
    run.retransmit(txn)
    late = run.respond(txn, 500)  # §17.2.2: discarded in Completed
    run.run_out()
    assert run.times(trying) == [0.0, 1.0]
    assert run.times(ok) == [1.0, 3.0]
    assert run.times(late) == []
    assert run.kinds() == [(1.0 + SPAN, "TransactionTerminated")]


def test_non_invite_server_over_tcp_has_zero_timer_j() -> None:
    run = Run()
    txn = run.server("BYE", reliable=True)
    run.respond(txn, 200)
    assert txn.state is State.TERMINATED
    assert len(run.layer) == 0
    assert run.layer.find_server(txn.key) is None
    run.respond(txn, 200)  # after the end: discarded
    assert len(run.sent) == 1


def test_find_server_finds_the_invite_a_cancel_names() -> None:
    run = Run()
    txn = run.server()
    assert run.layer.find_server(txn.key) is txn
    assert run.layer.find_server(("z9hG4bK3", "pc:5060", "CANCEL")) is None


def test_late_tu_responses_after_a_final_are_discarded() -> None:
    run = Run()
    txn = run.server()
    run.respond(txn, 487)
    assert run.respond(txn, 200) not in [d for _, _, d in run.sent]
    run.respond(txn, 183)
    assert [d for _, _, d in run.sent] == [b"SIP/2.0 487"]
    assert txn.status == 487


# ---------------------------------------------------------------- both sides


@pytest.mark.parametrize("side", ["client", "invite-client", "server", "invite-server"])
def test_transport_error_ends_the_transaction(side: str) -> None:
    run = Run()
    txn: ClientTransaction[Msg, str] | ServerTransaction[Msg, str]
    if side == "client":
        txn = run.client()
    elif side == "invite-client":
        txn = run.invite_client()
    else:
        txn = run.server("INVITE" if side == "invite-server" else "OPTIONS")
        run.respond(txn, 200)
    run.at(1.0)
    before = len(run.sent)
    run.layer.transport_error(txn, run.now)
    run.collect()
    assert [e for _, e in run.events] == [TransportFailed(txn), TransactionTerminated(txn)]
    assert len(run.layer) == 0
    assert run.layer.next_deadline() is None
    run.layer.transport_error(txn, run.now)  # reported twice: nothing more happens
    run.run_out()
    assert len(run.sent) == before
    assert len(run.events) == 2


def test_illegal_tu_input_raises_and_changes_nothing() -> None:
    run = Run()
    txn = run.server()
    with pytest.raises(IllegalTransition) as info:
        run.layer.ack_2xx(txn, run.now)  # no 2xx was sent
    assert info.value.state is State.PROCEEDING
    assert info.value.event is Input.ACK_2XX
    assert txn.state is State.PROCEEDING
    assert run.layer.take_outgoing() == []
    options = run.server("OPTIONS")
    with pytest.raises(IllegalTransition):
        run.layer.ack_2xx(options, run.now)


def test_api_misuse_is_refused() -> None:
    layer: TransactionLayer[Msg, str] = TransactionLayer()
    with pytest.raises(ValueError, match="receive_ack"):
        layer.receive_request(("b", "h", "INVITE"), "ACK", Msg(0), PEER, False, 0.0)
    with pytest.raises(ValueError, match="make_ack"):
        layer.send_request(("b", "INVITE"), "INVITE", b"", PEER, False, 0.0)
    layer.send_request(("b", "BYE"), "BYE", b"", PEER, False, 0.0)
    with pytest.raises(ValueError, match="already exists"):
        layer.send_request(("b", "BYE"), "BYE", b"", PEER, False, 0.0)
    assert len(layer) == 1


def test_the_tu_slot_and_the_request_stay_with_the_transaction() -> None:
    run = Run()
    txn = run.server()
    txn.tu = leg = object()
    assert run.layer.find_server(txn.key) is txn
    assert txn.tu is leg
    assert txn.request == Msg(0)
    assert txn.dest == PEER


def test_cancelled_timers_do_not_pile_up() -> None:
    # Each client gets its final at once: Timer E and F are cancelled, Timer K armed.
    layer: TransactionLayer[Msg, str] = TransactionLayer()
    for n in range(20_000):
        key = (f"b{n}", "OPTIONS")
        layer.send_request(key, "OPTIONS", b"O", PEER, False, float(n) / 1000)
        layer.receive_response(key, 200, Msg(200), float(n) / 1000)
    timers = layer._timers
    assert len(timers) == sum(len(t.armed_timers) for t in layer._clients.values()) == 20_000
    assert timers.backlog <= 2 * len(timers) + 4096  # the 40,000 cancelled E and F are gone
    layer.handle_timer(1e9)
    assert len(layer) == 0
    assert layer.next_deadline() is None
    assert len(timers) == timers.backlog == 0


def test_late_handle_timer_fires_overdue_timers_in_deadline_order() -> None:
    layer: TransactionLayer[Msg, str] = TransactionLayer()
    first = layer.send_request(("a", "OPTIONS"), "OPTIONS", b"A", PEER, True, 0.0)
    second = layer.send_request(("b", "OPTIONS"), "OPTIONS", b"B", PEER, True, 1.0)
    layer.handle_timer(100.0)
    timed_out = [e.txn for e in layer.take_events() if isinstance(e, TransactionTimedOut)]
    assert timed_out == [first, second]


# ---------------------------------------------------------------- the timer store


def drain(timers: TimerQueues[str], now: float) -> list[tuple[str, Input]]:
    out = []
    while (due := timers.pop_due(now)) is not None:
        out.append((due[0], due[2]))
    return out


def test_timer_queues_merge_durations_in_deadline_then_arming_order() -> None:
    timers: TimerQueues[str] = TimerQueues()
    timers.arm("long", Input.TIMER_F, 32.0, 0.0)
    timers.arm("short", Input.TIMER_E, 0.5, 0.0)
    timers.arm("tie-first", Input.TIMER_K, 5.0, 1.0)  # due at 6.0
    timers.arm("mid", Input.TIMER_E, 4.0, 1.0)  # due at 5.0
    timers.arm("tie-second", Input.TIMER_E, 4.0, 2.0)  # due at 6.0, armed later
    assert timers.next_deadline() == 0.5
    assert drain(timers, 5.99) == [("short", Input.TIMER_E), ("mid", Input.TIMER_E)]
    assert drain(timers, 6.0) == [("tie-first", Input.TIMER_K), ("tie-second", Input.TIMER_E)]
    assert timers.next_deadline() == 32.0
    assert drain(timers, 100.0) == [("long", Input.TIMER_F)]
    assert timers.next_deadline() is None


def test_timer_queues_cancel_and_compact_keep_the_order() -> None:
    timers: TimerQueues[str] = TimerQueues()
    seqs = [timers.arm(f"t{n}", Input.TIMER_J, 32.0 if n % 2 else 5.0, n * 0.001)
            for n in range(10_000)]  # fmt: skip
    for seq in seqs[::3]:
        timers.cancel(seq)
    for _ in range(20_000):  # armed and cancelled at once: garbage that forces compactions
        timers.cancel(timers.arm("x", Input.TIMER_E, 0.5, 10.0))
    assert timers.backlog <= 2 * len(timers) + 4096
    kept = [n for n in range(10_000) if n % 3]
    expected = sorted(kept, key=lambda n: (n * 0.001 + (32.0 if n % 2 else 5.0), n))
    assert expected[0] == 2  # t0 was cancelled and t1 is a 32 s one
    assert timers.next_deadline() == 2 * 0.001 + 5.0
    fired = [name for name, _ in drain(timers, 1e9)]
    assert fired == [f"t{n}" for n in expected]
