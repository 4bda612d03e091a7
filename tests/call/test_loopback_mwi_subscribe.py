"""A phone that SUBSCRIBEs to its mailbox on a running switch (RFC 3842): it must
authenticate; then it gets 200 and at once a NOTIFY in that dialog with its counts; another
event package is refused with 489."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sipclient import SipPeer, digest_authorization, pick_challenge

from softswitch.sip.message import SipRequest, SipResponse
from softswitch.sip.mwi import parse_message_summary

if TYPE_CHECKING:
    from conftest import SwitchFactory


def _subscribe(peer: SipPeer, event: str) -> tuple[SipRequest, SipResponse]:
    """SUBSCRIBE to the peer's own mailbox, answering the digest challenge."""
    uri = peer.uri(peer.user)
    headers = [("event", event), ("accept", "application/simple-message-summary")]
    first = peer.request("SUBSCRIBE", uri, headers=[*headers, ("expires", "600")])
    challenge = peer.transact(first)
    assert challenge.status == 407
    params = pick_challenge(challenge, "proxy-authenticate", "MD5")
    auth = digest_authorization(
        params, method="SUBSCRIBE", uri=uri, username=peer.user, password=peer.password
    )
    second = peer.again(first, cseq=2, headers=[("proxy-authorization", auth)])
    return second, peer.transact(second)


def test_a_subscription_gets_its_counts_in_the_dialog(make_switch: SwitchFactory) -> None:
    sw = make_switch(extension_keys={"1001": {"voicemail": True}})
    phone = make_switch.peer(sw, "1001")
    request, ok = _subscribe(phone, "message-summary")
    assert ok.status == 200 and ok.to.tag is not None
    notify = phone.expect_request("NOTIFY", call_id=request.call_id)
    assert notify.to.tag == request.from_.tag  # in the subscription's dialog
    assert (notify.get("event") or "").startswith("message-summary")
    summary = parse_message_summary(notify.body)
    assert not summary.waiting and summary.voice is not None and summary.voice.new == 0
    phone.reply(notify, 200)


def test_another_event_package_is_refused(make_switch: SwitchFactory) -> None:
    sw = make_switch()
    phone = make_switch.peer(sw, "1001")
    _, refused = _subscribe(phone, "presence")
    assert refused.status == 489
