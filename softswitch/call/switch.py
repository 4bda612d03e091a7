"""The switch core: the transaction user every request reaches first.

It applies the checks every request gets (URI scheme, Require, body type), then routes:
REGISTER to the registrar, OPTIONS answered here, a new INVITE authenticated and handed to
the B2BUA with its target, in-dialog requests to the B2BUA's dialogs. Errors raised as
``SipError`` become replies at the endpoint.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from softswitch.call.b2bua import B2bua
from softswitch.call.calls import Call
from softswitch.call.local import LocalApp, LocalSession, MediaServices, answer_locally
from softswitch.call.offers import offer_of
from softswitch.call.outbound import (
    OutboundDecision,
    TrunkCall,
    place_trunk_call,
    presented_identities,
    ring_with_trunks,
)
from softswitch.errors import SipError, SipParseError
from softswitch.sip.auth import AuthOutcome, DigestAuthenticator
from softswitch.sip.endpoint import ServerTxn, SipEndpoint, reason_for
from softswitch.sip.guard import Guard
from softswitch.sip.headers import unquote
from softswitch.sip.location import LocationService
from softswitch.sip.message import SipRequest, SipResponse
from softswitch.sip.registrar import Aor
from softswitch.sip.registration import RegistrationService, challenge_headers, record_failure
from softswitch.sip.transport import Flow
from softswitch.sip.uri import parse_uri, uri_scheme

log = logging.getLogger("softswitch.call")

KNOWN_METHODS = frozenset(
    {
        "INVITE",
        "ACK",
        "CANCEL",
        "BYE",
        "OPTIONS",
        "INFO",
        "UPDATE",
        "REGISTER",
        "PRACK",
        "SUBSCRIBE",
        "NOTIFY",
        "PUBLISH",
        "MESSAGE",
        "REFER",
    }
)
ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, REGISTER, SUBSCRIBE"
SUPPORTED_OPTIONS = frozenset({"replaces", "outbound", "path", "gruu"})
ACCEPTED_TYPES = frozenset({"application/sdp", "*/*", "application/*"})


@dataclass(frozen=True, slots=True)
class Inbound:
    """What the routing engine decided for a call from a trunk: reject it (``status``), ring
    an extension, or answer it and run ``app``."""

    status: int = 0
    reason: str = ""
    extension: str | None = None
    caller_name: str = ""
    app: LocalApp | None = None
    did: str = ""  # the configured number it matched
    blocked: bool = False  # refused by the block list


InboundRouter = Callable[[str, str, str, str], Inbound]  # trunk, caller, caller name, called
# extension, dialled, identities its phone presented -> what to do
OutboundRouter = Callable[[str, str, tuple[str, ...]], OutboundDecision]
EXTERNAL_RING_TIME = 60.0  # an external: step or group member with no ring time of its own


@dataclass(frozen=True, slots=True)
class User:
    """A caller or callee as the switch sees it."""

    number: str
    name: str
    password: str
    ring_time: float
    record: str = "none"  # none | inbound | outbound | all (an extension's `record`)


class Switch:
    def __init__(
        self,
        *,
        endpoint: SipEndpoint,
        b2bua: B2bua,
        registration: RegistrationService,
        auth: DigestAuthenticator,
        guard: Guard,
        location: LocationService,
        user_by_name: Callable[[str], User | None],
        user_by_number: Callable[[str], User | None],
        wall: Callable[[], float],
        # (dialled number, the calling extension) -> the app that answers it, if any
        local_app: Callable[[str, str], LocalApp | None] = lambda number, caller: None,
        media: MediaServices | None = None,
        trunk_of: Callable[[str], str | None] = lambda host: None,
        route_inbound: InboundRouter | None = None,
        route_outbound: OutboundRouter | None = None,
        trunk_target: Callable[[str], TrunkCall | None] = lambda dialled: None,
        voicemail: Callable[[str, int], LocalApp | None] = lambda extension, status: None,
        on_registered: Callable[[str], None] = lambda extension: None,
        # (Call-ID, caller, caller name, called, the decision): a trunk's call refused at once
        on_refused: Callable[[str, str, str, str, Inbound], None] = lambda *refused: None,
        # (txn, request, flow, the subscriber's extension, now): message-summary subscriptions
        subscribe: Callable[[ServerTxn, SipRequest, Flow, str, float], None] | None = None,
    ) -> None:
        self.subscribe = subscribe
        self.on_refused = on_refused
        self.on_registered = on_registered
        self.voicemail = voicemail  # (extension, why it was not answered) -> its mailbox's app
        b2bua.unanswered = self._unanswered
        self.route_outbound = route_outbound
        self.trunk_target = trunk_target
        self.trunk_of = trunk_of
        self.route_inbound = route_inbound
        self.local_app = local_app
        self.media = media
        self.endpoint = endpoint
        self.b2bua = b2bua
        self.registration = registration
        self.auth = auth
        self.guard = guard
        self.location = location
        self.user_by_name = user_by_name
        self.user_by_number = user_by_number
        self.wall = wall

    # --- TransactionUser ---------------------------------------------------------------
    def on_request(self, txn: ServerTxn, request: SipRequest, flow: Flow, now: float) -> None:
        method = request.method
        if method not in KNOWN_METHODS:
            raise SipError(501, reason_for(501), (("allow", ALLOW),))
        _check_common(request)
        if method == "SUBSCRIBE" and self.subscribe is not None:
            # Its own dialogs (refreshes too), for the subscriber's own mailbox: who is it?
            user = self._authenticate(txn, request, flow, now)
            if user is not None:
                self.subscribe(txn, request, flow, user.number, now)
            return
        if request.to.tag is not None:
            self.b2bua.on_in_dialog(txn, request, flow, now)
        elif method == "REGISTER":
            response = self.registration.handle(request, flow, now)
            self.endpoint.send_response(txn, response)
            if response.status == 200 and response.has("contact"):
                self._registered(request)
        elif method == "OPTIONS":
            self._options(txn)
        elif method == "INVITE":
            self._invite(txn, request, flow, now)
        elif method == "BYE":
            raise SipError(481, reason_for(481))
        else:
            raise SipError(405, "Method Not Allowed", (("allow", ALLOW),))

    def on_ack(self, request: SipRequest, flow: Flow, now: float) -> None:
        self.b2bua.on_ack(request, flow, now)

    def on_cancel(self, invite: ServerTxn, now: float) -> None:
        self.b2bua.on_cancel(invite, now)

    def on_stray_response(self, response: SipResponse, flow: Flow, now: float) -> None:
        self.b2bua.on_stray_response(response, flow, now)

    # --- out-of-dialog requests --------------------------------------------------------
    def _options(self, txn: ServerTxn) -> None:
        self.endpoint.respond(
            txn,
            200,
            to_tag="opt",
            extra=(
                ("allow", ALLOW),
                ("accept", "application/sdp"),
                ("supported", "replaces"),
            ),
        )

    def _invite(self, txn: ServerTxn, request: SipRequest, flow: Flow, now: float) -> None:
        if self.endpoint.is_looped(request):
            log.warning("%s INVITE loop: it carries our own Via", request.call_id)
            raise SipError(482, "Loop Detected")
        try:
            target = parse_uri(request.uri).user_unescaped or ""
        except SipParseError as exc:
            raise SipError(exc.status if exc.status == 416 else 400, exc.reason) from None
        trunk = self.trunk_of(flow.host)
        if trunk is not None and self.route_inbound is not None:
            self._from_trunk(txn, request, flow, trunk, target, now)
            return
        caller = self._authenticate(txn, request, flow, now)
        if caller is None:
            return
        callee = self.user_by_number(target)
        if callee is None:
            app = self.local_app(target, caller.number) if self.media is not None else None
            if app is not None:
                self._answer_locally(txn, request, flow, caller, target, app, now)
                return
            if self.route_outbound is not None and self._call_out(
                txn, request, flow, caller, target, now
            ):
                return
            log.info("%s INVITE from %s to unknown %r: 404", request.call_id, caller.number, target)
            raise SipError(404, "Not Found")
        record = caller.record in ("outbound", "all") or callee.record in ("inbound", "all")
        self._ring(txn, request, flow, caller, callee, now, record)

    def _ring(
        self,
        txn: ServerTxn,
        request: SipRequest,
        flow: Flow,
        caller: User,
        callee: User,
        now: float,
        record: bool,
    ) -> Call:
        """Ring every phone registered for ``callee`` (480 when none is)."""
        bindings = self.location.lookup(Aor(callee.number), self.wall())
        if not bindings:
            log.info(
                "%s INVITE from %s to %s: not registered",
                request.call_id,
                caller.number,
                callee.number,
            )
            app = self.voicemail(callee.number, 480) if self.media is not None else None
            if app is None or offer_of(request) is None:
                raise SipError(480, "Temporarily Unavailable")
            return self._answer_locally(txn, request, flow, caller, callee.number, app, now)
        return self.b2bua.start_call(
            txn,
            request,
            flow,
            (caller.number, caller.name),
            callee.number,
            bindings,
            callee.ring_time,
            now,
            record=record,
        )

    def _from_trunk(
        self, txn: ServerTxn, request: SipRequest, flow: Flow, trunk: str, target: str, now: float
    ) -> None:
        """A call from a provider (identified by its address: no digest): the number it is
        for decides where it goes."""
        assert self.route_inbound is not None
        sender = request.from_
        try:
            number = parse_uri(sender.uri).user_unescaped or ""
        except SipParseError:
            number = ""
        name = unquote(sender.display) if sender.display else ""
        decision = self.route_inbound(trunk, number, name, target)
        call_id = request.call_id
        if decision.status:
            log.info(
                "%s from trunk %s, %s to %s: %d %s",
                call_id,
                trunk,
                number,
                target,
                decision.status,
                decision.reason,
            )
            self.on_refused(call_id, number, name, target, decision)
            raise SipError(decision.status, decision.reason or reason_for(decision.status))
        caller = User(number, decision.caller_name or name, "", 0.0)
        if decision.app is not None:
            call = self._answer_locally(txn, request, flow, caller, target, decision.app, now)
        else:
            callee = self.user_by_number(decision.extension or "")
            if callee is None:
                raise SipError(404, "Not Found")
            record = callee.record in ("inbound", "all")
            call = self._ring(txn, request, flow, caller, callee, now, record)
        call.direction = "inbound"
        call.did = decision.did

    def _call_out(
        self, txn: ServerTxn, request: SipRequest, flow: Flow, caller: User, target: str, now: float
    ) -> bool:
        """An external number: through a trunk, refused (403, said first), or not one
        (False: the caller gets the 404)."""
        assert self.route_outbound is not None
        decision = self.route_outbound(caller.number, target, presented_identities(request))
        if decision.app is not None:
            self._answer_locally(txn, request, flow, caller, target, decision.app, now, early=True)
            return True
        if decision.call is None:
            if decision.status and decision.status != 404:
                raise SipError(decision.status, decision.reason or reason_for(decision.status))
            return False
        identity = (decision.caller_id, caller.name)
        log.info(
            "%s INVITE from %s to %s: out through trunk %s as %s",
            request.call_id,
            caller.number,
            decision.call.label,
            decision.call.trunk.name,
            decision.caller_id,
        )
        self.b2bua.spawn(place_trunk_call(self.b2bua, txn, request, flow, identity, decision))
        return True

    def _answer_locally(
        self,
        txn: ServerTxn,
        request: SipRequest,
        flow: Flow,
        caller: User,
        target: str,
        app: LocalApp,
        now: float,
        early: bool = False,
    ) -> Call:
        offer = offer_of(request)
        if offer is None:
            # A delayed offer would need our offer in the 200 and the answer in the ACK;
            # phones calling a service number all send one, so it is refused clearly.
            raise SipError(
                488, "Not Acceptable Here", (("warning", '399 softswitch "SDP offer required"'),)
            )
        assert self.media is not None
        call = self.b2bua.new_call(txn, request, flow, caller.number, target, now)
        call.caller_name = caller.name
        log.info("%s INVITE from %s to service %s", call.call_id, caller.number, target)
        self.b2bua.spawn(
            answer_locally(self.b2bua, self.media, call, offer, app, self.dial, early=early)
        )
        return call

    def dial(self, session: LocalSession, numbers: list[str], ring_time: float | None) -> int:
        """Ring extensions and ``external:NAME`` destinations together for a call the switch
        answered (0 when something rings), or say why nothing can: 404 none exists, 480 no
        extension has a phone registered (and no external one is among them)."""
        users = [u for u in map(self.user_by_number, numbers) if u is not None]
        externals = [
            t for n in numbers if n.startswith("external:") and (t := self.trunk_target(n))
        ]
        if not users and not externals:
            return 404
        bindings = [b for u in users for b in self.location.lookup(Aor(u.number), self.wall())]
        if not bindings and not externals:
            return 480
        call = session.call
        caller = (call.caller, call.caller_name)
        times = [u.ring_time for u in users] or [EXTERNAL_RING_TIME]
        seconds = ring_time if ring_time is not None else max(times)
        label = "+".join([u.number for u in users] + [t.label for t in externals])
        self.b2bua.spawn(ring_with_trunks(session, label, caller, bindings, externals, seconds))
        return 0

    def _registered(self, request: SipRequest) -> None:
        """After the 200 (a phone ignores a NOTIFY for an account it has not registered)."""
        try:
            user = parse_uri(request.to.uri).user_unescaped or ""
        except SipParseError:
            return
        found = self.user_by_name(user) or self.user_by_number(user)
        if found is not None:
            self.on_registered(found.number)

    def _unanswered(self, call: Call, status: int) -> bool:
        """Nobody answered ``call`` (busy, no answer, declined): the callee's voicemail
        answers it, if the callee has one."""
        if self.media is None or call.offer_a is None:
            return False
        app = self.voicemail(call.callee, status)
        if app is None:
            return False
        log.info("%s %s did not answer (%d): voicemail", call.call_id, call.callee, status)
        self.b2bua.stop_ringing(call)
        offer = call.offer_a
        self.b2bua.spawn(answer_locally(self.b2bua, self.media, call, offer, app, self.dial))
        return True

    def _authenticate(
        self, txn: ServerTxn, request: SipRequest, flow: Flow, now: float
    ) -> User | None:
        def password_of(username: str) -> str | None:
            user = self.user_by_name(username)
            return None if user is None else user.password

        result = self.auth.verify(
            request.get("proxy-authorization"), request.method, password_of, self.wall()
        )
        if result.outcome is AuthOutcome.OK and result.username is not None:
            user = self.user_by_name(result.username)
            if user is not None:
                return user
        if result.outcome in (AuthOutcome.MISSING, AuthOutcome.STALE):
            extra = challenge_headers(
                self.auth, "proxy-authenticate", self.wall(), result.outcome is AuthOutcome.STALE
            )
            self.endpoint.respond(txn, 407, to_tag="auth", extra=extra)
            return None
        record_failure(self.guard, request, flow, now, result.reason)
        self.endpoint.respond(txn, 403, to_tag="auth")
        return None


def _check_common(request: SipRequest) -> None:
    """Checks every request gets before it is routed (RFC 3261 §8.2.1-8.2.3)."""
    scheme = uri_scheme(request.uri)
    if scheme not in ("sip", "sips"):
        raise SipError(416, "Unsupported URI Scheme")
    if "?" in request.uri.partition("@")[2] or (request.uri.count("?") and "@" not in request.uri):
        # Headers embedded in a Request-URI are never acted on (RFC 4475 escruri).
        raise SipError(400, "Headers in Request-URI")
    # As a UAS only Require binds us (Proxy-Require is for proxies, RFC 3261 §20.29); the
    # unknown tags are echoed as written (RFC 4475 bext01).
    unknown = (
        [tag for tag in _values(request, "require") if tag.lower() not in SUPPORTED_OPTIONS]
        if request.has("require")
        else []
    )
    if unknown and request.method not in ("ACK", "CANCEL"):
        raise SipError(420, "Bad Extension", (("unsupported", ", ".join(unknown)),))
    if request.method in ("INVITE", "UPDATE") and request.to.tag is None:
        accept = _values(request, "accept")
        if accept and not any(a.split(";")[0].strip().lower() in ACCEPTED_TYPES for a in accept):
            raise SipError(406, "Not Acceptable", (("accept", "application/sdp"),))
        if request.body and request.content_type != "application/sdp":
            raise SipError(415, "Unsupported Media Type", (("accept", "application/sdp"),))


def _values(request: SipRequest, name: str) -> list[str]:
    try:
        return request.values(name)
    except SipParseError:
        raise SipError(400, f"Malformed {name} header") from None
