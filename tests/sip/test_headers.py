"""Typed header views (RFC 3261 §20, §25)."""

from __future__ import annotations

import pytest

from softswitch.errors import SipParseError
from softswitch.sip.headers import (
    NameAddr,
    display_name,
    is_digits,
    is_token,
    parse_cseq,
    parse_hostport,
    parse_name_addr,
    parse_params,
    parse_uint,
    parse_via,
    quote,
    split_list,
    unquote,
)

# ----------------------------------------------------------------------------- lists


def test_split_list_plain() -> None:
    assert split_list("INVITE, ACK ,BYE") == ["INVITE", "ACK", "BYE"]
    assert split_list("  one  ") == ["one"]


def test_split_list_keeps_quoted_and_bracketed_commas() -> None:
    value = '"Doe, J." <sip:j@h;x=a,b>;q=0.1, "a \\", b" <sip:k@h>, sip:l@h'
    assert split_list(value) == [
        '"Doe, J." <sip:j@h;x=a,b>;q=0.1',
        '"a \\", b" <sip:k@h>',
        "sip:l@h",
    ]


@pytest.mark.parametrize("value", ["a,,b", ",a", "a,", "", "  ", '"open, quote'])
def test_split_list_rejects_empty_members_and_open_quotes(value: str) -> None:
    with pytest.raises(SipParseError):
        split_list(value)


# ------------------------------------------------------------------------- parameters


def test_params_names_are_case_insensitive_values_kept() -> None:
    params = parse_params(" Transport = UDP ;LR; Tag=AbC ;maddr=239.255.255.1")
    assert params == {"transport": "UDP", "lr": None, "tag": "AbC", "maddr": "239.255.255.1"}


def test_params_with_quoted_values() -> None:
    params = parse_params('a="x;y=z";b=1;c="say \\"hi\\""')
    assert params == {"a": '"x;y=z"', "b": "1", "c": '"say \\"hi\\""'}


@pytest.mark.parametrize("text", ["", "a;;b", "=v", "a=", "a b=1", 'a="open', "a;"])
def test_bad_params(text: str) -> None:
    with pytest.raises(SipParseError):
        parse_params(text)


# ------------------------------------------------------------------------------- Via


def test_via_basic() -> None:
    via = parse_via("SIP/2.0/UDP pc33.Example.com:5066;branch=z9hG4bK776;rport;received=1.2.3.4")
    assert (via.transport, via.host, via.port) == ("UDP", "pc33.example.com", 5066)
    assert via.branch == "z9hG4bK776"
    assert via.params == {"branch": "z9hG4bK776", "rport": None, "received": "1.2.3.4"}
    assert via.sent_by == "pc33.example.com:5066"


def test_via_tokens_are_case_insensitive() -> None:
    lower = parse_via("sip/2.0/udp host;BRANCH=z9hG4bKx")
    upper = parse_via("SIP/2.0/UDP HOST;branch=z9hG4bKx")
    assert lower == upper
    assert lower.transport == "UDP" and lower.branch == "z9hG4bKx"


def test_via_with_odd_whitespace() -> None:
    via = parse_via("SIP  /   2.0 /  TCP     spindle.example.com   ; branch  =   z9hG4bK9ikj8")
    assert (via.transport, via.host, via.port, via.branch) == (
        "TCP",
        "spindle.example.com",
        None,
        "z9hG4bK9ikj8",
    )


def test_via_ipv6_and_unknown_transport() -> None:
    via = parse_via("SIP/2.0/WSS [2001:DB8::1]:5061;branch=z9hG4bKa")
    assert (via.transport, via.host, via.port) == ("WSS", "[2001:db8::1]", 5061)
    assert via.sent_by == "[2001:db8::1]:5061"


@pytest.mark.parametrize(
    "value",
    [
        "SIP/3.0/UDP host",
        "XMPP/2.0/UDP host",
        "SIP/2.0/ host",
        "SIP/2.0/UDP",
        "SIP/2.0/UDP host:99999",
        "SIP/2.0/UDP host:port",
        "SIP/2.0/UDP host;;",
        "SIP/2.0/UDP <host>",
    ],
)
def test_bad_vias(value: str) -> None:
    with pytest.raises(SipParseError):
        parse_via(value)


# ------------------------------------------------------------------------ name-addr


def test_quoted_display_name_with_escapes() -> None:
    addr = parse_name_addr('"J \\"Rosie\\" R\\\\" <sip:j@example.com>;tag=1')
    assert addr.display == 'J "Rosie" R\\'
    assert addr.uri == "sip:j@example.com"
    assert addr.tag == "1"


def test_token_display_name_and_no_space_before_bracket() -> None:
    assert parse_name_addr("Alice  Smith <sip:a@h>").display == "Alice  Smith"
    assert parse_name_addr("caller<sip:c@h>;tag=3").display == "caller"


@pytest.mark.parametrize(
    "value",
    ["Bell, Alexander <sip:a@h>", "Jöhn <sip:j@h>", "a@b <sip:j@h>", '"unterminated <sip:j@h>'],
)
def test_display_names_that_must_be_quoted(value: str) -> None:
    with pytest.raises(SipParseError):
        parse_name_addr(value)


def test_addr_spec_params_belong_to_the_header() -> None:
    # RFC 4475 cparam01: without <>, everything after the first ';' is a header parameter.
    addr = parse_name_addr("sip:+19725552222@gw1.example.net;unknownparam;expires=60")
    assert addr.uri == "sip:+19725552222@gw1.example.net"
    assert addr.params == {"unknownparam": None, "expires": "60"}
    assert not addr.bracketed


def test_name_addr_params_inside_brackets_belong_to_the_uri() -> None:
    # RFC 4475 cparam02.
    addr = parse_name_addr("<sip:+19725552222@gw1.example.net;unknownparam>;expires=60")
    assert addr.uri == "sip:+19725552222@gw1.example.net;unknownparam"
    assert addr.params == {"expires": "60"}
    assert addr.bracketed


def test_addr_spec_with_header_part_needs_brackets() -> None:
    # RFC 4475 regbadct.
    with pytest.raises(SipParseError):
        parse_name_addr("sip:user@example.com?Route=%3Csip:sip.example.com%3E")
    addr = parse_name_addr("<sip:user@example.com?Route=%3Csip:sip.example.com%3E>")
    assert addr.uri.endswith("?Route=%3Csip:sip.example.com%3E")


@pytest.mark.parametrize(
    "value", ["", "<sip:a@h", "<sip:a@h> junk", "<>", "<sip:a b@h>", "sip:a@h>", "<sip:<a>@h>"]
)
def test_bad_name_addrs(value: str) -> None:
    with pytest.raises(SipParseError):
        parse_name_addr(value)


def test_name_addr_render_round_trips() -> None:
    for value in (
        '"A \\"q\\", B" <sip:a@h>;tag=x;lr',
        "<sip:b@h;transport=tcp>",
        "sip:c@h;expires=3",
        'Bob <sip:d@h>;p="x;y"',
    ):
        addr = parse_name_addr(value)
        again = parse_name_addr(addr.render())
        assert (again.display, again.uri, again.params) == (addr.display, addr.uri, addr.params)


def test_name_addr_render_format() -> None:
    assert NameAddr("Alice", "sip:a@h", {"tag": "1", "lr": None}).render() == (
        '"Alice" <sip:a@h>;tag=1;lr'
    )
    assert NameAddr(None, "sip:a@h", {}).render() == "<sip:a@h>"


def test_quote_unquote() -> None:
    for text in ("plain", 'with "quotes"', "back\\slash", "", "ünïcode, comma"):
        assert unquote(quote(text)) == text
    assert unquote("bare") == "bare"
    assert quote('a"b\\') == '"a\\"b\\\\"'


# ---------------------------------------------------------------------- scalars, names


def test_cseq() -> None:
    cseq = parse_cseq("  0009 \t INVITE ")
    assert (cseq.number, cseq.method) == (9, "INVITE")
    assert parse_cseq(f"{2**32 - 1} BYE").number == 2**32 - 1


@pytest.mark.parametrize(
    "value", [f"{2**32} INVITE", "1", "INVITE 1", "-1 INVITE", "1 IN(VITE", "1 A B", "²2 BYE"]
)
def test_bad_cseq(value: str) -> None:
    with pytest.raises(SipParseError):
        parse_cseq(value)


def test_uint() -> None:
    assert parse_uint(" 0068 ", "Max-Forwards", limit=255) == 68
    for bad in ("256", "", "-1", "1.5", "٣", "12345678901"):
        with pytest.raises(SipParseError):
            parse_uint(bad, "Max-Forwards", limit=255)


def test_is_digits_and_is_token() -> None:
    assert is_digits("0123") and not is_digits("²") and not is_digits("")
    assert is_token("!interesting-Method0123456789_*+`.%indeed'~")
    assert not is_token("a b") and not is_token("") and not is_token("a:b")


def test_hostport() -> None:
    assert parse_hostport("Example.COM") == ("example.com", None)
    assert parse_hostport("192.0.2.1:5060") == ("192.0.2.1", 5060)
    assert parse_hostport("[::1]:5") == ("[::1]", 5)
    assert parse_hostport("[::1]") == ("[::1]", None)
    for bad in ("", ":5060", "host:", "host:65536", "[::1", "[::1]x", 'a"b'):
        with pytest.raises(SipParseError):
            parse_hostport(bad)


def test_display_name() -> None:
    assert display_name("call-id") == "Call-ID"
    assert display_name("www-authenticate") == "WWW-Authenticate"
    assert display_name("x-my-header") == "X-My-Header"
    assert display_name("cseq") == "CSeq"
