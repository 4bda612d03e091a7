"""One call as the B2BUA sees it: leg A, its forks, the winning leg B, media, timing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from softswitch.call.b2bua import B2bua
    from softswitch.call.leg import Leg
    from softswitch.call.local import LocalSession
    from softswitch.call.media import CallMedia
    from softswitch.rtp.sdp import SessionDescription


class Call:
    """One call: leg A, its forks, the winning leg B, and their media."""

    def __init__(self, b2bua: B2bua, a: Leg | None, caller: str, callee: str, now: float) -> None:
        self.b2bua = b2bua
        self.a: Leg = a  # type: ignore[assignment]  # set right after construction
        self.forks: list[Leg] = []
        self.retired: list[Leg] = []  # forks of earlier rounds (a group ringing in turns)
        self.b: Leg | None = None
        self.caller = caller
        self.caller_name = ""  # what the callee's screen shows, when the switch answered first
        self.callee = callee
        self.started = now
        self.answered: float | None = None
        self.ended = False
        self.media: CallMedia | None = None
        self.local: LocalSession | None = None  # a call the switch answered itself
        self.offer_a: SessionDescription | None = None  # the caller's offer, for transcoding
        self.record = False  # record this call once answered
        self.recording_path: Path | None = None
        self.ring_deadline: float | None = None
        # When leg A gets a 100 Trying if nothing else was sent by then (RFC 3261 §17.2.1).
        self.trying_at: float | None = None
        self.provisional_sent = 0
        # The caller's INVITE had no SDP (RFC 3261 §13.2.1 "delayed offer"): we offer to the
        # callee ourselves, send the caller an offer in our 200 and take its answer from the ACK.
        self.late_offer = False
        self.forget_at: float | None = None  # when its dialogs may be dropped, once ended
        # For the call's history row (issue 5): set where each fact becomes known.
        self.direction = "internal"  # inbound (from a trunk) | outbound (to a trunk) | internal
        self.did = ""  # the company number it came in on
        self.place = ""  # "group:ventas", "queue:soporte": where it was offered
        self.agent = ""  # the extension that answered
        self.outcome = ""  # how it ended, when not plain answered/no answer: voicemail...
        self.final_status = 0  # the failure the caller got, if it was never answered
        self.wall_started = 0.0  # wall-clock time of the INVITE (started is monotonic)
        # A call the switch placed itself (click-to-call): leg A is ours, as UAC; this gets
        # the answer of the first of its phones to answer.
        self.on_originated: Callable[[SessionDescription], None] | None = None
        # Told once as the call ends, answered or not (a call we placed frees its RTP port).
        self.on_ended: Callable[[], None] | None = None

    @property
    def call_id(self) -> str:
        return self.a.dialog.call_id

    def other(self, leg: Leg) -> Leg | None:
        return self.b if leg is self.a else self.a
