"""The CPU cost of one B2BUA call, or one registration, through the real SIP stack without sockets.

Calls: complete calls with the scripted caller and callee of tests/call/scripted.py (the
real endpoint, transactions, switch and B2BUA; only the socket and RTP relay are replaced).
Registrations (``--register``): SIPp's register_users.xml flow, REGISTER, 401, REGISTER with
MD5 digest, 200, cycling through --users extensions; only the server's ``on_message`` is
timed (and profiled), the scripted phone's own work is left out.

    .venv/bin/python bench/bench_callpath.py [--calls N] [--profile] [--sort cumtime]
    .venv/bin/python bench/bench_callpath.py --register [--calls N] [--profile]

Prints microseconds of Python (CPU time of this thread, with the server's collector settings,
the scripted peers' parsing of the switch's messages left out) per call (the figure the
1,000 calls/s target divides into: 1,000 µs per call is one core at 1,000 calls/s, before
the kernel's share of socket I/O), or per registration (200 µs per registration is one core
at 5,000/s).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import hashlib
import pstats
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "call"))

import scripted
from scripted import CaptureTransport, build, one_call

from softswitch.app import GC_THRESHOLDS
from softswitch.call.switch import Switch
from softswitch.clock import VirtualClock
from softswitch.sip.endpoint import SipEndpoint
from softswitch.sip.registration import Account
from softswitch.sip.transport import Flow

PHONE = Flow("udp", "127.0.0.1", 25010)
REALM = "pbx"  # scripted.build's DigestAuthenticator realm
RATE = 5000.0  # registrations/s of virtual time: sets how many transactions are alive


class _PeerParsing:
    """Thread CPU time the scripted peers spend parsing what the switch sent them (their
    ``take``), so it can be taken out of the per-call figure."""

    def __init__(self) -> None:
        self.spent = 0.0
        self._parse = scripted.parse_message

    def __call__(self, data: bytes) -> Any:
        t0 = time.thread_time()
        try:
            return self._parse(data)
        finally:
            self.spent += time.thread_time() - t0


async def run(calls: int, profile: bool, sort: str = "tottime") -> None:
    endpoint, capture, clock, pending = build()
    peers = _PeerParsing()
    scripted.parse_message = peers  # type: ignore[assignment]
    for n in range(200):  # warm-up
        await one_call(endpoint, capture, pending, -n - 1)
    t0, peers.spent = time.thread_time(), 0.0
    profiler = cProfile.Profile() if profile else None
    if profiler:
        profiler.enable()
    for n in range(calls):
        await one_call(endpoint, capture, pending, n)
        clock.advance(0.001)
    if profiler:
        profiler.disable()
    elapsed = time.thread_time() - t0
    print(
        f"{calls} calls: {(elapsed - peers.spent) / calls * 1e6:.0f} µs per call in the switch "
        f"(+ {peers.spent / calls * 1e6:.0f} µs of the scripted peers' parsing, left out)"
    )
    if profiler:
        pstats.Stats(profiler).sort_stats(sort).print_stats(40)


class Phones:
    """SIPp's side of register_users.xml, as cheap as possible: strings and one MD5 each."""

    def __init__(self, users: int) -> None:
        self.users = [str(20000 + i) for i in range(users)]
        self.ha1 = {u: hashlib.md5(f"{u}:{REALM}:p{u}".encode()).hexdigest() for u in self.users}
        self.uri = "sip:127.0.0.1:5060"

    def register(self, n: int, user: str, cseq: int, auth: str = "") -> bytes:
        return (
            f"REGISTER {self.uri} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:25010;branch=z9hG4bK-{n}-{cseq}\r\n"
            f"From: <sip:{user}@127.0.0.1>;tag=1SIPpTag02{n}\r\n"
            f"To: <sip:{user}@127.0.0.1>\r\n"
            f"Call-ID: {n}-reg@127.0.0.1\r\n"
            f"CSeq: {cseq} REGISTER\r\n"
            f"Contact: <sip:{user}@127.0.0.1:25010>\r\n"
            f"{auth}Max-Forwards: 70\r\nExpires: 3600\r\nContent-Length: 0\r\n\r\n"
        ).encode()

    def authorization(self, user: str, challenge: bytes) -> str:
        nonce = challenge.split(b'nonce="', 1)[1].split(b'"', 1)[0].decode()
        ha2 = hashlib.md5(f"REGISTER:{self.uri}".encode()).hexdigest()
        cnonce = "6b8b4567"
        response = hashlib.md5(
            f"{self.ha1[user]}:{nonce}:00000001:{cnonce}:auth:{ha2}".encode()
        ).hexdigest()
        return (
            f'Authorization: Digest username="{user}",realm="{REALM}",cnonce="{cnonce}",'
            f'nc=00000001,qop=auth,uri="{self.uri}",nonce="{nonce}",response="{response}",'
            f"algorithm=MD5\r\n"
        )


def _registrar(users: int) -> tuple[SipEndpoint, CaptureTransport, VirtualClock, Phones]:
    endpoint, capture, clock, _ = build()
    phones = Phones(users)
    accounts = {u: Account(u, f"p{u}") for u in phones.users}
    switch = endpoint.tu
    assert isinstance(switch, Switch)
    switch.registration.accounts = accounts.get
    return endpoint, capture, clock, phones


async def run_register(count: int, users: int, profile: bool, sort: str = "tottime") -> None:
    endpoint, capture, clock, phones = _registrar(users)
    profiler = cProfile.Profile() if profile else None
    spent = 0.0
    step = 1.0 / RATE
    warmup = min(count, int(40 * RATE))  # 40 s of virtual time: timer J's 32 s in steady state
    for n in range(-warmup, count):
        user = phones.users[n % users]
        first, timed = phones.register(n, user, 1), n >= 0
        spent += _deliver(endpoint, first, profiler if timed else None)
        challenge = capture.sent.pop()[1]
        assert challenge.startswith(b"SIP/2.0 401"), challenge[:40]
        second = phones.register(n, user, 2, phones.authorization(user, challenge))
        spent += _deliver(endpoint, second, profiler if timed else None)
        ok = capture.sent.pop()[1]
        assert ok.startswith(b"SIP/2.0 200"), ok[:200]
        now = clock.advance(step)
        if n % 64 == 0:  # what the endpoint's one loop timer does, about every 13 ms
            t0 = time.thread_time()
            endpoint.layer.handle_timer(now)
            endpoint._flush(now)
            spent += time.thread_time() - t0 if timed else 0.0
        if n == -1:
            spent = 0.0
    print(f"{count} registrations: {spent / count * 1e6:.0f} µs per registration (server only)")
    if profiler:
        pstats.Stats(profiler).sort_stats(sort).print_stats(40)


def _deliver(endpoint: SipEndpoint, data: bytes, profiler: cProfile.Profile | None) -> float:
    t0 = time.thread_time()
    if profiler:
        profiler.enable()
    endpoint.on_message(data, PHONE, False)
    if profiler:
        profiler.disable()
    return time.thread_time() - t0


def _collector_as_the_server() -> None:
    """The server's collector settings (app.py): young passes only, start-up objects frozen."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=3000, help="calls, or registrations")
    parser.add_argument("--register", action="store_true", help="registrations, not calls")
    parser.add_argument("--users", type=int, default=1000, help="--register: extensions")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--sort", default="tottime", help="pstats order: tottime, cumtime")
    args = parser.parse_args()
    _collector_as_the_server()
    if args.register:
        asyncio.run(run_register(args.calls, args.users, args.profile, args.sort))
    else:
        asyncio.run(run(args.calls, args.profile, args.sort))


if __name__ == "__main__":
    main()
