"""SIP URIs (RFC 3261 §19.1): parse, escapes, compare, render."""

from __future__ import annotations

import pytest

from softswitch.errors import SipParseError
from softswitch.sip import headers as headers_module
from softswitch.sip import uri as uri_module
from softswitch.sip.headers import parse_name_addr
from softswitch.sip.uri import SipUri, escape_param, parse_uri, same_aor, unescape, uri_scheme


def test_full_uri() -> None:
    uri = parse_uri("SIP:Alice:secret@Atlanta.COM:5070;Transport=TCP;lr?subject=x&h=y")
    assert uri.scheme == "sip"
    assert (uri.user, uri.password) == ("Alice", "secret")  # user part is case-sensitive
    assert (uri.host, uri.port) == ("atlanta.com", 5070)
    assert uri.params == {"transport": "TCP", "lr": None}
    assert uri.transport == "tcp"
    assert uri.headers == "subject=x&h=y"


def test_transport_param_is_case_insensitive() -> None:
    assert (
        parse_uri("sip:a@h;transport=UDP").transport == parse_uri("sip:a@h;TRANSPORT=udp").transport
    )
    assert parse_uri("sip:a@h").transport is None


def test_host_only_sips_and_ipv6() -> None:
    assert parse_uri("sips:example.com") == SipUri("sips", None, None, "example.com", None)
    uri = parse_uri("sip:[2001:db8::10]:5060")
    assert (uri.host, uri.port) == ("[2001:db8::10]", 5060)


def test_user_part_with_reserved_characters() -> None:
    # RFC 4475 semiuri / intmeth: ';', '?', '/' may appear in the user part.
    uri = parse_uri("sip:user;par=u%40example.net@example.com")
    assert uri.user == "user;par=u%40example.net"
    assert uri.user_unescaped == "user;par=u@example.net"
    assert uri.params == {}
    odd = parse_uri("sip:a?b/c;d:pw@h")
    assert (odd.user, odd.password, odd.host) == ("a?b/c;d", "pw", "h")


def test_unescape_once() -> None:
    assert unescape("value%2541") == "value%41"
    assert unescape("%41%42c") == "ABc"
    assert unescape("no-escapes") == "no-escapes"
    assert unescape("%zz%4%") == "%zz%4%"  # not escapes: kept
    assert unescape("a%00b") == "a\x00b"
    assert unescape("caf%C3%A9") == "café"
    assert unescape("%FF").encode("utf-8", "surrogateescape") == b"\xff"


def test_escaped_user_kept_as_written() -> None:
    uri = parse_uri("sip:%75se%72@example.com")
    assert uri.user == "%75se%72"
    assert uri.user_unescaped == "user"
    assert uri.render() == "sip:%75se%72@example.com"


def test_params_are_unescaped_once_and_re_escaped() -> None:
    # RFC 4475 esc01's Contact.
    uri = parse_uri("sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31")
    assert uri.params == {"lr": None, "name": "value%41"}
    assert uri.render() == "sip:cal%6Cer@host5.example.net;lr;name=value%2541"
    assert parse_uri(uri.render()).params == uri.params


def test_escape_param() -> None:
    assert escape_param("plain-value_1.2") == "plain-value_1.2"
    assert escape_param("[::1]:5/a&b+c$") == "[::1]:5/a&b+c$"
    assert escape_param("a;b=c?d@e f%") == "a%3Bb%3Dc%3Fd%40e%20f%25"
    assert escape_param("é") == "%C3%A9"
    for text in ("a;b", "100%", "x y", "é", "\x00"):
        assert unescape(escape_param(text)) == text


def test_render_round_trip() -> None:
    for text in (
        "sip:alice@atlanta.com",
        "sips:bob:pw@[::1]:5061;transport=tls;lr",
        "sip:+1-212-555-1212@gateway.com;user=phone",
        "sip:h;maddr=239.255.255.1;ttl=15?subject=project",
    ):
        uri = parse_uri(text)
        assert uri.render() == text
        assert str(uri) == text
        assert parse_uri(uri.render()).params == uri.params


def test_uri_scheme() -> None:
    assert uri_scheme("SIP:a@b") == "sip"
    assert uri_scheme("soap.beep://192.0.2.103:3002") == "soap.beep"
    assert uri_scheme("nobodyKnowsThisScheme:x") == "nobodyknowsthisscheme"
    for text in ("", "sip", ":x", "1sip:x", "<sip:a@b>", "ñ:x", "s p:x"):
        assert uri_scheme(text) == ""


def test_unsupported_scheme_is_416() -> None:
    for text in ("tel:+1234", "isbn:2983792873", "http://www.example.com"):
        with pytest.raises(SipParseError) as info:
            parse_uri(text)
        assert info.value.status == 416


@pytest.mark.parametrize(
    "text",
    [
        "sip:",
        "sip:@host",
        "sip:a@",
        "sip:a@h:",
        "sip:a@h:70000",
        "sip:a b@h",
        "sip:<a>@h",
        'sip:a@h;x="y"',
        "sip:a@h;;",
        "notauri",
    ],
)
def test_malformed_uris(text: str) -> None:
    with pytest.raises(SipParseError) as info:
        parse_uri(text)
    assert info.value.status == 400


def test_same_aor() -> None:
    a = parse_uri("sip:%61lice@Example.com;transport=tcp")
    assert same_aor(a, parse_uri("sip:alice@example.com"))
    assert same_aor(a, parse_uri("sip:alice@example.com:5060"))  # ports do not matter for AORs
    assert not same_aor(a, parse_uri("sips:alice@example.com"))
    assert not same_aor(a, parse_uri("sip:Alice@example.com"))  # the user part is case-sensitive
    assert not same_aor(a, parse_uri("sip:alice@example.org"))


def test_parsed_values_are_shared_but_the_caches_stay_bounded() -> None:
    # A phone repeats its URIs and From/To/Contact values in every message: they are parsed
    # once. Hostile peers invent new ones: the caches never outgrow their bound.
    first = parse_uri("sip:1001@192.0.2.10:5060;transport=tcp")
    assert parse_uri("sip:1001@192.0.2.10:5060;transport=tcp") is first
    assert (first.user, first.port, first.transport) == ("1001", 5060, "tcp")
    addr = parse_name_addr('"Ana" <sip:1001@pbx>;tag=abc')
    assert parse_name_addr('"Ana" <sip:1001@pbx>;tag=abc') is addr
    assert (addr.display, addr.uri, addr.tag) == ("Ana", "sip:1001@pbx", "abc")
    for n in range(10_000):
        assert parse_uri(f"sip:u{n}@pbx").user == f"u{n}"
        assert parse_name_addr(f"<sip:u{n}@pbx>;tag={n}").tag == str(n)
    assert len(uri_module._CACHE) <= uri_module._CACHE_SIZE
    assert len(headers_module._NAME_ADDRS) <= headers_module._NAME_ADDRS_SIZE
    with pytest.raises(SipParseError):  # errors are not cached as values
        parse_uri("sip:")
    with pytest.raises(SipParseError):
        parse_uri("sip:")
