"""Requests every UAS must handle (RFC 3261 §8.2), against the running switch over UDP."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from sipclient import SipPeer, make_sdp

if TYPE_CHECKING:
    from conftest import SwitchFactory

ALLOWED = {"INVITE", "ACK", "CANCEL", "BYE", "OPTIONS"}


@pytest.fixture
def peer(make_switch: SwitchFactory) -> SipPeer:
    return make_switch.peer(make_switch(), "1001")


def _allow(response: object) -> set[str]:
    return {m.strip() for m in response.values("allow")}  # type: ignore[attr-defined]


def test_options_out_of_dialog(peer: SipPeer) -> None:
    request = peer.request("OPTIONS", "sip:127.0.0.1")
    response = peer.transact(request)
    assert response.status == 200
    assert _allow(response) >= ALLOWED
    assert response.to.tag is not None
    assert response.call_id == request.call_id
    assert response.get("cseq") == "1 OPTIONS"


def test_options_with_max_forwards_zero_is_answered(peer: SipPeer) -> None:
    request = peer.request("OPTIONS", "sip:127.0.0.1")
    request.set("max-forwards", "0")
    response = peer.transact(request)
    assert response.status == 200
    assert _allow(response) >= ALLOWED


def test_unknown_method_gets_501_with_allow(peer: SipPeer) -> None:
    request = peer.request("FROBNICATE", "sip:127.0.0.1")
    response = peer.transact(request)
    assert response.status == 501
    assert _allow(response) >= ALLOWED


def test_unknown_require_gets_420_with_unsupported(peer: SipPeer) -> None:
    request = peer.request("OPTIONS", "sip:127.0.0.1", headers=[("require", "foo")])
    response = peer.transact(request)
    assert response.status == 420
    assert response.values("unsupported") == ["foo"]


def test_invite_with_text_body_gets_415_with_accept(peer: SipPeer) -> None:
    # Checked before authentication: a body we cannot use is refused without a challenge.
    invite = peer.request("INVITE", peer.uri("1002"), body=b"hello", content_type="text/plain")
    response = peer.transact(invite)
    assert response.status == 415
    assert response.get("accept") == "application/sdp"
    peer.send(peer.ack_for_failure(invite, response))


def test_tel_request_uri_gets_416(peer: SipPeer) -> None:
    request = peer.request("OPTIONS", "tel:+34910000000")
    response = peer.transact(request)
    assert response.status == 416


def test_invite_to_tel_uri_gets_416(peer: SipPeer) -> None:
    invite = peer.request("INVITE", "tel:+34910000000", body=make_sdp(4000))
    response = peer.transact(invite)
    assert response.status == 416
    peer.send(peer.ack_for_failure(invite, response))


def test_malformed_request_gets_400_and_server_keeps_serving(peer: SipPeer) -> None:
    request = peer.request("OPTIONS", "sip:127.0.0.1")
    call_id = request.call_id
    peer.send(request.to_bytes().replace(b"CSeq: 1 OPTIONS", b"CSeq: OPTIONS"))
    peer.collect(0.3)
    # The 400 copies the broken CSeq, so it is no well-formed message either: read it raw.
    assert len(peer.unparsed) == 1
    head = peer.unparsed[0].decode()
    assert head.startswith("SIP/2.0 400 ")
    assert f"Call-ID: {call_id}\r\n" in head
    assert "CSeq: OPTIONS\r\n" in head
    assert f"rport={peer.local[1]}" in head
    assert peer.transact(peer.request("OPTIONS", "sip:127.0.0.1")).status == 200


def test_garbage_datagram_is_ignored(peer: SipPeer) -> None:
    peer.send(b"\x16\x03\x01 this is not SIP at all\r\n\r\n")
    assert peer.silent_for(0.2)
    assert peer.transact(peer.request("OPTIONS", "sip:127.0.0.1")).status == 200


def test_bye_outside_dialog_gets_481(peer: SipPeer) -> None:
    request = peer.request("BYE", peer.uri("1002"))
    assert peer.transact(request).status == 481


def test_cancel_without_invite_gets_481(peer: SipPeer) -> None:
    invite = peer.request("INVITE", peer.uri("1002"), body=make_sdp(4000))
    assert peer.transact(peer.cancel_for(invite)).status == 481


def test_in_dialog_request_for_unknown_dialog_gets_481(peer: SipPeer) -> None:
    request = peer.request("INFO", peer.uri("1002"), to=f"<{peer.uri('1002')}>;tag=nosuch")
    assert peer.transact(request).status == 481


def test_wrong_sip_version_gets_505(peer: SipPeer) -> None:
    raw = peer.request("OPTIONS", "sip:127.0.0.1").to_bytes()
    raw = raw.replace(b"SIP/2.0\r\n", b"SIP/7.0\r\n", 1)
    peer.send(raw)
    response = peer.wait_for(lambda m: True)
    assert getattr(response, "status", None) == 505
