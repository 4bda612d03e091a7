"""Dialog state (RFC 3261 §12): identifiers, CSeq rules, route set, request building.

A dialog here also remembers the ``Flow`` its peer is reached on: the switch always sends
in-dialog requests along the flow the phone's packets come from, never to the address in
its Contact, so phones behind NAT (or with a wrong Contact) still get them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from softswitch.errors import SipError
from softswitch.ids import POOL
from softswitch.sip.headers import parse_name_addr
from softswitch.sip.message import Header, SipMessage, SipRequest, SipResponse
from softswitch.sip.transport import Flow

MAX_FORWARDS = "70"


def new_tag() -> str:
    return POOL.hex(6)


def new_call_id(host: str) -> str:
    return f"{POOL.hex(10)}@{host}"


# Our branches carry a mark after the RFC 3261 cookie, so a request that comes back to us
# with one of our own Vias (a loop) can be recognised.
BRANCH_PREFIX = "z9hG4bKsw"


def new_branch() -> str:
    return BRANCH_PREFIX + POOL.hex(8)


@dataclass(slots=True)
class Dialog:
    call_id: str
    local_tag: str
    remote_tag: str | None
    local_uri: str  # name-addr without tag, e.g. '"Ana" <sip:1001@pbx>'
    remote_uri: str
    remote_target: str  # the peer's Contact URI: the Request-URI of our in-dialog requests
    local_contact: str  # our Contact header value
    flow: Flow
    local_seq: int = 0
    remote_seq: int | None = None
    route_set: list[str] = field(default_factory=list)
    confirmed: bool = False

    @property
    def key(self) -> tuple[str, str]:
        return (self.call_id, self.local_tag)

    def next_cseq(self) -> int:
        self.local_seq += 1
        return self.local_seq

    def check_remote_cseq(self, request: SipRequest) -> None:
        """RFC 3261 §12.2.2: a lower CSeq than the last one is out of order (500)."""
        number = request.cseq.number
        if request.method in ("ACK", "CANCEL"):
            return
        if self.remote_seq is not None and number <= self.remote_seq:
            raise SipError(500, "CSeq Out of Order")
        self.remote_seq = number

    def request(
        self,
        method: str,
        via: str,
        *,
        cseq: int | None = None,
        body: bytes = b"",
        content_type: str | None = None,
        extra: tuple[Header, ...] = (),
    ) -> SipRequest:
        number = self.next_cseq() if cseq is None else cseq
        to = (
            self.remote_uri
            if self.remote_tag is None
            else f"{self.remote_uri};tag={self.remote_tag}"
        )
        headers: list[Header] = [
            ("via", via),
            ("max-forwards", MAX_FORWARDS),
            ("from", f"{self.local_uri};tag={self.local_tag}"),
            ("to", to),
            ("call-id", self.call_id),
            ("cseq", f"{number} {method}"),
        ]
        headers.extend(("route", route) for route in self.route_set)
        if method not in ("ACK", "CANCEL", "BYE"):
            headers.append(("contact", self.local_contact))
        if content_type is not None:
            headers.append(("content-type", content_type))
        headers.extend(extra)
        return SipRequest(method, self.remote_target, headers, body)


def uas_dialog(request: SipRequest, local_tag: str, local_contact: str, flow: Flow) -> Dialog:
    """The dialog a UAS creates from a dialog-forming request (RFC 3261 §12.1.1)."""
    contact = _contact_uri(request.values("contact"))
    if contact is None:
        raise SipError(400, "Missing Contact")
    dialog = Dialog(
        call_id=request.call_id,
        local_tag=local_tag,
        remote_tag=request.from_.tag,
        local_uri=_without_tag(request.to.render()),
        remote_uri=_without_tag(request.from_.render()),
        remote_target=contact,
        local_contact=local_contact,
        flow=flow,
        remote_seq=request.cseq.number,
        route_set=request.values("record-route"),
    )
    return dialog


def update_from_response(dialog: Dialog, response: SipResponse) -> None:
    """A UAC dialog learns the peer's tag, target and route set from a 1xx/2xx (§12.1.2)."""
    tag = response.to.tag
    if tag is not None:
        dialog.remote_tag = tag
    contact = _contact_uri(response.values("contact")) if response.has("contact") else None
    if contact is not None:
        dialog.remote_target = contact
    if not dialog.confirmed and response.has("record-route"):
        dialog.route_set = list(reversed(response.values("record-route")))
    if 200 <= response.status < 300:
        dialog.confirmed = True


def _contact_uri(values: list[str]) -> str | None:
    if not values:
        return None
    return parse_name_addr(values[0]).uri


def _without_tag(rendered: str) -> str:
    head, _, _ = rendered.partition(">")
    return head + ">"


def cancel_for(invite: SipRequest) -> SipRequest:
    """The CANCEL for an INVITE we sent (RFC 3261 §9.1): same branch, Request-URI, Call-ID,
    From, To and CSeq number; its own method."""
    return SipRequest("CANCEL", invite.uri, _mirror(invite, invite.get("to") or "", "CANCEL"))


def non2xx_ack(invite: SipRequest, response: SipMessage) -> bytes:
    """The ACK for a non-2xx final response (RFC 3261 §17.1.1.3): the INVITE's branch and
    Request-URI, the To of the response (with its tag)."""
    to = response.get("to") or invite.get("to") or ""
    return SipRequest("ACK", invite.uri, _mirror(invite, to, "ACK")).to_bytes()


def ack_builder(invite: SipRequest) -> Callable[[SipMessage], bytes]:
    """What an INVITE client transaction calls to build the ACK for a non-2xx final."""

    def build(response: SipMessage) -> bytes:
        return non2xx_ack(invite, response)

    return build


def _mirror(invite: SipRequest, to: str, method: str) -> list[Header]:
    headers: list[Header] = [
        ("via", (invite.get("via") or "").split(",")[0]),
        ("max-forwards", MAX_FORWARDS),
        ("from", invite.get("from") or ""),
        ("to", to),
        ("call-id", invite.call_id),
        ("cseq", f"{invite.cseq.number} {method}"),
    ]
    headers.extend(("route", route) for route in invite.get_all("route"))
    return headers
