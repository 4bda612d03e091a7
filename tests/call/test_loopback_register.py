"""REGISTER against the running switch over loopback UDP and TCP."""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING

from sipclient import (
    SipPeer,
    digest_authorization,
    make_sdp,
    parse_challenge,
    pick_challenge,
)

if TYPE_CHECKING:
    from conftest import SwitchFactory

    from softswitch.sip.message import SipResponse


def _contacts(response: SipResponse) -> dict[str, int]:
    """Contact URI -> expires from a 200 to REGISTER."""
    out: dict[str, int] = {}
    for value in response.values("contact"):
        uri, _, params = value.partition(">")
        expires = [p.split("=", 1)[1] for p in params.split(";") if p.startswith("expires=")]
        out[uri.lstrip("<")] = int(expires[0])
    return out


def test_challenge_offers_md5_and_sha256(make_switch: SwitchFactory) -> None:
    sw = make_switch()
    peer = make_switch.peer(sw, "1001")
    request = peer.request(
        "REGISTER", "sip:127.0.0.1", to=f"<{peer.aor}>", headers=[("expires", "300")]
    )
    response = peer.transact(request)
    assert response.status == 401
    assert response.to.tag is not None
    challenges = [parse_challenge(v) for v in response.get_all("www-authenticate")]
    assert sorted(c["algorithm"] for c in challenges) == ["MD5", "SHA-256"]
    for challenge in challenges:
        assert challenge["realm"] == "127.0.0.1"
        assert challenge["qop"] == "auth"
        assert len(challenge["nonce"]) >= 16
    # Via: received and rport filled in with our real source (RFC 3581).
    assert f"rport={peer.local[1]}" in (response.get("via") or "")
    assert "received=127.0.0.1" in (response.get("via") or "")


def test_register_md5_returns_contact_with_expires(make_switch: SwitchFactory) -> None:
    sw = make_switch()
    peer = make_switch.peer(sw, "1001")
    response = peer.register(expires=300)
    assert response.status == 200, response
    assert _contacts(response) == {peer.contact_uri(): 300}
    assert response.get("date")


def test_register_sha256(make_switch: SwitchFactory) -> None:
    sw = make_switch()
    peer = make_switch.peer(sw, "1002")
    response = peer.register(expires=120, algorithm="SHA-256")
    assert response.status == 200, response
    assert _contacts(response) == {peer.contact_uri(): 120}


def test_wrong_password_and_unknown_user_look_the_same(make_switch: SwitchFactory) -> None:
    sw = make_switch()
    known = make_switch.peer(sw, "1001")
    unknown = make_switch.peer(sw, "7777")
    wrong = known.register(password="not-the-password")
    nobody = unknown.register(password="whatever")
    assert wrong.status == nobody.status == 403
    assert wrong.reason == nobody.reason
    # Their challenges have the same shape too: same parameters, same algorithms.
    shapes = []
    for peer in (known, unknown):
        request = peer.request("REGISTER", "sip:127.0.0.1", to=f"<{peer.aor}>")
        response = peer.transact(request)
        assert response.status == 401
        challenges = [parse_challenge(v) for v in response.get_all("www-authenticate")]
        shapes.append(sorted((c["algorithm"], *sorted(c)) for c in challenges))
    assert shapes[0] == shapes[1]
    assert len(shapes[0]) == 2


def test_interval_too_brief(make_switch: SwitchFactory) -> None:
    sw = make_switch()
    peer = make_switch.peer(sw, "1001")
    response = peer.register(expires=30)
    assert response.status == 423
    assert response.get("min-expires") == "60"


def test_expires_above_max_is_cut(make_switch: SwitchFactory) -> None:
    sw = make_switch()
    peer = make_switch.peer(sw, "1001")
    response = peer.register(expires=99999)
    assert response.status == 200
    assert _contacts(response) == {peer.contact_uri(): 3600}


def test_several_contacts_query_and_wildcard_removal(make_switch: SwitchFactory) -> None:
    sw = make_switch()
    peer = make_switch.peer(sw, "1001")
    a, b = "sip:1001@127.0.0.1:40001", "sip:1001@127.0.0.1:40002"
    both = peer.register(contacts=[f"<{a}>;expires=200", f"<{b}>"], expires=400)
    assert both.status == 200
    assert _contacts(both) == {a: 200, b: 400}

    query = peer.register(contacts=[], expires=None)
    assert query.status == 200
    assert set(_contacts(query)) == {a, b}

    bad_wildcard = peer.register(contacts=["*"], expires=300)
    assert bad_wildcard.status == 400

    removed = peer.register(contacts=["*"], expires=0)
    assert removed.status == 200
    assert removed.values("contact") == []
    assert peer.register(contacts=[], expires=None).values("contact") == []


def test_expires_zero_removes_one_contact(make_switch: SwitchFactory) -> None:
    sw = make_switch()
    peer = make_switch.peer(sw, "1001")
    a, b = "sip:1001@127.0.0.1:40001", "sip:1001@127.0.0.1:40002"
    assert peer.register(contacts=[f"<{a}>", f"<{b}>"]).status == 200
    response = peer.register(contacts=[f"<{a}>;expires=0"])
    assert response.status == 200
    assert set(_contacts(response)) == {b}


def test_cannot_register_someone_elses_extension(make_switch: SwitchFactory) -> None:
    sw = make_switch()
    peer = make_switch.peer(sw, "1001")
    # 1001's own credentials, for 1002's address of record.
    call_id = "steal@test"
    uri = "sip:127.0.0.1"
    first = peer.request("REGISTER", uri, to="<sip:1002@127.0.0.1>", call_id=call_id)
    challenge = peer.transact(first)
    auth = digest_authorization(
        pick_challenge(challenge, "www-authenticate", "MD5"),
        method="REGISTER",
        uri=uri,
        username="1001",
        password=peer.password,
    )
    response = peer.transact(peer.again(first, cseq=2, headers=[("authorization", auth)]))
    assert response.status == 403


def test_register_over_tcp_and_keepalive_pong(make_switch: SwitchFactory) -> None:
    sw = make_switch()
    peer = make_switch.peer(sw, "1001", transport="tcp")
    response = peer.register(expires=300)
    assert response.status == 200, response
    assert _contacts(response) == {peer.contact_uri(): 300}
    assert "SIP/2.0/TCP" in (response.get("via") or "")
    # RFC 5626 §3.5.1: a CRLFCRLF ping gets a CRLF pong on the same connection.
    peer.send(b"\r\n\r\n")
    assert peer.silent_for(0.3)
    assert peer.pongs == 1
    # The connection still carries SIP afterwards.
    options = peer.request("OPTIONS", "sip:127.0.0.1")
    assert peer.transact(options).status == 200


def test_registrations_survive_restart(make_switch: SwitchFactory) -> None:
    sw = make_switch(server={"ring_time": 5})
    callee = make_switch.peer(sw, "1002")
    assert callee.register(expires=600).status == 200
    # The same state_dir, new ephemeral ports: the binding was persisted.
    again = make_switch.restart(sw)
    callee.server = again.udp  # the phone answers where the new INVITE's Via points
    caller = make_switch.peer(again, "1001")
    invite = caller.invite("1002", make_sdp(4000))
    assert caller.response(invite, final=False).status == 100
    incoming = callee.expect_request("INVITE")
    assert incoming.to.uri.startswith("sip:1002@")
    callee.reply(incoming, 486, to_tag="busy")
    final = caller.response(invite)
    assert final.status == 486
    caller.send(caller.ack_for_failure(invite, final))


def test_retransmitted_register_gets_same_answer(make_switch: SwitchFactory) -> None:
    peer = make_switch.peer(make_switch(), "1001")
    request = peer.request("REGISTER", "sip:127.0.0.1", to=f"<{peer.aor}>")
    peer.send(request)
    first = peer.response(request)
    peer.send(request)  # same branch: absorbed by the transaction, the answer re-sent
    second = peer.response(request)
    assert first.status == 401
    assert first.to_bytes() == second.to_bytes()  # the same nonce: no second challenge


def test_udp_socket_unaffected_by_tcp_peer(make_switch: SwitchFactory) -> None:
    """A TCP client that connects and leaves does not disturb UDP service."""
    sw = make_switch()
    with socket.create_connection(sw.tcp, timeout=2):
        pass
    peer: SipPeer = make_switch.peer(sw, "1001")
    assert peer.register().status == 200
