"""Calls from a trunk (a provider recognised by its address) over real sockets: the number's
schedule decides, the block list and disabled numbers refuse, an IVR answers and hears SIP
INFO digits, and an address that is no trunk gets a digest challenge, never a free call."""

from __future__ import annotations

import datetime
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest
from sipclient import Dialog, RtpSocket, SipPeer, make_sdp, new_tag, read_sdp, rtp_packet

from softswitch.sip.message import SipRequest

if TYPE_CHECKING:
    from conftest import RunningSwitch, SwitchFactory

TRUNK_HOST = "127.0.0.2"  # all of 127/8 is loopback: the provider has its own address
MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")


def routing() -> str:
    """Numbers whose schedules are open, or closed, whatever the time the test runs."""
    other_month = MONTHS[datetime.datetime.now(datetime.UTC).month % 12]  # next month
    return f"""
[trunks.proveedor]
host = "{TRUNK_HOST}"
inbound_from = ["{TRUNK_HOST}/32"]

[prompts.hola]
text = "Hola."
language = "es"

[schedules.siempre]
ranges = [{{ start = "00:00", end = "24:00", days = "mon-sun" }}]

[schedules.nunca]
ranges = [{{ start = "00:00", end = "24:00", days = "mon-sun", months = "{other_month}" }}]

[numbers."+34910000000"]
prefix = "MAD"
schedule = "siempre"
action = "extension:1002"

[numbers."+34910000001"]
schedule = "nunca"
action = "extension:1002"
on_closed = ["prompt:hola", "hangup"]

[numbers."+34910000002"]
action = "extension:1002"
enabled = false

[numbers."+34910000003"]
action = "ivr:menu"

[ivrs.menu]
prompt = "hola"
timeout = 5
retries = 1

[ivrs.menu.options]
"1" = "prompt:hola"
"2" = "extension:1002"
"3" = ["extension:1003", "prompt:hola"]
"4" = ["extension:1002", "prompt:hola"]

[blocklist]
numbers = ["+34905*"]
"""


@dataclass
class Setup:
    sw: RunningSwitch
    trunk: SipPeer
    callee: SipPeer
    trunk_rtp: RtpSocket
    callee_rtp: RtpSocket


@pytest.fixture
def setup(make_switch: SwitchFactory) -> Iterator[Setup]:
    sw = make_switch(extra=routing(), server={"timezone": "UTC"})
    trunk = make_switch.peer(sw, "+34611222333", host=TRUNK_HOST)
    callee = make_switch.peer(sw, "1002")
    assert callee.register().status == 200
    rtp = RtpSocket(TRUNK_HOST), RtpSocket()
    try:
        yield Setup(sw, trunk, callee, *rtp)
    finally:
        for sock in rtp:
            sock.close()


def test_number_in_hours_rings_the_extension_with_the_prefix(setup: Setup) -> None:
    s = setup
    invite = s.trunk.invite("910000000", make_sdp(s.trunk_rtp.port), authenticate=False)
    incoming = s.callee.expect_request("INVITE")
    assert incoming.from_.display is not None and "MAD" in incoming.from_.display
    assert "+34611222333" in incoming.from_.uri
    tag = new_tag()
    s.callee.reply(incoming, 200, to_tag=tag, body=make_sdp(s.callee_rtp.port))
    assert s.trunk.response(invite).status == 200


@pytest.mark.parametrize(
    ("caller", "called", "status"),
    [
        ("+34905123456", "910000000", 403),  # blocked prefix, before any routing
        ("+34611222333", "+34910000002", 403),  # disabled number
        ("+34611222333", "0034919999999", 404),  # not one of our numbers
    ],
)
def test_refused_calls(make_switch: SwitchFactory, caller: str, called: str, status: int) -> None:
    sw = make_switch(extra=routing(), server={"timezone": "UTC"})
    trunk = make_switch.peer(sw, caller, host=TRUNK_HOST)
    invite = trunk.invite(called, make_sdp(40000), authenticate=False)
    assert trunk.response(invite).status == status


def test_closed_number_plays_its_prompt_then_hangs_up(setup: Setup) -> None:
    s = setup
    invite, _dialog, _ok = s.trunk.answered_call("+34910000001", s.trunk_rtp.port)
    speech = s.trunk_rtp.receive(10, timeout=2.0)
    assert len(speech) == 10
    bye = s.trunk.expect_request("BYE", timeout=5.0, call_id=invite.call_id)
    s.trunk.reply(bye, 200)


def test_ivr_option_by_sip_info(setup: Setup) -> None:
    s = setup
    invite = s.trunk.invite("+34910000003", make_sdp(s.trunk_rtp.port), authenticate=False)
    ok = s.trunk.response(invite)
    assert ok.status == 200
    dialog = s.trunk.uac_dialog(invite, ok)
    s.trunk.ack_2xx(dialog)
    body = b"Signal=1\r\nDuration=160\r\n"
    info = s.trunk.in_dialog(dialog, "INFO", body=body, content_type="application/dtmf-relay")
    s.trunk.send(info)
    assert s.trunk.response(info).status == 200
    # Option 1 plays the prompt, and the end of the actions hangs up.
    bye = s.trunk.expect_request("BYE", timeout=5.0, call_id=invite.call_id)
    s.trunk.reply(bye, 200)
    assert read_sdp(ok.body).port > 0


def _in_ivr(s: Setup) -> tuple[SipRequest, Dialog]:
    invite, dialog, _ok = s.trunk.answered_call("+34910000003", s.trunk_rtp.port)
    return invite, dialog


def _press(s: Setup, dialog: Dialog, key: str) -> None:
    body = f"Signal={key}\r\nDuration=160\r\n".encode()
    info = s.trunk.in_dialog(dialog, "INFO", body=body, content_type="application/dtmf-relay")
    s.trunk.send(info)
    assert s.trunk.response(info).status == 200


def test_ivr_option_rings_an_extension_and_joins_the_audio(setup: Setup) -> None:
    s = setup
    _, dialog = _in_ivr(s)
    _press(s, dialog, "2")
    incoming = s.callee.expect_request("INVITE")
    assert "+34611222333" in incoming.from_.uri
    offer = read_sdp(incoming.body)
    s.callee.reply(incoming, 180, to_tag="agent")
    ringback = s.trunk_rtp.receive(5, timeout=2.0)
    assert len(ringback) == 5  # the caller hears ringback while the extension rings
    s.callee.reply(incoming, 200, to_tag="agent", body=make_sdp(s.callee_rtp.port))
    s.callee.expect_request("ACK", call_id=incoming.call_id)
    time.sleep(0.1)
    s.trunk_rtp.receive(100, timeout=0.2)  # ringback still in flight
    voice = [rtp_packet(10 + i, 160 * i, 0xCAFE, bytes([i]) * 160) for i in range(3)]
    for packet in voice:
        s.callee_rtp.send(packet, (offer.host, offer.port))
    assert s.trunk_rtp.receive(3) == voice  # relayed untouched: the two are joined
    bye = s.trunk.in_dialog(dialog, "BYE")
    s.trunk.send(bye)
    assert s.trunk.response(bye).status == 200
    s.callee.expect_request("BYE", call_id=incoming.call_id)


def test_ivr_option_to_an_unregistered_extension_goes_on(setup: Setup) -> None:
    s = setup
    invite, dialog = _in_ivr(s)
    _press(s, dialog, "3")  # 1003 has no phone: the prompt plays, then the call ends
    bye = s.trunk.expect_request("BYE", timeout=5.0, call_id=invite.call_id)
    s.trunk.reply(bye, 200)


def test_ivr_option_to_a_busy_extension_goes_on(setup: Setup) -> None:
    s = setup
    invite, dialog = _in_ivr(s)
    _press(s, dialog, "4")
    incoming = s.callee.expect_request("INVITE")
    s.callee.reply(incoming, 486, to_tag="busy")
    s.callee.expect_request("ACK", call_id=incoming.call_id)
    bye = s.trunk.expect_request("BYE", timeout=5.0, call_id=invite.call_id)
    s.trunk.reply(bye, 200)


def test_an_address_that_is_no_trunk_is_challenged(make_switch: SwitchFactory) -> None:
    sw = make_switch(extra=routing(), server={"timezone": "UTC"})
    stranger = make_switch.peer(sw, "+34611222333")  # from 127.0.0.1: not the trunk
    invite = stranger.invite("+34910000000", make_sdp(40000), authenticate=False)
    assert stranger.response(invite).status == 407


GROUPS = """
[numbers."+34910000010"]
action = "group:todos"

[numbers."+34910000011"]
action = "group:turnos"

[ring_groups.todos]
members = ["1002", "1003"]
strategy = "all"
ring_time = 5
prefix = "VENTAS"

[ring_groups.turnos]
members = ["1003", "1002"]
strategy = "sequential"
ring_time = 1
"""


@pytest.fixture
def group_setup(make_switch: SwitchFactory) -> Iterator[tuple[Setup, SipPeer]]:
    sw = make_switch(extra=routing() + GROUPS, server={"timezone": "UTC"})
    trunk = make_switch.peer(sw, "+34611222333", host=TRUNK_HOST)
    callee = make_switch.peer(sw, "1002")
    other = make_switch.peer(sw, "1003")
    assert callee.register().status == 200 and other.register().status == 200
    rtp = RtpSocket(TRUNK_HOST), RtpSocket()
    try:
        yield Setup(sw, trunk, callee, *rtp), other
    finally:
        for sock in rtp:
            sock.close()


def _answered_by_switch(s: Setup, number: str) -> SipRequest:
    invite, _dialog, _ok = s.trunk.answered_call(number, s.trunk_rtp.port)
    return invite


def test_group_all_rings_every_member_and_the_first_answer_wins(
    group_setup: tuple[Setup, SipPeer],
) -> None:
    s, other = group_setup
    _answered_by_switch(s, "+34910000010")
    to_1002 = s.callee.expect_request("INVITE")
    to_1003 = other.expect_request("INVITE")
    assert to_1002.from_.display is not None and to_1002.from_.display.startswith("VENTAS")
    other.reply(to_1003, 180, to_tag="b3")
    s.callee.reply(to_1002, 200, to_tag="b2", body=make_sdp(s.callee_rtp.port))
    cancel = other.expect_request("CANCEL", call_id=to_1003.call_id)
    other.reply(cancel, 200)
    other.reply(to_1003, 487, to_tag="b3")


def test_group_sequential_rings_one_member_after_the_other(
    group_setup: tuple[Setup, SipPeer],
) -> None:
    s, other = group_setup
    _answered_by_switch(s, "+34910000011")
    first = other.expect_request("INVITE")  # 1003 first, for ring_time 1 s
    other.reply(first, 180, to_tag="t3")
    cancel = other.expect_request("CANCEL", call_id=first.call_id, timeout=3.0)
    other.reply(cancel, 200)
    other.reply(first, 487, to_tag="t3")
    second = s.callee.expect_request("INVITE", timeout=3.0)  # then 1002
    s.callee.reply(second, 200, to_tag="t2", body=make_sdp(s.callee_rtp.port))
    s.callee.expect_request("ACK", call_id=second.call_id)


def test_a_configured_holiday_runs_on_holiday(make_switch: SwitchFactory) -> None:
    today = datetime.datetime.now(datetime.UTC).date().isoformat()
    holiday = f"""
[holidays.local]
country = "ES"
include = []
extra = ["{today}"]

[schedules.abierto]
ranges = [{{ start = "00:00", end = "24:00", days = "mon-sun" }}]
holidays = "local"

[numbers."+34910000009"]
schedule = "abierto"
action = "extension:1002"
on_holiday = ["prompt:hola", "hangup"]
"""
    sw = make_switch(extra=routing() + holiday, server={"timezone": "UTC"})
    trunk = make_switch.peer(sw, "+34611222333", host=TRUNK_HOST)
    callee = make_switch.peer(sw, "1002")
    assert callee.register().status == 200
    rtp = RtpSocket(TRUNK_HOST)
    try:
        # answered by the switch for the holiday prompt
        invite, _dialog, _ok = trunk.answered_call("+34910000009", rtp.port)
        assert len(rtp.receive(10, timeout=2.0)) == 10
        bye = trunk.expect_request("BYE", timeout=5.0, call_id=invite.call_id)
        trunk.reply(bye, 200)
        assert callee.silent_for(0.2)  # the extension of the open hours never rang
    finally:
        rtp.close()
