"""Property tests: serialize/parse round trips, and the parser never fails but with a status.

Derandomized, so every run tries the same examples (deterministic CI); the examples still
come from Hypothesis' search, not from a hand-picked list.
"""

from __future__ import annotations

import os
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from softswitch.errors import SipParseError
from softswitch.sip.framing import StreamFramer
from softswitch.sip.headers import NameAddr, parse_name_addr, parse_via, quote
from softswitch.sip.message import Header, SipRequest, SipResponse, parse_message
from softswitch.sip.uri import SipUri, parse_uri

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "sip" / "rfc4475"
TORTURE = [path.read_bytes() for path in sorted(FIXTURES.glob("*.dat"))]

# SIP_FUZZ_EXAMPLES=20000 pytest ... runs a long randomized search instead (not for CI).
_LONG_RUN = int(os.environ.get("SIP_FUZZ_EXAMPLES", "0"))


def _settings(examples: int) -> settings:
    return settings(
        max_examples=_LONG_RUN or examples,
        deadline=None,
        derandomize=not _LONG_RUN,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )


SETTINGS = _settings(100)  # round trips: generating messages is the slow part
FUZZ = _settings(400)  # fuzz: each example is cheap

ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
TOKEN_CHARS = ALNUM + "-.!%*_+`'~"
HEX = "0123456789ABCDEFabcdef"

tokens = st.text(TOKEN_CHARS, min_size=1, max_size=12)
lower_tokens = tokens.map(str.lower)
escapes = st.tuples(st.sampled_from(HEX), st.sampled_from(HEX)).map(lambda t: "%" + "".join(t))
# user = 1*( unreserved / escaped / user-unreserved ), RFC 3261 §25.1
users = st.lists(
    st.one_of(st.sampled_from(ALNUM + "-_.!~*'()&=+$,;?/"), escapes), min_size=1, max_size=12
).map("".join)
passwords = st.lists(st.one_of(st.sampled_from(ALNUM + "-_.!~*'()&=+$,"), escapes), max_size=8).map(
    "".join
)
labels = st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=10)
domains = st.lists(labels, min_size=1, max_size=4).map(".".join)
ipv4s = st.tuples(*[st.integers(0, 255)] * 4).map(lambda t: ".".join(map(str, t)))
ipv6s = st.lists(st.sampled_from(["2001", "db8", "0", "1", "ffff"]), min_size=2, max_size=6).map(
    lambda parts: "[" + ":".join(parts) + "::1]"
)
hosts = st.one_of(domains, ipv4s, ipv6s)
ports = st.none() | st.integers(1, 65535)
# URI parameters are stored unescaped: any text (render escapes it), names lower-case.
param_text = st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=10)
uri_params = st.dictionaries(
    param_text.map(str.lower).filter(lambda s: s == s.lower()), st.none() | param_text, max_size=3
)
uri_headers = st.none() | st.text(ALNUM + "=&%", min_size=1, max_size=10).filter(
    lambda s: "%" not in s or len(s) > 2
)


@st.composite
def sip_uris(draw: st.DrawFn) -> SipUri:
    user = draw(st.none() | users)
    password = draw(st.none() | passwords) if user is not None else None
    return SipUri(
        draw(st.sampled_from(["sip", "sips"])),
        user,
        password,
        draw(hosts),
        draw(ports),
        draw(uri_params),
        draw(uri_headers),
    )


# Quoted-string display names: any text without CR/LF (quote() escapes \ and ").
displays = st.none() | st.text(
    st.characters(exclude_categories=["Cs"], exclude_characters="\r\n"),
    min_size=1,
    max_size=20,
)
gen_values = st.none() | tokens | st.text(ALNUM + " ;,=", max_size=8).map(quote)
header_params = st.dictionaries(lower_tokens, gen_values, max_size=3)


@st.composite
def name_addrs(draw: st.DrawFn, tag: bool = False) -> NameAddr:
    params = draw(header_params)
    if tag:
        params["tag"] = draw(tokens)
    return NameAddr(draw(displays), draw(sip_uris()).render(), params)


@st.composite
def vias(draw: st.DrawFn) -> str:
    transport = draw(st.sampled_from(["UDP", "TCP", "TLS", "SCTP", "WS"]))
    host = draw(hosts)
    port = draw(ports)
    sent_by = host if port is None else f"{host}:{port}"
    extra = draw(st.sampled_from(["", ";rport", ";received=192.0.2.1", ";rport=5060"]))
    return f"SIP/2.0/{transport} {sent_by};branch=z9hG4bK{draw(tokens)}{extra}"


@st.composite
def via_lines(draw: st.DrawFn) -> list[str]:
    """Several Via values, some combined on one line with commas."""
    values = draw(st.lists(vias(), min_size=1, max_size=5))
    lines: list[str] = []
    for value in values:
        combine: bool = draw(st.booleans())
        if lines and combine:
            lines[-1] += ", " + value
        else:
            lines.append(value)
    return lines


methods = st.sampled_from(["INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER"]) | tokens
header_texts = st.text(
    st.characters(exclude_categories=["Cs", "Cc"], exclude_characters="\r\n"), max_size=30
).map(lambda s: s.strip(" \t"))
extra_headers = st.lists(st.tuples(lower_tokens.map(lambda n: "x-" + n), header_texts), max_size=4)
bodies = st.binary(max_size=300)


@st.composite
def header_lists(draw: st.DrawFn, method: str) -> list[Header]:
    headers: list[Header] = [("via", line) for line in draw(via_lines())]
    headers += [
        ("from", draw(name_addrs(tag=True)).render()),
        ("to", draw(name_addrs()).render()),
        ("call-id", draw(tokens) + "@" + draw(hosts)),
        ("cseq", f"{draw(st.integers(0, 2**32 - 1))} {method}"),
        ("max-forwards", str(draw(st.integers(0, 255)))),
    ]
    headers += draw(extra_headers)
    if draw(st.booleans()):
        headers.append(("contact", draw(name_addrs()).render()))
    order = draw(st.permutations(range(len(headers))))
    return [headers[i] for i in order]


@st.composite
def requests(draw: st.DrawFn) -> SipRequest:
    method = draw(methods)
    uri = draw(sip_uris()).render()
    return SipRequest(method, uri, draw(header_lists(method)), draw(bodies))


@st.composite
def responses(draw: st.DrawFn) -> SipResponse:
    reason = draw(st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\r\n")))
    status = draw(st.integers(100, 699))
    return SipResponse(status, reason, draw(header_lists(draw(methods))), draw(bodies))


def expected_headers(message: SipRequest | SipResponse) -> list[Header]:
    return [*message.headers, ("content-length", str(len(message.body)))]


def check_views(parsed: SipRequest | SipResponse, original: SipRequest | SipResponse) -> None:
    tops = [parse_via(v) for v in original.values("via")]
    assert [parse_via(v) for v in parsed.values("via")] == tops
    assert parsed.via == tops[0] and parsed.via.params == tops[0].params
    for view, source in ((parsed.from_, original.get("from")), (parsed.to, original.get("to"))):
        expected = parse_name_addr(source or "")
        assert (view.display, view.uri, view.params) == (
            expected.display,
            expected.uri,
            expected.params,
        )
    assert parsed.call_id == original.get("call-id")
    assert parsed.cseq == original.cseq


@SETTINGS
@given(requests())
def test_request_round_trip(message: SipRequest) -> None:
    wire = message.to_bytes()
    parsed = parse_message(wire)
    assert isinstance(parsed, SipRequest)
    assert (parsed.method, parsed.uri, parsed.body) == (message.method, message.uri, message.body)
    assert parsed.headers == expected_headers(message)
    check_views(parsed, message)
    assert parsed.to_bytes() == wire
    framed = StreamFramer().feed(wire + wire)
    assert framed == [wire, wire]


@SETTINGS
@given(responses())
def test_response_round_trip(message: SipResponse) -> None:
    wire = message.to_bytes()
    parsed = parse_message(wire)
    assert isinstance(parsed, SipResponse)
    assert (parsed.status, parsed.reason, parsed.body) == (
        message.status,
        message.reason,
        message.body,
    )
    assert parsed.headers == expected_headers(message)
    check_views(parsed, message)
    assert parsed.to_bytes() == wire


@SETTINGS
@given(sip_uris())
def test_uri_round_trip(uri: SipUri) -> None:
    parsed = parse_uri(uri.render())
    assert parsed == uri  # scheme, user, password, host, port, headers
    assert parsed.params == uri.params
    assert parsed.headers == uri.headers
    assert parse_uri(parsed.render()).render() == parsed.render()


@SETTINGS
@given(name_addrs(tag=True))
def test_name_addr_round_trip(addr: NameAddr) -> None:
    parsed = parse_name_addr(addr.render())
    assert (parsed.display, parsed.uri, parsed.params) == (addr.display, addr.uri, addr.params)
    assert parsed.tag == addr.tag


# ---------------------------------------------------------------------------------- fuzz


def survives(data: bytes) -> None:
    """Either a message that re-serializes to a fixed point, or a SipParseError."""
    try:
        message = parse_message(data)
    except SipParseError as exc:
        assert 400 <= exc.status <= 599
        return
    wire = message.to_bytes()
    assert parse_message(wire).to_bytes() == wire


def frames(data: bytes, cuts: list[int]) -> None:
    framer = StreamFramer(max_size=4096)
    start = 0
    try:
        for cut in [*sorted(cuts), len(data)]:
            for item in framer.feed(data[start:cut]):
                if isinstance(item, bytes):
                    survives(item)
            start = cut
    except SipParseError as exc:
        assert exc.status in (400, 513)


@FUZZ
@given(st.binary(max_size=600))
def test_arbitrary_bytes_only_raise_parse_errors(data: bytes) -> None:
    survives(data)
    survives(b"INVITE sip:a@b SIP/2.0\r\n" + data)
    survives(b"SIP/2.0 200 OK\r\n" + data)


@st.composite
def mutated_torture(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(TORTURE)))
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["replace", "insert", "delete", "truncate", "duplicate"]))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if kind == "replace" and data:
            data[at] = draw(st.sampled_from(b'\x00\r\n :;,<>"%@\\/\t=0z\xff'))
        elif kind == "insert":
            data[at:at] = draw(st.sampled_from([b"\r\n", b" ", b",", b";", b"\r\n ", b'"', b"%"]))
        elif kind == "delete":
            del data[at : at + draw(st.integers(1, 8))]
        elif kind == "truncate":
            del data[at:]
        else:
            end = data.find(b"\r\n", at)
            line_start = data.rfind(b"\n", 0, at) + 1
            if end > 0:
                data[end:end] = b"\r\n" + data[line_start:end]
    return bytes(data)


@FUZZ
@given(mutated_torture())
def test_mutated_torture_messages_only_raise_parse_errors(data: bytes) -> None:
    survives(data)


@FUZZ
@given(
    st.lists(st.sampled_from(TORTURE) | st.binary(max_size=80), max_size=4).map(b"\r\n\r\n".join),
    st.lists(st.integers(0, 3000), max_size=6),
)
def test_stream_framing_only_raises_parse_errors(data: bytes, cuts: list[int]) -> None:
    frames(data, [c for c in cuts if c <= len(data)])
