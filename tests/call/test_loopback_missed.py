"""Missed-call mail over real sockets and a real SMTP server: an extension that is busy, a
ring group nobody answers, a full queue; each sends one mail naming the caller and the place."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import pytest
from mailserver import Collector
from sipclient import RtpSocket, make_sdp, new_tag

if TYPE_CHECKING:
    from conftest import SwitchFactory

TRUNK_HOST = "127.0.0.2"


def _config(port: int) -> str:
    return f"""
[email]
server = "smtp://127.0.0.1:{port}"
from = "centralita@example.com"

[trunks.proveedor]
host = "{TRUNK_HOST}"
inbound_from = ["{TRUNK_HOST}/32"]

[numbers."+34910000030"]
action = "group:ventas"

[ring_groups.ventas]
members = ["1002"]
ring_time = 5
missed_call_email = "ventas@example.com"

[numbers."+34910000031"]
action = "queue:soporte"

[numbers."+34910000032"]
action = "external:movil"

[queues.soporte]
agents = ["1003"]
max_wait = 1
missed_call_email = "soporte@example.com"

[trunks.movil_trunk]
host = "127.0.0.3"
port = 9
inbound_from = ["127.0.0.3/32"]

[[outbound_routes]]
match = "+34[6-9]XXXXXXXX"
trunk = "movil_trunk"

[external_destinations.movil]
code = "2001"
number = "+34600111222"
email = "ana@example.com"
"""


def _wait_for_mail(mail: Collector, count: int) -> None:
    deadline = time.monotonic() + 10
    while len(mail.envelopes) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(mail.envelopes) >= count, "no missed-call mail"


def test_busy_extension_gets_a_missed_call_mail(
    make_switch: SwitchFactory, smtp: tuple[Collector, int]
) -> None:
    mail, port = smtp
    keys = {"1002": {"email": "bruno@example.com"}}
    sw = make_switch(extra=_config(port), extension_keys=keys)
    caller, callee = make_switch.peer(sw, "1001"), make_switch.peer(sw, "1002")
    assert callee.register().status == 200
    rtp = RtpSocket()
    try:
        invite = caller.invite("1002", make_sdp(rtp.port))
        incoming = callee.expect_request("INVITE")
        callee.reply(incoming, 486, to_tag=new_tag())
        assert caller.response(invite).status == 486
    finally:
        rtp.close()
    _wait_for_mail(mail, 1)
    message = mail.received()
    assert message["To"] == "bruno@example.com"
    body = message.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert "1001" in text and "1002" in text


def test_group_nobody_answers_mails_the_group(
    make_switch: SwitchFactory, smtp: tuple[Collector, int]
) -> None:
    mail, port = smtp
    sw = make_switch(extra=_config(port), server={"timezone": "UTC"})
    trunk = make_switch.peer(sw, "+34611222333", host=TRUNK_HOST)
    member = make_switch.peer(sw, "1002")
    assert member.register().status == 200
    rtp = RtpSocket(TRUNK_HOST)
    try:
        invite, _dialog, _ok = trunk.answered_call("+34910000030", rtp.port)
        incoming = member.expect_request("INVITE")
        member.reply(incoming, 603, to_tag=new_tag())  # declined: the group has nobody else
        bye = trunk.expect_request("BYE", timeout=5.0, call_id=invite.call_id)
        trunk.reply(bye, 200)
    finally:
        rtp.close()
    _wait_for_mail(mail, 1)
    message = mail.received()
    assert message["To"] == "ventas@example.com"
    assert "+34611222333" in str(message["Subject"])
    assert len(mail.envelopes) == 1  # one mail per missed call


@pytest.mark.parametrize(
    ("number", "to"),
    [("+34910000031", "soporte@example.com"), ("+34910000032", "ana@example.com")],
    ids=["queue times out", "external destination does not answer"],
)
def test_queue_and_external_destination_mail_their_missed_calls(
    make_switch: SwitchFactory, smtp: tuple[Collector, int], number: str, to: str
) -> None:
    mail, port = smtp
    sw = make_switch(extra=_config(port), server={"timezone": "UTC"})
    trunk = make_switch.peer(sw, "+34611222333", host=TRUNK_HOST)
    rtp = RtpSocket(TRUNK_HOST)
    try:
        invite, dialog, _ok = trunk.answered_call(number, rtp.port)
        if number.endswith("32"):  # the mobile rings (nobody answers): the caller gives up
            time.sleep(0.5)
            bye = trunk.in_dialog(dialog, "BYE")
            trunk.send(bye)
            assert trunk.response(bye).status == 200
        else:  # max_wait = 1: the queue gives up, and the call ends
            bye_in = trunk.expect_request("BYE", timeout=5.0, call_id=invite.call_id)
            trunk.reply(bye_in, 200)
    finally:
        rtp.close()
    _wait_for_mail(mail, 1)
    message = mail.received()
    assert message["To"] == to
    assert "+34611222333" in str(message["Subject"])
