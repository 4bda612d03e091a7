"""The load process of bench_media.py: the phones of N relayed calls, G.711 both ways.

    .venv/bin/python bench/rtpload.py --server-port P --server-pid PID --calls N --out r.json

It registers 1002, places N calls 1001 -> 1002 through the switch (INVITE, 407, INVITE with
digest, 200, ACK; the callee answers 200 at once), then sends 20 ms PCMU packets (12-byte RTP
header + 160 bytes) both ways on every call for --warmup + --seconds, paced on an absolute
schedule (tick k of a stream at start + k * 20 ms + its slot, slots spread over the 20 ms at
random, seeded), and writes what came back during --seconds as JSON.

Built to take as little of the machine as it can, since it shares two cores with the switch
(measured: sending and receiving a packet costs this process ~4 us, most of it the kernel's
loopback delivery, where a sendto/recvfrom loop in Python costs ~5 us; the switch spends
~14 us relaying one):

- the phones share two sockets per side (--sockets): the switch relays by its own sockets
  (one port pair per leg, each latching its phone's source address), so it does the same work
  whether the far ends are 2N sockets or 4; here one sendmmsg sends a slot's packets of a
  socket and one recvmmsg reads up to 1024 packets, with numpy writing and reading the fields
  (bench_media.Sender / Receiver); fewer sockets, bigger batches: 3.9 us per packet sent and
  received with 2 per side, 4.7 us with 8;
- every packet carries its send time (CLOCK_REALTIME, taken just before its sendmmsg) and
  its stream and tick; arrival times are the kernel's (SO_TIMESTAMPNS), so a late read by this
  process adds nothing to the measured transit.

Added jitter: per stream, transit - the stream's least transit; p99 over all packets of all
streams. Packets in one sendmmsg share a send stamp, so a packet late in a batch looks slower;
its place in the batch is the same every tick, so that constant cancels in the per-stream
difference. Loss counts packets that arrived within 0.5 s after the last send. Packets of the
warm-up count for neither: all streams start in the same 20 ms, and the switch latches each
socket's source on its first packet, a start-up burst no real traffic has.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import re
import resource
import secrets
import selectors
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from math import ceil
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_media import LOAD_PORTS, Receiver, Sender, Stream, check_platform, udp_socket
from common import CLOCK_TICKS, HOST, PortPicker, cpu_seconds

PTIME = 0.020
TAIL = 0.5  # seconds to keep reading after the last send
CALLER, CALLEE = ("1001", "bench1001"), ("1002", "bench1002")  # bench_calls.EXTENSIONS
# --- SIP: just enough of a phone, independent of the switch's own code ----------------------

_COMPACT = {"v": "via", "f": "from", "t": "to", "i": "call-id", "m": "contact"}
_CHALLENGE = re.compile(r'([A-Za-z0-9-]+)\s*=\s*(?:"([^"]*)"|([^\s,]+))')


@dataclass(slots=True)
class Sip:
    first: str
    headers: dict[str, list[str]]
    body: bytes

    @property
    def status(self) -> int:
        return int(self.first.split(" ", 2)[1]) if self.first.startswith("SIP/2.0") else 0

    def get(self, name: str) -> str:
        return self.headers.get(name, [""])[0]

    def all(self, name: str) -> list[str]:
        return self.headers.get(name, [])


def parse(data: bytes) -> Sip:
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("utf-8", "replace").split("\r\n")
    headers: dict[str, list[str]] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        headers.setdefault(_COMPACT.get(name, name), []).append(value.strip())
    return Sip(lines[0], headers, body)


def build(first: str, headers: list[tuple[str, str]], body: bytes = b"") -> bytes:
    lines = [first, *(f"{name}: {value}" for name, value in headers)]
    if body:
        lines.append("Content-Type: application/sdp")
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def digest(challenge: str, method: str, uri: str, user: str, password: str) -> str:
    """Authorization value for an MD5 qop=auth challenge (RFC 2617 §3.2.2)."""
    params = {m[0].lower(): m[1] or m[2] for m in _CHALLENGE.findall(challenge.partition(" ")[2])}
    realm, nonce, cnonce = params["realm"], params["nonce"], secrets.token_hex(8)

    def md5(text: str) -> str:
        return hashlib.md5(text.encode()).hexdigest()

    ha1, ha2 = md5(f"{user}:{realm}:{password}"), md5(f"{method}:{uri}")
    response = md5(f"{ha1}:{nonce}:00000001:{cnonce}:auth:{ha2}")
    return (
        f'Digest username="{user}", realm="{realm}", nonce="{nonce}", uri="{uri}", '
        f'response="{response}", algorithm=MD5, cnonce="{cnonce}", qop=auth, nc=00000001'
    )


def md5_challenge(response: Sip, header: str) -> str:
    for value in response.all(header):
        if "algorithm=sha" not in value.lower():
            return value
    raise RuntimeError(f"no MD5 challenge in {response.first}")


def sdp(port: int, call: int) -> bytes:
    """One PCMU stream; the media title names the call, so the callee can pair its leg."""
    lines = [
        "v=0", f"o=bench {call} 1 IN IP4 {HOST}", "s=-", f"c=IN IP4 {HOST}", "t=0 0",
        f"m=audio {port} RTP/AVP 0", f"i=bench call {call}", "a=rtpmap:0 PCMU/8000",
        "a=ptime:20", "a=sendrecv",
    ]  # fmt: skip
    return ("\r\n".join(lines) + "\r\n").encode()


def sdp_audio(body: bytes) -> tuple[int, int | None]:
    """(audio port, call number from the media title or None)."""
    port, call = 0, None
    for line in body.decode("utf-8", "replace").splitlines():
        if line.startswith("m=audio "):
            port = int(line.split()[1])
        elif line.startswith("i=bench call "):
            call = int(line.rsplit(" ", 1)[1])
    return port, call


def branch() -> str:
    return "z9hG4bK" + secrets.token_hex(8)


@dataclass(slots=True)
class Call:
    index: int
    call_id: str
    via: str  # of the first INVITE: its ACK after the 407 reuses the branch
    a_port: int = 0  # the switch's port for leg A (from the 200 it sent the caller)
    b_port: int = 0  # the switch's port for leg B (from the INVITE the callee got)
    ack: bytes = b""  # ACK of the 200, sent again if the 200 is
    status: int = 0  # final status of the authenticated INVITE


@dataclass(slots=True)
class Setup:
    calls: list[Call]
    seconds: float
    retransmissions: int  # 200s and INVITEs the switch sent again: we were slow
    failures: dict[int, int] = field(default_factory=dict)  # status -> count

    @property
    def up(self) -> list[Call]:
        return [c for c in self.calls if c.status == 200 and c.a_port and c.b_port]


class CallSetup:
    """The caller (1001) and callee (1002) phones, each one SIP socket, non-blocking."""

    def __init__(self, server: tuple[str, int], caller: socket.socket, callee: socket.socket):
        self.server = server
        self.caller, self.callee = caller, callee
        self.caller_port, self.callee_port = caller.getsockname()[1], callee.getsockname()[1]
        self.a_ports: list[int] = []
        self.b_ports: list[int] = []  # our RTP ports the SDPs name, by call index % count
        self.calls: dict[str, Call] = {}
        self.by_index: list[Call] = []
        self.answered: dict[str, bytes] = {}  # callee's 200 per Call-ID, for retransmissions
        self.retransmissions = 0
        self.done = 0  # calls with a final status

    def register(self, timeout: float = 5.0) -> None:
        user, password = CALLEE
        uri, call_id, tag = f"sip:{HOST}", f"reg-{secrets.token_hex(6)}", secrets.token_hex(4)
        auth: list[tuple[str, str]] = []
        for cseq in (1, 2):
            headers = [
                ("Via", f"SIP/2.0/UDP {HOST}:{self.callee_port};branch={branch()};rport"),
                ("Max-Forwards", "70"),
                ("From", f"<sip:{user}@{HOST}>;tag={tag}"),
                ("To", f"<sip:{user}@{HOST}>"),
                ("Call-ID", call_id),
                ("CSeq", f"{cseq} REGISTER"),
                ("Contact", f"<sip:{user}@{HOST}:{self.callee_port}>"),
                ("Expires", "3600"),
                *auth,
            ]
            self.callee.sendto(build(f"REGISTER {uri} SIP/2.0", headers), self.server)
            reply = self._await_response(self.callee, call_id, timeout)
            if reply.status == 200:
                return
            if reply.status != 401 or auth:
                raise RuntimeError(f"REGISTER failed: {reply.first}")
            challenge = md5_challenge(reply, "www-authenticate")
            auth = [("Authorization", digest(challenge, "REGISTER", uri, user, password))]

    def _await_response(self, sock: socket.socket, call_id: str, timeout: float) -> Sip:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            sock.settimeout(left)
            try:
                message = parse(sock.recv(65535))
            except TimeoutError:
                break
            if message.status >= 200 and message.get("call-id") == call_id:
                return message
        raise RuntimeError("no response from the switch")

    def run(self, count: int, rate: float, window: int, timeout: float) -> Setup:
        """Place ``count`` calls at ``rate`` per second, at most ``window`` unanswered."""
        self.caller.setblocking(False)
        self.callee.setblocking(False)
        selector = selectors.DefaultSelector()
        selector.register(self.caller, selectors.EVENT_READ, self._on_caller)
        selector.register(self.callee, selectors.EVENT_READ, self._on_callee)
        start = time.monotonic()
        deadline = start + count / rate + timeout
        started = 0
        while self.done < count and time.monotonic() < deadline:
            now = time.monotonic()
            while (
                started < count and started - self.done < window and now >= start + started / rate
            ):
                self._invite(started)
                started += 1
            for key, _ in selector.select(0.002):
                self._drain(key.fileobj, key.data)  # type: ignore[arg-type]
        selector.close()
        failures: dict[int, int] = {}
        for call in self.by_index:
            if call.status != 200:
                failures[call.status] = failures.get(call.status, 0) + 1
        failures[0] = failures.get(0, 0) + count - started  # never placed
        failures = {status: n for status, n in failures.items() if n}
        return Setup(self.by_index, time.monotonic() - start, self.retransmissions, failures)

    @staticmethod
    def _drain(sock: socket.socket, handle: object) -> None:
        for _ in range(256):  # bounded: the select loop comes back for the rest
            try:
                data = sock.recv(65535)
            except BlockingIOError:
                return
            handle(parse(data))  # type: ignore[operator]

    def _invite(self, index: int, auth: str = "") -> None:
        if auth:
            call = self.by_index[index]
            call.via = f"SIP/2.0/UDP {HOST}:{self.caller_port};branch={branch()};rport"
        else:
            via = f"SIP/2.0/UDP {HOST}:{self.caller_port};branch={branch()};rport"
            call = Call(index, f"bench-{index}-{secrets.token_hex(6)}", via)
            self.calls[call.call_id] = call
            self.by_index.append(call)
        user = CALLER[0]
        headers = [
            ("Via", call.via),
            ("Max-Forwards", "70"),
            ("From", f"<sip:{user}@{HOST}>;tag=t{index}"),
            ("To", f"<sip:{CALLEE[0]}@{HOST}>"),
            ("Call-ID", call.call_id),
            ("CSeq", f"{2 if auth else 1} INVITE"),
            ("Contact", f"<sip:{user}@{HOST}:{self.caller_port}>"),
            *([("Proxy-Authorization", auth)] if auth else []),
        ]
        body = sdp(self.a_ports[index % len(self.a_ports)], index)
        self.caller.sendto(
            build(f"INVITE sip:{CALLEE[0]}@{HOST} SIP/2.0", headers, body), self.server
        )

    def _on_caller(self, message: Sip) -> None:
        call = self.calls.get(message.get("call-id"))
        status = message.status
        if call is None or status < 200:
            return
        cseq = message.get("cseq").split()
        ack_headers = [("Max-Forwards", "70"), ("From", message.get("from"))]
        ack_headers += [("To", message.get("to")), ("Call-ID", call.call_id)]
        ack_headers.append(("CSeq", f"{cseq[0]} ACK"))
        if status >= 300:  # the ACK of a failure reuses the INVITE's branch (RFC 3261 17.1.1.3)
            ack = build(f"ACK sip:{CALLEE[0]}@{HOST} SIP/2.0", [("Via", call.via), *ack_headers])
            self.caller.sendto(ack, self.server)
            if status == 407 and cseq[0] == "1":
                challenge = md5_challenge(message, "proxy-authenticate")
                uri = f"sip:{CALLEE[0]}@{HOST}"
                self._invite(call.index, digest(challenge, "INVITE", uri, *CALLER))
            else:
                self._finish(call, status)
            return
        if call.ack:  # the switch sent its 200 again: our ACK was late or lost
            self.retransmissions += 1
            self.caller.sendto(call.ack, self.server)
            return
        target = message.get("contact").split(">")[0].lstrip("<")
        via = ("Via", f"SIP/2.0/UDP {HOST}:{self.caller_port};branch={branch()};rport")
        routes = [("Route", r) for r in reversed(message.all("record-route"))]
        call.ack = build(f"ACK {target} SIP/2.0", [via, *routes, *ack_headers])
        self.caller.sendto(call.ack, self.server)
        call.a_port = sdp_audio(message.body)[0]
        self._finish(call, status)

    def _finish(self, call: Call, status: int) -> None:
        if not call.status:
            call.status = status
            self.done += 1

    def _on_callee(self, message: Sip) -> None:
        method = message.first.split(" ", 1)[0]
        call_id = message.get("call-id")
        if message.status or method == "ACK":
            return
        if method == "INVITE" and call_id in self.answered:
            self.retransmissions += 1
            self.callee.sendto(self.answered[call_id], self.server)
            return
        body = b""
        if method == "INVITE":
            port, index = sdp_audio(message.body)
            if index is None or index >= len(self.by_index):
                return  # not one of ours: let it time out
            self.by_index[index].b_port = port
            body = sdp(self.b_ports[index % len(self.b_ports)], index)
        headers = [("Via", via) for via in message.all("via")]
        headers += [("From", message.get("from")), ("Call-ID", call_id)]
        to = message.get("to")
        headers += [("To", to if ";tag=" in to else f"{to};tag=b{secrets.token_hex(4)}")]
        headers += [("CSeq", message.get("cseq"))]
        headers += [("Contact", f"<sip:{CALLEE[0]}@{HOST}:{self.callee_port}>")]
        reply = build("SIP/2.0 200 OK", headers, body)
        if method == "INVITE":
            self.answered[call_id] = reply
        self.callee.sendto(reply, self.server)


def run_media(
    sender: Sender,
    receiver: Receiver,
    ticks: int,
    slots: int,
    warmup: int,
    mark: Callable[[], None],
) -> np.ndarray:
    """Send every slot on its absolute schedule, reading in between; ``mark`` is called as
    tick ``warmup`` (the first one measured) is due. The lateness of each measured slot."""
    step = PTIME / slots
    total = ticks * slots
    late = np.zeros(total)
    start = time.monotonic() + 0.05
    at = 0
    while at < total:
        now = time.monotonic()
        while at < total and start + at * step <= now:
            if at == warmup * slots:
                mark()
            late[at] = now - (start + at * step)
            sender.send(at % slots, at // slots)
            at += 1
        receiver.drain()
        wait = start + at * step - time.monotonic()
        if wait > 0:
            time.sleep(wait)
    return late[warmup * slots :]


def summarize(receiver: Receiver, streams: int, ticks: range, sent: int) -> dict[str, object]:
    """Loss and added jitter (transit - the stream's least transit) over the packets of
    ``ticks`` (the measured ones)."""
    receiver.flush()
    chunks = receiver.chunks or [(np.zeros(0, np.uint32),) * 2 + (np.zeros(0),)]
    stream = np.concatenate([c[0] for c in chunks]).astype(np.int64)
    tick = np.concatenate([c[1] for c in chunks]).astype(np.int64)
    transit = np.concatenate([c[2] for c in chunks])
    valid = (stream < streams) & (tick < ticks.stop)
    foreign = int(valid.size - valid.sum()) + receiver.bad
    measured = valid & (tick >= ticks.start)
    stream, tick, transit = stream[measured], tick[measured], transit[measured]
    received = int(np.unique(stream * ticks.stop + tick).size)
    per_stream = np.bincount(stream, minlength=streams)
    least = np.full(streams, np.inf)
    np.minimum.at(least, stream, transit)
    added = (transit - least[stream]) * 1000
    by_direction = np.bincount(stream & 1, minlength=2)
    return {
        "sent": sent,
        "received": received,
        "duplicates": int(stream.size) - received,
        "foreign": foreign,
        "loss": 1 - received / sent if sent else 1.0,
        "loss_ab": 1 - by_direction[0] / (sent / 2) if sent else 1.0,
        "loss_ba": 1 - by_direction[1] / (sent / 2) if sent else 1.0,
        "silent_streams": int((per_stream == 0).sum()),
        "added_ms": {q: _percentile(added, p) for q, p in _QUANTILES.items()},
        "transit_min_ms": float(np.min(least) * 1000) if transit.size else 0.0,
        "p99_by_second": _by_second(added, (tick - ticks.start) // round(1 / PTIME), len(ticks)),
    }


def _percentile(values: np.ndarray, q: float) -> float:
    return round(float(np.percentile(values, q)), 3) if values.size else 0.0


def _by_second(added: np.ndarray, second: np.ndarray, ticks: int) -> list[float]:
    """p99 added jitter in each second: steady, or spikes (a pause, another process)?"""
    out = []
    for s in range(ceil(ticks * PTIME)):
        out.append(_percentile(added[second == s], 99))
    return out


_QUANTILES = {"p50": 50.0, "p99": 99.0, "p999": 99.9, "max": 100.0}


@dataclass(frozen=True, slots=True)
class Meter:
    """CPU used so far by the switch, by this process and by the whole machine.

    The machine's busy time is all CPUs' time minus their idle time: /proc/stat's user and
    system columns are sampled at the timer tick, which a load woken every millisecond can
    alias with, while idle time is measured (NO_HZ); processes' times are exact.
    """

    wall: float
    switch: float
    own: float
    own_system: float  # of which in the kernel: sending is mostly loopback delivery
    idle: float  # idle + iowait seconds, all CPUs

    @classmethod
    def now(cls, switch_pid: int) -> Meter:
        with open("/proc/stat") as stat:
            idle = sum(int(v) for v in stat.readline().split()[4:6]) / CLOCK_TICKS
        own = resource.getrusage(resource.RUSAGE_SELF)
        switch = cpu_seconds(switch_pid)
        own_cpu = own.ru_utime + own.ru_stime
        return cls(time.monotonic(), switch, own_cpu, own.ru_stime, idle)

    def since(self, start: Meter) -> dict[str, float]:
        wall = self.wall - start.wall
        busy = (os.cpu_count() or 1) - (self.idle - start.idle) / wall
        switch = (self.switch - start.switch) / wall
        load = (self.own - start.own) / wall
        return {
            "switch_cpu": switch,
            "load_cpu": load,
            "load_system_cpu": (self.own_system - start.own_system) / wall,
            "machine_cores": busy,
            # softirq work in ksoftirqd, other processes, this bench's parent
            "other_cores": max(0.0, busy - switch - load),
        }


def udp_drops(ports: dict[str, set[int]]) -> dict[str, int]:
    """Datagrams the kernel dropped at full receive buffers, per group of local ports."""
    drops = dict.fromkeys(ports, 0)
    with open("/proc/net/udp") as table:
        for line in table.readlines()[1:]:
            fields = line.split()
            port = int(fields[1].rsplit(":", 1)[1], 16)
            for name, group in ports.items():
                if port in group:
                    drops[name] += int(fields[-1])
    return drops


def measure(
    args: argparse.Namespace, calls: list[Call], a: list[int], b: list[int]
) -> dict[str, Any]:
    """Both streams of every call for --seconds; a and b: our RTP sockets per side (fds)."""
    rng = random.Random(args.seed)
    streams = []
    for call in calls:
        i = call.index
        for number, fd, port in (
            (2 * i, a[i % len(a)], call.a_port),
            (2 * i + 1, b[i % len(b)], call.b_port),
        ):
            streams.append(Stream(number, fd, port, rng.randrange(args.slots), rng.getrandbits(32)))
    sender = Sender(streams, args.slots)
    receiver = Receiver(a + b)
    warmup, ticks = round(args.warmup / PTIME), round(args.seconds / PTIME)
    first, last = (int(p) for p in args.switch_rtp.split("-"))
    groups = {"switch": set(range(first, last + 1)), "load": set(args.rtp_ports)}
    marks: list[Meter] = []

    def mark() -> None:  # cheap: reading /proc/net/udp here would stall the sending
        marks.append(Meter.now(args.server_pid))

    time.sleep(0.5)  # the last ACKs land before the media starts
    drops = udp_drops(groups)
    late = run_media(sender, receiver, warmup + ticks, args.slots, warmup, mark)
    cpu = Meter.now(args.server_pid).since(marks[0])
    end = time.monotonic() + TAIL
    while time.monotonic() < end:
        receiver.drain()
        time.sleep(0.002)
    after = udp_drops(groups)
    sent = ticks * len(streams) - sender.unsent
    return {
        "ticks": ticks,
        "streams": len(streams),
        "unsent": sender.unsent,
        "late_ms": {"p99": float(np.percentile(late, 99)) * 1000, "max": float(late.max()) * 1000},
        "drops": {name: after[name] - drops[name] for name in groups},
        **cpu,
        **summarize(receiver, 2 * args.calls, range(warmup, warmup + ticks), sent),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--server-port", type=int, required=True)
    parser.add_argument("--server-pid", type=int, required=True)
    parser.add_argument("--switch-rtp", required=True, help="the switch's rtp_ports, FIRST-LAST")
    parser.add_argument("--calls", type=int, required=True)
    parser.add_argument("--seconds", type=float, default=30.0, help="media measured")
    parser.add_argument("--warmup", type=float, default=2.0, help="media before, not measured")
    parser.add_argument("--setup-rate", type=float, default=200.0, help="calls/s")
    parser.add_argument("--window", type=int, default=100, help="most calls being set up")
    parser.add_argument("--sockets", type=int, default=2, help="RTP sockets per side")
    parser.add_argument("--slots", type=int, default=20, help="send times per 20 ms")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--cpu", type=int, help="run on this CPU only")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    check_platform()
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    picker = PortPicker(LOAD_PORTS)
    caller, callee = udp_socket(picker.take()), udp_socket(picker.take())
    rtp = [udp_socket(picker.take(), receive=True) for _ in range(2 * args.sockets)]
    args.rtp_ports = [s.getsockname()[1] for s in rtp]
    phones = CallSetup((HOST, args.server_port), caller, callee)
    phones.a_ports, phones.b_ports = args.rtp_ports[: args.sockets], args.rtp_ports[args.sockets :]
    phones.register()
    setup = phones.run(args.calls, args.setup_rate, args.window, timeout=30)
    result: dict[str, Any] = {
        "calls": args.calls,
        "up": len(setup.up),
        "setup_seconds": setup.seconds,
        "setup_failures": {str(status): n for status, n in setup.failures.items()},
        "sip_retransmissions": setup.retransmissions,
    }
    if len(setup.up) == args.calls:
        fds = [s.fileno() for s in rtp]
        result |= measure(args, setup.up, fds[: args.sockets], fds[args.sockets :])
    args.out.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
