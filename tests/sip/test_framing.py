"""TCP stream framing: Content-Length framing, keep-alives, limits."""

from __future__ import annotations

from pathlib import Path

import pytest

from softswitch.errors import SipParseError
from softswitch.sip.framing import KeepAlivePing, StreamFramer
from softswitch.sip.message import SipRequest, parse_message

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "sip" / "rfc4475"

BODY = b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n"


def message(call_id: str, body: bytes = BODY, length: int | None = None) -> bytes:
    n = len(body) if length is None else length
    return (
        f"INVITE sip:bob@example.com SIP/2.0\r\n"
        f"Via: SIP/2.0/TCP 192.0.2.1:5060;branch=z9hG4bK{call_id}\r\n"
        f"From: <sip:alice@example.com>;tag=1\r\n"
        f"To: <sip:bob@example.com>\r\n"
        f"Call-ID: {call_id}\r\n"
        f"CSeq: 1 INVITE\r\n"
        f"Content-Type: application/sdp\r\n"
        f"Content-Length: {n}\r\n\r\n"
    ).encode() + body


def test_one_message_in_one_feed() -> None:
    data = message("a")
    assert StreamFramer().feed(data) == [data]


def test_split_at_every_byte_boundary() -> None:
    data = message("a") + message("b", body=b"")
    for cut in range(1, len(data)):
        framer = StreamFramer()
        got = framer.feed(data[:cut]) + framer.feed(data[cut:])
        assert got == [message("a"), message("b", body=b"")], cut


def test_byte_by_byte() -> None:
    data = message("a") + b"\r\n\r\n" + message("b")
    framer = StreamFramer()
    got: list[bytes | KeepAlivePing] = []
    for i in range(len(data)):
        got += framer.feed(data[i : i + 1])
    assert got == [message("a"), KeepAlivePing(), message("b")]


def test_several_messages_in_one_feed() -> None:
    data = b"".join(message(str(i)) for i in range(5))
    got = StreamFramer().feed(data)
    assert got == [message(str(i)) for i in range(5)]
    for i, raw in enumerate(got):
        assert isinstance(raw, bytes)
        parsed = parse_message(raw, stream=True)
        assert isinstance(parsed, SipRequest) and parsed.call_id == str(i)
        assert parsed.body == BODY


def test_body_containing_a_blank_line_is_framed_by_length() -> None:
    body = b"first\r\n\r\nsecond\r\n\r\n"
    data = message("a", body=body) + message("b")
    assert StreamFramer().feed(data) == [message("a", body=body), message("b")]


def test_double_crlf_is_a_ping_and_lone_crlfs_are_skipped() -> None:
    framer = StreamFramer()
    assert framer.feed(b"\r\n\r\n") == [KeepAlivePing()]
    assert framer.feed(b"\r\n\r\n\r\n\r\n") == [KeepAlivePing(), KeepAlivePing()]
    assert framer.feed(b"\r\n") == []  # might become a ping: wait
    assert framer.feed(message("a")) == [message("a")]  # it was a lone CRLF
    assert framer.feed(b"\r\n" + message("b") + b"\r\n") == [message("b")]
    assert framer.feed(b"\r\n") == [KeepAlivePing()]  # the two halves make a ping


def test_ping_split_across_feeds() -> None:
    framer = StreamFramer()
    assert framer.feed(b"\r") == []
    assert framer.feed(b"\n\r") == []
    assert framer.feed(b"\n") == [KeepAlivePing()]


def test_compact_and_folded_content_length() -> None:
    data = message("a").replace(b"Content-Length:", b"l :")
    folded = message("b").replace(b"Content-Length: ", b"Content-Length:\r\n  ")
    assert StreamFramer().feed(data + folded) == [data, folded]
    assert parse_message(folded, stream=True).body == BODY


def test_bare_lf_stream() -> None:
    data = message("a").replace(b"\r\n", b"\n")  # the body's line ends too: length shrinks
    head, body = data.split(b"\n\n", 1)
    data = head.replace(f"Content-Length: {len(BODY)}".encode(), f"l: {len(body)}".encode())
    data += b"\n\n" + body
    assert StreamFramer().feed(data + data) == [data, data]


def test_missing_content_length_is_an_error() -> None:
    data = message("a").replace(f"Content-Length: {len(BODY)}\r\n".encode(), b"")
    with pytest.raises(SipParseError, match="Content-Length"):
        StreamFramer().feed(data)


@pytest.mark.parametrize("value", [b"-1", b"abc", b"1 2", b""])
def test_malformed_content_length_is_an_error(value: bytes) -> None:
    data = message("a").replace(
        f"Content-Length: {len(BODY)}".encode(), b"Content-Length: " + value
    )
    with pytest.raises(SipParseError) as info:
        StreamFramer().feed(data)
    assert info.value.status == 400


def test_duplicate_content_length_is_an_error() -> None:
    with pytest.raises(SipParseError, match="duplicate"):
        StreamFramer().feed((FIXTURES / "mcl01.dat").read_bytes())


def test_torture_clerr_waits_for_the_missing_body() -> None:
    # On TCP a Content-Length larger than what arrived means "wait" (then time out or close).
    framer = StreamFramer()
    assert framer.feed((FIXTURES / "clerr.dat").read_bytes()) == []


def test_torture_ncl_closes() -> None:
    with pytest.raises(SipParseError):
        StreamFramer().feed((FIXTURES / "ncl.dat").read_bytes())


def test_head_that_never_ends_is_cut_at_max_size() -> None:
    framer = StreamFramer(max_size=1000)
    start = b"INVITE sip:bob@example.com SIP/2.0\r\n"
    assert framer.feed(start) == []
    fed = len(start)
    with pytest.raises(SipParseError) as info:
        while fed <= 1000:
            assert framer.feed(b"X-Junk: " + b"y" * 90 + b"\r\n") == []
            fed += 100
    assert info.value.status == 513
    assert fed <= 1000 + 100  # raised as soon as the buffer passed max_size


def test_huge_content_length_is_refused_before_the_body_arrives() -> None:
    framer = StreamFramer(max_size=4096)
    with pytest.raises(SipParseError) as info:
        framer.feed(message("a", body=b"", length=10**9))
    assert info.value.status == 513


def test_message_of_exactly_max_size_passes() -> None:
    data = message("a")
    assert StreamFramer(max_size=len(data)).feed(data) == [data]
    with pytest.raises(SipParseError):
        StreamFramer(max_size=len(data) - 1).feed(data)


def test_a_long_stream_of_messages_does_not_accumulate() -> None:
    framer = StreamFramer(max_size=2 * len(message("a")))
    for i in range(200):  # far more than max_size in total
        assert framer.feed(message(str(i))) == [message(str(i))]


def test_large_body_in_small_segments() -> None:
    body = bytes(range(256)) * 40  # arbitrary bytes, including CR, LF and NUL
    data = message("a", body=body)
    framer = StreamFramer()
    got: list[bytes | KeepAlivePing] = []
    for i in range(0, len(data), 7):
        got += framer.feed(data[i : i + 7])
    assert got == [data]
    assert parse_message(data, stream=True).body == body
