"""Calls out through a trunk over real sockets: the provider's digest challenge is answered,
the caller ID is the extension's, an extension without permission hears why and gets 403,
and an external destination's code dials its number."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest
from sipclient import RtpSocket, SipPeer, make_sdp, new_tag, parse_challenge, read_sdp

from softswitch.sip.message import SipRequest
from softswitch.sip.uri import parse_uri

if TYPE_CHECKING:
    from conftest import RunningSwitch, SwitchFactory

TRUNK_HOST = "127.0.0.2"
REALM = "provider.test"


@dataclass
class Setup:
    sw: RunningSwitch
    provider: SipPeer
    ana: SipPeer  # 1001: may call out, caller ID +34910000001
    bruno: SipPeer  # 1002: may not
    rtp: RtpSocket


@pytest.fixture
def setup(make_switch: SwitchFactory) -> Iterator[Setup]:
    provider = SipPeer(("127.0.0.1", 0), user="provider", host=TRUNK_HOST)
    port = provider.local[1]
    extra = f"""
[trunks.proveedor]
host = "{TRUNK_HOST}"
port = {port}
username = "acme"
password = "trunk-secret"
inbound_from = ["{TRUNK_HOST}/32"]

[[outbound_routes]]
match = "+34[6-9]XXXXXXXX"
trunk = "proveedor"

[external_destinations.movil_ana]
code = "2001"
number = "+34600111222"
"""
    keys = {
        "1001": {
            "outbound": True,
            "caller_ids": ["+34910000001", "+34910000009"],
            "record": "outbound",
        },
        "1002": {"outbound": False},
    }
    sw = make_switch(extra=extra, server={"country": "ES"}, extension_keys=keys)
    provider.server = sw.udp
    make_switch.peers.append(provider)
    ana, bruno = make_switch.peer(sw, "1001"), make_switch.peer(sw, "1002")
    rtp = RtpSocket()
    try:
        yield Setup(sw, provider, ana, bruno, rtp)
    finally:
        rtp.close()


def _digest_ok(request: SipRequest, nonce: str) -> bool:
    """Check the switch's Authorization independently of its digest code (RFC 2617, MD5)."""
    header = request.get("authorization")
    if header is None:
        return False
    params = parse_challenge(header)
    md5 = lambda text: hashlib.md5(text.encode()).hexdigest()  # noqa: E731
    ha1 = md5(f"acme:{REALM}:trunk-secret")
    ha2 = md5(f"INVITE:{params['uri']}")
    if "qop" in params:
        expected = md5(f"{ha1}:{nonce}:{params['nc']}:{params['cnonce']}:auth:{ha2}")
    else:
        expected = md5(f"{ha1}:{nonce}:{ha2}")
    return params["uri"] == request.uri and params["response"] == expected


def _challenge_then_answer(provider: SipPeer) -> SipRequest:
    """Play the provider: 401 to the first INVITE, 200 to the one with good credentials."""
    first = provider.expect_request("INVITE")
    nonce = "n" + new_tag()
    provider.reply(
        first,
        401,
        to_tag=new_tag(),
        headers=[("www-authenticate", f'Digest realm="{REALM}", nonce="{nonce}", qop="auth"')],
    )
    second = provider.expect_request("INVITE")
    assert second.call_id == first.call_id
    assert second.cseq.number == first.cseq.number + 1
    assert _digest_ok(second, nonce)
    return second


def test_extension_calls_out_with_its_caller_id(setup: Setup) -> None:
    s = setup
    invite = s.ana.invite("600111222", make_sdp(s.rtp.port))
    second = _challenge_then_answer(s.provider)
    assert parse_uri(second.uri).user == "+34600111222"
    assert parse_uri(second.from_.uri).user == "+34910000001"  # the first of caller_ids
    provider_rtp = RtpSocket(TRUNK_HOST)
    try:
        s.provider.reply(second, 200, to_tag=new_tag(), body=make_sdp(provider_rtp.port))
        ok = s.ana.response(invite)
        assert ok.status == 200
        assert read_sdp(ok.body).port != provider_rtp.port  # the switch anchors the media
        # record = "outbound": the call is recorded from the answer
        recordings = s.sw.config_path.parent / "state" / "recordings"
        assert len(list(recordings.rglob("*.wav"))) == 1
    finally:
        provider_rtp.close()


def test_a_presented_caller_id_from_the_list_is_kept(setup: Setup) -> None:
    s = setup
    s.ana.invite(
        "+34600111222",
        make_sdp(s.rtp.port),
        headers=[("p-preferred-identity", "<sip:+34910000009@127.0.0.1>")],
    )
    second = _challenge_then_answer(s.provider)
    assert parse_uri(second.from_.uri).user == "+34910000009"
    s.provider.reply(second, 486, to_tag=new_tag())


def test_external_destination_code_dials_its_number(setup: Setup) -> None:
    s = setup
    invite = s.ana.invite("2001", make_sdp(s.rtp.port))
    second = _challenge_then_answer(s.provider)
    assert parse_uri(second.uri).user == "+34600111222"
    s.provider.reply(second, 486, to_tag=new_tag())
    assert s.ana.response(invite).status == 486


def test_extension_without_permission_hears_why_and_gets_403(setup: Setup) -> None:
    s = setup
    invite = s.bruno.invite("600111222", make_sdp(s.rtp.port))
    early = s.bruno.provisional(invite, 183)
    media = read_sdp(early.body)
    packets = s.rtp.receive(20)  # the sentence comes as early media
    assert len(packets) == 20 and media.port > 0
    final = s.bruno.response(invite, timeout=15)
    assert final.status == 403
    assert s.provider.silent_for(0.3)  # nothing reached the provider
