"""A phone behind NAT advertises a private Contact it cannot be reached at; the server must
reach it at the address its requests really came from, and never send to the Contact.

10.255.255.1:5999 is not reachable from here: if the server sent the INVITE (or ACK, BYE)
there, the phone would never ring (or never see the ACK/BYE) and the test fails. The test
itself sends nothing to any non-loopback address.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import Pbx
from .phone import PjEndpoint, analyse_tone, listen

pytestmark = pytest.mark.e2e

UNREACHABLE_CONTACT = "<sip:1002@10.255.255.1:5999>"


def test_phone_with_private_contact_is_reached_at_its_source(
    ep: PjEndpoint, pbx: Pbx, tmp_path: Path
) -> None:
    natted = pbx.phone("1002", contact_forced=UNREACHABLE_CONTACT)
    caller = pbx.phone("1001")
    out = caller.call(pbx.uri("1002"))
    inc = natted.wait_incoming(10)  # the INVITE reached the real source address
    out.wait_state("EARLY", 5)  # and the phone's 180 made it back to the caller
    inc.answer(200)
    out.wait_state("CONFIRMED", 10)
    inc.wait_state("CONFIRMED", 10)  # the server's ACK reached the phone too
    out.play_tone(700)
    path = str(tmp_path / "natted.wav")
    listen(ep, [(inc, path)])
    heard = analyse_tone(path, 700)
    assert heard["ok"], heard
    out.hangup()
    inc.wait_state("DISCONNECTED", 5)  # the server's BYE as well
    out.wait_state("DISCONNECTED", 5)


def test_phone_with_private_contact_can_hang_up(pbx: Pbx) -> None:
    natted = pbx.phone("1002", contact_forced=UNREACHABLE_CONTACT)
    caller = pbx.phone("1001")
    out = caller.call(pbx.uri("1002"))
    inc = natted.wait_incoming(10)
    inc.answer(200)
    out.wait_state("CONFIRMED", 10)
    inc.wait_state("CONFIRMED", 10)
    inc.hangup()  # a BYE from the natted side, whose 200 the server must send back
    out.wait_state("DISCONNECTED", 5)
    inc.wait_state("DISCONNECTED", 5)
    assert inc.last_code == 200
