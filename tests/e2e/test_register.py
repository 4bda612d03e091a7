"""Registration against the softswitch with a real PJSIP phone: digest auth, failures, and
un-registration. Whether a phone is registered is judged by the server's behaviour too: a call
to an extension with no binding ends with 480."""

from __future__ import annotations

import pytest

from .conftest import Pbx
from .phone import Phone

pytestmark = pytest.mark.e2e


def _call_status(caller: Phone, uri: str) -> int:
    call = caller.call(uri)
    call.wait_state("DISCONNECTED", 10)
    return call.last_code


def test_right_password_registers(pbx: Pbx) -> None:
    phone = pbx.phone("1002", register=False)
    assert phone.register(5) == 200
    assert phone.registered
    # The server now knows where 1002 is: a call rings it.
    caller = pbx.phone("1001")
    call = caller.call(pbx.uri("1002"))
    incoming = phone.wait_incoming(10)
    assert incoming.state in ("INCOMING", "EARLY")
    call.hangup()
    call.wait_state("DISCONNECTED", 5)


def test_wrong_password_is_refused_and_stays_unregistered(pbx: Pbx) -> None:
    phone = pbx.phone("1002", password="not-the-password", register=False)
    code = phone.register(5)
    assert code == 403
    assert not phone.registered
    caller = pbx.phone("1001")
    assert _call_status(caller, pbx.uri("1002")) == 480
    assert not phone.incoming


def test_unknown_user_is_treated_like_a_wrong_password(pbx: Pbx) -> None:
    """Same status and reason, so a scanner cannot tell real extensions from made-up ones."""
    wrong = pbx.phone("1002", password="not-the-password", register=False)
    wrong_code = wrong.register(5)
    unknown = pbx.phone("1999", password="whatever", register=False)
    unknown_code = unknown.register(5)
    assert wrong_code == unknown_code == 403
    assert wrong.reg_events[-1][1] == unknown.reg_events[-1][1]
    assert not unknown.registered


def test_unregister(pbx: Pbx) -> None:
    phone = pbx.phone("1002")
    caller = pbx.phone("1001")
    assert phone.unregister(5) == 200
    assert not phone.registered
    assert _call_status(caller, pbx.uri("1002")) == 480
    assert not phone.incoming


def test_register_again_after_unregister(pbx: Pbx) -> None:
    phone = pbx.phone("1002")
    assert phone.unregister(5) == 200
    assert phone.register(5) == 200
    caller = pbx.phone("1001")
    call = caller.call(pbx.uri("1002"))
    phone.wait_incoming(10)
    call.hangup()
    call.wait_state("DISCONNECTED", 5)
