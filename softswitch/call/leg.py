"""One side of a B2BUA call: a dialog, the flow its phone is reached on, its media endpoint."""

from __future__ import annotations

import enum
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from softswitch.rtp.offer_answer import Origin
from softswitch.rtp.sdp import SessionDescription
from softswitch.sip.dialog import Dialog
from softswitch.sip.digest_client import DigestClient
from softswitch.sip.endpoint import ClientTxn, ServerTxn
from softswitch.sip.message import SipMessage, SipRequest
from softswitch.sip.transaction import (
    AckTimedOut,
    ResponseReceived,
    TransactionEvent,
    TransactionTimedOut,
    TransportFailed,
)
from softswitch.sip.transport import Flow

if TYPE_CHECKING:
    from softswitch.call.calls import Call
    from softswitch.rtp.transport import RtpEndpoint


class LegState(enum.Enum):
    CALLING = "calling"  # INVITE sent / received, no answer yet
    EARLY = "early"  # a provisional response with a To tag
    ANSWERED = "answered"  # 2xx sent or received, ACK pending (leg A) or sent (leg B)
    CONFIRMED = "confirmed"
    ENDED = "ended"


@dataclass(eq=False, slots=True)
class Leg:
    """The caller side ("a") or one callee fork ("b")."""

    call_ref: weakref.ReferenceType[Call]  # weak: Call -> Leg -> Call must be no cycle
    side: str
    dialog: Dialog
    flow: Flow
    origin: Origin
    state: LegState = LegState.CALLING
    media: RtpEndpoint | None = None
    invite_server: ServerTxn | None = None  # leg A: the caller's INVITE
    invite_request: SipRequest | None = None  # leg B: the INVITE we sent (for CANCEL)
    invite_client: ClientTxn | None = None
    ack: bytes | None = None  # leg B: our ACK for its 2xx, re-sent on retransmitted 2xx
    got_provisional: bool = False
    cancel_pending: bool = False
    final_status: int = 0
    sdp_sent: SessionDescription | None = None  # last SDP we sent on this leg
    reinvite_server: ServerTxn | None = None  # a re-INVITE from this leg being relayed
    pending_offer: SessionDescription | None = None  # that re-INVITE's offer
    reinvite_client: ClientTxn | None = None  # a re-INVITE we sent on this leg
    relayed: dict[int, ServerTxn] = field(default_factory=dict)  # id(client txn) -> origin txn
    # The extension (address of record) this fork rings: leg B, or leg A of a call we placed.
    target: str = ""
    auth: DigestClient | None = None  # leg B to a trunk: answers the provider's challenge

    def release(self) -> None:
        """The call ended: keep only what late retransmissions need (dialog identity, our
        ACK, the caller's INVITE transaction for an ACK still to come) and drop the rest, so
        the 32 s a finished dialog is remembered costs little memory and GC work."""
        self.media = None
        if self.final_status or self.ack is not None or self.side == "a":
            # Its INVITE is finished. A fork still ringing keeps both: the CANCEL we owe it
            # (sent at its first provisional) and the ACK + BYE for a late 2xx need them.
            self.invite_request = None
            self.invite_client = None
        self.reinvite_server = None
        self.reinvite_client = None
        self.pending_offer = None
        self.sdp_sent = None
        self.relayed.clear()

    @property
    def call(self) -> Call:
        """The call this leg belongs to (ReferenceError once the call was forgotten)."""
        call = self.call_ref()
        if call is None:
            raise ReferenceError("the call was forgotten")
        return call

    @property
    def tag(self) -> str:
        return self.dialog.local_tag

    def on_txn_event(self, event: TransactionEvent[SipMessage, Flow], now: float) -> None:
        call = self.call_ref()
        if call is None:
            return  # a late event for a call forgotten 32 s ago: nothing left to do
        if isinstance(event, ResponseReceived):
            call.b2bua.on_response(self, event, now)
        elif isinstance(event, TransactionTimedOut):
            call.b2bua.on_timeout(self, event.txn, 408, now)
        elif isinstance(event, TransportFailed):
            call.b2bua.on_timeout(self, event.txn, 503, now)
        elif isinstance(event, AckTimedOut):
            call.b2bua.on_ack_timeout(self, now)
