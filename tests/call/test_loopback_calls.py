"""Calls through the running B2BUA: 1001 (caller) -> switch -> 1002 (callee), over loopback.

Each test scripts both phones; the switch is the real App with its sockets and RTP relay.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from conftest import Phones
from sipclient import (
    Dialog,
    RtpSocket,
    SdpView,
    make_sdp,
    new_tag,
    parse_challenge,
    read_sdp,
    rtp_packet,
)

from softswitch.sip.message import SipRequest, SipResponse, parse_message

if TYPE_CHECKING:
    from conftest import SwitchFactory

RTP_FIRST = 31000  # conftest hands every app a free block of 100 ports in 31000-39999
RTP_LAST = 39999


@dataclass
class Call:
    """An answered, ACKed call and what each side learned."""

    invite: SipRequest  # the caller's authenticated INVITE
    incoming: SipRequest  # the INVITE the callee got
    a: Dialog  # the caller's dialog (towards the switch)
    b: Dialog  # the callee's dialog (towards the switch)
    a_media: SdpView  # where the caller must send RTP (the switch)
    b_media: SdpView  # where the callee must send RTP (the switch)
    ok: SipResponse  # the 200 the caller got


def _in_rtp_range(view: SdpView) -> bool:
    return view.host == "127.0.0.1" and RTP_FIRST <= view.port <= RTP_LAST


def ring(p: Phones, **invite_kw: object) -> tuple[SipRequest, SipRequest]:
    """Caller INVITEs 1002 (answering the 407); returns (caller's INVITE, callee's INVITE)."""
    invite = p.caller.invite("1002", make_sdp(p.caller_rtp.port), **invite_kw)  # type: ignore[arg-type]
    # The callee has not answered yet: the switch says 100 Trying, 200 ms after the INVITE.
    trying = p.caller.response(invite, final=False)
    assert trying.status == 100
    incoming = p.callee.expect_request("INVITE")
    return invite, incoming


def answer(p: Phones, invite: SipRequest, incoming: SipRequest) -> Call:
    """Callee rings then answers; the caller gets 180 and 200 and ACKs."""
    tag = new_tag()
    p.callee.reply(incoming, 180, to_tag=tag)
    assert p.caller.provisional(invite, 180).to.tag is not None
    p.callee.reply(incoming, 200, to_tag=tag, body=make_sdp(p.callee_rtp.port))
    ok = p.caller.response(invite)
    assert ok.status == 200, ok
    a = p.caller.uac_dialog(invite, ok)
    p.caller.ack_2xx(a)
    ack = p.callee.expect_request("ACK", call_id=incoming.call_id)
    assert ack.cseq.number == incoming.cseq.number
    b = p.callee.uas_dialog(incoming, tag)
    return Call(invite, incoming, a, b, read_sdp(ok.body), read_sdp(incoming.body), ok)


def establish(p: Phones) -> Call:
    return answer(p, *ring(p))


def relay_check(p: Phones, call: Call) -> None:
    """RTP both ways arrives unmodified, at each phone's own RTP socket."""
    to_callee = [rtp_packet(100 + i, 160 * i, 0x1111, bytes([i]) * 160) for i in range(5)]
    for packet in to_callee:
        p.caller_rtp.send(packet, (call.a_media.host, call.a_media.port))
    assert p.callee_rtp.receive(5) == to_callee
    to_caller = [
        rtp_packet(7 + i, 8000 + 160 * i, 0x2222, bytes([0x80 + i]) * 160, pt=8) for i in range(5)
    ]
    for packet in to_caller:
        p.callee_rtp.send(packet, (call.b_media.host, call.b_media.port))
    assert p.caller_rtp.receive(5) == to_caller


# --------------------------------------------------------------------------- set-up


def test_call_setup_headers_sdp_and_rtp(phones: Phones) -> None:
    p = phones
    invite, incoming = ring(p)
    # The callee sees the caller's identity, on a Call-ID of its own (B2BUA, not a proxy).
    assert incoming.from_.display == "Ana García"
    assert incoming.from_.uri.startswith("sip:1001@")
    assert incoming.from_.tag is not None
    assert incoming.to.tag is None
    assert incoming.call_id != invite.call_id
    assert incoming.uri == p.callee.contact_uri()
    assert int(incoming.get("max-forwards") or 0) == 69
    assert incoming.get("proxy-authorization") is None  # credentials never leak to the callee
    offer = read_sdp(incoming.body)
    assert _in_rtp_range(offer)
    assert offer.payloads == ("0", "8", "101")
    call = answer(p, invite, incoming)
    assert _in_rtp_range(call.a_media)
    assert call.a_media.port != call.b_media.port
    assert call.ok.to.tag is not None and call.ok.get("contact")
    relay_check(p, call)


def _statuses(raw: list[tuple[float, bytes]], call_id: str) -> list[int]:
    parsed = (parse_message(data) for _, data in raw)
    return [m.status for m in parsed if isinstance(m, SipResponse) and m.call_id == call_id]


def test_no_100_trying_when_the_callee_rings_at_once(phones: Phones) -> None:
    """RFC 3261 §17.2.1: a 180 within 200 ms makes the 100 unnecessary, so none is sent."""
    p = phones
    invite = p.caller.invite("1002", make_sdp(p.caller_rtp.port))
    incoming = p.callee.expect_request("INVITE")
    tag = new_tag()
    p.callee.reply(incoming, 180, to_tag=tag)
    assert p.caller.response(invite, final=False).status == 180
    p.caller.collect(0.4)  # past the moment a 100 would have gone out
    p.callee.reply(incoming, 200, to_tag=tag, body=make_sdp(p.callee_rtp.port))
    assert p.caller.response(invite).status == 200
    assert _statuses(p.caller.received, invite.call_id) == [407, 180, 200]


def test_bye_from_caller(phones: Phones) -> None:
    p = phones
    call = establish(p)
    relay_check(p, call)
    bye = p.caller.in_dialog(call.a, "BYE")
    assert p.caller.transact(bye).status == 200
    relayed = p.callee.expect_request("BYE", call_id=call.incoming.call_id)
    assert relayed.to.tag == call.b.local.rsplit("tag=", 1)[1]
    p.callee.reply(relayed, 200)
    # Media is torn down: RTP to the switch's port goes nowhere now.
    p.caller_rtp.send(rtp_packet(1, 1, 1, b"x" * 160), (call.a_media.host, call.a_media.port))
    assert p.callee_rtp.receive(1, timeout=0.3) == []


def test_bye_from_callee(phones: Phones) -> None:
    p = phones
    call = establish(p)
    bye = p.callee.in_dialog(call.b, "BYE")
    assert p.callee.transact(bye).status == 200
    relayed = p.caller.expect_request("BYE", call_id=call.invite.call_id)
    assert relayed.from_.tag == call.ok.to.tag
    p.caller.reply(relayed, 200)
    # A second BYE on the ended dialog: the dialog is gone.
    late = p.callee.in_dialog(call.b, "BYE")
    assert p.callee.transact(late).status == 481


def test_cancel_while_ringing(phones: Phones) -> None:
    p = phones
    invite, incoming = ring(p)
    tag = new_tag()
    p.callee.reply(incoming, 180, to_tag=tag)
    p.caller.provisional(invite, 180)
    p.caller.send(p.caller.cancel_for(invite))
    cancel_ok = p.caller.wait_for(
        lambda m: isinstance(m, SipResponse) and m.cseq.method == "CANCEL", what="200 to CANCEL"
    )
    assert isinstance(cancel_ok, SipResponse) and cancel_ok.status == 200
    final = p.caller.response(invite)
    assert final.status == 487
    p.caller.send(p.caller.ack_for_failure(invite, final))
    cancel = p.callee.expect_request("CANCEL", call_id=incoming.call_id)
    assert cancel.cseq.number == incoming.cseq.number
    assert cancel.get("via") == incoming.get("via")
    p.callee.reply(cancel, 200)
    p.callee.reply(incoming, 487, to_tag=tag)
    ack = p.callee.expect_request("ACK", call_id=incoming.call_id)
    assert ack.get("via") == incoming.get("via")
    # The caller's 487 is not retransmitted once ACKed.
    assert not [m for m in p.caller.collect(0.7) if isinstance(m, SipResponse)]


def test_callee_busy(phones: Phones) -> None:
    p = phones
    invite, incoming = ring(p)
    p.callee.reply(incoming, 486, to_tag=new_tag())
    final = p.caller.response(invite)
    assert final.status == 486
    p.caller.send(p.caller.ack_for_failure(invite, final))
    assert p.callee.expect_request("ACK", call_id=incoming.call_id).cseq.method == "ACK"


def test_callee_answer_without_a_relayable_codec(phones: Phones) -> None:
    """A callee that answers with a codec we cannot relay (G.729 only) is hung up on, and the
    caller hears 488 instead of a call without audio."""
    p = phones
    invite, incoming = ring(p)
    g729 = make_sdp(p.callee_rtp.port).replace(b"RTP/AVP 0 8 101", b"RTP/AVP 18")
    assert b"RTP/AVP 18" in g729
    tag = new_tag()
    p.callee.reply(incoming, 200, to_tag=tag, body=g729)
    assert p.callee.expect_request("ACK", call_id=incoming.call_id)
    assert p.callee.expect_request("BYE", call_id=incoming.call_id)
    final = p.caller.response(invite)
    assert final.status == 488
    p.caller.send(p.caller.ack_for_failure(invite, final))


def test_unknown_extension_404(phones: Phones) -> None:
    p = phones
    invite = p.caller.invite("9999", make_sdp(p.caller_rtp.port))
    final = p.caller.response(invite)
    assert final.status == 404
    p.caller.send(p.caller.ack_for_failure(invite, final))


def test_unregistered_extension_480(phones: Phones) -> None:
    p = phones
    invite = p.caller.invite("1003", make_sdp(p.caller_rtp.port))
    final = p.caller.response(invite)
    assert final.status == 480
    p.caller.send(p.caller.ack_for_failure(invite, final))


def test_max_forwards_one_gets_483(phones: Phones) -> None:
    p = phones
    invite = p.caller.invite("1002", make_sdp(p.caller_rtp.port), headers=[("max-forwards", "1")])
    final = p.caller.response(invite)
    assert final.status == 483
    p.caller.send(p.caller.ack_for_failure(invite, final))
    assert p.callee.silent_for(0.2)


def test_wrong_password_on_invite_gets_403(phones: Phones) -> None:
    p = phones
    p.caller.password = "wrong"
    invite = p.caller.invite("1002", make_sdp(p.caller_rtp.port))
    final = p.caller.response(invite)
    assert final.status == 403
    assert p.callee.silent_for(0.2)


# ------------------------------------------------------------------- timers, forks


def test_ring_timeout_480_and_callee_cancelled(make_switch: SwitchFactory) -> None:
    sw = make_switch(server={"ring_time": 2})
    p = Phones(
        sw, make_switch.peer(sw, "1001"), make_switch.peer(sw, "1002"), RtpSocket(), RtpSocket()
    )
    try:
        assert p.callee.register().status == 200
        invite, incoming = ring(p)
        tag = new_tag()
        p.callee.reply(incoming, 180, to_tag=tag)
        p.caller.provisional(invite, 180)
        assert not p.caller.inbox  # still ringing
        sw.clock.skip(2.5)  # past ring_time, without sleeping
        final = p.caller.response(invite)
        assert final.status == 480
        p.caller.send(p.caller.ack_for_failure(invite, final))
        cancel = p.callee.expect_request("CANCEL", call_id=incoming.call_id)
        p.callee.reply(cancel, 200)
        p.callee.reply(incoming, 487, to_tag=tag)
        p.callee.expect_request("ACK", call_id=incoming.call_id)
    finally:
        p.caller_rtp.close()
        p.callee_rtp.close()


def test_two_contacts_first_answer_wins(make_switch: SwitchFactory) -> None:
    sw = make_switch()
    caller = make_switch.peer(sw, "1001")
    desk = make_switch.peer(sw, "1002")
    mobile = make_switch.peer(sw, "1002")
    assert desk.register().status == 200
    assert mobile.register().status == 200
    caller_rtp, desk_rtp = RtpSocket(), RtpSocket()
    try:
        invite = caller.invite("1002", make_sdp(caller_rtp.port))
        to_desk = desk.expect_request("INVITE")
        to_mobile = mobile.expect_request("INVITE")
        assert to_desk.call_id != to_mobile.call_id
        mobile_tag = new_tag()
        mobile.reply(to_mobile, 180, to_tag=mobile_tag)
        desk.reply(to_desk, 180, to_tag="desk")
        desk.reply(to_desk, 200, to_tag="desk", body=make_sdp(desk_rtp.port))
        ok = caller.response(invite)
        assert ok.status == 200
        caller.ack_2xx(caller.uac_dialog(invite, ok))
        desk.expect_request("ACK", call_id=to_desk.call_id)
        cancel = mobile.expect_request("CANCEL", call_id=to_mobile.call_id)
        mobile.reply(cancel, 200)
        mobile.reply(to_mobile, 487, to_tag=mobile_tag)
        mobile.expect_request("ACK", call_id=to_mobile.call_id)
        # The losing phone hears nothing more; the caller got exactly one final answer.
        assert mobile.silent_for(0.3)
        assert not [
            m for m in caller.collect(0.1) if isinstance(m, SipResponse) and m.status >= 200
        ]
    finally:
        caller_rtp.close()
        desk_rtp.close()


def test_hold_and_resume_reinvite(phones: Phones) -> None:
    p = phones
    call = establish(p)
    for direction, version in (("sendonly", 2), ("sendrecv", 3)):
        reinvite = p.caller.in_dialog(
            call.a, "INVITE", body=make_sdp(p.caller_rtp.port, direction, version)
        )
        p.caller.send(reinvite)
        relayed = p.callee.expect_request("INVITE", call_id=call.incoming.call_id)
        assert relayed.from_.tag == call.incoming.from_.tag
        assert relayed.to.tag == call.b.local.rsplit("tag=", 1)[1]
        offer = read_sdp(relayed.body)
        assert offer.direction == direction
        assert offer.port == call.b_media.port  # same anchor port for the whole call
        answer_dir = "recvonly" if direction == "sendonly" else "sendrecv"
        p.callee.reply(relayed, 200, body=make_sdp(p.callee_rtp.port, answer_dir, version))
        ok = p.caller.response(reinvite)
        assert ok.status == 200
        assert read_sdp(ok.body).direction == answer_dir
        assert read_sdp(ok.body).port == call.a_media.port
        p.caller.ack_2xx(call.a, cseq=reinvite.cseq.number)
        ack = p.callee.expect_request("ACK", call_id=call.incoming.call_id)
        assert ack.cseq.number == relayed.cseq.number
    time.sleep(0.1)
    p.callee_rtp.receive(100, timeout=0.2)  # music on hold sent while the callee was held
    relay_check(p, call)


def test_info_is_relayed(phones: Phones) -> None:
    p = phones
    call = establish(p)
    body = b"Signal=5\r\nDuration=160\r\n"
    info = p.caller.in_dialog(call.a, "INFO", body=body, content_type="application/dtmf-relay")
    p.caller.send(info)
    relayed = p.callee.expect_request("INFO", call_id=call.incoming.call_id)
    assert relayed.body == body
    assert relayed.get("content-type") == "application/dtmf-relay"
    p.callee.reply(relayed, 200)
    assert p.caller.response(info).status == 200


def test_retransmitted_invite_is_absorbed(phones: Phones) -> None:
    p = phones
    invite, incoming = ring(p)
    p.callee.reply(incoming, 180, to_tag=new_tag())
    p.caller.provisional(invite, 180)
    p.caller.send(invite)  # the phone did not hear the 100 and retransmits
    p.caller.send(invite)
    again = p.caller.collect(0.3)
    # The retransmissions are answered with the last provisional, never a new call.
    assert {m.status for m in again if isinstance(m, SipResponse)} <= {100, 180}
    invites = [
        m for m in p.callee.collect(0.6) if isinstance(m, SipRequest) and m.method == "INVITE"
    ]
    assert invites == []


def test_2xx_retransmitted_until_ack(phones: Phones) -> None:
    p = phones
    invite, incoming = ring(p)
    tag = new_tag()
    p.callee.reply(incoming, 200, to_tag=tag, body=make_sdp(p.callee_rtp.port))
    first = p.caller.response(invite)
    assert first.status == 200
    p.callee.expect_request("ACK", call_id=incoming.call_id)
    # No ACK from the caller for 1.2 s: Timer G re-sends the 200 at 0.5 s (then at 1.5 s).
    unacked = [m for m in p.caller.collect(1.2) if isinstance(m, SipResponse)]
    assert len(unacked) >= 1
    assert all(m.status == 200 and m.to_bytes() == first.to_bytes() for m in unacked)
    p.caller.ack_2xx(p.caller.uac_dialog(invite, first))
    # After the ACK, silence (a retransmission was due at 1.5 s).
    assert not [m for m in p.caller.collect(1.0) if isinstance(m, SipResponse)]


def test_bogus_contact_reached_at_source_address(make_switch: SwitchFactory) -> None:
    sw = make_switch()
    caller = make_switch.peer(sw, "1001")
    # NEVER send anything to 192.0.2.1 ourselves: it only appears in headers.
    callee = make_switch.peer(sw, "1002", contact_host="192.0.2.1:5999")
    assert callee.register().status == 200
    invite = caller.invite("1002", make_sdp(40000))
    incoming = callee.expect_request("INVITE")
    assert incoming.uri == "sip:1002@192.0.2.1:5999"
    callee.reply(incoming, 180, to_tag="t1")
    caller.provisional(invite, 180)
    callee.reply(incoming, 200, to_tag="t1", body=make_sdp(40002))
    ok = caller.response(invite)
    assert ok.status == 200
    a = caller.uac_dialog(invite, ok)
    caller.ack_2xx(a)
    assert callee.expect_request("ACK", call_id=incoming.call_id)
    bye = caller.in_dialog(a, "BYE")
    assert caller.transact(bye).status == 200
    relayed = callee.expect_request("BYE", call_id=incoming.call_id)
    callee.reply(relayed, 200)


def test_caller_cancel_before_callee_answers_anything(phones: Phones) -> None:
    """CANCEL while the callee has sent no provisional yet: the switch must wait for one."""
    p = phones
    invite, incoming = ring(p)
    p.caller.send(p.caller.cancel_for(invite))
    final = p.caller.response(invite)
    assert final.status == 487
    p.caller.send(p.caller.ack_for_failure(invite, final))
    assert p.callee.silent_for(0.2)  # RFC 3261 §9.1: no CANCEL before a provisional
    p.callee.reply(incoming, 180, to_tag="late")
    cancel = p.callee.expect_request("CANCEL", call_id=incoming.call_id)
    p.callee.reply(cancel, 200)
    p.callee.reply(incoming, 487, to_tag="late")
    p.callee.expect_request("ACK", call_id=incoming.call_id)


def test_invite_is_challenged_with_407(phones: Phones) -> None:
    p = phones
    invite = p.caller.invite("1002", make_sdp(p.caller_rtp.port), authenticate=False)
    challenge = p.caller.response(invite)
    assert challenge.status == 407
    assert challenge.to.tag is not None
    algorithms = sorted(
        parse_challenge(v)["algorithm"] for v in challenge.get_all("proxy-authenticate")
    )
    assert algorithms == ["MD5", "SHA-256"]
    assert all(parse_challenge(v)["qop"] == "auth" for v in challenge.get_all("proxy-authenticate"))
    p.caller.send(p.caller.ack_for_failure(invite, challenge))
    # Once ACKed, the 407 is not retransmitted, and the callee never heard of the attempt.
    assert not [m for m in p.caller.collect(0.7) if isinstance(m, SipResponse)]
    assert p.callee.silent_for(0.1)


def test_callee_hold_from_its_side(phones: Phones) -> None:
    p = phones
    call = establish(p)
    reinvite = p.callee.in_dialog(call.b, "INVITE", body=make_sdp(p.callee_rtp.port, "sendonly", 2))
    p.callee.send(reinvite)
    relayed = p.caller.expect_request("INVITE", call_id=call.invite.call_id)
    assert read_sdp(relayed.body).direction == "sendonly"
    assert read_sdp(relayed.body).port == call.a_media.port
    p.caller.reply(relayed, 200, body=make_sdp(p.caller_rtp.port, "recvonly", 2))
    ok = p.callee.response(reinvite)
    assert ok.status == 200 and read_sdp(ok.body).direction == "recvonly"
    p.callee.ack_2xx(call.b, cseq=reinvite.cseq.number)
    assert (
        p.caller.expect_request("ACK", call_id=call.invite.call_id).cseq.number
        == relayed.cseq.number
    )


def test_early_media_183_is_anchored(phones: Phones) -> None:
    p = phones
    invite, incoming = ring(p)
    p.callee.reply(incoming, 183, to_tag="em", body=make_sdp(p.callee_rtp.port))
    progress = p.caller.provisional(invite, 183)
    early = read_sdp(progress.body)
    assert _in_rtp_range(early)
    # Early media flows callee -> caller through the switch.
    packet = rtp_packet(1, 160, 0x3333, b"\x55" * 160)
    p.callee_rtp.send(packet, (read_sdp(incoming.body).host, read_sdp(incoming.body).port))
    assert p.caller_rtp.receive(1) == [packet]
    p.callee.reply(incoming, 200, to_tag="em", body=make_sdp(p.callee_rtp.port))
    ok = p.caller.response(invite)
    assert ok.status == 200 and read_sdp(ok.body).port == early.port
    p.caller.ack_2xx(p.caller.uac_dialog(invite, ok))


def test_callee_2xx_retransmission_is_acked_again(phones: Phones) -> None:
    p = phones
    invite, incoming = ring(p)
    ok = p.callee.reply(incoming, 200, to_tag="re", body=make_sdp(p.callee_rtp.port))
    first = p.callee.expect_request("ACK", call_id=incoming.call_id)
    p.callee.send(ok)  # our 200 "got lost": retransmit it
    second = p.callee.expect_request("ACK", call_id=incoming.call_id)
    assert second.cseq == first.cseq and second.to.tag == "re"
    answered = p.caller.response(invite)
    assert answered.status == 200
    p.caller.ack_2xx(p.caller.uac_dialog(invite, answered))
    # The caller got a single 200 (plus retransmissions of that same one, never a second).
    later = [m for m in p.caller.collect(0.2) if isinstance(m, SipResponse)]
    assert all(m.to_bytes() == answered.to_bytes() for m in later)


def test_callee_registered_over_tcp(make_switch: SwitchFactory) -> None:
    sw = make_switch()
    caller = make_switch.peer(sw, "1001")
    callee = make_switch.peer(sw, "1002", transport="tcp")
    assert callee.register().status == 200
    invite = caller.invite("1002", make_sdp(40000))
    incoming = callee.expect_request("INVITE")
    assert (incoming.get("via") or "").startswith("SIP/2.0/TCP ")
    callee.reply(incoming, 200, to_tag="tcp", body=make_sdp(40002))
    ok = caller.response(invite)
    assert ok.status == 200
    a = caller.uac_dialog(invite, ok)
    caller.ack_2xx(a)
    callee.expect_request("ACK", call_id=incoming.call_id)
    assert caller.transact(caller.in_dialog(a, "BYE")).status == 200
    callee.reply(callee.expect_request("BYE", call_id=incoming.call_id), 200)


def test_shutdown_hangs_up_live_calls(phones: Phones) -> None:
    p = phones
    call = establish(p)
    p.switch._loop.call_soon_threadsafe(p.switch.app.stop)  # type: ignore[union-attr]
    to_caller = p.caller.expect_request("BYE", call_id=call.invite.call_id)
    to_callee = p.callee.expect_request("BYE", call_id=call.incoming.call_id)
    p.caller.reply(to_caller, 200)
    p.callee.reply(to_callee, 200)
    p.switch.stop()


def test_delayed_offer_answer_in_ack(phones: Phones) -> None:
    """INVITE without SDP: the switch offers to the callee, offers to the caller in its 200,
    and takes the caller's answer from the ACK (RFC 3261 §13.2.1)."""
    p = phones
    invite = p.caller.invite("1002", b"")
    assert p.caller.response(invite, final=False).status == 100
    incoming = p.callee.expect_request("INVITE")
    offer_b = read_sdp(incoming.body)
    assert _in_rtp_range(offer_b) and offer_b.payloads == ("0", "8", "101")
    p.callee.reply(incoming, 180, to_tag="late", body=b"")
    ringing = p.caller.provisional(invite, 180)
    assert ringing.body == b""
    p.callee.reply(incoming, 200, to_tag="late", body=make_sdp(p.callee_rtp.port))
    ok = p.caller.response(invite)
    assert ok.status == 200
    offer_a = read_sdp(ok.body)
    assert _in_rtp_range(offer_a) and offer_a.port != offer_b.port
    a = p.caller.uac_dialog(invite, ok)
    p.caller.send(
        p.caller.in_dialog(a, "ACK", body=make_sdp(p.caller_rtp.port), cseq=invite.cseq.number)
    )
    p.callee.expect_request("ACK", call_id=incoming.call_id)
    relay_check(
        p, Call(invite, incoming, a, p.callee.uas_dialog(incoming, "late"), offer_a, offer_b, ok)
    )
