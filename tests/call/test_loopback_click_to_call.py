"""Click-to-call over real sockets: with the right token the switch rings the agent's phone
first, then the number through the trunk with the agent's caller ID, and joins them (RTP
relayed); a wrong token is a 403 and nothing rings; the call is in the history as outbound."""

from __future__ import annotations

import http.client
import json
import time
from typing import TYPE_CHECKING

from sipclient import RtpSocket, SipPeer, make_sdp, new_tag, read_sdp, rtp_packet

from softswitch.sip.uri import parse_uri

if TYPE_CHECKING:
    from conftest import RunningSwitch, SwitchFactory

TRUNK_HOST = "127.0.0.2"
TOKEN = "t0ken-0123456789abcdef"


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


def test_click_to_call_rings_the_agent_then_the_number_and_joins_them(
    make_switch: SwitchFactory,
) -> None:
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
        server={"http_listen": "127.0.0.1:0", "click_to_call_token": TOKEN},
        extension_keys={"1001": {"outbound": True, "caller_ids": ["+34910000001"]}},
    )
    provider.server = sw.udp
    agent = make_switch.peer(sw, "1001")
    assert agent.register().status == 200
    agent_rtp, far_rtp = RtpSocket(), RtpSocket(TRUNK_HOST)
    try:
        status, _ = _post(sw, "wrong-token-000000000", "extension=1001&number=600111222")
        assert status == 403
        assert agent.silent_for(0.3)  # nothing rang

        status, body = _post(sw, TOKEN, "extension=1001&number=600111222")
        assert status == 202
        call_id = json.loads(body)["call_id"]
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

        bye = agent.uas_dialog(ringing, tag)
        hangup = agent.in_dialog(bye, "BYE")
        assert agent.transact(hangup).status == 200
        provider.reply(provider.expect_request("BYE", call_id=outbound.call_id), 200)
    finally:
        agent_rtp.close()
        far_rtp.close()
    app = sw.app
    assert app is not None and app.history.flush(timeout=5)
    (row,) = [r for r in app.history.query() if r.call_id == call_id]
    assert (row.direction, row.disposition) == ("outbound", "answered")
