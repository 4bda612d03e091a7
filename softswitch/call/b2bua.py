"""The B2BUA: every call is two dialogs joined by the switch, with the media anchored.

Leg A is the caller's dialog (we are its UAS); leg B is one dialog per contact of the callee
(we are their UAC), all rung in parallel: the first 2xx wins, the others get CANCEL (or BYE,
if they answered too). A call the switch places itself (click-to-call) forks leg A the same
way, to every phone of the agent (``place``). SDP is rewritten on the way through so both
phones send RTP to the switch, which relays it untouched. In-dialog requests (BYE, re-INVITE
for hold, INFO) are relayed to the other leg. Timing (ring time) is driven by
``handle_timer(now)``.
"""

from __future__ import annotations

import heapq
import logging
import weakref
from collections.abc import Callable, Coroutine
from typing import Any

from softswitch.call.calls import Call
from softswitch.call.features import MediaFeatures, codecs_of
from softswitch.call.leg import Leg, LegState
from softswitch.call.media import CallMedia
from softswitch.call.offers import ALLOW_HEADER, OUR_OFFER, SDP, answer_of, offer_of
from softswitch.call.outbound import TrunkBinding
from softswitch.call.reinvite import reinvite_failed, reinvite_response, relay_reinvite
from softswitch.errors import SipError
from softswitch.ids import POOL
from softswitch.rtp.offer_answer import (
    Origin,
    rewrite_answer,
    rewrite_offer,
)
from softswitch.rtp.sdp import SessionDescription, parse_sdp, serialize_sdp
from softswitch.sip.dialog import (
    Dialog,
    ack_builder,
    cancel_for,
    new_branch,
    new_call_id,
    new_tag,
    uas_dialog,
    update_from_response,
)
from softswitch.sip.digest_client import DigestClient
from softswitch.sip.endpoint import ServerTxn, SipEndpoint, reason_for
from softswitch.sip.headers import quote
from softswitch.sip.location import Binding
from softswitch.sip.message import Header, SipMessage, SipRequest, SipResponse
from softswitch.sip.transaction import ResponseReceived
from softswitch.sip.transport import Flow

log = logging.getLogger("softswitch.call")

# Failures that mean "nobody took it" (not the caller giving up, not our own fault): such a
# call may go on to the callee's voicemail.
UNANSWERED = frozenset({408, 480, 486, 600, 603})
MISSED = UNANSWERED | {487}  # and the caller giving up while it rang
TRYING_DELAY = 0.2  # seconds; RFC 3261 §17.2.1's bound for skipping the 100 Trying


class B2bua:
    def __init__(
        self,
        *,
        endpoint: SipEndpoint,
        media_factory: Callable[[], Coroutine[Any, Any, CallMedia]],
        media_now: Callable[[], CallMedia | None] = lambda: None,
        spawn: Callable[[Coroutine[Any, Any, None]], object],
        domain: str,
        features: MediaFeatures | None = None,
    ) -> None:
        # Who takes a call nobody answered (an extension's voicemail): True if it did.
        self.unanswered: Callable[[Call, int], bool] | None = None
        # Told of every ringing call nobody answered (missed-call mail), with the status.
        self.on_missed: Callable[[Call, int], None] | None = None
        # Told once of every call as it ends (its history row).
        self.on_finished: Callable[[Call], None] | None = None
        self.features = features
        self.endpoint = endpoint
        self.media_factory = media_factory
        self.media_now = media_now
        self.spawn = spawn
        self.domain = domain
        self.dialogs: dict[tuple[str, str], Leg] = {}  # (Call-ID, our tag) -> leg
        self.calls: set[Call] = set()
        self._timers: list[tuple[float, int, Call]] = []
        self._seq = 0

    # --- new calls ---------------------------------------------------------------------
    def start_call(
        self,
        txn: ServerTxn,
        request: SipRequest,
        flow: Flow,
        caller: tuple[str, str],
        callee: str,
        bindings: list[Binding],
        ring_time: float,
        now: float,
        record: bool = False,
    ) -> Call:
        """Ring every binding of ``callee`` for ``caller`` (number, name)."""
        offer = offer_of(request)
        max_forwards = int(request.get("max-forwards") or 70)
        if max_forwards <= 1:
            raise SipError(483, "Too Many Hops")
        call = self.new_call(txn, request, flow, caller[0], callee, now)
        call.caller_name = caller[1]
        call.offer_a = offer
        call.record = record
        dialog = call.a.dialog
        log.info(
            "%s INVITE from %s to %s: ringing %d contact(s)",
            dialog.call_id,
            caller[0],
            callee,
            len(bindings),
        )
        setup = (offer, caller, bindings, max_forwards - 1, ring_time)
        media = self.media_now()  # under load, parked sockets: no task, no await
        if media is not None:
            self._ring(call, media, *setup)
        else:
            self.spawn(self._setup(call, *setup))
        return call

    def new_call(
        self, txn: ServerTxn, request: SipRequest, flow: Flow, caller: str, callee: str, now: float
    ) -> Call:
        """A call with its leg A (the caller's dialog, our tag).

        The 100 Trying is not sent now: RFC 3261 §17.2.1 lets a UAS skip it when it answers
        within 200 ms, and an extension that rings answers with its 180 in a few ms. It goes
        out from ``handle_timer`` after TRYING_DELAY if leg A has had no response by then, well
        before the caller's first retransmission (T1, 500 ms). One message fewer per call.
        """
        call = Call(self, None, caller, callee, now)
        call.wall_started = self.endpoint.clock.wall()
        dialog = uas_dialog(request, new_tag(), self.endpoint.contact(flow, callee), flow)
        call.a = Leg(weakref.ref(call), "a", dialog, flow, Origin(), invite_server=txn)
        txn.tu = call.a
        self.dialogs[dialog.key] = call.a
        self.calls.add(call)
        call.trying_at = now + TRYING_DELAY
        self._schedule(call, call.trying_at)
        return call

    async def _setup(
        self,
        call: Call,
        offer: SessionDescription | None,
        caller: tuple[str, str],
        bindings: list[Binding],
        max_forwards: int,
        ring_time: float,
    ) -> None:
        try:
            media = await self.media_factory()
        except Exception as exc:  # no ports left: a clear 503, not a crash
            log.warning("%s no media ports: %s", call.call_id, exc)
            self._fail_a(call, 503, "No Media Ports")
            self.endpoint.flush()
            return
        self._ring(call, media, offer, caller, bindings, max_forwards, ring_time)
        self.endpoint.flush()

    def _ring(
        self,
        call: Call,
        media: CallMedia,
        offer: SessionDescription | None,
        caller: tuple[str, str],
        bindings: list[Binding],
        max_forwards: int,
        ring_time: float,
    ) -> None:
        """Send the INVITE to every contact of the callee, media in hand."""
        call.media = media
        if call.ended:  # cancelled while the media was being set up
            media.close()
            return
        try:
            if offer is None:
                call.late_offer = True
                offer = parse_sdp(OUR_OFFER)
            else:
                media.set_remote("a", offer)
            first_flow = _binding_flow(bindings[0])
            host_b = self.endpoint.local_host(first_flow)
            for binding in bindings:
                self._fork(call, binding, offer, caller, max_forwards, host_b)
        except SipError as exc:
            self._fail_a(call, exc.status, exc.reason, exc.extra_headers)
        call.ring_deadline = self.endpoint.clock.monotonic() + ring_time
        self._schedule(call, call.ring_deadline)

    def _fork(
        self,
        call: Call,
        binding: Binding,
        offer: SessionDescription,
        caller: tuple[str, str],
        max_forwards: int,
        host_b: str,
    ) -> None:
        assert call.media is not None
        trunk = binding if isinstance(binding, TrunkBinding) else None
        to = f"<{binding.contact}>" if trunk else f"<sip:{call.callee}@{self.domain}>"
        dialog = self.uac_dialog(binding, caller, to, host_b)
        flow = dialog.flow
        leg = Leg(weakref.ref(call), "b", dialog, flow, Origin(), target=binding.aor)
        if trunk is not None and trunk.username and trunk.password:
            leg.auth = DigestClient(trunk.username, trunk.password, lambda: POOL.hex(8))
        sdp = rewrite_offer(offer, host_b, call.media.b_port, leg.origin, add_g711=True)
        leg.sdp_sent = sdp
        self._send_invite(leg, max_forwards)
        call.forks.append(leg)
        self.dialogs[dialog.key] = leg

    def uac_dialog(
        self,
        binding: Binding,
        caller: tuple[str, str],
        to: str,
        host: str,
        call_id: str | None = None,
    ) -> Dialog:
        """A dialog we start towards ``binding`` as ``caller`` (number, name), To ``to``; a
        new Call-ID unless ``call_id`` is given (its own tag keeps the dialog apart)."""
        flow = _binding_flow(binding)
        number, name = caller
        uri = f"<sip:{number}@{self.domain}>"
        return Dialog(
            call_id=call_id or new_call_id(host),
            local_tag=new_tag(),
            remote_tag=None,
            local_uri=f"{quote(name)} {uri}" if name else uri,
            remote_uri=to,
            remote_target=binding.contact,
            local_contact=self.endpoint.contact(flow, number),
            flow=flow,
        )

    def _send_invite(self, leg: Leg, max_forwards: int, auth: tuple[Header, ...] = ()) -> None:
        assert leg.sdp_sent is not None
        request = leg.dialog.request(
            "INVITE",
            self.endpoint.via(leg.flow),
            body=serialize_sdp(leg.sdp_sent),
            content_type=SDP,
            extra=(ALLOW_HEADER, *auth),
        )
        request.set("max-forwards", str(max_forwards))
        leg.invite_request = request
        leg.got_provisional = False
        leg.invite_client = self.endpoint.send_request(
            request, leg.flow, leg, make_ack=ack_builder(request)
        )

    def _answer_challenge(self, leg: Leg, response: SipResponse) -> bool:
        """A trunk's 401/407 on our INVITE: send it again with credentials (RFC 3261
        §22.2, same Call-ID and tags, CSeq + 1). False when there is nothing to answer."""
        auth, invite = leg.auth, leg.invite_request
        if auth is None or invite is None or leg.cancel_pending or leg.call.ended:
            return False
        challenge = auth.judge(response.status, response.headers)
        if isinstance(challenge, str):
            log.warning("%s trunk refused our credentials: %s", leg.call.call_id, challenge)
            return False
        header = auth.header(response.status, challenge, "INVITE", invite.uri)
        self._send_invite(leg, int(invite.get("max-forwards") or 70), (header,))
        return True

    # --- responses on leg B ------------------------------------------------------------
    def on_response(self, leg: Leg, event: ResponseReceived[SipMessage, Flow], now: float) -> None:
        response = event.response
        assert isinstance(response, SipResponse)
        txn = event.txn
        if txn is leg.invite_client:
            self._invite_response(leg, response, event.retransmission, now)
        elif txn is leg.reinvite_client:
            reinvite_response(self, leg, response, now)
        else:
            origin = leg.relayed.pop(id(txn), None)
            if origin is not None and response.status >= 200:
                self.endpoint.respond(origin, response.status, response.reason)
            elif origin is not None:
                leg.relayed[id(txn)] = origin

    def _invite_response(self, leg: Leg, response: SipResponse, again: bool, now: float) -> None:
        call = leg.call
        status = response.status
        if status < 200:
            if status == 100:
                return
            update_from_response(leg.dialog, response)
            leg.got_provisional = True
            if leg.state is LegState.CALLING:
                leg.state = LegState.EARLY
            if leg.cancel_pending:
                self._send_cancel(leg)
            elif leg.side == "b" and call.b is None and not call.ended and call.local is None:
                self._provisional_to_a(call, leg, response)
            return
        if status in (401, 407) and self._answer_challenge(leg, response):
            return
        if status >= 300:
            leg.final_status = status
            leg.state = LegState.ENDED
            if leg not in call.retired:  # a late answer from an earlier round of ringing
                self._fork_done(call, leg)
            return
        # 2xx: the first one wins; the dialog needs an ACK whatever happens next.
        if again:
            if leg.ack is not None:
                self.endpoint.send_stateless(leg.ack, leg.flow)
            return
        update_from_response(leg.dialog, response)
        self.ack_2xx(leg)
        if call.ended or (call.b is not None and call.b is not leg) or leg in call.retired:
            self._bye(leg)
            return
        if leg.side == "a":  # a phone of a call we placed (click-to-call) answered
            self._originated_answer(call, leg, response)
            return
        answer = answer_of(response)
        if answer is None:
            log.warning("%s callee answered without SDP", call.call_id)
            self._bye(leg)
            self._fork_done(call, leg)
            return
        call.b = leg
        leg.state = LegState.CONFIRMED
        call.answered = now
        call.agent = leg.target
        for other in call.forks:
            if other is not leg and other.state in (LegState.CALLING, LegState.EARLY):
                self._cancel_fork(other)
        if call.local is not None:  # the switch answered the caller: join the two now
            call.local.bridged(answer, leg.target)
            log.info("%s answered by %s (%s)", call.call_id, call.callee, leg.flow)
            return
        try:
            self._answer_a(call, leg, answer)
        except SipError as exc:  # e.g. the callee answered with no codec we relay
            log.warning("%s callee's answer unusable: %s", call.call_id, exc.reason)
            call.b = None
            call.answered = None
            self._bye(leg)
            self._fail_a(call, exc.status, exc.reason, exc.extra_headers)
            return
        log.info("%s answered by %s (%s)", call.call_id, call.callee, leg.flow)

    def _originated_answer(self, call: Call, leg: Leg, response: SipResponse) -> None:
        """The first phone to answer a call we placed becomes leg A, the others stop ringing,
        and ``call.on_originated`` takes it from there (as a LocalSession)."""
        leg.state = LegState.CONFIRMED
        leg.dialog.confirmed = True
        answer = answer_of(response)
        if answer is None or call.on_originated is None:
            log.warning("%s %s answered without SDP", call.call_id, leg.target)
            self._bye(leg)
            leg.final_status = 488
            self._fork_done(call, leg)  # as for leg B: another phone may still answer
            return
        call.a = leg
        call.forks.remove(leg)
        self.stop_ringing(call)
        call.on_originated(answer)

    def place(self, call: Call, legs: list[Leg], ring_time: float) -> None:
        """Ring every phone of a call the switch places (``call.on_originated`` set; each leg
        with its offer in ``sdp_sent``): they are forks, as leg B's are, until one answers."""
        call.a = legs[0]  # until one answers; all share its Call-ID, which names the call
        self.calls.add(call)
        for leg in legs:
            self.dialogs[leg.dialog.key] = leg
            self._send_invite(leg, 70)
            call.forks.append(leg)
        call.ring_deadline = self.endpoint.clock.monotonic() + ring_time
        self._schedule(call, call.ring_deadline)
        self.endpoint.flush()

    def _provisional_to_a(self, call: Call, leg: Leg, response: SipResponse) -> None:
        assert call.media is not None and call.a.invite_server is not None
        answer = answer_of(response)
        body = b""
        if answer is not None:  # early media: forward it, anchored
            call.media.set_remote("b", answer)
            if call.late_offer:
                answer = None  # no offer in an unreliable provisional (RFC 3261 §13.2.1)
            else:
                try:
                    body = self._sdp_for_a(call, answer)
                except SipError:
                    answer = None  # early media we cannot relay: ring without it
        elif call.provisional_sent == response.status:
            return  # one 180 to the caller is enough
        call.provisional_sent = response.status
        status = 183 if answer is not None and response.status == 183 else response.status
        extra: tuple[Header, ...] = (("contact", call.a.dialog.local_contact),)
        if body:
            extra += (("content-type", SDP),)
        self.endpoint.respond(
            call.a.invite_server,
            status,
            response.reason or None,
            to_tag=call.a.tag,
            extra=extra,
            body=body,
        )

    def _answer_a(self, call: Call, leg: Leg, answer: SessionDescription) -> None:
        assert call.media is not None and call.a.invite_server is not None
        call.media.set_remote("b", answer)
        body = self._sdp_for_a(call, answer)
        call.a.state = LegState.ANSWERED
        if call.record and self.features is not None:
            self.features.start_recording(call)
        self.endpoint.respond(
            call.a.invite_server,
            200,
            "OK",
            to_tag=call.a.tag,
            extra=(("contact", call.a.dialog.local_contact), ALLOW_HEADER, ("content-type", SDP)),
            body=body,
        )

    def _sdp_for_a(self, call: Call, answer: SessionDescription) -> bytes:
        assert call.media is not None
        host, port = self.endpoint.local_host(call.a.flow), call.media.a_port
        if call.late_offer:
            # With a delayed offer the callee's answer becomes our offer to the caller.
            sdp = rewrite_offer(answer, host, port, call.a.origin)
        else:
            pair = codecs_of(call.offer_a, answer)
            transcoded = pair is not None and pair[0][1] != pair[1][1]
            codec = (str(pair[0][0]), pair[0][1]) if pair is not None and transcoded else None
            sdp = rewrite_answer(answer, host, port, call.a.origin, codec=codec)
            if pair is not None:
                call.media.set_codecs(*pair)
        call.a.sdp_sent = sdp
        return serialize_sdp(sdp)

    def _fork_done(self, call: Call, leg: Leg) -> None:
        if call.b is not None or call.ended:
            return
        if any(f.state in (LegState.CALLING, LegState.EARLY) for f in call.forks):
            return
        statuses = [f.final_status for f in call.forks]
        self._fail_a(call, _best_failure(statuses), None)

    def on_timeout(self, leg: Leg, txn: Any, status: int, now: float) -> None:
        if txn is leg.invite_client:
            leg.final_status = status
            leg.state = LegState.ENDED
            if leg not in leg.call.retired:  # not from an earlier round of ringing
                self._fork_done(leg.call, leg)
        elif txn is leg.reinvite_client:
            reinvite_failed(self, leg, status)
        else:
            origin = leg.relayed.pop(id(txn), None)
            if origin is not None:
                self.endpoint.respond(origin, status)

    def on_ack_timeout(self, leg: Leg, now: float) -> None:
        log.warning("%s no ACK from %s: ending the call", leg.dialog.call_id, leg.flow)
        self.hangup(leg.call, "no ACK")

    # --- requests from the caller or a callee ------------------------------------------
    def on_cancel(self, txn: ServerTxn, now: float) -> None:
        leg = txn.tu
        if not isinstance(leg, Leg):
            return
        call = leg.call
        log.info("%s cancelled by the caller", call.call_id)
        self._fail_a(call, 487, "Request Terminated")

    def on_ack(self, request: SipRequest, flow: Flow, now: float) -> None:
        leg = self.dialogs.get((request.call_id, request.to.tag or ""))
        if leg is None:
            return
        if leg.invite_server is not None and leg.state is LegState.ANSWERED:
            self.endpoint.layer.ack_2xx(leg.invite_server, now)
            leg.state = LegState.CONFIRMED
            leg.dialog.confirmed = True
            if leg.call.late_offer:
                self._answer_in_ack(leg, request)
        elif leg.reinvite_server is not None and leg.reinvite_server.status >= 200:
            self.endpoint.layer.ack_2xx(leg.reinvite_server, now)
            leg.reinvite_server = None

    def _answer_in_ack(self, leg: Leg, ack: SipRequest) -> None:
        call = leg.call
        answer = answer_of(ack)
        if answer is None or call.media is None:
            log.warning("%s the caller's ACK carries no SDP answer: ending", call.call_id)
            self.hangup(call, "no answer in ACK")
            return
        call.media.set_remote("a", answer)

    def on_in_dialog(self, txn: ServerTxn, request: SipRequest, flow: Flow, now: float) -> None:
        leg = self.dialogs.get((request.call_id, request.to.tag or ""))
        if leg is None or leg.state is LegState.ENDED:
            raise SipError(481, reason_for(481))
        leg.dialog.check_remote_cseq(request)
        txn.tu = leg
        method = request.method
        if leg.call.local is not None and leg.call.b is None and method in ("INVITE", "INFO"):
            leg.call.local.on_request(txn, request)
        elif method == "BYE":
            self.endpoint.respond(txn, 200)
            log.info(
                "%s BYE from the %s", leg.call.call_id, "caller" if leg.side == "a" else "callee"
            )
            self.hangup(leg.call, "BYE", source=leg)
        elif method == "INVITE":
            relay_reinvite(self, leg, txn, request)
        elif method in ("OPTIONS", "UPDATE") and not request.body:
            self.endpoint.respond(txn, 200, extra=(ALLOW_HEADER,))
        elif method == "INFO":
            self._relay_request(leg, txn, request)
        else:
            raise SipError(501, reason_for(501), (ALLOW_HEADER,))

    def _relay_request(self, leg: Leg, txn: ServerTxn, request: SipRequest) -> None:
        other = leg.call.other(leg)
        if other is None or other.state is not LegState.CONFIRMED:
            raise SipError(481, reason_for(481))
        out = other.dialog.request(
            request.method,
            self.endpoint.via(other.flow),
            body=request.body,
            content_type=request.get("content-type"),
        )
        client = self.endpoint.send_request(out, other.flow, other)
        other.relayed[id(client)] = txn

    # --- ending ------------------------------------------------------------------------
    def hangup(self, call: Call, why: str, source: Leg | None = None) -> None:
        """End a call from any state: BYE confirmed legs, CANCEL ringing forks, answer leg A."""
        if call.ended:
            return
        if call.a.state in (LegState.CALLING, LegState.EARLY) and source is None:
            self._fail_a(call, 480 if why == "no answer" else 503, None)
            return
        # While a call we placed rings, leg A is one of its forks: visit it once.
        for leg in dict.fromkeys([call.a, *call.forks]):
            if leg is source or leg.state is LegState.ENDED:
                continue
            if leg.state in (LegState.CONFIRMED, LegState.ANSWERED):
                self._bye(leg)
            elif leg in call.forks:
                self._cancel_fork(leg)
        self._finish(call, why)

    def fail(
        self, call: Call, status: int, reason: str | None, extra: tuple[Header, ...] = ()
    ) -> None:
        """Refuse a call that is still ringing on leg A."""
        self._fail_a(call, status, reason, extra)

    def ring_for_local(
        self,
        call: Call,
        media: CallMedia,
        callee: str,
        caller: tuple[str, str],
        bindings: list[Binding],
        ring_time: float,
    ) -> None:
        """Ring ``callee`` for a call the switch has answered (an IVR choice, a group): the
        caller keeps hearing the switch until a fork answers (``LocalSession.bridged``) or
        all fail (``LocalSession.dial_failed``)."""
        call.callee = callee
        call.b = None
        self._ring(call, media, call.offer_a, caller, bindings, 69, ring_time)
        self.endpoint.flush()

    def _local_dial_failed(self, call: Call, status: int) -> None:
        assert call.local is not None
        self.stop_ringing(call)
        log.info("%s %s did not answer: %d", call.call_id, call.callee, status)
        call.local.dial_failed(status)

    def stop_ringing(self, call: Call) -> None:
        """Stop ringing for a call the switch answered (or is about to answer): cancel its
        forks, free leg B's endpoint; the caller's stays with its session, if it has one."""
        for fork in call.forks:
            if fork.state in (LegState.CALLING, LegState.EARLY):
                self._cancel_fork(fork)
            elif fork.state is LegState.CONFIRMED:
                self._bye(fork)
        if call.media is not None:
            if call.local is not None:
                call.media.close_b()  # the caller's endpoint stays with its session
            else:
                call.media.close()
            call.media = None
        # Their late responses must not end the next round of ringing (see _invite_response).
        call.retired.extend(call.forks)
        call.forks = []
        call.ring_deadline = None
        self.endpoint.flush()

    def _fail_a(
        self, call: Call, status: int, reason: str | None, extra: tuple[Header, ...] = ()
    ) -> None:
        if call.ended:
            return
        if call.local is not None and call.a.state in (LegState.ANSWERED, LegState.CONFIRMED):
            self._local_dial_failed(call, status)
            return
        if call.local is None and self.on_missed is not None and status in MISSED:
            self.on_missed(call, status)
        if (
            status in UNANSWERED
            and call.local is None
            and not call.late_offer
            and self.unanswered is not None
            and self.unanswered(call, status)
        ):
            return
        call.final_status = status
        txn = call.a.invite_server
        if txn is not None and txn.status < 200:
            self.endpoint.respond(txn, status, reason, to_tag=call.a.tag, extra=extra)
        for fork in call.forks:  # a call we placed: its phones, leg A's forks, too
            if fork.state in (LegState.CALLING, LegState.EARLY):
                self._cancel_fork(fork)
            elif fork.state is LegState.CONFIRMED:
                self._bye(fork)
        log.info("%s failed: %d %s", call.call_id, status, reason or reason_for(status))
        self._finish(call, f"failed {status}")

    def _finish(self, call: Call, why: str) -> None:
        call.ended = True
        if self.on_finished is not None:
            self.on_finished(call)
        for leg in [call.a, *call.forks, *call.retired]:
            leg.state = LegState.ENDED
            leg.release()
        if call.media is not None:
            call.media.close()
            call.media = None
        if call.local is not None:
            call.local.close()
        # Dropped, not just called: they refer to the call (no cycle may outlive it).
        ended, call.on_ended, call.on_originated = call.on_ended, None, None
        if ended is not None:
            ended()
        self.calls.discard(call)
        # Dialog entries stay until retransmissions die down (64*T1): dropped on the timer.
        call.forget_at = self.endpoint.clock.monotonic() + 32.0
        self._schedule(call, call.forget_at)
        if call.answered is not None:
            log.info(
                "%s ended (%s) after %.1f s",
                call.call_id,
                why,
                self.endpoint.clock.monotonic() - call.answered,
            )

    def _cancel_fork(self, leg: Leg) -> None:
        if leg.state not in (LegState.CALLING, LegState.EARLY):
            return
        if leg.got_provisional:
            self._send_cancel(leg)
        else:
            leg.cancel_pending = True  # RFC 3261 §9.1: wait for a provisional response first

    def _send_cancel(self, leg: Leg) -> None:
        leg.cancel_pending = False
        invite = leg.invite_request
        if invite is None or leg.final_status:
            return  # the fork already ended with a final response: nothing to cancel
        cancel = cancel_for(invite)
        self.endpoint.send_request(cancel, leg.flow, leg)

    def _bye(self, leg: Leg) -> None:
        leg.state = LegState.ENDED
        bye = leg.dialog.request("BYE", self.endpoint.via(leg.flow))
        self.endpoint.send_request(bye, leg.flow, leg)

    def ack_2xx(self, leg: Leg, cseq: int | None = None) -> None:
        invite = leg.invite_request
        number = cseq if cseq is not None else (invite.cseq.number if invite else 1)
        ack = leg.dialog.request("ACK", self.endpoint.via(leg.flow, new_branch()), cseq=number)
        leg.ack = ack.to_bytes()
        self.endpoint.send_stateless(leg.ack, leg.flow)

    def on_stray_response(self, response: SipResponse, flow: Flow, now: float) -> None:
        """A 2xx retransmitted after its transaction ended: ACK it again if we know it."""
        if response.cseq.method != "INVITE" or not 200 <= response.status < 300:
            return
        leg = self.dialogs.get((response.call_id, response.from_.tag or ""))
        if leg is not None and leg.ack is not None:
            self.endpoint.send_stateless(leg.ack, leg.flow)

    # --- timers ------------------------------------------------------------------------
    def _schedule(self, call: Call, when: float) -> None:
        self._seq += 1
        heapq.heappush(self._timers, (when, self._seq, call))

    def next_deadline(self) -> float | None:
        return self._timers[0][0] if self._timers else None

    def handle_timer(self, now: float) -> None:
        while self._timers and self._timers[0][0] <= now:
            _, _, call = heapq.heappop(self._timers)
            if call.trying_at is not None and call.trying_at <= now:
                self._send_trying(call)
            if call.ended:
                if call.forget_at is not None and call.forget_at <= now:
                    self._forget(call)
            elif call.b is None and call.ring_deadline is not None and call.ring_deadline <= now:
                log.info("%s no answer from %s after ring time", call.call_id, call.callee)
                self._fail_a(call, 480, "Temporarily Unavailable")

    def _send_trying(self, call: Call) -> None:
        call.trying_at = None
        txn = call.a.invite_server
        if txn is not None and txn.status == 0 and not call.ended:
            self.endpoint.respond(txn, 100)

    def _forget(self, call: Call) -> None:
        """Drop a finished call for good. Legs refer to their call weakly and lose their
        transactions here, so nothing of the call is left in a reference cycle: plain
        reference counting frees it now, without waiting for a full GC pass."""
        for leg in [call.a, *call.forks, *call.retired]:
            if self.dialogs.get(leg.dialog.key) is leg:
                del self.dialogs[leg.dialog.key]
            leg.invite_server = None
            leg.invite_client = None
            leg.invite_request = None

    def busy(self, number: str) -> bool:
        """Is extension ``number`` on a call: calling, being rung or talking? (A queue
        offers an agent no second call.) A walk over live calls: a small office has few."""
        live = (LegState.CALLING, LegState.EARLY, LegState.CONFIRMED)
        for call in self.calls:
            if call.ended:
                continue
            if call.caller == number:
                return True
            # Leg A has a target only in a call the switch placed: the agent's answered phone.
            if any(leg.target == number and leg.state in live for leg in (call.a, *call.forks)):
                return True
        return False

    def shutdown(self) -> None:
        for call in list(self.calls):
            self.hangup(call, "shutdown")


# --- helpers -------------------------------------------------------------------------


def _binding_flow(binding: Binding) -> Flow:
    return Flow(binding.transport, binding.source_host, binding.source_port)


def _best_failure(statuses: list[int]) -> int:
    """What the caller hears when every contact failed (RFC 3261 §16.7 in spirit)."""
    for wanted in (600, 603, 486):
        if wanted in statuses:
            return 486 if wanted == 600 else wanted
    if statuses and all(s == 408 for s in statuses):
        return 408
    return 480
