"""Click-to-call over real sockets: with the right token the switch rings the agent's phone
first, then the number through the trunk with the agent's caller ID, and joins them (RTP
relayed); a wrong token is a 403 and nothing rings; the call is in the history as outbound.
An agent with several registered phones has all of them rung at once, as a call to the
extension would: the first to answer takes the call, the others are cancelled (or, if their
answer crossed the CANCEL, ACKed and hung up); if none answers, the number is never dialled."""

from __future__ import annotations

import http.client
import json
import time
from typing import TYPE_CHECKING

from sipclient import RtpSocket, SipPeer, make_sdp, new_tag, read_sdp, rtp_packet

from softswitch.sip.message import SipRequest
from softswitch.sip.uri import parse_uri

if TYPE_CHECKING:
    from conftest import RunningSwitch, SwitchFactory

TRUNK_HOST = "127.0.0.2"
TOKEN = "t0ken-0123456789abcdef"
ORDER = "extension=1001&number=600111222"


def _post(sw: RunningSwitch, token: str, body: str) -> tuple[int, bytes]:
    app = sw.app
    assert app is not None and app.http is not None and app.http.address is not None
    connection = http.client.HTTPConnection(*app.http.address, timeout=10)
    try:
        headers = {
            "authorization": f"Bearer {token}",
            "content-type": "application/x-www-form-urlencoded",
        }
        connection.request("POST", "/click-to-call", body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def _switch(make_switch: SwitchFactory, **server: object) -> tuple[RunningSwitch, SipPeer]:
    """A switch whose extension 1001 may call +34 mobiles through a trunk (the provider)."""
    provider = SipPeer(("127.0.0.1", 0), user="provider", host=TRUNK_HOST)
    make_switch.peers.append(provider)
    extra = f"""
[trunks.proveedor]
host = "{TRUNK_HOST}"
port = {provider.local[1]}
inbound_from = ["{TRUNK_HOST}/32"]

[[outbound_routes]]
match = "+34[6-9]XXXXXXXX"
trunk = "proveedor"
"""
    sw = make_switch(
        extra=extra,
        server={"http_listen": "127.0.0.1:0", "click_to_call_token": TOKEN, **server},
        extension_keys={"1001": {"outbound": True, "caller_ids": ["+34910000001"]}},
    )
    provider.server = sw.udp
    return sw, provider


def _phones(make_switch: SwitchFactory, sw: RunningSwitch, count: int) -> list[SipPeer]:
    """``count`` phones registered as extension 1001, each from its own address."""
    phones = [make_switch.peer(sw, "1001") for _ in range(count)]
    for phone in phones:
        assert phone.register().status == 200
    return phones


def _order(sw: RunningSwitch) -> str:
    status, body = _post(sw, TOKEN, ORDER)
    assert status == 202
    call_id = json.loads(body)["call_id"]
    assert isinstance(call_id, str)
    return call_id


def _refuse(phone: SipPeer, invite: SipRequest, status: int) -> None:
    phone.reply(invite, status, to_tag=new_tag())
    phone.expect_request("ACK", call_id=invite.call_id)


def _history_row(sw: RunningSwitch, call_id: str) -> tuple[str, str]:
    app = sw.app
    assert app is not None and app.history.flush(timeout=5)
    (row,) = [r for r in app.history.query() if r.call_id == call_id]
    return row.direction, row.disposition


def test_click_to_call_rings_the_agent_then_the_number_and_joins_them(
    make_switch: SwitchFactory,
) -> None:
    sw, provider = _switch(make_switch)
    (agent,) = _phones(make_switch, sw, 1)
    agent_rtp, far_rtp = RtpSocket(), RtpSocket(TRUNK_HOST)
    try:
        status, _ = _post(sw, "wrong-token-000000000", ORDER)
        assert status == 403
        assert agent.silent_for(0.3)  # nothing rang

        call_id = _order(sw)
        ringing = agent.expect_request("INVITE", call_id=call_id)  # the agent first
        offer = read_sdp(ringing.body)
        tag = new_tag()
        agent.reply(ringing, 200, to_tag=tag, body=make_sdp(agent_rtp.port))
        agent.expect_request("ACK", call_id=call_id)

        outbound = provider.expect_request("INVITE")  # then the number, as the agent
        assert parse_uri(outbound.uri).user == "+34600111222"
        assert parse_uri(outbound.from_.uri).user == "+34910000001"
        far_offer = read_sdp(outbound.body)
        sdp = make_sdp(far_rtp.port).replace(b"127.0.0.1", TRUNK_HOST.encode())
        provider.reply(outbound, 200, to_tag=new_tag(), body=sdp)
        provider.expect_request("ACK", call_id=outbound.call_id)
        time.sleep(0.1)
        agent_rtp.receive(200, timeout=0.2)  # ringback still in flight
        voice = [rtp_packet(i, 160 * i, 0xC0DE, bytes([i]) * 160) for i in range(3)]
        for packet in voice:
            agent_rtp.send(packet, (offer.host, offer.port))
        assert far_rtp.receive(3) == voice  # joined: the agent's audio reaches the far end
        assert far_offer.port > 0
        app = sw.app
        assert app is not None and app.b2bua.busy("1001")  # a queue offers the agent nothing

        bye = agent.uas_dialog(ringing, tag)
        hangup = agent.in_dialog(bye, "BYE")
        assert agent.transact(hangup).status == 200
        provider.reply(provider.expect_request("BYE", call_id=outbound.call_id), 200)
    finally:
        agent_rtp.close()
        far_rtp.close()
    assert _history_row(sw, call_id) == ("outbound", "answered")
    assert not app.b2bua.busy("1001")


def test_every_phone_of_the_agent_rings_the_second_answers_the_first_is_cancelled(
    make_switch: SwitchFactory,
) -> None:
    sw, provider = _switch(make_switch)
    desk, mobile = _phones(make_switch, sw, 2)
    mobile_rtp, far_rtp = RtpSocket(), RtpSocket(TRUNK_HOST)
    try:
        call_id = _order(sw)
        to_desk = desk.expect_request("INVITE", call_id=call_id)
        to_mobile = mobile.expect_request("INVITE", call_id=call_id)
        assert to_desk.from_.tag != to_mobile.from_.tag  # two dialogs, one call
        assert to_desk.uri != to_mobile.uri  # each at its own contact
        desk_tag = new_tag()
        desk.reply(to_desk, 180, to_tag=desk_tag)
        mobile_tag = new_tag()
        mobile.reply(to_mobile, 180, to_tag=mobile_tag)
        assert provider.silent_for(0.2)  # nothing is dialled while the agent's phones ring
        offer = read_sdp(to_mobile.body)
        mobile.reply(to_mobile, 200, to_tag=mobile_tag, body=make_sdp(mobile_rtp.port))
        mobile.expect_request("ACK", call_id=call_id)

        cancel = desk.expect_request("CANCEL", call_id=call_id)  # the other phone stops
        assert cancel.via.branch == to_desk.via.branch
        desk.reply(cancel, 200)
        desk.reply(to_desk, 487, to_tag=desk_tag)
        desk.expect_request("ACK", call_id=call_id)

        outbound = provider.expect_request("INVITE")  # then the number is dialled
        assert parse_uri(outbound.uri).user == "+34600111222"
        sdp = make_sdp(far_rtp.port).replace(b"127.0.0.1", TRUNK_HOST.encode())
        provider.reply(outbound, 200, to_tag=new_tag(), body=sdp)
        provider.expect_request("ACK", call_id=outbound.call_id)
        voice = [rtp_packet(i, 160 * i, 0xBEEF, bytes([i]) * 160) for i in range(3)]
        time.sleep(0.1)
        for packet in voice:
            mobile_rtp.send(packet, (offer.host, offer.port))
        assert far_rtp.receive(3) == voice  # the phone that answered is the one joined
        assert desk.silent_for(0.2)  # the cancelled phone hears nothing more

        hangup = mobile.in_dialog(mobile.uas_dialog(to_mobile, mobile_tag), "BYE")
        assert mobile.transact(hangup).status == 200
        provider.reply(provider.expect_request("BYE", call_id=outbound.call_id), 200)
    finally:
        mobile_rtp.close()
        far_rtp.close()
    assert _history_row(sw, call_id) == ("outbound", "answered")


def test_a_late_answer_on_the_other_phone_is_acked_and_hung_up(
    make_switch: SwitchFactory,
) -> None:
    sw, provider = _switch(make_switch)
    desk, mobile = _phones(make_switch, sw, 2)
    desk_rtp, mobile_rtp = RtpSocket(), RtpSocket()
    try:
        call_id = _order(sw)
        to_desk = desk.expect_request("INVITE", call_id=call_id)
        to_mobile = mobile.expect_request("INVITE", call_id=call_id)
        desk_tag = new_tag()
        desk.reply(to_desk, 180, to_tag=desk_tag)
        mobile.reply(to_mobile, 200, to_tag=new_tag(), body=make_sdp(mobile_rtp.port))
        mobile.expect_request("ACK", call_id=call_id)
        cancel = desk.expect_request("CANCEL", call_id=call_id)
        # The desk answered before the CANCEL reached it: its 200 crosses the CANCEL.
        desk.reply(to_desk, 200, to_tag=desk_tag, body=make_sdp(desk_rtp.port))
        desk.reply(cancel, 200)
        ack = desk.expect_request("ACK", call_id=call_id)
        assert ack.to.tag == desk_tag
        bye = desk.expect_request("BYE", call_id=call_id)  # the dialog is ended at once
        assert bye.to.tag == desk_tag
        desk.reply(bye, 200)
        assert provider.expect_request("INVITE")  # the mobile's call goes on: the number rings
        assert not [m for m in mobile.collect(0.2) if isinstance(m, SipRequest)]
    finally:
        desk_rtp.close()
        mobile_rtp.close()


def test_both_phones_busy_nothing_is_dialled_and_the_history_says_busy(
    make_switch: SwitchFactory,
) -> None:
    sw, provider = _switch(make_switch)
    desk, mobile = _phones(make_switch, sw, 2)
    call_id = _order(sw)  # accepted: the phones answer later
    to_desk = desk.expect_request("INVITE", call_id=call_id)
    to_mobile = mobile.expect_request("INVITE", call_id=call_id)
    _refuse(desk, to_desk, 486)
    assert not [m for m in mobile.collect(0.2) if isinstance(m, SipRequest)]  # still rings
    _refuse(mobile, to_mobile, 486)
    assert provider.silent_for(0.3)  # the number is never dialled
    assert _history_row(sw, call_id) == ("outbound", "busy")
    app = sw.app
    assert app is not None and app.relay.active_endpoints == 0  # the agent's RTP port freed


def test_nobody_answers_in_ring_time_both_phones_are_cancelled(
    make_switch: SwitchFactory,
) -> None:
    sw, provider = _switch(make_switch, ring_time=2)
    phones = _phones(make_switch, sw, 2)
    call_id = _order(sw)
    invites = [phone.expect_request("INVITE", call_id=call_id) for phone in phones]
    tags = [new_tag() for _ in phones]
    for phone, invite, tag in zip(phones, invites, tags, strict=True):
        phone.reply(invite, 180, to_tag=tag)
    time.sleep(0.1)  # the 180s are in before the clock jumps
    sw.clock.skip(2.5)  # past ring_time, without sleeping
    for phone, invite, tag in zip(phones, invites, tags, strict=True):
        cancel = phone.expect_request("CANCEL", call_id=call_id)
        assert cancel.via.branch == invite.via.branch
        phone.reply(cancel, 200)
        phone.reply(invite, 487, to_tag=tag)
        phone.expect_request("ACK", call_id=call_id)
    assert not [m for m in provider.collect(0.3) if isinstance(m, SipRequest)]
    assert _history_row(sw, call_id) == ("outbound", "no answer")
