"""Digest authentication: RFC 7616 responses computed here independently of the module."""

from __future__ import annotations

import hashlib
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from softswitch.sip.auth import AuthOutcome, DigestAuthenticator, parse_digest

REALM = "pbx.example.com"
SECRET = b"test-secret-0123456789"
URI = "sip:pbx.example.com"
USERS = {"1001": "s3cret", "ana": "pässwörd"}


def lookup(username: str) -> str | None:
    return USERS.get(username)


def h(algorithm: str, text: str) -> str:
    fn = hashlib.sha256 if algorithm.upper().startswith("SHA-256") else hashlib.md5
    return fn(text.encode()).hexdigest()


def rfc7616_response(
    algorithm: str,
    username: str,
    password: str,
    nonce: str,
    *,
    nc: str,
    cnonce: str,
    method: str = "REGISTER",
    uri: str = URI,
    realm: str = REALM,
) -> str:
    """RFC 7616 §3.4.1, written out from the RFC text."""
    a1 = h(algorithm, f"{username}:{realm}:{password}")
    if algorithm.upper().endswith("-SESS"):
        a1 = h(algorithm, f"{a1}:{nonce}:{cnonce}")
    a2 = h(algorithm, f"{method}:{uri}")
    return h(algorithm, f"{a1}:{nonce}:{nc}:{cnonce}:auth:{a2}")


def nonce_of(challenge: str) -> str:
    m = re.search(r'nonce="([^"]*)"', challenge)
    assert m is not None
    return m.group(1)


def credentials(
    nonce: str,
    *,
    username: str = "1001",
    password: str = "s3cret",
    algorithm: str = "MD5",
    nc: str = "00000001",
    cnonce: str = "0a4f113b",
    method: str = "REGISTER",
    realm: str = REALM,
) -> str:
    response = rfc7616_response(
        algorithm, username, password, nonce, nc=nc, cnonce=cnonce, method=method, realm=realm
    )
    return (
        f'Digest username="{username}", realm="{realm}", nonce="{nonce}", uri="{URI}", '
        f'response="{response}", algorithm={algorithm}, cnonce="{cnonce}", qop=auth, nc={nc}'
    )


@pytest.fixture
def auth() -> DigestAuthenticator:
    return DigestAuthenticator(REALM, SECRET, nonce_ttl=300.0)


def test_challenge_offers_sha256_then_md5_with_one_fresh_nonce(auth: DigestAuthenticator) -> None:
    first = auth.challenge(1000.0)
    assert len(first) == 2
    assert "algorithm=SHA-256" in first[0]
    assert "algorithm=MD5" in first[1]
    for value in first:
        assert value.startswith(f'Digest realm="{REALM}", nonce="')
        assert 'qop="auth"' in value
        assert "stale" not in value
    assert nonce_of(first[0]) == nonce_of(first[1])
    assert nonce_of(auth.challenge(1000.0)[0]) != nonce_of(first[0])
    assert all(value.endswith("stale=true") for value in auth.challenge(1000.0, stale=True))


@pytest.mark.parametrize("algorithm", ["MD5", "SHA-256", "MD5-sess", "SHA-256-sess"])
def test_correct_response_is_accepted(auth: DigestAuthenticator, algorithm: str) -> None:
    nonce = nonce_of(auth.challenge(1000.0)[0])
    result = auth.verify(credentials(nonce, algorithm=algorithm), "REGISTER", lookup, 1001.0)
    assert result.outcome is AuthOutcome.OK
    assert result.username == "1001"


def test_non_ascii_password_is_hashed_as_utf8(auth: DigestAuthenticator) -> None:
    nonce = nonce_of(auth.challenge(1000.0)[0])
    header = credentials(nonce, username="ana", password="pässwörd", algorithm="SHA-256")
    assert auth.verify(header, "REGISTER", lookup, 1000.0).outcome is AuthOutcome.OK


def test_rfc7616_example_vectors_are_right_but_their_nonce_is_not_ours() -> None:
    # RFC 7616 §3.9.1: a correct response over a nonce we did not sign is STALE (re-challenge),
    # and the same header with a wrong password is FAILED: this pins the hashing to the RFC.
    auth = DigestAuthenticator("http-auth@example.org", SECRET)
    nonce = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v"
    cnonce = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"
    vectors = {
        "MD5": "8ca523f5e9506fed4657c9700eebdbec",
        "SHA-256": "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",
    }
    for algorithm, response in vectors.items():
        header = (
            'Digest username="Mufasa", realm="http-auth@example.org", uri="/dir/index.html", '
            f'algorithm={algorithm}, nonce="{nonce}", nc=00000001, cnonce="{cnonce}", '
            f'qop=auth, response="{response}", '
            'opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"'
        )
        right = auth.verify(header, "GET", lambda u: "Circle of Life", 0.0)
        wrong = auth.verify(header, "GET", lambda u: "Circle of Life!", 0.0)
        assert (right.outcome, wrong.outcome) == (AuthOutcome.STALE, AuthOutcome.FAILED)


def test_missing_or_foreign_credentials_are_challenged(auth: DigestAuthenticator) -> None:
    nonce = nonce_of(auth.challenge(1000.0)[0])
    assert auth.verify(None, "REGISTER", lookup, 1000.0).outcome is AuthOutcome.MISSING
    basic = auth.verify("Basic QWxhZGRpbjpvcGVu", "REGISTER", lookup, 1000.0)
    assert basic.outcome is AuthOutcome.MISSING
    other_realm = credentials(nonce, realm="other.example.com")
    assert auth.verify(other_realm, "REGISTER", lookup, 1000.0).outcome is AuthOutcome.MISSING


def test_expired_nonce_is_stale_only_with_the_right_password(auth: DigestAuthenticator) -> None:
    nonce = nonce_of(auth.challenge(1000.0)[0])
    right = auth.verify(credentials(nonce), "REGISTER", lookup, 1300.0)
    wrong = auth.verify(credentials(nonce, password="guess"), "REGISTER", lookup, 1300.0)
    unknown = auth.verify(credentials(nonce, username="9999"), "REGISTER", lookup, 1300.0)
    assert right.outcome is AuthOutcome.STALE
    assert wrong.outcome is AuthOutcome.FAILED
    assert unknown.outcome is AuthOutcome.FAILED
    # Just inside the lifetime it is still good.
    assert auth.verify(credentials(nonce), "REGISTER", lookup, 1299.9).outcome is AuthOutcome.OK


def test_forged_nonce_is_refused(auth: DigestAuthenticator) -> None:
    genuine = nonce_of(auth.challenge(1000.0)[0])
    # Same shape, one bit of the MAC flipped; and a nonce signed with another secret.
    tampered = genuine[:-1] + ("0" if genuine[-1] != "0" else "1")
    foreign = nonce_of(DigestAuthenticator(REALM, b"another secret").challenge(1000.0)[0])
    for nonce in (tampered, foreign, "0" * 64, "zz" * 32, "abc"):
        wrong = auth.verify(credentials(nonce, password="x"), "REGISTER", lookup, 1000.0)
        right = auth.verify(credentials(nonce), "REGISTER", lookup, 1000.0)
        assert wrong.outcome is AuthOutcome.FAILED
        # Even knowing the password, an unsigned nonce only earns a fresh challenge.
        assert right.outcome is AuthOutcome.STALE


def test_nonce_count_must_increase(auth: DigestAuthenticator) -> None:
    nonce = nonce_of(auth.challenge(1000.0)[0])
    first = credentials(nonce, nc="00000001")
    assert auth.verify(first, "REGISTER", lookup, 1000.0).outcome is AuthOutcome.OK
    replay = auth.verify(first, "REGISTER", lookup, 1001.0)
    assert replay.outcome is AuthOutcome.FAILED
    assert "replay" in replay.reason
    assert auth.verify(credentials(nonce, nc="00000003"), "REGISTER", lookup, 1002.0).outcome is (
        AuthOutcome.OK
    )
    lower = auth.verify(credentials(nonce, nc="00000002"), "REGISTER", lookup, 1003.0)
    assert lower.outcome is AuthOutcome.FAILED


def test_a_changed_password_counts_at_once_despite_the_remembered_ha1(
    auth: DigestAuthenticator,
) -> None:
    # HA1 is remembered per (algorithm, user, password): a reload's new password is used at
    # the very next request, and the old one stops working.
    passwords = {"1001": "s3cret"}
    for n, algorithm in enumerate(("MD5", "SHA-256", "MD5")):
        nonce = nonce_of(auth.challenge(1000.0 + n)[0])
        good = credentials(nonce, algorithm=algorithm, password=passwords["1001"])
        assert auth.verify(good, "REGISTER", passwords.get, 1000.0 + n).outcome is AuthOutcome.OK
    old = passwords["1001"]
    passwords["1001"] = "n3w-secret"
    nonce = nonce_of(auth.challenge(1010.0)[0])
    stale_password = credentials(nonce, password=old)
    result = auth.verify(stale_password, "REGISTER", passwords.get, 1010.0)
    assert (result.outcome, result.reason) == (AuthOutcome.FAILED, "wrong password")
    fresh = credentials(nonce, password="n3w-secret", nc="00000002")
    assert auth.verify(fresh, "REGISTER", passwords.get, 1011.0).outcome is AuthOutcome.OK


def test_unknown_user_and_wrong_password_look_the_same(auth: DigestAuthenticator) -> None:
    nonce = nonce_of(auth.challenge(1000.0)[0])
    wrong = auth.verify(credentials(nonce, password="guess"), "REGISTER", lookup, 1000.0)
    unknown = auth.verify(credentials(nonce, username="1999"), "REGISTER", lookup, 1000.0)
    assert wrong.outcome is unknown.outcome is AuthOutcome.FAILED
    assert wrong.reason != unknown.reason  # the log may tell them apart; the peer may not
    # Neither failure consumes anything a retry with the right password would need.
    assert auth.verify(credentials(nonce), "REGISTER", lookup, 1000.0).outcome is AuthOutcome.OK
    # A challenge is the same shape whoever asks: it does not depend on a username at all.
    shape = [re.sub(r'nonce="[0-9a-f]{64}"', "N", v) for v in auth.challenge(1000.0)]
    assert shape == [
        f'Digest realm="{REALM}", N, algorithm=SHA-256, qop="auth"',
        f'Digest realm="{REALM}", N, algorithm=MD5, qop="auth"',
    ]


def test_wrong_method_or_uri_fails(auth: DigestAuthenticator) -> None:
    nonce = nonce_of(auth.challenge(1000.0)[0])
    header = credentials(nonce, method="INVITE")
    assert auth.verify(header, "REGISTER", lookup, 1000.0).outcome is AuthOutcome.FAILED
    header = credentials(nonce, nc="00000002")
    mismatch = auth.verify(header, "REGISTER", lookup, 1000.0, request_uri="sip:other.example")
    assert mismatch.outcome is AuthOutcome.FAILED
    good = auth.verify(header, "REGISTER", lookup, 1000.0, request_uri=URI)
    assert good.outcome is AuthOutcome.OK


def test_qop_less_rfc2069_response_is_refused(auth: DigestAuthenticator) -> None:
    nonce = nonce_of(auth.challenge(1000.0)[0])
    a1 = h("MD5", f"1001:{REALM}:s3cret")
    response = h("MD5", f"{a1}:{nonce}:{h('MD5', f'REGISTER:{URI}')}")
    header = (
        f'Digest username="1001", realm="{REALM}", nonce="{nonce}", uri="{URI}", '
        f'response="{response}"'
    )
    result = auth.verify(header, "REGISTER", lookup, 1000.0)
    assert result.outcome is AuthOutcome.FAILED
    assert "2069" in result.reason


def test_replay_table_is_bounded_and_eviction_never_reopens_replay() -> None:
    auth = DigestAuthenticator(REALM, SECRET, nonce_ttl=300.0, max_tracked_nonces=4)
    nonces = [nonce_of(auth.challenge(1000.0 + i)[0]) for i in range(10)]
    for i, nonce in enumerate(nonces):
        assert auth.verify(credentials(nonce), "REGISTER", lookup, 1010.0 + i).outcome is (
            AuthOutcome.OK
        )
        assert auth.tracked_nonces() <= 4
    # The first nonce was evicted while still valid: replaying its request must not pass.
    replay = auth.verify(credentials(nonces[0]), "REGISTER", lookup, 1020.0)
    assert replay.outcome is AuthOutcome.STALE
    # Expired entries are dropped to make room, so the table shrinks back.
    late = nonce_of(auth.challenge(2000.0)[0])
    assert auth.verify(credentials(late), "REGISTER", lookup, 2000.0).outcome is AuthOutcome.OK
    assert auth.tracked_nonces() == 1


def test_parser_handles_quoting_escapes_and_case() -> None:
    params = parse_digest(
        'dIgEsT  USERNAME="a\\"b\\\\c" , realm = "r,1",nonce=abc,  qop=auth ,, nc=00000001,'
    )
    assert params == {
        "username": 'a"b\\c',
        "realm": "r,1",
        "nonce": "abc",
        "qop": "auth",
        "nc": "00000001",
    }
    assert parse_digest("Basic abc") is None
    assert parse_digest('Digest username="a", username="b"') == {}  # duplicates refused
    assert parse_digest('Digest username="unterminated') == {}
    assert parse_digest("Digest a=b c=d") == {}


GARBAGE = [
    "",
    "Digest",
    "Digest ",
    'Digest username="1001"',
    "Digest ,,,,",
    'Digest username="\\',
    "Digest " + "a=b," * 100,
    'Digest username="1001", realm="pbx.example.com", nonce="x", uri="u", response="r", '
    'qop=auth, nc=0x000001, cnonce="c"',
    'Digest username="1001", realm="pbx.example.com", nonce="x", uri="u", response="r", '
    'qop=auth-int, nc=00000001, cnonce="c"',
    'Digest username="1001", realm="pbx.example.com", nonce="x", uri="u", response="r\u00e9", '
    'qop=auth, nc=00000001, cnonce="c", algorithm=SHA-512',
    'Digest username="\udcff", realm="pbx.example.com", nonce="x", uri="u", response="r", '
    'qop=auth, nc=00000001, cnonce="c"',
    'Digest username="\ud800", realm="pbx.example.com", nonce="x", uri="u", response="r", '
    'qop=auth, nc=00000001, cnonce="c"',
    "Digest " + "x" * 10_000,
    "\x00\xff\r\n",
]


@pytest.mark.parametrize("header", GARBAGE)
def test_garbage_never_raises_and_never_passes(auth: DigestAuthenticator, header: str) -> None:
    result = auth.verify(header, "REGISTER", lookup, 1000.0)
    assert result.outcome in (AuthOutcome.MISSING, AuthOutcome.FAILED)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_arbitrary_text_never_raises_or_authenticates(text: str) -> None:
    auth = DigestAuthenticator(REALM, SECRET)
    for header in (text, "Digest " + text):
        assert auth.verify(header, "REGISTER", lookup, 1000.0).outcome is not AuthOutcome.OK
