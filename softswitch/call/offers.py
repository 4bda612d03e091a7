"""SDP in the B2BUA's messages: what an INVITE offers, what a response or ACK answers."""

from __future__ import annotations

from softswitch.errors import SipError
from softswitch.rtp.sdp import SdpError, SessionDescription, parse_sdp
from softswitch.sip.message import SipMessage, SipRequest

SDP = "application/sdp"
ALLOW_HEADER = ("allow", "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE")
# What we offer a callee when the caller offered nothing: the codecs we relay (payload types
# pass through untouched, so both legs must end up on one of these). The address is a
# placeholder the rewrite replaces with ours; it must not be 0.0.0.0, which means hold.
OUR_OFFER = (
    b"v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    b"m=audio 9 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"
    b"a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=sendrecv\r\n"
)


def offer_of(request: SipRequest) -> SessionDescription | None:
    """The SDP offer of an INVITE (None: no body, a delayed offer); bad SDP is a 400."""
    if not request.body:
        return None
    if request.content_type != SDP:
        raise SipError(415, "Unsupported Media Type", (("accept", SDP),))
    try:
        return parse_sdp(request.body)
    except SdpError as exc:
        raise SipError(400, f"Bad SDP: {exc}") from None


def answer_of(message: SipMessage) -> SessionDescription | None:
    """The SDP a response (or an ACK) carries; None if none or unreadable."""
    if not message.body or message.content_type != SDP:
        return None
    try:
        return parse_sdp(message.body)
    except SdpError:
        return None
