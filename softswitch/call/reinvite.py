"""re-INVITEs inside a relayed call (hold, resume, a new address or codec).

The offer is relayed to the other leg, rewritten to point at the switch (with the other G.711
law added, so a change of codec can still be transcoded); its answer comes back the same way.
On the way, ``MediaFeatures`` sees whether the offer puts the other party on hold and starts
or stops the music. An ``inactive`` hold is offered to the held party as ``sendonly`` (the
switch sends it music) and the holder is answered ``inactive``, as RFC 3264 §6.1 requires.
A re-INVITE without SDP is answered here with the SDP the leg already has.

These are the B2BUA's methods, kept in their own module (``self`` is the B2BUA).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from softswitch.call.features import codecs_of, hold_requested
from softswitch.call.leg import Leg, LegState
from softswitch.call.offers import ALLOW_HEADER, SDP, answer_of, offer_of
from softswitch.errors import SipError
from softswitch.rtp.offer_answer import direction, rewrite_answer, rewrite_offer, set_direction
from softswitch.rtp.sdp import serialize_sdp
from softswitch.sip.dialog import ack_builder, update_from_response
from softswitch.sip.endpoint import ServerTxn, reason_for
from softswitch.sip.message import SipRequest, SipResponse

if TYPE_CHECKING:
    from softswitch.call.b2bua import B2bua

__all__ = ["reinvite_failed", "reinvite_response", "relay_reinvite"]


def relay_reinvite(self: B2bua, leg: Leg, txn: ServerTxn, request: SipRequest) -> None:
    call = leg.call
    other = call.other(leg)
    if other is None or call.media is None or other.state is not LegState.CONFIRMED:
        raise SipError(491, "Request Pending")
    if leg.reinvite_server is not None or other.reinvite_client is not None:
        raise SipError(491, "Request Pending")
    offer = offer_of(request)
    self.endpoint.respond(txn, 100)
    if offer is None:
        # No offer: answer it ourselves with the SDP this leg already has.
        if leg.sdp_sent is None:
            raise SipError(488, reason_for(488))
        leg.reinvite_server = txn
        self.endpoint.respond(
            txn,
            200,
            to_tag=leg.tag,
            extra=(("contact", leg.dialog.local_contact), ("content-type", SDP)),
            body=serialize_sdp(leg.sdp_sent),
        )
        return
    call.media.set_remote(leg.side, offer)
    if self.features is not None:
        self.features.on_offer(call, leg.side, other.side, hold_requested(offer))
    port = call.media.port(other.side)
    sdp = rewrite_offer(
        offer, self.endpoint.local_host(other.flow), port, other.origin, add_g711=True
    )
    if self.features is not None and direction(offer) == "inactive":
        set_direction(sdp, "sendonly")  # the switch sends the held party music
    leg.pending_offer = offer
    other.sdp_sent = sdp
    out = other.dialog.request(
        "INVITE",
        self.endpoint.via(other.flow),
        body=serialize_sdp(sdp),
        content_type=SDP,
        extra=(ALLOW_HEADER,),
    )
    leg.reinvite_server = txn
    other.reinvite_client = self.endpoint.send_request(
        out, other.flow, other, make_ack=ack_builder(out)
    )


def reinvite_response(self: B2bua, leg: Leg, response: SipResponse, now: float) -> None:
    if response.status < 200:
        return
    call = leg.call
    origin_leg = call.other(leg)
    leg.reinvite_client = None
    if response.status >= 300:
        reinvite_failed(self, leg, response.status)
        return
    update_from_response(leg.dialog, response)
    self.ack_2xx(leg, cseq=response.cseq.number)
    answer = answer_of(response)
    if origin_leg is None or origin_leg.reinvite_server is None or call.media is None:
        return
    if answer is None:
        reinvite_failed(self, leg, 488)
        return
    call.media.set_remote(leg.side, answer)
    port = call.media.port(origin_leg.side)
    pair = codecs_of(origin_leg.pending_offer, answer)
    codec = None
    if pair is not None:
        theirs, ours = pair  # the re-INVITE's sender, and this leg
        if theirs[1] != ours[1]:
            codec = (str(theirs[0]), theirs[1])
        a, b = (theirs, ours) if origin_leg.side == "a" else (ours, theirs)
        call.media.set_codecs(a, b)
    try:
        sdp = rewrite_answer(
            answer,
            self.endpoint.local_host(origin_leg.flow),
            port,
            origin_leg.origin,
            codec=codec,
        )
        offered = origin_leg.pending_offer
        if offered is not None and direction(offered) == "inactive":
            set_direction(sdp, "inactive")  # RFC 3264 §6.1: inactive is answered inactive
    except SipError as exc:  # an answer we cannot relay: the offerer hears why
        reinvite_failed(self, leg, exc.status)
        return
    origin_leg.sdp_sent = sdp
    self.endpoint.respond(
        origin_leg.reinvite_server,
        200,
        to_tag=origin_leg.tag,
        extra=(("contact", origin_leg.dialog.local_contact), ("content-type", SDP)),
        body=serialize_sdp(sdp),
    )


def reinvite_failed(self: B2bua, leg: Leg, status: int) -> None:
    leg.reinvite_client = None
    origin_leg = leg.call.other(leg)
    if origin_leg is not None and origin_leg.reinvite_server is not None:
        txn = origin_leg.reinvite_server
        origin_leg.reinvite_server = None
        self.endpoint.respond(txn, status, to_tag=origin_leg.tag)
