"""Registrar core and location service (RFC 3261 §10.3), in virtual wall time."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import pytest

from softswitch.sip.location import LocationService
from softswitch.sip.registrar import (
    Aor,
    ContactRequest,
    RegisterResult,
    RegisterStatus,
    Registrar,
    contact_header,
)

T0 = 1_700_000_000.0
ANA = Aor("1001")
DESK = "sip:1001@192.0.2.10:5060"
MOBILE = "sip:1001@198.51.100.20:5062;transport=tcp"


def contact(
    uri: str = DESK, expires: int | None = None, q: float | None = None, instance: str | None = None
) -> ContactRequest:
    return ContactRequest(uri=uri, expires=expires, q=q, instance=instance)


class Phone:
    """Sends REGISTERs the way a phone does: one Call-ID, CSeq counting up."""

    def __init__(self, registrar: Registrar, call_id: str = "reg-1", host: str = "192.0.2.10"):
        self.registrar = registrar
        self.call_id = call_id
        self.cseq = 0
        self.host = host
        self.port = 5060

    def register(
        self,
        contacts: Sequence[ContactRequest] | Literal["*"],
        expires: int | None,
        now: float,
        aor: Aor = ANA,
        cseq: int | None = None,
    ) -> RegisterResult:
        self.cseq = self.cseq + 1 if cseq is None else cseq
        return self.registrar.register(
            aor,
            contacts,
            expires,
            self.call_id,
            self.cseq,
            "udp",
            self.host,
            self.port,
            "TestPhone/1.0",
            now,
        )


@pytest.fixture
def location() -> LocationService:
    return LocationService(None, max_contacts_per_aor=3)


@pytest.fixture
def registrar(location: LocationService) -> Registrar:
    return Registrar(location, min_expires=60, max_expires=3600, default_expires=600)


def test_register_adds_a_binding_reached_at_the_source_address(
    registrar: Registrar, location: LocationService
) -> None:
    phone = Phone(registrar, host="203.0.113.50")  # behind NAT: Contact says 192.0.2.10
    phone.port = 40123
    result = phone.register([contact(q=0.5, instance='"<urn:uuid:1>"')], 300, T0)
    assert (result.status, result.code, result.reason) == (RegisterStatus.OK, 200, "OK")
    (binding,) = result.bindings
    assert binding.contact == DESK
    assert (binding.source_host, binding.source_port, binding.transport) == (
        "203.0.113.50",
        40123,
        "udp",
    )
    assert binding.expires_at == T0 + 300
    assert (binding.call_id, binding.cseq, binding.user_agent) == ("reg-1", 1, "TestPhone/1.0")
    assert location.lookup(ANA, T0 + 1) == [binding]
    assert contact_header(binding, T0 + 100) == (
        f'<{DESK}>;expires=200;q=0.5;+sip.instance="<urn:uuid:1>"'
    )


def test_default_expires_and_contact_param_beats_header(registrar: Registrar) -> None:
    phone = Phone(registrar)
    (binding,) = phone.register([contact()], None, T0).bindings
    assert binding.expires_at == T0 + 600
    (binding,) = phone.register([contact(expires=120)], 3000, T0).bindings
    assert binding.expires_at == T0 + 120


def test_refresh_replaces_the_binding_and_extends_it(
    registrar: Registrar, location: LocationService
) -> None:
    phone = Phone(registrar)
    phone.register([contact()], 300, T0)
    result = phone.register([contact()], 300, T0 + 200)
    assert [b.expires_at for b in result.bindings] == [T0 + 500]
    assert result.bindings[0].cseq == 2
    assert len(location) == 1
    assert location.next_deadline() == T0 + 500


def test_expires_zero_removes_only_that_contact(registrar: Registrar) -> None:
    phone = Phone(registrar)
    phone.register([contact(DESK), contact(MOBILE)], 300, T0)
    result = phone.register([contact(DESK, expires=0)], 300, T0 + 1)
    assert [b.contact for b in result.bindings] == [MOBILE]


def test_wildcard_removes_all_with_expires_zero_only(
    registrar: Registrar, location: LocationService
) -> None:
    phone = Phone(registrar)
    phone.register([contact(DESK), contact(MOBILE)], 300, T0)
    bad = phone.register("*", 300, T0 + 1)
    assert (bad.status, bad.code) == (RegisterStatus.BAD_REQUEST, 400)
    assert len(location.lookup(ANA, T0 + 1)) == 2
    assert phone.register("*", None, T0 + 1).code == 400
    done = phone.register("*", 0, T0 + 2)
    assert (done.code, done.bindings) == (200, ())
    assert location.lookup(ANA, T0 + 2) == []
    assert location.next_deadline() is None


def test_interval_too_brief_changes_nothing(
    registrar: Registrar, location: LocationService
) -> None:
    phone = Phone(registrar)
    phone.register([contact(DESK)], 300, T0)
    result = phone.register([contact(MOBILE, expires=300), contact(DESK, expires=30)], None, T0)
    assert (result.status, result.code, result.reason) == (
        RegisterStatus.INTERVAL_TOO_BRIEF,
        423,
        "Interval Too Brief",
    )
    assert result.min_expires == 60
    assert [b.contact for b in location.lookup(ANA, T0)] == [DESK]  # all or nothing


def test_long_expiry_is_clamped(registrar: Registrar) -> None:
    (binding,) = Phone(registrar).register([contact()], 86_400, T0).bindings
    assert binding.expires_at == T0 + 3600


def test_same_call_id_with_old_cseq_is_out_of_order(
    registrar: Registrar, location: LocationService
) -> None:
    phone = Phone(registrar)
    phone.register([contact()], 300, T0, cseq=5)
    for stale in (5, 4):
        result = phone.register([contact()], 900, T0 + 1, cseq=stale)
        assert (result.status, result.code) == (RegisterStatus.OUT_OF_ORDER, 500)
    assert phone.register("*", 0, T0 + 1, cseq=5).status is RegisterStatus.OUT_OF_ORDER
    assert location.lookup(ANA, T0 + 1)[0].expires_at == T0 + 300
    # Another Call-ID (the phone rebooted) may use any CSeq.
    rebooted = Phone(registrar, call_id="reg-2")
    assert rebooted.register([contact()], 900, T0 + 2, cseq=1).code == 200
    assert location.lookup(ANA, T0 + 2)[0].expires_at == T0 + 902


def test_empty_contact_list_is_a_query(registrar: Registrar, location: LocationService) -> None:
    phone = Phone(registrar)
    phone.register([contact(DESK)], 300, T0)
    result = phone.register([], 300, T0 + 10)
    assert result.code == 200
    assert [b.contact for b in result.bindings] == [DESK]
    assert location.lookup(ANA, T0)[0].expires_at == T0 + 300  # not refreshed


def test_several_contacts_up_to_the_cap_oldest_replaced(
    registrar: Registrar, location: LocationService
) -> None:
    for i in range(3):
        Phone(registrar, call_id=f"c{i}").register([contact(f"sip:1001@10.0.0.{i}")], 300, T0 + i)
    assert len(location.lookup(ANA, T0 + 3)) == 3
    Phone(registrar, call_id="c3").register([contact("sip:1001@10.0.0.3")], 300, T0 + 3)
    assert [b.contact for b in location.lookup(ANA, T0 + 4)] == [
        "sip:1001@10.0.0.1",
        "sip:1001@10.0.0.2",
        "sip:1001@10.0.0.3",
    ]
    too_many = Phone(registrar).register([contact(f"sip:x@10.0.1.{i}") for i in range(4)], 300, T0)
    assert (too_many.status, too_many.code) == (RegisterStatus.TOO_MANY_CONTACTS, 403)


def test_same_instance_from_a_new_address_replaces_the_old_binding(
    registrar: Registrar, location: LocationService
) -> None:
    instance = '"<urn:uuid:00000000-0000-1000-8000-000a95a0e128>"'
    phone = Phone(registrar)
    phone.register([contact(DESK, instance=instance), contact(MOBILE)], 300, T0)
    # The desk phone moves network and registers again with a fresh Call-ID.
    moved = Phone(registrar, call_id="after-move", host="203.0.113.9")
    result = moved.register([contact("sip:1001@203.0.113.9:5060", instance=instance)], 300, T0 + 5)
    assert sorted(b.contact for b in result.bindings) == sorted(
        [MOBILE, "sip:1001@203.0.113.9:5060"]
    )
    assert len(location) == 2


def test_bad_values_are_refused_without_changes(
    registrar: Registrar, location: LocationService
) -> None:
    phone = Phone(registrar)
    for contacts, expires in (
        ([contact(" ")], 300),
        ([contact(q=1.5)], 300),
        ([contact(expires=-1)], 300),
        ([contact()], -5),
    ):
        assert phone.register(contacts, expires, T0).code == 400
    assert phone.register([contact()], 300, T0, aor=Aor("")).code == 400
    assert len(location) == 0


def test_expiry_follows_next_deadline(registrar: Registrar, location: LocationService) -> None:
    Phone(registrar, call_id="a").register([contact(DESK)], 120, T0)
    Phone(registrar, call_id="b").register([contact(MOBILE)], 300, T0)
    Phone(registrar, call_id="c").register([contact("sip:1002@10.0.0.2")], 200, T0, aor=Aor("1002"))
    assert location.next_deadline() == T0 + 120
    assert location.expire(T0 + 119.9) == []
    assert [b.contact for b in location.expire(T0 + 120)] == [DESK]
    assert location.next_deadline() == T0 + 200
    # Unexpired lookups already hide what is past due, before expire() runs.
    assert [b.contact for b in location.lookup(ANA, T0 + 301)] == []
    assert len(location.expire(T0 + 1000)) == 2
    assert location.next_deadline() is None
    assert location.all_bindings() == []


def test_refresh_storm_does_not_grow_the_deadline_heap(
    registrar: Registrar, location: LocationService
) -> None:
    phone = Phone(registrar)
    for i in range(10_000):
        phone.register([contact()], 3600, T0 + i * 0.01)
    assert len(location._deadlines) <= 2 * len(location) + 64
    assert location.next_deadline() == pytest.approx(T0 + 99.99 + 3600)


def test_expiry_follows_refreshes_later_and_earlier(
    registrar: Registrar, location: LocationService
) -> None:
    # A refresh to a later expiry pushes no heap entry: the old one is moved on when reached.
    phone = Phone(registrar)
    phone.register([contact()], 120, T0)
    phone.register([contact()], 300, T0 + 60)
    assert location.next_deadline() == T0 + 360
    assert location.expire(T0 + 200) == []
    assert [b.expires_at for b in location.lookup(ANA, T0 + 200)] == [T0 + 360]
    # A refresh to an earlier expiry must be honoured at the earlier time.
    phone.register([contact()], 60, T0 + 200)
    assert location.next_deadline() == T0 + 260
    assert location.expire(T0 + 259) == []
    assert [b.contact for b in location.expire(T0 + 260)] == [DESK]
    assert location.next_deadline() is None
    assert len(location) == 0


def test_invalid_limits_are_rejected(location: LocationService) -> None:
    with pytest.raises(ValueError):
        Registrar(location, min_expires=600, max_expires=3600, default_expires=60)
