"""The SIP endpoint: bytes in, parsed messages matched to transactions, handed to the TU.

This is the one place where the sans-IO pieces meet the asyncio edge: datagrams come from
``SipTransport``, go through the guard (flood/ban), the parser and the transaction layer;
what the layer wants sent goes back out through the transport, and ONE loop timer is kept
armed at the layer's next deadline. Errors that carry a status become replies here.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Hashable, Iterable
from typing import Protocol

from softswitch.clock import Clock
from softswitch.errors import SipError, SipParseError
from softswitch.sip.dialog import BRANCH_PREFIX, new_branch
from softswitch.sip.guard import Guard, Verdict
from softswitch.sip.headers import parse_via
from softswitch.sip.message import (
    Header,
    MalformedRequest,
    SipMessage,
    SipRequest,
    SipResponse,
    make_response,
    parse_message,
)
from softswitch.sip.transaction import (
    AckTimedOut,
    ClientTransaction,
    ResponseReceived,
    ServerTransaction,
    TransactionEvent,
    TransactionLayer,
    TransactionTimedOut,
    TransportFailed,
)
from softswitch.sip.transport import Flow, SipTransport, local_address_for

log = logging.getLogger("softswitch.sip")

MAGIC_COOKIE = "z9hG4bK"
ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, REGISTER, SUBSCRIBE"
REASONS = {
    100: "Trying",
    180: "Ringing",
    183: "Session Progress",
    200: "OK",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    407: "Proxy Authentication Required",
    408: "Request Timeout",
    401: "Unauthorized",
    415: "Unsupported Media Type",
    416: "Unsupported URI Scheme",
    420: "Bad Extension",
    423: "Interval Too Brief",
    480: "Temporarily Unavailable",
    481: "Call/Transaction Does Not Exist",
    482: "Loop Detected",
    483: "Too Many Hops",
    486: "Busy Here",
    487: "Request Terminated",
    488: "Not Acceptable Here",
    491: "Request Pending",
    500: "Server Internal Error",
    501: "Not Implemented",
    503: "Service Unavailable",
    505: "Version Not Supported",
    513: "Message Too Large",
    600: "Busy Everywhere",
    603: "Decline",
}

# Built once: ``A | B | C`` in an isinstance call builds a new union at every event.
_ENDED_BADLY = (TransactionTimedOut, TransportFailed, AckTimedOut)

# One message type for the layer: servers hold requests, clients receive responses.
ServerTxn = ServerTransaction[SipMessage, Flow]
ClientTxn = ClientTransaction[SipMessage, Flow]
Layer = TransactionLayer[SipMessage, Flow]
Event = TransactionEvent[SipMessage, Flow]


class TransactionUser(Protocol):
    """What the endpoint hands requests to (the switch core)."""

    def on_request(self, txn: ServerTxn, request: SipRequest, flow: Flow, now: float) -> None: ...

    def on_ack(self, request: SipRequest, flow: Flow, now: float) -> None: ...

    def on_cancel(self, invite: ServerTxn, now: float) -> None: ...

    def on_stray_response(self, response: SipResponse, flow: Flow, now: float) -> None: ...


class TxnOwner(Protocol):
    """Whoever started a client transaction (or owns a server one) gets its events."""

    def on_txn_event(self, event: Event, now: float) -> None: ...


def reason_for(status: int) -> str:
    return REASONS.get(status, "Unknown")


def server_key(request: SipRequest) -> Hashable:
    """RFC 3261 §17.2.3 matching, with the RFC 2543 fallback when the cookie is absent."""
    via = request.via
    method = "INVITE" if request.method == "ACK" else request.method
    branch = via.branch
    if branch and branch.startswith(MAGIC_COOKIE) and len(branch) > len(MAGIC_COOKIE):
        return (branch, via.sent_by, method)
    return (
        request.uri,
        request.from_.tag,
        request.call_id,
        request.cseq.number,
        via.sent_by,
        method,
    )


class SipEndpoint:
    def __init__(
        self,
        *,
        clock: Clock,
        guard: Guard,
        layer: Layer,
        max_size: int,
        public_address: str | None = None,
        max_connections: int = 10_000,
    ) -> None:
        self.clock = clock
        self.guard = guard
        self.layer = layer
        self.max_size = max_size
        self.public_address = public_address
        self.tu: TransactionUser | None = None
        self.transport = SipTransport(self.on_message, max_size, max_connections)
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._ports: dict[str, int] = {}
        self._local_host_cache: dict[str, str] = {}
        self._own_sent_by: set[str] = set()  # every host:port we wrote into a Via
        self.on_idle: Callable[[float], None] | None = None  # extra per-pass work (app timers)

    # --- lifecycle ---------------------------------------------------------------------
    async def listen(self, transport: str, host: str, port: int) -> tuple[str, int]:
        if transport == "udp":
            bound = await self.transport.listen_udp(host, port)
        else:
            bound = await self.transport.listen_tcp(host, port)
        self._ports.setdefault(transport, bound[1])
        self._bind_host = host
        return bound

    async def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        await self.transport.close()

    # --- addressing --------------------------------------------------------------------
    def local_host(self, flow: Flow) -> str:
        """The address a peer on ``flow`` reaches us at (Via, Contact, SDP)."""
        if self.public_address:
            return self.public_address
        bind = getattr(self, "_bind_host", "0.0.0.0")
        if bind not in ("0.0.0.0", "::", ""):
            return bind
        cached = self._local_host_cache.get(flow.host)
        if cached is None:
            cached = local_address_for(flow.host)
            if len(self._local_host_cache) < 4096:
                self._local_host_cache[flow.host] = cached
        return cached

    def via(self, flow: Flow, branch: str | None = None) -> str:
        port = self._ports.get(flow.transport, self._ports.get("udp", 5060))
        sent_by = f"{self.local_host(flow)}:{port}"
        if sent_by not in self._own_sent_by and len(self._own_sent_by) < 64:
            self._own_sent_by.add(sent_by)
        return f"SIP/2.0/{flow.transport.upper()} {sent_by};branch={branch or new_branch()};rport"

    def is_looped(self, request: SipRequest) -> bool:
        """True if the request already went through us (one of its Vias is ours)."""
        for value in request.values("via"):
            if BRANCH_PREFIX in value:
                via = parse_via(value)
                if via.sent_by in self._own_sent_by and (via.branch or "").startswith(
                    BRANCH_PREFIX
                ):
                    return True
        return False

    def contact(self, flow: Flow, user: str) -> str:
        port = self._ports.get(flow.transport, self._ports.get("udp", 5060))
        suffix = ";transport=tcp" if flow.transport == "tcp" else ""
        return f"<sip:{user}@{self.local_host(flow)}:{port}{suffix}>"

    # --- input -------------------------------------------------------------------------
    def on_message(self, data: bytes, flow: Flow, stream: bool) -> None:
        now = self.clock.monotonic()
        is_request = not data.startswith(b"SIP/")
        verdict = Verdict.ALLOW
        if is_request:
            verdict = self.guard.check_request(flow.host, now)
            # An ACK creates nothing and stops our retransmissions of the final response
            # (often the 403 that got this address banned), so it is let through.
            if verdict is Verdict.DROP and not data.startswith(b"ACK "):
                return
        try:
            message = parse_message(data, max_size=self.max_size, stream=stream)
        except MalformedRequest as exc:
            log.info("%s malformed request from %s: %s", _cid(exc.request), flow, exc.reason)
            self._reply_stateless(exc.request, exc.status, exc.reason, flow)
            self._flush(now)
            return
        except SipParseError as exc:
            log.info("- dropped message from %s: %s", flow, exc.reason)
            return
        if isinstance(message, SipResponse):
            self._on_response(message, flow, now)
        elif verdict is Verdict.THROTTLE:
            retry = str(self.guard.retry_after(flow.host, now))
            self._reply_stateless(
                message, 503, "Service Unavailable", flow, (("retry-after", retry),)
            )
        else:
            self._on_request(message, flow, now)
        self._flush(now)

    def _on_request(self, request: SipRequest, flow: Flow, now: float) -> None:
        assert self.tu is not None
        key = server_key(request)
        if request.method == "ACK":
            if not self.layer.receive_ack(key, now):
                self.tu.on_ack(request, flow, now)
            return
        txn = self.layer.receive_request(key, request.method, request, flow, flow.reliable, now)
        if txn is None:
            return  # a retransmission, absorbed by its transaction
        try:
            if request.method == "CANCEL":
                self._on_cancel(txn, request, now)
            else:
                self.tu.on_request(txn, request, flow, now)
        except SipError as exc:
            if txn.status < 200:
                self.respond(txn, exc.status, exc.reason, extra=exc.extra_headers)

    def _on_cancel(self, txn: ServerTxn, cancel: SipRequest, now: float) -> None:
        assert self.tu is not None
        via = cancel.via
        invite_key = (via.branch, via.sent_by, "INVITE")
        invite = self.layer.find_server(invite_key) if via.branch else None
        if invite is None:
            self.respond(txn, 481, reason_for(481))
            return
        self.respond(txn, 200, "OK")
        if invite.status < 200:
            self.tu.on_cancel(invite, now)

    def _on_response(self, response: SipResponse, flow: Flow, now: float) -> None:
        assert self.tu is not None
        branch = response.via.branch
        key = (branch, response.cseq.method)
        txn = self.layer.receive_response(key, response.status, response, now)
        if txn is None:
            self.tu.on_stray_response(response, flow, now)

    # --- output ------------------------------------------------------------------------
    def respond(
        self,
        txn: ServerTxn,
        status: int,
        reason: str | None = None,
        *,
        to_tag: str | None = None,
        extra: Iterable[Header] = (),
        body: bytes = b"",
    ) -> None:
        flow = txn.dest
        request = txn.request
        if request is None:
            return  # the final response went out already: nothing more may be sent (§17.2.2)
        assert isinstance(request, SipRequest)
        response = make_response(
            request,
            status,
            reason or reason_for(status),
            to_tag=to_tag,
            received=(flow.host, flow.port),
            extra=extra,
            body=body,
        )
        self.layer.send_response(txn, status, response.to_bytes(), self.clock.monotonic())

    def send_response(self, txn: ServerTxn, response: SipResponse) -> None:
        self.layer.send_response(txn, response.status, response.to_bytes(), self.clock.monotonic())

    def send_request(
        self,
        request: SipRequest,
        flow: Flow,
        owner: TxnOwner,
        make_ack: Callable[[SipMessage], bytes] | None = None,
    ) -> ClientTxn:
        """Start a client transaction; the request's top Via must carry a fresh branch."""
        key = (request.via.branch, request.method)
        txn = self.layer.send_request(
            key,
            request.method,
            request.to_bytes(),
            flow,
            flow.reliable,
            self.clock.monotonic(),
            make_ack=make_ack,
        )
        txn.tu = owner
        return txn

    def send_stateless(self, data: bytes, flow: Flow) -> None:
        """ACK for a 2xx, and other messages outside any transaction."""
        self.transport.send(flow, data)

    def _reply_stateless(
        self,
        request: SipRequest,
        status: int,
        reason: str,
        flow: Flow,
        extra: tuple[Header, ...] = (),
    ) -> None:
        if request.method == "ACK":
            return  # never answer an ACK
        response = make_response(
            request, status, reason, to_tag=None, received=(flow.host, flow.port), extra=extra
        )
        self.transport.send(flow, response.to_bytes())

    def _flush(self, now: float) -> None:
        for flow, data in self.layer.take_outgoing():
            self.transport.send(flow, data)
        events = self.layer.take_events()
        for event in events:
            self._dispatch(event, now)
        if events:
            for flow, data in self.layer.take_outgoing():
                self.transport.send(flow, data)
        self._arm()

    def flush(self) -> None:
        """Send what the layer queued outside ``on_message`` (timers, app actions)."""
        self._flush(self.clock.monotonic())

    def _dispatch(self, event: Event, now: float) -> None:
        owner = getattr(event.txn, "tu", None)
        if owner is not None and hasattr(owner, "on_txn_event"):
            owner.on_txn_event(event, now)
        elif isinstance(event, _ENDED_BADLY):
            log.debug("- transaction %s ended: %s", event.txn.key, type(event).__name__)
        elif isinstance(event, ResponseReceived):
            pass

    # --- the one timer -----------------------------------------------------------------
    def _arm(self) -> None:
        deadline = self.layer.next_deadline()
        if deadline is None:
            return
        if self._timer_at is not None and self._timer_at <= deadline:
            return  # an earlier (or equal) wake-up is already set
        if self._timer is not None:
            self._timer.cancel()
        loop = asyncio.get_running_loop()
        delay = max(0.0, deadline - self.clock.monotonic())
        self._timer_at = deadline
        self._timer = loop.call_later(delay, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = None
        now = self.clock.monotonic()
        self.layer.handle_timer(now)
        self._flush(now)


def _cid(request: SipRequest) -> str:
    value = request.get("call-id")
    return value if value else "-"
