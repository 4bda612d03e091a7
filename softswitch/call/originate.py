"""Calls the switch places itself (click-to-call): ring the agent's phones, then run an app.

The B2BUA's calls start with a caller's INVITE (leg A, where the switch is the UAS). Here
the switch is the UAC of leg A: it offers its own RTP endpoint to every registered phone of
the agent, in parallel, as the B2BUA forks leg B (``B2bua.place``): the first to answer is
leg A, the others get CANCEL; if none answers, the call fails as a ringing call does. When
a phone answers, the call becomes what any call the switch answered is: a ``LocalSession``
on leg A, whose app then dials the second party (an external number through a trunk) with
ringback meanwhile, and joins the two when that answers. Everything after the answer (BYE
from either side, re-INVITEs, the history row) is the B2BUA's usual handling.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Sequence
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
    bindings: Sequence[Binding],
    shown: tuple[str, str],
    ring_time: float,
    app: LocalApp,
    dialer: Dialer,
) -> Call:
    """Ring every phone in ``bindings`` (the registered contacts of one extension), showing
    them ``shown`` (number, name); when one answers, ``app`` runs on the call. SipError 503
    when no RTP port is free."""
    endpoint = await services.relay.open_endpoint()
    aor = bindings[0].aor
    now = services.monotonic()
    call = Call(b2bua, None, aor, shown[0], now)
    call.wall_started = b2bua.endpoint.clock.wall()
    call.direction = "outbound"
    legs: list[Leg] = []
    for binding in bindings:
        # One Call-ID for all (the one the web answer gives), a tag and a dialog for each.
        call_id = legs[0].dialog.call_id if legs else None
        legs.append(_leg(b2bua, call, binding, shown, endpoint.local_port, call_id))

    def answered(answer: SessionDescription) -> None:
        try:
            codec = pick_codec(answer)
        except NoCommonCodec:
            b2bua.hangup(call, "no G.711 in the answer")  # ``ended`` frees the endpoint
            return
        session = LocalSession(
            b2bua, call, endpoint, codec, event_payload_type(answer), services, app, dialer
        )
        call.local = session
        call.offer_a = answer  # what the second party is offered is built from it
        call.answered = services.monotonic()
        session.set_remote(answer)
        log.info("%s %s answered at %s: %s", call.call_id, aor, call.a.flow, type(app).__name__)
        session.start_player()
        app.start(session)
        b2bua.endpoint.flush()

    def ended() -> None:
        if call.local is None:  # nobody answered: no session took the endpoint to free it
            services.relay.close_endpoint(endpoint)

    call.on_originated = answered
    call.on_ended = ended
    log.info("%s ringing %d phone(s) of %s first", legs[0].dialog.call_id, len(legs), aor)
    try:
        b2bua.place(call, legs, ring_time)
    except SipError:
        services.relay.close_endpoint(endpoint)
        raise
    return call


def _leg(
    b2bua: B2bua,
    call: Call,
    binding: Binding,
    shown: tuple[str, str],
    port: int,
    call_id: str | None,
) -> Leg:
    """Leg A towards one phone, with our offer (the switch's RTP ``port``) ready to send."""
    flow = Flow(binding.transport, binding.source_host, binding.source_port)
    host = b2bua.endpoint.local_host(flow)
    to = f"<sip:{binding.aor}@{b2bua.domain}>"
    dialog = b2bua.uac_dialog(binding, shown, to, host, call_id)
    leg = Leg(weakref.ref(call), "a", dialog, flow, Origin(), target=binding.aor)
    leg.sdp_sent = rewrite_offer(parse_sdp(OUR_OFFER), host, port, leg.origin)
    return leg
