"""SIP message parsing and serialization (RFC 3261 §7, §8.2.6, §18; RFC 3581)."""

from __future__ import annotations

import pytest

from softswitch.errors import SipParseError
from softswitch.sip.headers import COMPACT_FORMS, parse_name_addr, parse_via
from softswitch.sip.message import (
    MalformedRequest,
    SipRequest,
    SipResponse,
    header_list,
    make_response,
    parse_message,
)

CRLF = "\r\n"


def build(
    *headers: str, start: str = "INVITE sip:bob@example.com SIP/2.0", body: str = ""
) -> bytes:
    return (start + CRLF + CRLF.join(headers) + CRLF + CRLF + body).encode()


BASE = (
    "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776asdhds;rport",
    'From: "Alice" <sip:alice@example.com>;tag=1928301774',
    "To: <sip:bob@example.com>",
    "Call-ID: a84b4c76e66710@pc33.example.com",
    "CSeq: 314159 INVITE",
    "Max-Forwards: 70",
)


def parse_request(data: bytes, **kwargs: object) -> SipRequest:
    message = parse_message(data, **kwargs)  # type: ignore[arg-type]
    assert isinstance(message, SipRequest)
    return message


def request(*extra: str, body: str = "") -> SipRequest:
    return parse_request(build(*BASE, *extra, f"Content-Length: {len(body)}", body=body))


# ------------------------------------------------------------------------- header forms


CORE = ("via", "from", "to", "call-id", "content-length")  # in test_compact_core_headers


@pytest.mark.parametrize(
    ("compact", "full"), sorted((c, f) for c, f in COMPACT_FORMS.items() if f not in CORE)
)
def test_compact_form_is_expanded(compact: str, full: str) -> None:
    m = request(f"{compact.upper()}: something")
    assert m.get(full) == "something"
    assert not m.has(compact)


def test_compact_core_headers() -> None:
    m = parse_request(
        build(
            "v: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKx",
            "f: <sip:alice@example.com>;tag=1",
            "t: sip:bob@example.com",
            "i: cid@host",
            "CSeq: 1 INVITE",
            "c: application/sdp",
            "l: 3",
            "m: <sip:alice@192.0.2.1>",
            body="abc",
        )
    )
    assert m.via.branch == "z9hG4bKx"
    assert m.from_.tag == "1"
    assert m.to.uri == "sip:bob@example.com"
    assert m.call_id == "cid@host"
    assert m.content_type == "application/sdp"
    assert m.body == b"abc"
    assert m.values("contact") == ["<sip:alice@192.0.2.1>"]
    out = m.to_bytes()
    assert b"\r\nVia: " in out and b"\r\nCall-ID: cid@host\r\n" in out and b"\r\nv:" not in out


def test_header_names_are_case_insensitive() -> None:
    m = parse_request(
        build(
            "vIA: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKx",
            "FROM: <sip:alice@example.com>;tag=1",
            "to: <sip:bob@example.com>",
            "CALL-id: cid",
            "cseq: 1 INVITE",
            "X-Custom-HEADER: v",
        )
    )
    assert m.call_id == "cid"
    assert m.get("x-custom-header") == "v"
    assert b"\r\nX-Custom-Header: v\r\n" in m.to_bytes()
    assert b"\r\nCSeq: 1 INVITE\r\n" in m.to_bytes()


def test_whitespace_around_colon_and_value() -> None:
    m = request("Subject  :   hello world \t", "Empty:")
    assert m.get("subject") == "hello world"
    assert m.get("empty") == ""


def test_folded_lines_are_unfolded() -> None:
    m = request("Subject: first", "  second", "\tthird", "Accept: application/sdp,", " text/plain")
    assert m.get("subject") == "first second third"
    assert m.values("accept") == ["application/sdp", "text/plain"]


def test_comma_lists_across_lines_and_inside_quotes() -> None:
    m = request(
        'Contact: "Doe, John" <sip:john@192.0.2.2>;q=0.5, <sip:j@192.0.2.3;a=b,c>',
        "Contact: sip:k@192.0.2.4",
    )
    contacts = [parse_name_addr(v) for v in m.values("contact")]
    assert [c.display for c in contacts] == ["Doe, John", None, None]
    assert [c.uri for c in contacts] == [
        "sip:john@192.0.2.2",
        "sip:j@192.0.2.3;a=b,c",
        "sip:k@192.0.2.4",
    ]
    assert m.get_all("contact")[1] == "sip:k@192.0.2.4"


def test_multiple_via_values_in_order() -> None:
    m = parse_request(
        build(
            "Via: SIP/2.0/UDP a.example.com;branch=z9hG4bK1, SIP/2.0/TCP b.example.com;branch=z9",
            *BASE[1:],
            "Via: SIP/2.0/TLS c.example.com;branch=z9hG4bK3",
        )
    )
    assert [parse_via(v).host for v in m.values("via")] == [
        "a.example.com",
        "b.example.com",
        "c.example.com",
    ]
    assert m.via.host == "a.example.com"


def test_header_list_lowercases_option_tags() -> None:
    m = request("Supported: Timer, 100REL", "Require: replaces")
    assert header_list(m, "supported") == ["timer", "100rel"]
    assert header_list(m, "unsupported") == []
    with pytest.raises(ValueError):
        header_list(m, "subject")


def test_leading_crlfs_are_ignored() -> None:
    m = parse_request(b"\r\n\r\n" + build(*BASE))
    assert m.method == "INVITE" and m.call_id == "a84b4c76e66710@pc33.example.com"


def test_bare_lf_line_ends_are_tolerated() -> None:
    m = parse_request(build(*BASE, "Content-Length: 4", body="abcd").replace(b"\r\n", b"\n"))
    assert m.cseq.number == 314159
    assert m.body == b"abcd"
    assert m.get("max-forwards") == "70"


def test_bare_lf_head_with_crlf_crlf_in_the_body() -> None:
    head = build(*BASE, "Content-Length: 6").replace(b"\r\n", b"\n")
    m = parse_request(head + b"\r\n\r\nxx")
    assert m.body == b"\r\n\r\nxx"


def test_bare_cr_in_a_header_is_malformed() -> None:
    with pytest.raises(MalformedRequest):
        parse_message(build(*BASE, "Subject: a\rInjected: b"))


def test_header_line_without_colon_keeps_the_request_answerable() -> None:
    with pytest.raises(MalformedRequest) as info:
        parse_message(build(*BASE, "this is not a header"))
    assert info.value.status == 400
    assert info.value.request.get("call-id") == "a84b4c76e66710@pc33.example.com"


def test_non_ascii_digits_are_a_parse_error_not_a_crash() -> None:
    data = build(*BASE[:4], "CSeq: ² INVITE")
    with pytest.raises(MalformedRequest):
        parse_message(data)
    with pytest.raises(MalformedRequest):
        parse_message(build(*BASE, "Content-Length: ٣", body="abc"))


@pytest.mark.parametrize("missing", ["from", "to", "call-id", "cseq"])  # no Via: see below
def test_missing_mandatory_header(missing: str) -> None:
    headers = [h for h in BASE if h.split(":")[0].lower() != missing]
    with pytest.raises(MalformedRequest, match=r"(?i)missing"):
        parse_message(build(*headers))


def test_empty_call_id_is_malformed() -> None:
    headers = [h if not h.startswith("Call-ID") else "Call-ID:" for h in BASE]
    with pytest.raises(MalformedRequest):
        parse_message(build(*headers))


def test_surrogateescape_keeps_invalid_utf8() -> None:
    data = build(*BASE, "Subject: caf\xe9").replace(b"caf\xc3\xa9", b"caf\xe9")
    m = parse_request(data)
    assert m.to_bytes().count(b"Subject: caf\xe9\r\n") == 1


# --------------------------------------------------------------------------- framing / size


def test_udp_body_is_framed_by_content_length() -> None:
    m = request("Content-Type: text/plain", body="hello")
    assert m.body == b"hello"
    trailing = build(*BASE, "Content-Length: 2", body="hello")
    assert parse_request(trailing).body == b"he"


def test_udp_without_content_length_takes_the_rest() -> None:
    assert parse_request(build(*BASE, body="whole")).body == b"whole"


def test_stream_requires_content_length() -> None:
    with pytest.raises(MalformedRequest, match="Content-Length"):
        parse_message(build(*BASE, body="x"), stream=True)


def test_content_length_too_large_on_udp() -> None:
    with pytest.raises(MalformedRequest) as info:
        parse_message(build(*BASE, "Content-Length: 10", body="short"))
    assert info.value.status == 400
    assert info.value.request.method == "INVITE"


def test_content_length_too_large_on_a_response_is_dropped() -> None:
    data = build(*BASE, "Content-Length: 10", start="SIP/2.0 200 OK", body="short")
    with pytest.raises(SipParseError) as info:
        parse_message(data)
    assert not isinstance(info.value, MalformedRequest)


def test_oversize_request_is_answerable_with_513() -> None:
    body = "x" * 2000
    data = build(*BASE, f"Content-Length: {len(body)}", body=body)
    with pytest.raises(MalformedRequest) as info:
        parse_message(data, max_size=1000)
    assert info.value.status == 513
    assert info.value.request.call_id == "a84b4c76e66710@pc33.example.com"
    assert parse_request(data, max_size=len(data)).body == body.encode()


def test_oversize_garbage_and_responses_are_dropped_with_513() -> None:
    for data in (b"x" * 5000, build(*BASE, start="SIP/2.0 200 OK", body="y" * 5000)):
        with pytest.raises(SipParseError) as info:
            parse_message(data, max_size=1000)
        assert info.value.status == 513
        assert not isinstance(info.value, MalformedRequest)


def test_datagram_without_blank_line() -> None:
    data = build(*BASE)[:-2]  # ends after the last header line
    assert parse_request(data).body == b""
    with pytest.raises(SipParseError):
        parse_message(data, stream=True)
    with pytest.raises(SipParseError):
        parse_message(data[:-2])  # cut inside a line: not a whole message


# --------------------------------------------------------------------------- start lines


@pytest.mark.parametrize(
    ("start", "status"),
    [
        ("INVITE sip:bob@example.com SIP/3.0", 505),
        ("INVITE sip:bob@example.com HTTP/1.1", 400),
        ("INVITE <sip:bob@example.com> SIP/2.0", 400),
        ("INVITE sip:bob@example.com;x y SIP/2.0", 400),
        ("INVITE bob SIP/2.0", 400),
        ("IN(VITE sip:bob@example.com SIP/2.0", 400),
        ("INVITE", 400),
    ],
)
def test_bad_request_lines(start: str, status: int) -> None:
    with pytest.raises(MalformedRequest) as info:
        parse_message(build(*BASE, start=start))
    assert info.value.status == status


def test_version_is_case_insensitive_and_spacing_tolerated() -> None:
    m = parse_request(build(*BASE, start="INVITE  sip:bob@example.com  sip/2.0 "))
    assert m.start_line() == "INVITE sip:bob@example.com SIP/2.0"


def test_cseq_method_must_match() -> None:
    with pytest.raises(MalformedRequest, match="CSeq"):
        parse_message(build(*BASE, start="BYE sip:bob@example.com SIP/2.0"))


def test_max_forwards_range() -> None:
    headers = [h for h in BASE if not h.startswith("Max-Forwards")]
    assert parse_request(build(*headers, "Max-Forwards: 255")).get("max-forwards") == "255"
    with pytest.raises(MalformedRequest):
        parse_message(build(*headers, "Max-Forwards: 256"))


@pytest.mark.parametrize("name", ["From", "To", "Call-ID", "CSeq", "Content-Length"])
def test_duplicate_single_headers(name: str) -> None:
    line = next((h for h in BASE if h.startswith(name + ":")), "Content-Length: 0")
    with pytest.raises(MalformedRequest, match=r"(?i)duplicate"):
        parse_message(build(*BASE, line, line if name == "Content-Length" else ""))


def test_responses() -> None:
    m = parse_message(build(*BASE, start="SIP/2.0 180 Ringing"))
    assert isinstance(m, SipResponse)
    assert (m.status, m.reason) == (180, "Ringing")
    multi = parse_message(build(*BASE, start="SIP/2.0 404 Not  Found here"))
    assert isinstance(multi, SipResponse) and multi.reason == "Not  Found here"
    for start in ("SIP/2.0 99 Low", "SIP/2.0 700 High", "SIP/2.0 2OO OK", "SIP/3.0 200 OK"):
        with pytest.raises(SipParseError) as info:
            parse_message(build(*BASE, start=start))
        assert not isinstance(info.value, MalformedRequest)


# ------------------------------------------------------------------------ building/output


def test_content_length_is_recomputed() -> None:
    m = request("Content-Type: text/plain", body="hello")
    m.body = b"longer body"
    out = m.to_bytes()
    assert out.count(b"Content-Length") == 1
    assert out.endswith(b"Content-Length: 11\r\n\r\nlonger body")
    assert parse_request(out).body == b"longer body"


def test_add_set_remove_and_views_follow() -> None:
    m = request("Contact: <sip:a@192.0.2.1>")
    m.set("To", "<sip:carol@example.com>;tag=9")
    assert m.to.tag == "9" and m.get_all("to") == ["<sip:carol@example.com>;tag=9"]
    m.set("cseq", "7 INVITE")
    assert m.cseq.number == 7
    m.add("Via", "SIP/2.0/TCP z.example.com;branch=z9hG4bKz")
    assert m.via.host == "192.0.2.1"  # the top one did not change
    m.remove("via")
    m.add("via", "SIP/2.0/TCP z.example.com;branch=z9hG4bKz")
    assert m.via.host == "z.example.com"
    m.set("from", "<sip:dave@example.com>;tag=4")
    assert m.from_.tag == "4"
    m.set("x-new", "1")
    assert m.get("x-new") == "1" and m.headers[-1] == ("x-new", "1")
    m.remove("contact")
    assert not m.has("contact")


def test_round_trip_is_stable() -> None:
    m = request('Contact: "A" <sip:a@192.0.2.1>', "Subject: hi", body="v=0\r\n")
    once = m.to_bytes()
    again = parse_request(once)
    assert again.headers == m.headers
    assert again.to_bytes() == once


# ----------------------------------------------------------------------------- responses


def test_make_response_copies_the_dialog_headers() -> None:
    m = parse_request(
        build(
            "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1, SIP/2.0/UDP p1.example.com;branch=z9",
            *BASE[1:],
            "Via: SIP/2.0/TCP p2.example.com;branch=z9hG4bK3",
            "Contact: <sip:alice@192.0.2.1>",
            "Record-Route: <sip:p1.example.com;lr>",
        )
    )
    r = make_response(m, 200, "OK", to_tag="abc", extra=[("contact", "<sip:bob@192.0.2.9>")])
    assert [name for name, _ in r.headers] == [
        "via",
        "from",
        "to",
        "call-id",
        "cseq",
        "via",
        "contact",
    ]
    assert r.get_all("via") == m.get_all("via")  # all of them, in order, untouched
    assert r.get("from") == m.get("from")
    assert r.get("call-id") == m.get("call-id")
    assert r.get("cseq") == m.get("cseq")
    assert r.to.tag == "abc" and r.to.uri == m.to.uri
    assert r.values("contact") == ["<sip:bob@192.0.2.9>"]
    parsed = parse_message(r.to_bytes())
    assert isinstance(parsed, SipResponse) and parsed.status == 200


def test_make_response_keeps_an_existing_to_tag_and_skips_it_on_100() -> None:
    tagged = request()
    tagged.set("to", "<sip:bob@example.com> ; tag = old")
    assert make_response(tagged, 200, "OK", to_tag="new").to.tag == "old"
    assert make_response(request(), 100, "Trying", to_tag="new").to.tag is None
    assert make_response(request(), 180, "Ringing", to_tag="new").to.tag == "new"


def test_make_response_body_and_content_length() -> None:
    r = make_response(request(), 200, "OK", body=b"v=0\r\n")
    assert r.to_bytes().endswith(b"Content-Length: 5\r\n\r\nv=0\r\n")


def test_received_and_rport_are_stamped_on_the_top_via() -> None:
    m = request()
    r = make_response(m, 200, "OK", received=("203.0.113.7", 40123))
    via = parse_via(r.values("via")[0])
    assert via.params["received"] == "203.0.113.7"
    assert via.params["rport"] == "40123"
    assert via.branch == "z9hG4bK776asdhds"


def test_received_without_rport() -> None:
    m = parse_request(build("Via: SIP/2.0/UDP host.example.com;branch=z9hG4bK9", *BASE[1:]))
    via = parse_via(make_response(m, 200, "OK", received=("192.0.2.5", 5060)).values("via")[0])
    assert via.params == {"branch": "z9hG4bK9", "received": "192.0.2.5"}


def test_received_replaces_an_old_value_and_only_the_top_via_changes() -> None:
    m = parse_request(
        build(
            "Via: SIP/2.0/UDP h;received=1.1.1.1;rport=9;branch=z9hG4bK1, SIP/2.0/UDP p;rport",
            *BASE[1:],
        )
    )
    values = make_response(m, 200, "OK", received=("192.0.2.5", 5070)).values("via")
    top = parse_via(values[0])
    assert top.params == {"received": "192.0.2.5", "rport": "5070", "branch": "z9hG4bK1"}
    assert values[1] == "SIP/2.0/UDP p;rport"


def test_reply_to_a_malformed_request_echoes_its_broken_via() -> None:
    data = build("Via: SIP/2.0/UDP 192.0.2.15;;,;,,", *BASE[1:])
    with pytest.raises(MalformedRequest) as info:
        parse_message(data)
    r = make_response(info.value.request, 400, "Bad Request", to_tag="t", received=("1.2.3.4", 5))
    assert r.get("via") == "SIP/2.0/UDP 192.0.2.15;;,;,,"
    assert r.to.tag == "t"


def test_garbage_without_via_is_dropped_not_answered() -> None:
    for data in (
        b"\x16\x03\x01 this is not SIP at all\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n",
        build(*BASE[1:]),  # a SIP request, but no Via to address a reply to
    ):
        with pytest.raises(SipParseError) as info:
            parse_message(data)
        assert not isinstance(info.value, MalformedRequest)
    with pytest.raises(SipParseError) as oversize:
        parse_message(build(*BASE[1:], body="x" * 3000), max_size=1000)
    assert oversize.value.status == 513 and not isinstance(oversize.value, MalformedRequest)
