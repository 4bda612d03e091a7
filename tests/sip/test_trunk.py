"""Trunk registration client: exact requests and schedules in virtual time, and random runs."""

from __future__ import annotations

import itertools
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from softswitch.sip.auth import AuthOutcome, DigestAuthenticator, parse_digest
from softswitch.sip.message import Header, SipRequest, make_response, parse_message
from softswitch.sip.trunk import (
    IN_FLIGHT,
    TABLE,
    Action,
    IllegalTransition,
    Input,
    State,
    TrunkAccount,
    TrunkRegistration,
    granted_expiry,
)
from softswitch.sip.uri import parse_uri

T0 = 1000.0
REALM = "sip.example.net"
REGISTRAR = "sip:sip.example.net"
AOR = "sip:trunk1@sip.example.net"
CONTACT = "<sip:trunk1@192.0.2.10:5060>"
ACCOUNT = TrunkAccount(
    name="provider",
    registrar_uri=REGISTRAR,
    username="trunk1",
    password="s3cret",
    contact=CONTACT,
)


class FixedRandom(random.Random):
    """Jitter draws a known value, so the schedule can be written down."""

    def __init__(self, value: float) -> None:
        super().__init__(0)
        self.value = value

    def random(self) -> float:
        return self.value


def make_trunk(
    account: TrunkAccount = ACCOUNT, rng: random.Random | None = None
) -> TrunkRegistration:
    branches = itertools.count(1)
    cnonces = itertools.count(1)
    return TrunkRegistration(
        account,
        via=lambda: f"SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-{next(branches)};rport",
        rng=rng or FixedRandom(0.5),
        new_cnonce=lambda: f"cn{next(cnonces)}",
        call_id="cid-1@sip.example.net",
        from_tag="ftag",
    )


def one_request(trunk: TrunkRegistration) -> SipRequest:
    requests = trunk.take_requests()
    assert len(requests) == 1
    # What goes on the wire must parse back as a valid REGISTER.
    wire = parse_message(requests[0].to_bytes())
    assert isinstance(wire, SipRequest)
    assert wire.method == "REGISTER"
    return requests[0]


def reply(request: SipRequest, status: int, *extra: Header) -> list[Header]:
    return make_response(request, status, "Reason", to_tag="ttag", extra=extra).headers


def answer(
    trunk: TrunkRegistration, request: SipRequest, status: int, now: float, *extra: Header
) -> None:
    trunk.response(status, reply(request, status, *extra), now)


def challenge(nonce: str, *, stale: bool = False, name: str = "www-authenticate") -> Header:
    tail = ", stale=true" if stale else ""
    return (name, f'Digest realm="{REALM}", nonce="{nonce}", algorithm=MD5, qop="auth"{tail}')


def registered(trunk: TrunkRegistration, now: float = T0, expires: int = 3600) -> SipRequest:
    trunk.start(now)
    request = one_request(trunk)
    answer(trunk, request, 200, now, ("contact", f"{CONTACT};expires={expires}"))
    assert trunk.state is State.REGISTERED
    return request


# ------------------------------------------------------------------ requests


def test_first_register_has_exactly_the_rfc_3261_headers() -> None:
    trunk = make_trunk()
    trunk.start(T0)
    request = one_request(trunk)
    assert (request.method, request.uri) == ("REGISTER", REGISTRAR)
    assert request.headers == [
        ("via", "SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-1;rport"),
        ("max-forwards", "70"),
        ("from", f"<{AOR}>;tag=ftag"),
        ("to", f"<{AOR}>"),
        ("call-id", "cid-1@sip.example.net"),
        ("cseq", "1 REGISTER"),
        ("contact", CONTACT),
        ("expires", "3600"),
    ]
    assert trunk.state is State.REGISTERING
    assert trunk.next_deadline() is None  # the transaction times the request, not us
    [event] = trunk.take_events()
    assert (event.trunk, event.old, event.new, event.at) == (
        "provider", State.IDLE, State.REGISTERING, T0,
    )  # fmt: skip


def test_challenge_answered_and_accepted_by_our_own_registrar() -> None:
    provider = DigestAuthenticator(REALM, b"provider-secret-0123")
    account = TrunkAccount(
        name="p", registrar_uri=REGISTRAR, username="+34910000000", password="s3cret",
        contact=CONTACT, auth_username="acct77", user_agent="softswitch",
    )  # fmt: skip
    trunk = make_trunk(account)
    trunk.start(T0)
    first = one_request(trunk)
    challenges = [("www-authenticate", value) for value in provider.challenge(T0)]
    trunk.response(401, reply(first, 401, *challenges), T0 + 0.05, "Unauthorized")
    second = one_request(trunk)
    assert trunk.state is State.AUTHENTICATING
    assert trunk.last_reason == f'challenged: 401 Unauthorized, realm "{REALM}", SHA-256'
    assert second.call_id == first.call_id
    assert (second.cseq.number, second.get("expires"), second.get("user-agent")) == (
        2, "3600", "softswitch",
    )  # fmt: skip
    assert second.get("from") == "<sip:+34910000000@sip.example.net>;tag=ftag"
    assert second.via.branch != first.via.branch
    credentials = second.get("authorization")
    result = provider.verify(credentials, "REGISTER", {"acct77": "s3cret"}.get, T0 + 0.1, REGISTRAR)
    assert (result.outcome, result.username) == (AuthOutcome.OK, "acct77")
    params = parse_digest(credentials or "")
    assert params is not None
    assert (params["algorithm"], params["nc"], params["cnonce"]) == ("SHA-256", "00000001", "cn1")


def test_407_is_answered_with_proxy_authorization() -> None:
    trunk = make_trunk()
    trunk.start(T0)
    answer(trunk, one_request(trunk), 407, T0, challenge("p1", name="proxy-authenticate"))
    request = one_request(trunk)
    assert request.get("authorization") is None
    assert 'nonce="p1"' in (request.get("proxy-authorization") or "")


# ------------------------------------------------------------------ expiry and refresh


def test_granted_expiry_sources_in_order() -> None:
    ours = parse_uri("sip:trunk1@192.0.2.10:5060")
    other = "<sip:trunk1@198.51.100.7:5060>;expires=300"
    cases: list[tuple[list[Header], int]] = [
        ([("contact", f"{other}, <sip:trunk1@192.0.2.10>;expires=120"), ("expires", "600")], 120),
        ([("contact", "<sip:trunk1@192.0.2.10:5060;transport=udp;ob>;expires=90")], 90),
        ([("contact", other), ("expires", "600")], 600),
        ([("contact", f"{other}, <sip:x@198.51.100.8>;expires=900")], 300),
        ([("contact", "<bogus"), ("contact", f"{other}")], 300),
        ([], 3600),
    ]
    for headers, expected in cases:
        assert granted_expiry(headers, ours, 3600) == expected


@pytest.mark.parametrize(("granted", "refresh_in"), [(3600, 3560.0), (600, 560.0), (60, 30.0)])
def test_refresh_goes_out_min_of_half_and_40s_before_expiry(
    granted: int, refresh_in: float
) -> None:
    trunk = make_trunk()
    registered(trunk, expires=granted)
    assert trunk.next_deadline() == T0 + refresh_in
    assert trunk.bound_until == T0 + granted
    assert trunk.last_reason == f"registered: 200; granted {granted} s, refresh in {refresh_in:g} s"


def test_refresh_cycle_keeps_call_id_and_counts_cseq() -> None:
    trunk = make_trunk()
    registered(trunk)
    deadline = T0 + 3560.0
    trunk.handle_timer(deadline - 0.001)  # early: nothing happens
    assert (trunk.take_requests(), trunk.state) == ([], State.REGISTERED)
    trunk.handle_timer(deadline)
    refresh = one_request(trunk)
    assert (refresh.cseq.number, refresh.call_id, refresh.get("authorization")) == (
        2, "cid-1@sip.example.net", None,
    )  # fmt: skip
    assert trunk.state is State.REGISTERING
    assert trunk.next_deadline() is None
    answer(trunk, refresh, 401, deadline + 0.1, challenge("n9"))
    answer(trunk, one_request(trunk), 200, deadline + 0.2, ("expires", "1800"))
    assert trunk.state is State.REGISTERED
    assert trunk.next_deadline() == pytest.approx(deadline + 0.2 + 1760.0)


def test_contact_refused_in_the_2xx_is_a_failure() -> None:
    trunk = make_trunk()
    trunk.start(T0)
    answer(trunk, one_request(trunk), 200, T0, ("contact", f"{CONTACT};expires=0"))
    assert trunk.state is State.FAILED
    assert "our contact was not bound" in trunk.last_reason


# ------------------------------------------------------------------ challenges


def test_same_nonce_without_stale_means_wrong_credentials() -> None:
    trunk = make_trunk()
    trunk.start(T0)
    answer(trunk, one_request(trunk), 401, T0, challenge("n1"))
    answer(trunk, one_request(trunk), 401, T0 + 1, challenge("n1"))
    assert trunk.take_requests() == []
    assert trunk.state is State.FAILED
    assert trunk.last_reason == (
        "registration failed: 401, credentials rejected (wrong username or password?); "
        "retry in 9.0 s"
    )
    assert trunk.next_deadline() == T0 + 1 + 9.0


def test_stale_nonce_is_answered_with_the_new_one() -> None:
    trunk = make_trunk()
    trunk.start(T0)
    answer(trunk, one_request(trunk), 401, T0, challenge("n1"))
    answer(trunk, one_request(trunk), 401, T0, challenge("n2", stale=True))
    third = one_request(trunk)
    params = parse_digest(third.get("authorization") or "")
    assert params is not None
    assert (params["nonce"], params["nc"], params["cnonce"]) == ("n2", "00000001", "cn2")
    assert trunk.state is State.AUTHENTICATING
    assert "stale nonce" in trunk.last_reason
    answer(trunk, third, 200, T0 + 1)
    assert trunk.state is State.REGISTERED


def test_a_server_that_keeps_challenging_is_answered_three_times() -> None:
    trunk = make_trunk()
    trunk.start(T0)
    request = one_request(trunk)
    for n in range(3):
        answer(trunk, request, 401, T0, challenge(f"fresh{n}"))
        request = one_request(trunk)
    answer(trunk, request, 401, T0, challenge("fresh3"))
    assert (trunk.take_requests(), trunk.state) == ([], State.FAILED)
    assert "still challenged after 3 answers" in trunk.last_reason


def test_unanswerable_challenge_fails() -> None:
    trunk = make_trunk()
    trunk.start(T0)
    answer(trunk, one_request(trunk), 401, T0, ("www-authenticate", 'Basic realm="x"'))
    assert trunk.state is State.FAILED
    assert "no challenge we can answer" in trunk.last_reason


# ------------------------------------------------------------------ 423 and back-off


def test_423_retries_with_min_expires_which_later_refreshes_keep() -> None:
    trunk = make_trunk()
    trunk.start(T0)
    answer(trunk, one_request(trunk), 423, T0, ("min-expires", "7200"))
    retry = one_request(trunk)
    assert (retry.get("expires"), retry.cseq.number, trunk.state) == ("7200", 2, State.REGISTERING)
    assert trunk.last_reason == "too brief: 423, Min-Expires 7200; asking 7200 s"
    answer(trunk, retry, 200, T0)
    trunk.handle_timer(T0 + 7160)
    assert one_request(trunk).get("expires") == "7200"


@pytest.mark.parametrize("min_expires", [None, "60", "3600", "junk"])
def test_423_without_a_longer_min_expires_is_a_failure(min_expires: str | None) -> None:
    trunk = make_trunk()
    trunk.start(T0)
    extra = () if min_expires is None else (("min-expires", min_expires),)
    answer(trunk, one_request(trunk), 423, T0, *extra)
    assert (trunk.take_requests(), trunk.state) == ([], State.FAILED)


def test_423_loop_is_cut_after_two() -> None:
    trunk = make_trunk()
    trunk.start(T0)
    for minimum in ("4000", "5000"):
        answer(trunk, one_request(trunk), 423, T0, ("min-expires", minimum))
    answer(trunk, one_request(trunk), 423, T0, ("min-expires", "6000"))
    assert trunk.state is State.FAILED
    assert "Min-Expires keeps growing" in trunk.last_reason


def fail_repeatedly(trunk: TrunkRegistration, times: int) -> list[float]:
    """Fail every attempt (alternating timeouts and 500s); the delays between attempts."""
    now = T0
    trunk.start(now)
    delays = []
    for n in range(times):
        request = one_request(trunk)
        if n % 2:
            trunk.timeout(now)
        else:
            answer(trunk, request, 500, now)
        deadline = trunk.next_deadline()
        assert deadline is not None
        delays.append(deadline - now)
        now = deadline
        trunk.handle_timer(now)
    return delays


def test_backoff_schedule_exact() -> None:
    # Jitter fixed at the middle of its range: every nominal delay times 0.9.
    delays = fail_repeatedly(make_trunk(rng=FixedRandom(0.5)), 8)
    assert delays == pytest.approx([9.0, 18.0, 36.0, 72.0, 144.0, 270.0, 270.0, 270.0])
    assert fail_repeatedly(make_trunk(rng=FixedRandom(0.0)), 7)[-2:] == [300.0, 300.0]


def test_backoff_with_seeded_jitter_is_reproducible_and_bounded() -> None:
    runs = [fail_repeatedly(make_trunk(rng=random.Random(42)), 7) for _ in range(2)]
    assert runs[0] == runs[1]
    nominal = [10, 20, 40, 80, 160, 300, 300]
    for delay, base in zip(runs[0], nominal, strict=True):
        assert 0.8 * base <= delay <= base
    draws = random.Random(42)
    assert runs[0] == pytest.approx([base * (1 - 0.2 * draws.random()) for base in nominal])


def test_backoff_resets_after_a_success_and_retry_after_is_honoured() -> None:
    trunk = make_trunk()
    fail_repeatedly(trunk, 3)
    answer(trunk, one_request(trunk), 200, 2000.0)
    trunk.handle_timer(2000.0 + 3560)
    answer(trunk, one_request(trunk), 503, 6000.0, ("retry-after", "120 (maintenance)"))
    assert trunk.next_deadline() == 6000.0 + 120  # longer than the 9 s back-off
    trunk.handle_timer(6120.0)
    one_request(trunk)
    trunk.timeout(6150.0)  # a timeout has no Retry-After: the 120 s above must not linger
    assert trunk.next_deadline() == 6150.0 + 18.0
    trunk.handle_timer(6168.0)
    answer(trunk, one_request(trunk), 503, 6170.0, ("retry-after", "5"))
    assert trunk.next_deadline() == 6170.0 + 36.0  # the back-off is longer


# ------------------------------------------------------------------ stopping


def test_stop_when_registered_sends_expires_zero() -> None:
    trunk = make_trunk()
    registered(trunk)
    trunk.take_events()
    trunk.stop(T0 + 10)
    request = one_request(trunk)
    assert request.headers[5:] == [
        ("cseq", "2 REGISTER"), ("contact", CONTACT), ("expires", "0"),
    ]  # fmt: skip
    assert (trunk.state, trunk.next_deadline()) == (State.UNREGISTERING, None)
    answer(trunk, request, 401, T0 + 11, challenge("u1"))
    again = one_request(trunk)
    assert again.get("expires") == "0"
    assert 'nonce="u1"' in (again.get("authorization") or "")
    answer(trunk, again, 200, T0 + 12)
    assert (trunk.state, trunk.bound_until, trunk.last_reason) == (
        State.IDLE, None, "unregistered: 200",
    )  # fmt: skip
    assert [(e.old, e.new) for e in trunk.take_events()] == [
        (State.REGISTERED, State.UNREGISTERING), (State.UNREGISTERING, State.IDLE),
    ]  # fmt: skip


def test_stop_while_a_register_is_in_flight_waits_for_it() -> None:
    trunk = make_trunk()
    trunk.start(T0)
    first = one_request(trunk)
    trunk.stop(T0 + 0.1)
    assert (trunk.take_requests(), trunk.state) == ([], State.STOPPING)
    trunk.stop(T0 + 0.2)  # again: still nothing
    answer(trunk, first, 200, T0 + 0.3)
    unregister = one_request(trunk)
    assert (unregister.cseq.number, unregister.get("expires")) == (2, "0")
    trunk.timeout(T0 + 32.3)
    assert (trunk.state, trunk.take_requests()) == (State.IDLE, [])
    assert trunk.last_reason.startswith("unregister failed")


def test_stopping_answers_a_challenge_with_the_unregister() -> None:
    trunk = make_trunk()
    trunk.start(T0)
    first = one_request(trunk)
    trunk.stop(T0)
    answer(trunk, first, 401, T0, challenge("s1"))
    request = one_request(trunk)
    assert (request.get("expires"), trunk.state) == ("0", State.UNREGISTERING)
    assert request.get("authorization") is not None


def test_stop_after_failures_sends_nothing_unless_a_binding_may_live() -> None:
    never = make_trunk()
    never.start(T0)
    answer(never, one_request(never), 403, T0)
    never.stop(T0 + 5)
    assert (never.take_requests(), never.state, never.next_deadline()) == ([], State.IDLE, None)

    lapsed_refresh = make_trunk()
    registered(lapsed_refresh, expires=600)
    lapsed_refresh.handle_timer(T0 + 560)
    answer(lapsed_refresh, one_request(lapsed_refresh), 500, T0 + 561)
    assert lapsed_refresh.state is State.FAILED
    lapsed_refresh.stop(T0 + 570)  # the binding granted at T0 lives until T0 + 600
    assert one_request(lapsed_refresh).get("expires") == "0"


# ------------------------------------------------------------------ robustness


def test_provisional_late_and_unmatched_responses_are_ignored() -> None:
    trunk = make_trunk()
    trunk.timeout(T0)  # nothing in flight
    trunk.response(200, [], T0)
    assert trunk.state is State.IDLE
    trunk.start(T0)
    request = one_request(trunk)
    answer(trunk, request, 100, T0)
    wrong_cseq = [(n, "7 REGISTER" if n == "cseq" else v) for n, v in reply(request, 200)]
    trunk.response(200, wrong_cseq, T0)
    wrong_method = [(n, "1 INVITE" if n == "cseq" else v) for n, v in reply(request, 200)]
    trunk.response(200, wrong_method, T0)
    assert (trunk.state, trunk.outstanding_cseq) == (State.REGISTERING, 1)


def test_start_twice_is_a_caller_bug() -> None:
    trunk = make_trunk()
    trunk.start(T0)
    with pytest.raises(IllegalTransition, match="start is illegal in registering"):
        trunk.start(T0)


def test_bad_configuration_is_refused_up_front() -> None:
    with pytest.raises(ValueError, match="expires"):
        make_trunk(TrunkAccount("p", REGISTRAR, "u", "p", CONTACT, expires=0))
    with pytest.raises(ValueError, match="trunk p: unsupported URI scheme tel"):
        make_trunk(TrunkAccount("p", "tel:+123", "u", "p", CONTACT))
    with pytest.raises(ValueError, match="trunk p: missing >"):
        make_trunk(TrunkAccount("p", REGISTRAR, "u", "p", "<sip:u@192.0.2.1"))


def test_table_shape() -> None:
    responses = {Input.RECV_2XX, Input.RECV_CHALLENGE, Input.RECV_REJECTED, Input.RECV_423,
                 Input.RECV_FAILURE, Input.TIMEOUT}  # fmt: skip
    sends = {Action.SEND_REGISTER, Action.SEND_UNREGISTER}
    for state in State:
        # stop() is always legal; an outcome has a row exactly where a request is in flight.
        assert (state, Input.STOP) in TABLE
        assert (state, Input.STOP_BOUND) in TABLE
        assert all(((state, i) in TABLE) == (state in IN_FLIGHT) for i in responses)
    for (state, event), row in TABLE.items():
        starts_request = row.next_state in IN_FLIGHT and (
            state not in IN_FLIGHT or event in responses
        )
        # A row leads into a request-in-flight state exactly when it sends one.
        assert starts_request == bool(sends & set(row.actions)), (state, event)
        # REGISTERED is entered on a 2xx to a REGISTER asking for a binding, and only then.
        grants = event is Input.RECV_2XX and state in (State.REGISTERING, State.AUTHENTICATING)
        assert (row.next_state is State.REGISTERED) == grants, (state, event)


# ------------------------------------------------------------------ random runs

# 2xx and challenges drive the machine furthest, so they are drawn most.
STATUSES = [200, 200, 202, 401, 401, 407, 423, 100, 403, 408, 500, 503, 603]
# Responses are what move the machine, so they are drawn most; time steps reach both the next
# retry (seconds) and the next refresh (an hour). Every op draws every field; each kind
# reads the ones it needs.
op = st.tuples(
    st.sampled_from(["response"] * 5 + ["advance"] * 2 + ["start", "stop", "timeout"]),
    st.sampled_from(STATUSES),
    st.sampled_from(["n1", "n2", "n3"]),  # a small nonce pool makes repeats likely
    st.booleans(),  # stale (challenges) / matching CSeq (2xx)
    st.sampled_from([None, 0, 30, 3600, 7200]),  # Expires / Min-Expires / Retry-After
    st.one_of(st.sampled_from([0.5, 10.0, 29.0, 300.0, 3560.0, 7200.0]), st.floats(0, 4000)),
)


def canned(
    request: SipRequest, status: int, nonce: str, flag: bool, num: int | None
) -> list[Header]:
    extra: list[Header] = []
    if status in (401, 407):
        name = "www-authenticate" if status == 401 else "proxy-authenticate"
        extra.append(challenge(nonce, stale=flag, name=name))
    elif status == 423 and num is not None:
        extra.append(("min-expires", str(num)))
    elif status < 300 and num is not None:
        extra.append(("contact", f"{CONTACT};expires={num}"))
    elif status == 503 and num is not None:
        extra.append(("retry-after", str(num)))
    headers = reply(request, status, *extra)
    if status < 300 and not flag:
        headers = [(n, f"{request.cseq.number + 1} REGISTER" if n == "cseq" else v)
                   for n, v in headers]  # fmt: skip
    return headers


@settings(max_examples=300, deadline=None)
@given(ops=st.lists(op, min_size=20, max_size=80), seed=st.integers(0, 2**32 - 1))
def test_random_runs_keep_the_invariants(ops: list[tuple[object, ...]], seed: int) -> None:
    trunk = make_trunk(rng=random.Random(seed))
    now = T0
    in_flight: SipRequest | None = None
    last_cseq = 0
    state = trunk.state
    for step in ops:
        kind = step[0]
        completes = False
        granting = False
        before_deadline = trunk.next_deadline()
        if kind == "start":
            if trunk.state is State.IDLE:
                trunk.start(now)
            else:
                with pytest.raises(IllegalTransition):
                    trunk.start(now)
        elif kind == "stop":
            trunk.stop(now)
        elif kind == "timeout":
            completes = in_flight is not None
            trunk.timeout(now)
        elif kind == "advance":
            assert isinstance(step[5], float)
            now += step[5]
            trunk.handle_timer(now)
            if before_deadline is not None and now < before_deadline:
                assert trunk.next_deadline() == before_deadline  # not due: nothing moves
        elif in_flight is not None:
            _, status, nonce, flag, num, _ = step
            assert isinstance(status, int) and isinstance(nonce, str) and isinstance(flag, bool)
            assert num is None or isinstance(num, int)
            headers = canned(in_flight, status, nonce, flag, num)
            matched = status >= 200 and (status >= 300 or flag)
            completes = matched
            granting = matched and status < 300 and in_flight.get("expires") != "0"
            trunk.response(status, headers, now)
            if matched and status in (401, 407):
                completes = True
        if completes:
            in_flight = None
        requests = trunk.take_requests()
        assert len(requests) <= 1
        if requests:
            # Never two REGISTERs in flight: a new one only once the last one is answered.
            assert in_flight is None
            request = requests[0]
            assert request.cseq.number == last_cseq + 1
            assert request.call_id == "cid-1@sip.example.net"
            assert request.from_.tag == "ftag"
            if request.has("authorization") or request.has("proxy-authorization"):
                assert kind == "response" and step[1] in (401, 407)
            in_flight, last_cseq = request, request.cseq.number
        # The core and the model agree on what is in flight; no timer runs meanwhile.
        assert trunk.outstanding_cseq == (None if in_flight is None else in_flight.cseq.number)
        assert (trunk.state in IN_FLIGHT) == (in_flight is not None)
        deadline = trunk.next_deadline()
        if trunk.state in (State.REGISTERED, State.FAILED):
            assert deadline is not None and deadline > now
        else:
            assert deadline is None
        # REGISTERED only ever follows a 2xx granting a binding.
        for event in trunk.take_events():
            assert (event.old, event.at) == (state, now)
            assert event.new is not event.old
            state = event.new
            if event.new is State.REGISTERED:
                assert granting
        assert state is trunk.state


def test_event_reasons_read_well_in_a_log() -> None:
    trunk = make_trunk()
    trunk.start(T0)
    answer(trunk, one_request(trunk), 401, T0, challenge("n1"))
    trunk.response(200, reply(one_request(trunk), 200, ("expires", "120")), T0 + 1, "OK")
    reasons = [e.reason for e in trunk.take_events()]
    assert reasons == [
        "registering",
        f'challenged: 401, realm "{REALM}", MD5',
        "registered: 200 OK; granted 120 s, refresh in 80 s",
    ]
