"""Two transaction layers talking over a seeded lossy, jittery network, in virtual time.

Whatever the network drops or delays, retransmissions must get every transaction to the
same end on both sides: the server's TU sees each request exactly once, the client's TU sees
exactly one final response (or a timeout when loss wins), non-2xx finals are ACKed, and both
layers are empty once the timers have run out. Deterministic: the seed fixes every loss.
"""

from __future__ import annotations

import heapq
import random
from dataclasses import dataclass, field

import pytest

from softswitch.sip.transaction import (
    ResponseReceived,
    TransactionLayer,
    TransactionTimedOut,
)


@dataclass(frozen=True)
class Wire:
    """What travels: a request, a response or an ACK for transaction ``tid``."""

    kind: str  # "req" | "rsp" | "ack"
    tid: int
    method: str
    status: int = 0

    def encode(self) -> bytes:
        return f"{self.kind} {self.tid} {self.method} {self.status}".encode()

    @staticmethod
    def decode(data: bytes) -> Wire:
        kind, tid, method, status = data.decode().split()
        return Wire(kind, int(tid), method, int(status))


@dataclass
class Network:
    rng: random.Random
    loss: float
    in_flight: list[tuple[float, int, str, bytes]] = field(default_factory=list)
    seq: int = 0
    sent: int = 0
    dropped: int = 0

    def send(self, now: float, to: str, data: bytes) -> None:
        self.sent += 1
        if self.rng.random() < self.loss:
            self.dropped += 1
            return
        self.seq += 1
        delay = self.rng.uniform(0.005, 0.3)  # jitter: reordering happens too
        heapq.heappush(self.in_flight, (now + delay, self.seq, to, data))


def simulate(seed: int, loss: float, count: int) -> dict[str, object]:
    rng = random.Random(seed)
    net = Network(rng, loss)
    client: TransactionLayer[Wire, str] = TransactionLayer()
    server: TransactionLayer[Wire, str] = TransactionLayer()
    now = 0.0
    server_seen: dict[int, int] = {}
    finals: dict[int, list[int]] = {}
    timeouts: set[int] = set()
    methods = {tid: ("INVITE" if tid % 2 else "OPTIONS") for tid in range(count)}

    def make_ack(response: Wire) -> bytes:
        return Wire("ack", response.tid, "ACK").encode()

    def pump() -> None:
        for dest, data in client.take_outgoing():
            net.send(now, dest, data)
        for dest, data in server.take_outgoing():
            net.send(now, dest, data)
        for event in client.take_events():
            if isinstance(event, ResponseReceived) and event.status >= 200:
                finals.setdefault(event.response.tid, []).append(event.status)
            elif isinstance(event, TransactionTimedOut):
                timeouts.add(int(str(event.txn.key[0])))
        server.take_events()

    for tid, method in methods.items():
        data = Wire("req", tid, method).encode()
        ack = make_ack if method == "INVITE" else None
        client.send_request((tid, method), method, data, "server", False, now, make_ack=ack)
        now += 0.01
        pump()

    for _ in range(1_000_000):  # bounded: the simulation ends long before
        deadlines = [d for d in (client.next_deadline(), server.next_deadline()) if d is not None]
        if net.in_flight:
            deadlines.append(net.in_flight[0][0])
        if not deadlines:
            break
        now = max(now, min(deadlines))
        while net.in_flight and net.in_flight[0][0] <= now:
            _, _, to, data = heapq.heappop(net.in_flight)
            msg = Wire.decode(data)
            if to == "client":
                client.receive_response((msg.tid, msg.method), msg.status, msg, now)
            elif msg.kind == "ack":
                server.receive_ack((msg.tid, "INVITE"), now)
            else:
                txn = server.receive_request(
                    (msg.tid, msg.method), msg.method, msg, "client", False, now
                )
                if txn is not None:  # new: the server's TU answers it
                    server_seen[msg.tid] = server_seen.get(msg.tid, 0) + 1
                    if msg.method == "INVITE":
                        ringing = Wire("rsp", msg.tid, msg.method, 180).encode()
                        server.send_response(txn, 180, ringing, now)
                        busy = Wire("rsp", msg.tid, msg.method, 486).encode()
                        server.send_response(txn, 486, busy, now)
                    else:
                        ok = Wire("rsp", msg.tid, msg.method, 200).encode()
                        server.send_response(txn, 200, ok, now)
            pump()
        client.handle_timer(now)
        server.handle_timer(now)
        pump()
    return {
        "server_seen": server_seen,
        "finals": finals,
        "timeouts": timeouts,
        "client_left": len(client),
        "server_left": len(server),
        "net": net,
        "count": count,
    }


@pytest.mark.parametrize(("seed", "loss"), [(1, 0.0), (2, 0.1), (3, 0.3), (4, 0.5)])
def test_transactions_survive_a_lossy_network(seed: int, loss: float) -> None:
    result = simulate(seed, loss, count=200)
    server_seen = result["server_seen"]
    finals = result["finals"]
    timeouts = result["timeouts"]
    assert isinstance(server_seen, dict) and isinstance(finals, dict)
    assert isinstance(timeouts, set)
    # The server's TU saw each request at most once: every retransmission was absorbed.
    assert all(n == 1 for n in server_seen.values())
    # Every transaction ended one way: a single final response, or a timeout.
    for tid in range(200):
        got = finals.get(tid, [])
        assert len(got) <= 1, f"transaction {tid} got {got}"
        assert (len(got) == 1) != (tid in timeouts), f"transaction {tid}: {got}, timeout?"
        if got:
            assert got[0] == (486 if tid % 2 else 200)
    # Loss up to 30 % is covered by retransmissions; even at 50 % most get through.
    delivered = sum(1 for tid in range(200) if tid in finals)
    assert delivered >= (200 if loss <= 0.3 else 150)
    # Nothing lingers once every timer has fired: memory is bounded.
    assert result["client_left"] == 0 and result["server_left"] == 0
    net = result["net"]
    assert isinstance(net, Network)
    if loss:
        assert net.dropped > 0  # the network really did lose packets
