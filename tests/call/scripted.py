"""A scripted caller and callee driving complete calls through the real switch, in-process.

The endpoint, transaction layer, switch and B2BUA are the real ones; only the UDP socket is
replaced by a list that captures what the switch sends, and the RTP relay by port numbers.
Each call is the full flow: INVITE/407/ACK, INVITE/100, INVITE to the callee, 180, 200, ACK
both sides, BYE both sides. Used by tests and by bench/bench_callpath.py.
"""

from __future__ import annotations

import hashlib
from typing import Any

from softswitch.call.b2bua import B2bua
from softswitch.call.switch import Switch, User
from softswitch.clock import VirtualClock
from softswitch.sip.auth import DigestAuthenticator
from softswitch.sip.endpoint import SipEndpoint
from softswitch.sip.guard import Guard
from softswitch.sip.location import Binding, LocationService
from softswitch.sip.message import SipMessage, SipRequest, SipResponse, parse_message
from softswitch.sip.registrar import Aor, Registrar
from softswitch.sip.registration import RegistrationService
from softswitch.sip.transaction import TransactionLayer
from softswitch.sip.transport import Flow

CALLER = Flow("udp", "127.0.0.1", 25001)
CALLEE = Flow("udp", "127.0.0.1", 25002)
SDP = (
    b"v=0\r\no=a 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    b"m=audio 30000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
)


class CaptureTransport:
    def __init__(self) -> None:
        self.sent: list[tuple[Flow, bytes]] = []

    def send(self, flow: Flow, data: bytes) -> bool:
        self.sent.append((flow, data))
        return True


class FakeMedia:
    a_port = 40000
    b_port = 40002

    def port(self, side: str) -> int:
        return self.a_port if side == "a" else self.b_port

    def set_remote(self, side: str, sdp: Any) -> None:
        pass

    def set_codecs(self, a: tuple[int, str], b: tuple[int, str]) -> None:
        self.codecs = {"a": a, "b": b}

    def close(self) -> None:
        pass


def build() -> tuple[SipEndpoint, CaptureTransport, VirtualClock, list[Any]]:
    clock = VirtualClock()
    guard = Guard(request_rate=1e9, request_burst=10**9)
    auth = DigestAuthenticator("pbx", b"secret", algorithms=("MD5",))
    endpoint = SipEndpoint(
        clock=clock, guard=guard, layer=TransactionLayer[SipMessage, Flow](), max_size=65535
    )
    capture = CaptureTransport()
    endpoint.transport = capture  # type: ignore[assignment]
    endpoint._ports = {"udp": 5060}
    endpoint._bind_host = "127.0.0.1"
    pending: list[Any] = []

    async def media() -> FakeMedia:
        return FakeMedia()

    def spawn(coro: Any) -> None:
        pending.append(coro)

    location = LocationService(None)
    location.update(
        Binding(
            Aor("1002"),
            "sip:1002@127.0.0.1:25002",
            "udp",
            CALLEE.host,
            CALLEE.port,
            clock.wall() + 1e9,
            "reg",
            1,
            None,
            "",
            None,
        )
    )
    users = {"1001": User("1001", "Ana", "pw1", 30.0), "1002": User("1002", "Bruno", "pw2", 30.0)}
    b2bua = B2bua(
        endpoint=endpoint,
        media_factory=media,  # type: ignore[arg-type]
        spawn=spawn,
        domain="pbx",
    )
    registration = RegistrationService(
        auth=auth,
        registrar=Registrar(location, 60, 3600, 600),
        guard=guard,
        accounts=lambda u: None,
        wall=clock.wall,
    )
    endpoint.tu = Switch(
        endpoint=endpoint,
        b2bua=b2bua,
        registration=registration,
        auth=auth,
        guard=guard,
        location=location,
        user_by_name=users.get,
        user_by_number=users.get,
        wall=clock.wall,
    )
    return endpoint, capture, clock, pending


def digest(challenge: str, uri: str) -> str:
    nonce = challenge.split('nonce="', 1)[1].split('"', 1)[0]
    ha1 = hashlib.md5(b"1001:pbx:pw1").hexdigest()
    ha2 = hashlib.md5(f"INVITE:{uri}".encode()).hexdigest()
    resp = hashlib.md5(f"{ha1}:{nonce}:00000001:abc:auth:{ha2}".encode()).hexdigest()
    return (
        f'Digest username="1001", realm="pbx", nonce="{nonce}", uri="{uri}", '
        f'response="{resp}", algorithm=MD5, qop=auth, nc=00000001, cnonce="abc"'
    )


async def one_call(
    endpoint: SipEndpoint, capture: CaptureTransport, pending: list[Any], n: int
) -> None:
    uri = "sip:1002@127.0.0.1:5060"
    cid = f"call{n}@bench"
    base = (
        f"Via: SIP/2.0/UDP 127.0.0.1:25001;branch=z9hG4bK{n}x{{b}};rport\r\n"
        f"From: <sip:1001@pbx>;tag=f{n}\r\nTo: <{uri}>{{tt}}\r\nCall-ID: {cid}\r\n"
        f"Max-Forwards: 70\r\nContact: <sip:1001@127.0.0.1:25001>\r\n"
    )

    def send(data: str | bytes, flow: Flow) -> None:
        endpoint.on_message(data.encode() if isinstance(data, str) else data, flow, False)

    def take() -> list[tuple[Flow, SipRequest | SipResponse]]:
        out = [(flow, parse_message(data)) for flow, data in capture.sent]
        capture.sent.clear()
        return out

    send(
        f"INVITE {uri} SIP/2.0\r\n"
        + base.format(b=1, tt="")
        + f"CSeq: 1 INVITE\r\nContent-Type: application/sdp\r\nContent-Length: {len(SDP)}\r\n\r\n"
        + SDP.decode(),
        CALLER,
    )
    ((_, challenge),) = take()
    assert isinstance(challenge, SipResponse) and challenge.status == 407
    totag = f";tag={challenge.to.tag}"
    send(f"ACK {uri} SIP/2.0\r\n" + base.format(b=1, tt=totag) + "CSeq: 1 ACK\r\n\r\n", CALLER)
    auth = digest(challenge.get("proxy-authenticate") or "", uri)
    send(
        f"INVITE {uri} SIP/2.0\r\n"
        + base.format(b=2, tt="")
        + f"CSeq: 2 INVITE\r\nProxy-Authorization: {auth}\r\nContent-Type: application/sdp\r\n"
        f"Content-Length: {len(SDP)}\r\n\r\n" + SDP.decode(),
        CALLER,
    )
    while pending:
        await pending.pop()  # the call's media set-up (no sockets here)
    msgs = take()
    invite_b = next(m for f, m in msgs if isinstance(m, SipRequest))
    assert invite_b.method == "INVITE"

    def reply(req: SipRequest, status: int, reason: str, body: bytes = b"") -> bytes:
        hdrs = "".join(
            f"{'Via' if k == 'via' else k.title()}: {v}\r\n"
            for k, v in req.headers
            if k in ("via", "from", "call-id", "cseq")
        )
        to = req.get("to") or ""
        ct = "Content-Type: application/sdp\r\n" if body else ""
        return (
            f"SIP/2.0 {status} {reason}\r\n{hdrs}To: {to};tag=callee{n}\r\n"
            f"Contact: <sip:1002@127.0.0.1:25002>\r\n{ct}Content-Length: {len(body)}\r\n\r\n"
        ).encode() + body

    send(reply(invite_b, 180, "Ringing"), CALLEE)
    send(reply(invite_b, 200, "OK", SDP), CALLEE)
    msgs = take()
    ok = next(m for f, m in msgs if isinstance(m, SipResponse) and m.status == 200)
    assert isinstance(ok, SipResponse)
    atag = f";tag={ok.to.tag}"
    send(f"ACK {uri} SIP/2.0\r\n" + base.format(b=3, tt=atag) + "CSeq: 2 ACK\r\n\r\n", CALLER)
    send(f"BYE {uri} SIP/2.0\r\n" + base.format(b=4, tt=atag) + "CSeq: 3 BYE\r\n\r\n", CALLER)
    msgs = take()
    bye_b = next(m for f, m in msgs if isinstance(m, SipRequest) and m.method == "BYE")
    assert isinstance(bye_b, SipRequest)
    send(reply(bye_b, 200, "OK"), CALLEE)
    capture.sent.clear()


def run_timers(
    endpoint: SipEndpoint, clock: VirtualClock, seconds: float, step: float = 0.5
) -> None:
    """Let virtual time pass, firing the transaction and call timers as the app would."""
    b2bua = endpoint.tu.b2bua  # type: ignore[union-attr]
    for _ in range(int(seconds / step)):
        now = clock.advance(step)
        endpoint.layer.handle_timer(now)
        b2bua.handle_timer(now)
        endpoint._flush(now)
