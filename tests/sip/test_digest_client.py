"""Client digest: RFC example vectors, and our own registrar accepting what the client computes."""

from __future__ import annotations

import hashlib
import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from softswitch.sip.auth import AuthOutcome, DigestAuthenticator, parse_digest
from softswitch.sip.digest_client import (
    DigestChallengeError,
    DigestClient,
    authorization,
    choose_challenge,
    parse_challenge,
)

# RFC 2617 §3.5.
RFC2617_CHALLENGE = (
    'Digest realm="testrealm@host.com", qop="auth,auth-int", '
    'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"'
)
# RFC 7616 §3.9.1: the two challenges, SHA-256 first.
RFC7616_NONCE = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v"
RFC7616_OPAQUE = "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"
RFC7616_CNONCE = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"
RFC7616_CHALLENGES = [
    f'Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm={alg}, '
    f'nonce="{RFC7616_NONCE}", opaque="{RFC7616_OPAQUE}"'
    for alg in ("SHA-256", "MD5")
]

REALM = "sip.example.net"
SECRET = b"provider-secret-0123456789"
URI = "sip:sip.example.net"


def test_rfc2617_example_is_reproduced_exactly() -> None:
    value = authorization(
        RFC2617_CHALLENGE, "GET", "/dir/index.html", "Mufasa", "Circle Of Life", 1, "0a4f113b"
    )
    assert value == (
        'Digest username="Mufasa", realm="testrealm@host.com", '
        'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", uri="/dir/index.html", '
        'response="6629fae49393a05397450978507c4ef1", cnonce="0a4f113b", '
        'opaque="5ccc069c403ebaf9f0171e9517f40e41", qop=auth, nc=00000001'
    )


@pytest.mark.parametrize(
    ("challenge", "response"),
    [
        (RFC7616_CHALLENGES[0], "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"),
        (RFC7616_CHALLENGES[1], "8ca523f5e9506fed4657c9700eebdbec"),
    ],
)
def test_rfc7616_examples(challenge: str, response: str) -> None:
    value = authorization(
        challenge, "GET", "/dir/index.html", "Mufasa", "Circle of Life", 1, RFC7616_CNONCE
    )
    params = parse_digest(value)
    assert params is not None
    assert params["response"] == response
    assert params["algorithm"] == parse_challenge(challenge).algorithm
    assert params["opaque"] == RFC7616_OPAQUE
    assert (params["qop"], params["nc"], params["cnonce"]) == ("auth", "00000001", RFC7616_CNONCE)


def test_the_topmost_supported_challenge_is_chosen() -> None:
    chosen = choose_challenge(["Basic realm=x", 'Digest realm="r", nonce="n", algorithm=AKAv1-MD5',
                               *RFC7616_CHALLENGES])  # fmt: skip
    assert chosen is not None
    assert (chosen.algorithm, chosen.nonce) == ("SHA-256", RFC7616_NONCE)
    assert choose_challenge(["Basic realm=x"]) is None


@pytest.mark.skipif(
    "sha512_256" not in hashlib.algorithms_available, reason="OpenSSL without SHA-512/256"
)
def test_rfc7616_userhash_example_with_erratum_4897() -> None:
    # The RFC's own hashes came from a draft SHA-512/256; erratum 4897 gives the real ones.
    challenge = (
        'Digest realm="api@example.org", qop="auth", algorithm=SHA-512-256, '
        'nonce="5TsQWLVdgBdmrQ0XsxbDODV+57QdFR34I9HAbC/RVvkK", '
        'opaque="HRPCssKJSGjCrkzDg8OhwpzCiGPChXYjwrI2QmXDnsOS", charset=UTF-8, userhash=true'
    )
    value = authorization(
        challenge, "GET", "/doe.json", "Jäsøn Doe", "Secret, or not?", 1,
        "NTg6RKcb9boFIAS3KrFK9BGeh+iDa/sm6jUMp2wds69v",
    )  # fmt: skip
    params = parse_digest(value)
    assert params is not None
    assert params["username"] == "793263caabb707a56211940d90411ea4a575adeccb7e360aeb624ed06ece9b0b"
    assert params["response"] == (
        "3798d4131c277846293534c3edc11bd8a5e4cdcbff78b05db9d95eeb1cec68a5"
    )
    assert params["userhash"] == "true"


def test_rfc2069_challenge_without_qop() -> None:
    challenge = 'Digest realm="r", nonce="abc"'
    value = authorization(challenge, "REGISTER", URI, "u", "p", 1, "ignored")
    md5 = lambda s: hashlib.md5(s.encode()).hexdigest()  # noqa: E731
    expected = md5(f"{md5('u:r:p')}:abc:{md5('REGISTER:' + URI)}")
    assert (
        value == f'Digest username="u", realm="r", nonce="abc", uri="{URI}", response="{expected}"'
    )


@pytest.mark.parametrize(
    ("challenge", "why"),
    [
        ("Basic realm=x", "not a Digest"),
        ('Digest realm="r"', "without realm or nonce"),
        ('Digest nonce="n"', "without realm or nonce"),
        ('Digest realm="r", nonce="n", algorithm=SHA-1', "unsupported algorithm"),
        ('Digest realm="r", nonce="n", qop="auth-int"', "unsupported qop"),
        ('Digest realm="r", nonce="n", algorithm=MD5-sess', "needs qop"),
        ('Digest realm="r", nonce="n", nonce="m"', "without realm or nonce"),  # duplicated
    ],
)
def test_challenges_we_cannot_answer_are_refused(challenge: str, why: str) -> None:
    with pytest.raises(DigestChallengeError, match=why):
        parse_challenge(challenge)


def test_nonce_count_must_fit_eight_hex_digits() -> None:
    for nc in (0, 2**32):
        with pytest.raises(ValueError, match="nonce-count"):
            authorization(RFC2617_CHALLENGE, "GET", "/", "u", "p", nc, "c")
    value = authorization(RFC2617_CHALLENGE, "GET", "/", "u", "p", 0xABC, "c")
    assert value.endswith("nc=00000abc")


# ------------------------------------------------------------ against our own registrar


def server() -> DigestAuthenticator:
    return DigestAuthenticator(REALM, SECRET)


def test_our_registrar_accepts_every_algorithm_it_offers() -> None:
    auth = server()
    challenges = auth.challenge(1000.0)
    # Both values carry one nonce, so the second answer must count on (nc=1 again is a replay).
    for nc, challenge in enumerate(challenges, start=1):
        value = authorization(challenge, "REGISTER", URI, "trunk1", "s3cret", nc, "c0ffee")
        result = auth.verify(value, "REGISTER", {"trunk1": "s3cret"}.get, 1001.0, URI)
        assert (result.outcome, result.username) == (AuthOutcome.OK, "trunk1")
    # The same answer with the wrong password, or for another method or URI, is refused.
    wrong = authorization(challenges[0], "REGISTER", URI, "trunk1", "guess", 1, "c0ffee")
    assert auth.verify(wrong, "REGISTER", {"trunk1": "s3cret"}.get, 1001.0).outcome is (
        AuthOutcome.FAILED
    )
    other = authorization(challenges[1], "INVITE", URI, "trunk1", "s3cret", 1, "c0ffee")
    assert auth.verify(other, "REGISTER", {"trunk1": "s3cret"}.get, 1001.0).outcome is (
        AuthOutcome.FAILED
    )


@pytest.mark.parametrize("algorithm", ["MD5-sess", "SHA-256-sess"])
def test_our_registrar_accepts_session_variants(algorithm: str) -> None:
    auth = server()
    challenge = auth.challenge(1000.0)[1].replace("algorithm=MD5", f"algorithm={algorithm}")
    value = authorization(challenge, "REGISTER", URI, "trunk1", "s3cret", 1, "abcdef")
    assert auth.verify(value, "REGISTER", {"trunk1": "s3cret"}.get, 1000.0).outcome is (
        AuthOutcome.OK
    )


def test_nonce_count_lets_a_nonce_be_reused_and_a_replay_is_refused() -> None:
    auth = server()
    challenge = auth.challenge(1000.0)[0]
    lookup = {"trunk1": "s3cret"}.get
    first = authorization(challenge, "REGISTER", URI, "trunk1", "s3cret", 1, "aa")
    second = authorization(challenge, "REGISTER", URI, "trunk1", "s3cret", 2, "bb")
    assert auth.verify(first, "REGISTER", lookup, 1000.0).outcome is AuthOutcome.OK
    assert auth.verify(second, "REGISTER", lookup, 1000.0).outcome is AuthOutcome.OK
    assert auth.verify(first, "REGISTER", lookup, 1000.0).outcome is AuthOutcome.FAILED


def test_stale_challenge_is_answered_with_its_new_nonce() -> None:
    auth = DigestAuthenticator(REALM, SECRET, nonce_ttl=30.0)
    lookup = {"trunk1": "s3cret"}.get
    old = authorization(auth.challenge(1000.0)[0], "REGISTER", URI, "trunk1", "s3cret", 1, "a")
    assert auth.verify(old, "REGISTER", lookup, 1100.0).outcome is AuthOutcome.STALE
    fresh = parse_challenge(auth.challenge(1100.0, stale=True)[0])
    assert fresh.stale
    new = authorization(fresh, "REGISTER", URI, "trunk1", "s3cret", 1, "b")
    assert auth.verify(new, "REGISTER", lookup, 1100.0).outcome is AuthOutcome.OK


printable = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0x2FF, blacklist_characters="\x7f"),
    min_size=1,
    max_size=24,
)


@settings(max_examples=200, deadline=None)
@given(
    username=printable,
    password=st.text(max_size=24),
    realm=printable,
    algorithm=st.sampled_from(["MD5", "SHA-256", "MD5-sess", "SHA-256-sess"]),
    nc=st.integers(1, 2**32 - 1),
    cnonce=st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1),
)
def test_any_credentials_verify_on_our_registrar(
    username: str, password: str, realm: str, algorithm: str, nc: int, cnonce: str
) -> None:
    # Quotes and backslashes in the realm, username and cnonce must survive the quoting.
    auth = DigestAuthenticator(realm, SECRET, algorithms=(algorithm.removesuffix("-sess"),))
    challenge = auth.challenge(1000.0)[0].replace(
        f"algorithm={algorithm.removesuffix('-sess')}", f"algorithm={algorithm}"
    )
    value = authorization(challenge, "REGISTER", URI, username, password, nc, cnonce)
    result = auth.verify(value, "REGISTER", {username: password}.get, 1000.0, URI)
    assert (result.outcome, result.username) == (AuthOutcome.OK, username)


# ------------------------------------------------------------------ DigestClient


def counter_cnonce() -> itertools.count[int]:
    return itertools.count(1)


def test_digest_client_answers_each_nonce_once_unless_stale() -> None:
    numbers = counter_cnonce()
    client = DigestClient("trunk1", "s3cret", lambda: f"cn{next(numbers)}")
    first = [("www-authenticate", 'Digest realm="r", nonce="n1", qop="auth"')]
    challenge = client.judge(401, first)
    assert not isinstance(challenge, str)
    name, value = client.header(401, challenge, "REGISTER", URI)
    assert name == "authorization"
    assert 'cnonce="cn1"' in value
    assert value.endswith("nc=00000001")
    # The same nonce again, not stale: the server rejected our answer.
    assert client.judge(401, first) == "credentials rejected (wrong username or password?)"
    stale = [("www-authenticate", 'Digest realm="r", nonce="n1", qop="auth", stale=true')]
    again = client.judge(401, stale)
    assert not isinstance(again, str)
    # The nonce is reused, so the count goes on (a server tracking nc would refuse 1 again).
    assert client.header(401, again, "REGISTER", URI)[1].endswith("nc=00000002")
    # A new attempt forgets which nonces were answered, not their counts.
    client.new_attempt()
    third = client.judge(401, first)
    assert not isinstance(third, str)
    assert client.header(401, third, "REGISTER", URI)[1].endswith("nc=00000003")


def test_digest_client_gives_up_after_max_answers_and_reads_407() -> None:
    client = DigestClient("trunk1", "s3cret", lambda: "c", max_answers=2)
    for n in (1, 2):
        headers = [("proxy-authenticate", f'Digest realm="r", nonce="n{n}", qop="auth"')]
        assert client.judge(401, headers) == "no challenge we can answer"  # wrong header
        challenge = client.judge(407, headers)
        assert not isinstance(challenge, str)
        assert client.header(407, challenge, "REGISTER", URI)[0] == "proxy-authorization"
    last = [("proxy-authenticate", 'Digest realm="r", nonce="n3", qop="auth"')]
    assert client.judge(407, last) == "still challenged after 2 answers"
