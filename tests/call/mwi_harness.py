"""A real SipEndpoint on 127.0.0.1 in virtual time, and phones that are plain UDP sockets.

The endpoint, its transaction layer and its UDP socket are the production ones; only time is
virtual (a ``VirtualClock``), so a test moves it and fires the layer's timers itself, and the
retransmission schedule can be checked exactly. The loop timer the endpoint arms reads the
same virtual clock, so when it fires it finds nothing the test has not already fired.

Checking that nothing was sent needs no waiting: ``Phone.receive_all`` has the endpoint send
a marker datagram to the phone from its own socket. Datagrams from one socket to another
over loopback arrive in the order they were sent, so whatever the endpoint sent before the
marker has arrived when the marker has.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import itertools
import socket
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from softswitch.clock import VirtualClock
from softswitch.errors import SipError
from softswitch.sip import mwi_notify
from softswitch.sip.endpoint import ClientTxn, ServerTxn, SipEndpoint
from softswitch.sip.guard import Guard
from softswitch.sip.location import Aor, Binding, LocationService
from softswitch.sip.message import SipMessage, SipRequest, SipResponse, parse_message
from softswitch.sip.mwi_notify import Counts, MwiNotifier
from softswitch.sip.mwi_subscriptions import MwiSubscriptions
from softswitch.sip.transaction import TransactionLayer
from softswitch.sip.transport import Flow

HOST = "127.0.0.1"
DOMAIN = "pbx.test"
MARK = b"MARK"
_BRANCHES = itertools.count(1)
RECEIVE_TIMEOUT = 5.0  # a bound on waiting for a datagram that must come, never asserted

Subscribe = Callable[[ServerTxn, SipRequest, Flow, float], None]


def run_async(test: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Run an async test on a fresh event loop (pytest sees the original signature)."""

    @functools.wraps(test)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        asyncio.run(test(*args, **kwargs))

    return wrapper


@dataclass
class Tu:
    """The transaction user: SUBSCRIBE goes to ``subscribe`` if set; the rest is refused."""

    subscribe: Subscribe | None = None
    stray: list[SipResponse] = field(default_factory=list)

    def on_request(self, txn: ServerTxn, request: SipRequest, flow: Flow, now: float) -> None:
        if request.method == "SUBSCRIBE" and self.subscribe is not None:
            self.subscribe(txn, request, flow, now)
            return
        raise SipError(405, "Method Not Allowed")

    def on_ack(self, request: SipRequest, flow: Flow, now: float) -> None:
        pass

    def on_cancel(self, invite: ServerTxn, now: float) -> None:
        pass

    def on_stray_response(self, response: SipResponse, flow: Flow, now: float) -> None:
        self.stray.append(response)


class Phone:
    """A plain UDP socket playing a phone: receives what the endpoint sends, answers it."""

    def __init__(self, harness: Harness, user: str = "1001") -> None:
        self.harness = harness
        self.user = user
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((HOST, 0))
        self.sock.setblocking(False)
        self.address: tuple[str, int] = self.sock.getsockname()[:2]

    @property
    def contact(self) -> str:
        return f"sip:{self.user}@{self.address[0]}:{self.address[1]}"

    @property
    def flow(self) -> Flow:
        return Flow("udp", *self.address)

    async def receive(self) -> bytes:
        loop = asyncio.get_running_loop()
        data, _ = await asyncio.wait_for(loop.sock_recvfrom(self.sock, 65535), RECEIVE_TIMEOUT)
        return data

    async def receive_message(self) -> SipMessage:
        return parse_message(await self.receive())

    async def receive_all(self) -> list[bytes]:
        """Everything the endpoint has sent to this phone so far (see the module doc)."""
        self.harness.endpoint.send_stateless(MARK, self.flow)
        out: list[bytes] = []
        while (data := await self.receive()) != MARK:
            out.append(data)
        return out

    def send(self, data: bytes) -> None:
        self.sock.sendto(data, self.harness.address)

    def subscribe(
        self,
        *,
        expires: int | None = 600,
        to_tag: str | None = None,
        call_id: str | None = None,
        cseq: int = 1,
        headers: tuple[tuple[str, str], ...] = (("event", "message-summary"),),
    ) -> SipRequest:
        """Send a SUBSCRIBE for this phone's mailbox (a refresh when ``to_tag`` is given)."""
        port = self.address[1]
        to = f"<sip:{self.user}@{DOMAIN}>" + (f";tag={to_tag}" if to_tag else "")
        lines: list[tuple[str, str]] = [
            ("via", f"SIP/2.0/UDP {HOST}:{port};branch=z9hG4bKphone{port}x{next(_BRANCHES)};rport"),
            ("max-forwards", "70"),
            ("from", f"<sip:{self.user}@{DOMAIN}>;tag=sub{port}"),
            ("to", to),
            ("call-id", call_id or f"sub{port}@{HOST}"),
            ("cseq", f"{cseq} SUBSCRIBE"),
            ("contact", f"<{self.contact}>"),
            *headers,
        ]
        if expires is not None:
            lines.append(("expires", str(expires)))
        request = SipRequest("SUBSCRIBE", f"sip:{self.user}@{DOMAIN}", lines)
        self.send(request.to_bytes())
        return request

    async def response_and_notify(self) -> tuple[SipResponse, SipRequest]:
        """The answer to a SUBSCRIBE and the NOTIFY that must follow it, in either order."""
        first, second = await self.receive_message(), await self.receive_message()
        if isinstance(first, SipRequest):
            first, second = second, first
        assert isinstance(first, SipResponse) and isinstance(second, SipRequest)
        assert second.method == "NOTIFY"
        return first, second

    async def response(self) -> SipResponse:
        message = await self.receive_message()
        assert isinstance(message, SipResponse), message
        return message

    def reply(self, request: SipRequest, status: int, reason: str = "Whatever") -> None:
        """A response built from the request's own lines (Via, From, To + tag, Call-ID,
        CSeq), written out by hand so no server code shapes it."""
        lines = [f"SIP/2.0 {status} {reason}"]
        for name, value in request.headers:
            tagged = f"{value};tag=phone{self.address[1]}"
            if name == "to" and ";tag=" not in value:
                lines.append(f"To: {tagged}")
            elif name in ("via", "from", "to", "call-id", "cseq"):
                lines.append(f"{name.title()}: {value}")
        lines += ["Content-Length: 0", "", ""]
        self.send("\r\n".join(lines).encode())

    def close(self) -> None:
        self.sock.close()


class Harness:
    def __init__(self, endpoint: SipEndpoint, clock: VirtualClock, tu: Tu) -> None:
        self.endpoint = endpoint
        self.clock = clock
        self.tu = tu
        self.location = LocationService(None)
        self.address: tuple[str, int] = ("", 0)
        self.phones: list[Phone] = []
        self.start = clock.monotonic()

    def phone(self, user: str = "1001") -> Phone:
        phone = Phone(self, user)
        self.phones.append(phone)
        return phone

    def bind(self, phone: Phone, contact: str | None = None) -> Binding:
        """Register ``phone`` for its user; its packets come from its socket."""
        binding = Binding(
            Aor(phone.user),
            contact or phone.contact,
            "udp",
            phone.address[0],
            phone.address[1],
            self.clock.wall() + 3600,
            f"reg-{phone.address[1]}",
            1,
            None,
            "test phone",
            None,
        )
        self.location.update(binding)
        return binding

    def fire_timers(self, offset: float) -> None:
        """Move virtual time to ``start + offset`` and run what is due, as the app would."""
        now = self.start + offset
        self.clock.set(now)
        self.endpoint.layer.handle_timer(now)
        self.endpoint.flush()

    def notifier(self, counts: Callable[[str], Counts] | None = None) -> MwiNotifier:
        return MwiNotifier(self.endpoint, self.location, DOMAIN, self.clock.wall, counts)

    def with_subscriptions(self) -> tuple[MwiNotifier, MwiSubscriptions]:
        """A notifier with subscriptions, wired as the switch would: every SUBSCRIBE that
        reaches the endpoint is taken as authenticated for mailbox 1001."""
        notifier = self.notifier()
        subs = MwiSubscriptions(self.endpoint, DOMAIN, counts=notifier.counts_for)
        notifier.subscriptions = subs

        def subscribe(txn: ServerTxn, request: SipRequest, flow: Flow, now: float) -> None:
            subs.handle_subscribe(txn, request, flow, "1001", now)

        self.tu.subscribe = subscribe
        return notifier, subs

    async def subscribed(self, phone: Phone) -> tuple[SipResponse, SipRequest]:
        """Subscribe ``phone`` (600 s) and answer the first NOTIFY (and see that handled)."""
        phone.subscribe()
        ok, notify = await phone.response_and_notify()
        phone.reply(notify, 200, "OK")
        await self.settle(lambda: self.answered(notify, 200))
        return ok, notify

    def client_txn(self, notify: SipRequest) -> ClientTxn | None:
        return self.endpoint.layer.find_client((notify.via.branch, "NOTIFY"))

    def answered(self, notify: SipRequest, status: int) -> bool:
        """The endpoint has handled the phone's ``status`` answer to ``notify``."""
        txn = self.client_txn(notify)
        return txn is None or txn.status == status

    async def settle(self, done: Callable[[], bool]) -> None:
        """Let the loop run until ``done()`` (a datagram the phone sent was handled)."""
        for _ in range(1000):
            if done():
                return
            await asyncio.sleep(0.005)
        raise AssertionError("the endpoint never handled what the phone sent")


@asynccontextmanager
async def harness() -> AsyncIterator[Harness]:
    clock = VirtualClock()
    endpoint = SipEndpoint(
        clock=clock,
        guard=Guard(),
        layer=TransactionLayer[SipMessage, Flow](),
        max_size=65535,
    )
    tu = Tu()
    endpoint.tu = tu
    h = Harness(endpoint, clock, tu)
    h.address = await endpoint.listen("udp", HOST, 0)
    try:
        yield h
    finally:
        for phone in h.phones:
            phone.close()
        await endpoint.close()


def live_notify_owners() -> int:
    """NOTIFY transaction owners alive anywhere (the notifier itself keeps none)."""
    gc.collect()
    return sum(isinstance(o, mwi_notify._Notify) for o in gc.get_objects())


def notify_of(data: bytes) -> SipRequest:
    message = parse_message(data)
    assert isinstance(message, SipRequest), data
    assert message.method == "NOTIFY", data
    return message
