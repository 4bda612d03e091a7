"""SDP parse/serialize: real-world bodies, tolerance, garbage, and round trips."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from softswitch.errors import SipError
from softswitch.rtp.sdp import (
    MediaDescription,
    SdpError,
    SdpOrigin,
    SessionDescription,
    parse_sdp,
    serialize_sdp,
)

FIXTURES = Path(__file__).parent / "fixtures"
ALL_FIXTURES = sorted(p.name for p in FIXTURES.glob("*.sdp"))


def load(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def crlf(body: bytes) -> bytes:
    return body.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def test_fixture_set_is_complete() -> None:
    # The round-trip test below is only as good as the bodies it runs over.
    assert len(ALL_FIXTURES) >= 6


@pytest.mark.parametrize("name", ALL_FIXTURES)
def test_real_world_bodies_round_trip_byte_for_byte(name: str) -> None:
    body = load(name)
    assert serialize_sdp(parse_sdp(body)) == crlf(body)


@pytest.mark.parametrize("name", ALL_FIXTURES)
def test_reparse_of_output_is_equal(name: str) -> None:
    sdp = parse_sdp(load(name))
    assert parse_sdp(serialize_sdp(sdp)) == sdp


def test_pjsua_offer_fields() -> None:
    sdp = parse_sdp(load("pjsua.sdp"))
    assert sdp.origin == SdpOrigin("-", "3895471522", "3895471522", "192.168.1.10")
    assert sdp.session_name == "pjmedia"
    assert sdp.connection is None
    assert sdp.bandwidths == [("AS", "84")]
    assert sdp.other == [("t", "0 0")]
    assert sdp.attributes == [("X-nat", "0")]
    assert len(sdp.media) == 1
    audio = sdp.media[0]
    assert (audio.media, audio.port, audio.proto) == ("audio", 4000, "RTP/AVP")
    assert audio.formats == ["96", "97", "98", "99", "3", "0", "8", "9", "120", "121", "122"]
    assert audio.connection == "192.168.1.10"
    assert audio.bandwidths == [("TIAS", "64000")]
    assert audio.attributes[:2] == [("rtcp", "4001 IN IP4 192.168.1.10"), ("sendrecv", None)]
    assert audio.attribute("rtcp") == "4001 IN IP4 192.168.1.10"
    assert audio.attribute("sendrecv") == ""
    assert audio.attribute("recvonly") is None
    assert audio.attributes[-1] == ("ssrc", "1020815237 cname:5b38a8d72fd9447f")


def test_video_and_ice_body_keeps_every_line_in_order() -> None:
    sdp = parse_sdp(load("yealink_video_ice.sdp"))
    assert [m.media for m in sdp.media] == ["audio", "video"]
    assert sdp.attribute("ice-ufrag") == "Wq3Z"
    video = sdp.media[1]
    assert video.port == 11788
    assert video.connection is None
    assert video.bandwidths == [("TIAS", "1920000")]
    assert ("fmtp", "99 profile-level-id=42801F; packetization-mode=0") in video.attributes
    names = [name for name, _ in sdp.media[0].attributes]
    assert names.count("candidate") == 3
    assert names.index("ptime") < names.index("candidate")


def test_lf_and_crlf_parse_the_same() -> None:
    body = load("pjsua.sdp")
    assert parse_sdp(body.replace(b"\r\n", b"\n")) == parse_sdp(body)


def test_blank_and_trailing_lines_are_tolerated() -> None:
    body = b"v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\n\r\ns=-\r\nt=0 0\r\n\r\n\r\n"
    sdp = parse_sdp(body)
    assert sdp.session_name == "-"
    assert sdp.other == [("t", "0 0")]


def test_unknown_and_rare_lines_are_kept_in_rfc_order() -> None:
    body = crlf(
        b"v=0\n"
        b"o=alice 1 2 IN IP6 2001:db8::1\n"
        b"s=Call\n"
        b"i=A session\n"
        b"u=http://example.com/x\n"
        b"e=alice@example.com\n"
        b"p=+1 555 0100\n"
        b"c=IN IP6 2001:db8::1\n"
        b"b=CT:128\n"
        b"t=0 0\n"
        b"r=7d 1h 0 25h\n"
        b"z=2882844526 -1h\n"
        b"k=prompt\n"
        b"y=0100000001\n"
        b"a=tool:x\n"
        b"m=audio 49170/2 RTP/AVP 0\n"
        b"i=Voice\n"
        b"c=IN IP6 2001:db8::2\n"
        b"b=AS:64\n"
        b"k=clear:abc\n"
        b"a=recvonly\n"
    )
    sdp = parse_sdp(body)
    assert sdp.origin.addr_type == "IP6"
    assert sdp.connection == "2001:db8::1"
    assert [k for k, _ in sdp.other] == ["i", "u", "e", "p", "t", "r", "z", "k", "y"]
    audio = sdp.media[0]
    assert (audio.port, audio.port_count) == (49170, 2)
    assert audio.other == [("i", "Voice"), ("k", "clear:abc")]
    assert serialize_sdp(sdp) == body


def test_non_utf8_bytes_survive() -> None:
    body = b"v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=Llamada de Jos\xe9\r\nt=0 0\r\n"
    sdp = parse_sdp(body)
    assert serialize_sdp(sdp) == body


def test_missing_session_name_gets_a_dash() -> None:
    sdp = parse_sdp(b"v=0\no=- 1 1 IN IP4 10.0.0.1\nt=0 0\n")
    assert sdp.session_name == "-"
    assert b"\r\ns=-\r\n" in serialize_sdp(sdp)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"\r\n\r\n",
        b"hello world",
        b"<html></html>",
        b"o=- 1 1 IN IP4 10.0.0.1\r\nv=0\r\n",
        b"v=0\r\ns=-\r\nt=0 0\r\n",
        b"v=0\r\no=- 1 1 IN IP4\r\n",
        b"v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\nthis is not sdp\r\n",
        b"v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\nc=IN IP4\r\n",
        b"v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\nb=64\r\n",
        b"v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\nm=audio RTP/AVP 0\r\n",
        b"v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\nm=audio x RTP/AVP 0\r\n",
        b"v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\nm=audio 70000 RTP/AVP 0\r\n",
        b"v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\nm=audio 4000/x RTP/AVP 0\r\n",
    ],
)
def test_garbage_raises_sdp_error(body: bytes) -> None:
    with pytest.raises(SdpError) as caught:
        parse_sdp(body)
    assert isinstance(caught.value, ValueError)
    assert isinstance(caught.value, SipError)
    assert caught.value.status == 400
    assert "malformed SDP" in str(caught.value)


# --- property: anything we can build, we can write and read back -----------------------------

_TOKEN = st.text(
    st.characters(
        min_codepoint=33,
        max_codepoint=0x2FF,
        exclude_categories=("Cc", "Zs"),
        exclude_characters=":",
    ),
    min_size=1,
    max_size=8,
)
_TEXT = st.text(
    st.characters(exclude_categories=("Cs", "Cc", "Zl", "Zp")), min_size=1, max_size=20
).filter(lambda s: s.strip() == s and s != "")
_ATTRIBUTE = st.tuples(_TOKEN, st.none() | st.just("") | _TEXT)
_BANDWIDTH = st.tuples(_TOKEN, st.text("0123456789", max_size=6))
_PORT = st.integers(0, 65535)


def _lines(letters: str) -> st.SearchStrategy[list[tuple[str, str]]]:
    return st.lists(st.tuples(st.sampled_from(letters), _TEXT), max_size=3)


_MEDIA = st.builds(
    lambda media, port, count, proto, formats, conn, attrs, bws, before, after: MediaDescription(
        media, port, proto, formats, conn, attrs, bws, count, [*before, *after]
    ),
    _TOKEN,
    _PORT,
    st.none() | st.integers(1, 8),
    _TOKEN,
    st.lists(_TOKEN, max_size=4),
    st.none() | _TOKEN,
    st.lists(_ATTRIBUTE, max_size=4),
    st.lists(_BANDWIDTH, max_size=2),
    _lines("i"),
    _lines("kxyz"),
)

_SESSION = st.builds(
    lambda origin, name, conn, media, attrs, bws, before, after: SessionDescription(
        origin, name, conn, media, attrs, bws, [*before, *after]
    ),
    st.builds(SdpOrigin, _TOKEN, _TOKEN, _TOKEN, _TOKEN, _TOKEN, _TOKEN),
    _TEXT,
    st.none() | _TOKEN,
    st.lists(_MEDIA, max_size=3),
    st.lists(_ATTRIBUTE, max_size=4),
    st.lists(_BANDWIDTH, max_size=2),
    _lines("iuep"),
    _lines("trzkxy"),
)


@given(_SESSION)
def test_serialize_then_parse_gives_the_same_description(sdp: SessionDescription) -> None:
    body = serialize_sdp(sdp)
    assert body.endswith(b"\r\n")
    assert parse_sdp(body) == sdp
