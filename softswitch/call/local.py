"""Calls the switch answers itself: a conference room, later IVR menus and voicemail.

The caller's INVITE gets a 200 whose SDP points at one RTP endpoint of ours, answered with a
G.711 law (the switch must hear and speak, so a codec it can decode). The endpoint's packets go
to a ``MediaPort``; a ``Player`` job speaks into it on the ticker. What the call *does* is a
``LocalApp``: it gets the session when the call is answered, every digit (RFC 4733, SIP INFO or
in-band), and ``stop`` when the call ends for any reason. In-dialog re-INVITEs (hold, a new
address) are answered here with the same codec; BYE and CANCEL go through the B2BUA as for any
call, which calls ``close``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np
import numpy.typing as npt

from softswitch.call.features import codecs_of
from softswitch.call.leg import LegState
from softswitch.call.media import CallMedia
from softswitch.call.offers import SDP, offer_of
from softswitch.errors import SipError
from softswitch.media.codecs import CODECS
from softswitch.media.engine import MediaEngine
from softswitch.media.player import Player
from softswitch.media.port import MediaPort
from softswitch.media.tones import tone
from softswitch.rtp.offer_answer import (
    NoCommonCodec,
    event_payload_type,
    media_target,
    rewrite_answer,
    rtcp_target,
    voice_codecs,
)
from softswitch.rtp.sdp import SessionDescription, serialize_sdp
from softswitch.rtp.transport import RtpEndpoint, RtpRelay
from softswitch.sip.dtmf_info import parse_dtmf_info
from softswitch.sip.endpoint import ServerTxn
from softswitch.sip.location import Binding
from softswitch.sip.message import SipRequest

if TYPE_CHECKING:
    from softswitch.call.b2bua import B2bua
    from softswitch.call.calls import Call

__all__ = [
    "Dialer",
    "LocalApp",
    "LocalSession",
    "MediaServices",
    "SessionApp",
    "answer_locally",
    "pick_codec",
]

log = logging.getLogger("softswitch.call")

Pcm = npt.NDArray[np.int16]
Listener = Callable[[Pcm | None, float], None]

RINGBACK_FRAMES = 50 * 120  # ringback while an extension rings: longer than any ring time


def _drop(data: bytes) -> None:
    return None


class LocalApp(Protocol):
    def start(self, session: LocalSession) -> None: ...
    def on_digit(self, digit: str) -> None: ...
    def on_dial_failed(self, status: int) -> None: ...
    def on_bridged(self, number: str) -> None: ...
    def stop(self) -> None: ...


class SessionApp:
    """What the apps share: the session they run on, set by ``start`` (``attach``)."""

    _session: LocalSession | None = None

    @property
    def session(self) -> LocalSession:
        assert self._session is not None, "the app has not started"
        return self._session

    def attach(self, session: LocalSession, listener: Listener | None = None) -> None:
        """Take ``session``; ``listener`` hears the caller every tick (timeouts, recording)."""
        self._session = session
        if listener is not None:
            session.player.listener = listener


# Rings extensions for a session (all at once, for ``ring_time`` seconds or each one's own):
# 0 when something rings, else the status that says why not.
Dialer = Callable[["LocalSession", list[str], float | None], int]


@dataclass(frozen=True, slots=True)
class MediaServices:
    """What a call needs from the media side: sockets, the ticker and its clock."""

    relay: RtpRelay
    engine: MediaEngine
    wake: Callable[[], None]
    monotonic: Callable[[], float]


def pick_codec(offer: SessionDescription) -> tuple[str, str]:
    """(payload type, name) of the first G.711 law the caller offers: we must decode it."""
    for pt, name in voice_codecs(offer).items():
        if name in CODECS:
            return pt, name
    raise NoCommonCodec()


class LocalSession:
    """One call answered by the switch: its leg A, RTP endpoint, port, player and app."""

    def __init__(
        self,
        b2bua: B2bua,
        call: Call,
        endpoint: RtpEndpoint,
        codec: tuple[str, str],
        event_pt: int | None,
        services: MediaServices,
        app: LocalApp,
        dialer: Dialer | None = None,
    ) -> None:
        self.dialer = dialer
        self.bridged_to: str | None = None  # the extension the caller now talks to
        self.b2bua = b2bua
        self.call = call
        self.endpoint = endpoint
        self.codec = codec
        self.services = services
        self.app = app
        relay = services.relay
        self.port = MediaPort(endpoint.rtp.send, CODECS[codec[1]], event_pt, services.monotonic)
        self.port.on_digit = self._digit
        relay.set_sink(endpoint, self.port.receive)
        self.player = Player(self.port)
        self.closed = False
        # Played to the callee alone when one answers, before the two are joined.
        self.callee_announcement: Pcm | None = None
        self._announcer: Player | None = None

    @property
    def call_id(self) -> str:
        return self.call.call_id

    @property
    def caller(self) -> str:
        return self.call.caller

    # --- what apps use -----------------------------------------------------------------------
    def start_player(self) -> None:
        """Put the player on the ticker (it is, from the answer until ``stop_player``)."""
        if not self.closed:
            self.services.engine.add(self.player)
            self.services.wake()

    def stop_player(self) -> None:
        """Take the player off the ticker: another job (a conference) drives the port now."""
        self.player.clear()
        self.services.engine.remove(self.player)

    def dial(self, numbers: list[str], ring_time: float | None = None) -> int:
        """Ring ``numbers`` at once and join the caller to whoever answers first; 0, or why
        nothing can ring.

        Meanwhile the caller hears ringback; ``LocalApp.on_dial_failed`` says when nobody
        answered, and the app goes on with its next step.
        """
        if self.dialer is None:
            return 404
        status = self.dialer(self, numbers, ring_time)
        if status == 0:
            self.player.clear()
            self.player.tone(tone("ringback"), frames=RINGBACK_FRAMES, barge_in=False)
        return status

    async def ring(
        self, callee: str, caller: tuple[str, str], bindings: list[Binding], ring_time: float
    ) -> None:
        """Open leg B's endpoint and have the B2BUA ring ``bindings`` (see ``dial``)."""
        relay = self.services.relay
        try:
            b = await relay.open_endpoint()
        except SipError:
            self.dial_failed(503)
            return
        if self.closed:
            relay.close_endpoint(b)
            return
        media = CallMedia(relay, self.endpoint, b)
        relay.set_sink(b, _drop)  # the callee's early media waits: the caller hears ringback
        self.b2bua.ring_for_local(self.call, media, callee, caller, bindings, ring_time)

    def bridged(self, answer: SessionDescription, number: str) -> None:
        """Extension ``number`` answered: the relay joins the two endpoints, the player
        stops, and the app hears who it was."""
        media = self.call.media
        assert media is not None
        media.set_remote("b", answer)
        pair = codecs_of(self.call.offer_a, answer)
        theirs = pair[1] if pair is not None else (int(self.codec[0]), self.codec[1])
        self.stop_player()
        self.bridged_to = number or self.call.callee
        self.call.agent = self.bridged_to
        announcement, self.callee_announcement = self.callee_announcement, None
        if announcement is not None and theirs[1] in CODECS:
            self._announce(announcement, media, theirs)
        else:
            self._join(media, theirs)
        self.app.on_bridged(self.bridged_to)

    def _announce(self, samples: Pcm, media: CallMedia, theirs: tuple[int, str]) -> None:
        """Play ``samples`` to the callee alone (a queue's agent announcement), then join."""
        services = self.services
        port = MediaPort(media.b.rtp.send, CODECS[theirs[1]], None, services.monotonic)
        services.relay.set_sink(media.b, port.receive)
        player = Player(port)
        self._announcer = player

        def done(finished: bool) -> None:
            services.engine.remove(player)
            self._announcer = None
            if not self.closed:
                self._join(media, theirs)

        player.play(samples, barge_in=False, done=done)
        services.engine.add(player)
        services.wake()

    def _join(self, media: CallMedia, theirs: tuple[int, str]) -> None:
        media.set_codecs((int(self.codec[0]), self.codec[1]), theirs)  # resets both sinks
        features = self.b2bua.features
        if self.call.record and features is not None:
            features.start_recording(self.call)

    def stop_dialing(self) -> None:
        """Stop ringing what ``dial`` rang (the caller gave up waiting, a queue moved on):
        ``on_dial_failed`` is not called; the player is the caller's again."""
        if self.closed or self.bridged_to is not None:
            return
        self.b2bua.stop_ringing(self.call)
        self.services.relay.set_sink(self.endpoint, self.port.receive)
        self.player.clear()

    def dial_failed(self, status: int) -> None:
        if self.closed:
            return
        self.services.relay.set_sink(self.endpoint, self.port.receive)
        self.player.clear()
        self.app.on_dial_failed(status)

    def hangup(self, why: str) -> None:
        self.b2bua.hangup(self.call, why)
        self.b2bua.endpoint.flush()

    def reject(self, status: int, reason: str | None = None) -> None:
        """End a call answered with early media only (183) with a final failure."""
        self.b2bua.fail(self.call, status, reason)
        self.b2bua.endpoint.flush()

    # --- the B2BUA's side ----------------------------------------------------------------------
    def _digit(self, digit: str) -> None:
        if not self.closed:
            self.app.on_digit(digit)

    def set_remote(self, sdp: SessionDescription) -> None:
        target = media_target(sdp)
        if target is None:
            self.endpoint.set_remote("0.0.0.0", None)
        else:
            self.endpoint.set_remote(target[0], target[1], rtcp=rtcp_target(sdp))

    def answer_sdp(self, offer: SessionDescription) -> bytes:
        leg = self.call.a
        host = self.b2bua.endpoint.local_host(leg.flow)
        sdp = rewrite_answer(offer, host, self.endpoint.local_port, leg.origin, codec=self.codec)
        leg.sdp_sent = sdp
        return serialize_sdp(sdp)

    def on_request(self, txn: ServerTxn, request: SipRequest) -> None:
        """A re-INVITE or an INFO inside the dialog."""
        endpoint = self.b2bua.endpoint
        leg = self.call.a
        if request.method == "INFO":
            dtmf = parse_dtmf_info(request.get("content-type") or "", request.body)
            endpoint.respond(txn, 200 if dtmf is not None or not request.body else 415)
            if dtmf is not None:
                self.port.digit(dtmf[0])
            return
        offer = offer_of(request)
        if offer is None:
            if leg.sdp_sent is None:
                raise SipError(488, "Not Acceptable Here")
            body = serialize_sdp(leg.sdp_sent)
        else:
            self.set_remote(offer)
            body = self.answer_sdp(offer)
        leg.reinvite_server = txn
        endpoint.respond(
            txn,
            200,
            to_tag=leg.tag,
            extra=(("contact", leg.dialog.local_contact), ("content-type", SDP)),
            body=body,
        )

    def close(self) -> None:
        """The call ended (BYE, CANCEL, shutdown, the app hung up): free everything."""
        if self.closed:
            return
        self.closed = True
        self.services.engine.remove(self.player)
        if self._announcer is not None:
            self.services.engine.remove(self._announcer)
        self.player.clear()
        try:
            self.app.stop()
        finally:
            self.services.relay.close_endpoint(self.endpoint)


async def answer_locally(
    b2bua: B2bua,
    services: MediaServices,
    call: Call,
    offer: SessionDescription,
    app: LocalApp,
    dialer: Dialer | None = None,
    early: bool = False,
) -> None:
    """Answer ``call`` (leg A ringing, 100 sent) with our media and start ``app`` on it.

    ``early``: a 183 with our SDP instead of a 200, so the caller hears ``app`` before a
    failure it ends with (``LocalSession.reject``); nothing is billed, the phone shows why.
    """
    txn = call.a.invite_server
    assert txn is not None
    try:
        codec = pick_codec(offer)
        endpoint = await services.relay.open_endpoint()
    except SipError as exc:
        b2bua.fail(call, exc.status, exc.reason, exc.extra_headers)
        b2bua.endpoint.flush()
        return
    if call.ended:  # cancelled while the port was being opened
        services.relay.close_endpoint(endpoint)
        return
    pt = event_payload_type(offer)
    session = LocalSession(b2bua, call, endpoint, codec, pt, services, app, dialer)
    call.local = session
    call.offer_a = offer
    session.set_remote(offer)
    leg = call.a
    body = session.answer_sdp(offer)
    if not early:
        leg.state = LegState.ANSWERED
        call.answered = services.monotonic()
    b2bua.endpoint.respond(
        txn,
        183 if early else 200,
        to_tag=leg.tag,
        extra=(("contact", leg.dialog.local_contact), ("content-type", SDP)),
        body=body,
    )
    log.info(
        "%s %s by the switch (%s)", call.call_id, "early media" if early else "answered", codec[1]
    )
    session.start_player()
    app.start(session)
    b2bua.endpoint.flush()
