"""Calls the switch places itself (click-to-call): ring one phone first, then run an app.

The B2BUA's calls start with a caller's INVITE (leg A, where the switch is the UAS). Here
the switch is the UAC of leg A: it offers its own RTP endpoint to the agent's phone. When
the phone answers, the call becomes what any call the switch answered is: a ``LocalSession``
on leg A, whose app then dials the second party (an external number through a trunk) with
ringback meanwhile, and joins the two when that answers. Everything after the answer (BYE
from either side, re-INVITEs, the history row) is the B2BUA's usual handling.
"""

from __future__ import annotations

import logging
import weakref
from typing import TYPE_CHECKING

from softswitch.call.calls import Call
from softswitch.call.leg import Leg
from softswitch.call.local import Dialer, LocalApp, LocalSession, MediaServices, pick_codec
from softswitch.call.offers import OUR_OFFER
from softswitch.errors import SipError
from softswitch.rtp.offer_answer import NoCommonCodec, Origin, event_payload_type, rewrite_offer
from softswitch.rtp.sdp import SessionDescription, parse_sdp
from softswitch.sip.location import Binding
from softswitch.sip.transport import Flow

if TYPE_CHECKING:
    from softswitch.call.b2bua import B2bua

__all__ = ["originate"]

log = logging.getLogger("softswitch.call")


async def originate(
    b2bua: B2bua,
    services: MediaServices,
    binding: Binding,
    shown: tuple[str, str],
    ring_time: float,
    app: LocalApp,
    dialer: Dialer,
) -> Call:
    """Ring ``binding`` (a registered phone), showing it ``shown`` (number, name); when it
    answers, ``app`` runs on the call. SipError 503 when no RTP port is free."""
    endpoint = await services.relay.open_endpoint()
    flow = Flow(binding.transport, binding.source_host, binding.source_port)
    host = b2bua.endpoint.local_host(flow)
    dialog = b2bua.uac_dialog(binding, shown, f"<sip:{binding.aor}@{b2bua.domain}>", host)
    number = shown[0]
    now = services.monotonic()
    call = Call(b2bua, None, binding.aor, number, now)
    call.wall_started = b2bua.endpoint.clock.wall()
    call.direction = "outbound"
    leg = Leg(weakref.ref(call), "a", dialog, flow, Origin(), target=binding.aor)
    call.a = leg
    offer = rewrite_offer(parse_sdp(OUR_OFFER), host, endpoint.local_port, leg.origin)

    def answered(answer: SessionDescription) -> None:
        try:
            codec = pick_codec(answer)
        except NoCommonCodec:
            b2bua.hangup(call, "no G.711 in the answer")
            services.relay.close_endpoint(endpoint)
            return
        session = LocalSession(
            b2bua, call, endpoint, codec, event_payload_type(answer), services, app, dialer
        )
        call.local = session
        call.offer_a = answer  # what the second party is offered is built from it
        call.answered = services.monotonic()
        session.set_remote(answer)
        log.info("%s %s answered: %s", call.call_id, binding.aor, app.__class__.__name__)
        session.start_player()
        app.start(session)
        b2bua.endpoint.flush()

    call.on_originated = answered
    log.info("%s ringing %s first (placed by the switch)", dialog.call_id, binding.aor)
    try:
        b2bua.place(call, leg, offer, ring_time)
    except SipError:
        services.relay.close_endpoint(endpoint)
        raise
    return call
