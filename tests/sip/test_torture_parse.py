"""RFC 4475 torture messages at parse level: one case per fixture, with what each exercises.

Expectations follow ../shared/sip-torture/README.md. Valid messages must parse and expose
the specific facts they test; invalid requests raise MalformedRequest with the status the
reply must carry; invalid responses raise a plain SipParseError (they are dropped); messages
the parser accepts but the application must reject are checked for the fact the application
relies on (a non-SIP scheme, an addr-spec that does not parse, ...).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from softswitch.errors import SipParseError
from softswitch.sip.headers import (
    KNOWN_METHODS,
    parse_name_addr,
    parse_uint,
    parse_via,
)
from softswitch.sip.message import (
    MalformedRequest,
    SipRequest,
    SipResponse,
    make_response,
    parse_message,
)
from softswitch.sip.uri import parse_uri, same_aor, uri_scheme

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "sip" / "rfc4475"
NAMES = sorted(path.stem for path in FIXTURES.glob("*.dat"))


def load(name: str) -> bytes:
    return (FIXTURES / f"{name}.dat").read_bytes()


def request(name: str) -> SipRequest:
    message = parse_message(load(name))
    assert isinstance(message, SipRequest)
    return message


def response(name: str) -> SipResponse:
    message = parse_message(load(name))
    assert isinstance(message, SipResponse)
    return message


def malformed(name: str, status: int = 400) -> MalformedRequest:
    with pytest.raises(MalformedRequest) as info:
        parse_message(load(name))
    assert info.value.status == status
    return info.value


def dropped(name: str) -> SipParseError:
    """A response the parser rejects: a plain SipParseError, never a reply."""
    with pytest.raises(SipParseError) as info:
        parse_message(load(name))
    assert not isinstance(info.value, MalformedRequest)
    return info.value


def raw_header_lines(data: bytes, *names: bytes) -> int:
    """Count header lines named ``names`` in the raw head, independently of the parser."""
    head = data.split(b"\r\n\r\n", 1)[0]
    lines = head.split(b"\r\n")[1:]
    return sum(1 for line in lines if line.split(b":", 1)[0].strip().lower() in names)


# ------------------------------------------------------------------- 3.1.1 valid messages


def check_wsinv() -> None:
    m = request("wsinv")
    assert m.method == "INVITE"
    assert parse_uri(m.uri).params == {"unknownparam": None}
    assert all("\r" not in v and "\n" not in v for _, v in m.headers)  # unfolded
    assert m.to.uri == "sip:vivekg@chair-dnrc.example.com"
    assert m.to.tag == "1918181833n"
    assert m.from_.display == 'J Rosenberg \\"'  # quoted-pair \\ then \" unquoted once
    assert m.from_.tag == "98asjd8"
    max_forwards = m.get("max-forwards")
    assert max_forwards is not None and parse_uint(max_forwards, "Max-Forwards") == 68
    assert (m.cseq.number, m.cseq.method) == (9, "INVITE")
    vias = [parse_via(v) for v in m.values("via")]
    assert [(v.transport, v.host, v.branch) for v in vias] == [
        ("UDP", "192.0.2.2", "390skdjuw"),
        ("TCP", "spindle.example.com", "z9hG4bK9ikj8"),
        ("UDP", "192.168.255.111", "z9hG4bK30239"),
    ]
    assert m.get("subject") == ""  # compact "s", empty value
    assert m.get("newfangledheader") == "newfangled value continued newfangled value"
    assert m.get("unknownheaderwithunusualvalue") == ";;,,;;,;"
    (contact,) = [parse_name_addr(v) for v in m.values("contact")]  # compact "m"
    assert contact.display == 'Quoted string ""'
    assert contact.params == {"newparam": "newvalue", "secondparam": None, "q": "0.33"}
    route = parse_name_addr(m.values("route")[0])
    assert parse_uri(route.uri).params == {
        "lr": None,
        "unknownwith": "value",
        "unknown-no-value": None,
    }
    assert m.content_type == "application/sdp"
    assert len(m.body) == 150 and m.body.startswith(b"v=0")


def check_intmeth() -> None:
    m = request("intmeth")
    assert m.method == "!interesting-Method0123456789_*+`.%indeed'~"
    assert m.method not in KNOWN_METHODS  # the UAS answers 501
    assert m.cseq.method == m.method
    uri = parse_uri(m.uri)
    assert uri.user == "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"
    assert uri.password == "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"
    assert uri.host == "example.com"
    assert m.to.display == "BEL:\x07 NUL:\x00 DEL:\x7f"
    assert parse_uri(m.to.uri).user == "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"
    assert m.from_.display == "token1~` token2'+_ token3*%!.-"
    assert m.from_.tag == "_token~1'+`*%!-."
    assert m.from_.params["fromparam''~+*_!.-%"] == '"работающий"'
    assert m.call_id == "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{"
    assert m.via.branch == "z9hG4bK-.!%66*_+`'~"
    assert m.get("extensionheader-!.%*+_`'~") == "\ufeff大停電"


def check_esc01() -> None:
    m = request("esc01")
    uri = parse_uri(m.uri)
    assert uri.user == "sips%3Auser%40example.com"
    assert uri.user_unescaped == "sips:user@example.com"
    assert uri.host == "example.net"
    to_uri = parse_uri(m.to.uri)
    assert to_uri.user_unescaped == "user"
    assert same_aor(to_uri, parse_uri("sip:user@example.com"))
    assert parse_uri(m.from_.uri).user_unescaped == "I have spaces"
    contact = parse_uri(parse_name_addr(m.values("contact")[0]).uri)
    assert contact.user_unescaped == "caller"
    # Unescaped exactly once: value%25%34%31 -> value%41, never valueA.
    assert contact.params == {"lr": None, "name": "value%41"}


def check_escnull() -> None:
    m = request("escnull")
    for view in (m.to, m.from_):
        user = parse_uri(view.uri).user_unescaped
        assert user == "null-\x00-null" and len(user) == 11  # not truncated at the NUL
    contacts = [parse_uri(parse_name_addr(v).uri) for v in m.values("contact")]
    assert [c.user_unescaped for c in contacts] == ["\x00", "\x00\x00"]
    assert not same_aor(contacts[0], contacts[1])  # two distinct contacts


def check_esc02() -> None:
    m = request("esc02")
    assert m.method == "RE%47IST%45R" and m.method != "REGISTER"
    assert m.method not in KNOWN_METHODS  # the UAS answers 501
    assert m.values("contact") == [
        "<sip:alias1@host1.example.com>",
        "<sip:alias3@host3.example.com>",
    ]
    assert m.get("c%6fntact") == "<sip:alias2@host2.example.com>"  # an unknown header
    assert m.to.display == "%Z%45"
    assert m.via.branch == "z9hG4bK209%fzsnel234"


def check_lwsdisp() -> None:
    m = request("lwsdisp")
    assert m.from_.display == "caller"
    assert m.from_.uri == "sip:caller@example.com"
    assert m.from_.tag == "323"


def check_longreq() -> None:
    data = load("longreq")
    m = request("longreq")
    assert len(m.values("via")) == raw_header_lines(data, b"via", b"v")
    assert len(m.values("via")) > 30
    assert m.via.host == "sip33.example.com"
    assert m.to.display is not None and len(m.to.display) > 90
    to_uri = parse_uri(m.to.uri)
    assert to_uri.port == 6000
    valueless = [k for k, v in to_uri.params.items() if v is None]
    assert len(valueless) == 1 and valueless[0].endswith("parameternamewithnovalue")
    assert to_uri.params["unknownparam1"].endswith("longvalue")  # type: ignore[union-attr]
    assert m.from_.tag is not None and len(m.from_.tag) > 150
    assert len(m.call_id) > 100
    assert len(m.values("contact")) == raw_header_lines(data, b"contact", b"m")
    assert len(m.body) == int(m.get("content-length") or "-1")


def check_dblreq() -> None:
    m = request("dblreq")
    assert m.method == "REGISTER"
    assert m.body == b""  # the INVITE after the Content-Length 0 is ignored
    assert m.call_id == "dblreq.0ha0isndaksdj99sdfafnl3lk233412"
    assert not m.has("content-type")


def check_semiuri() -> None:
    uri = parse_uri(request("semiuri").uri)
    assert uri.user_unescaped == "user;par=u@example.net"
    assert uri.host == "example.com"
    assert uri.params == {}


def check_transports() -> None:
    m = request("transports")
    vias = [parse_via(v) for v in m.values("via")]
    assert [v.transport for v in vias] == ["UDP", "SCTP", "TLS", "UNKNOWN", "TCP"]
    assert m.via.host == "t1.example.com"  # responses go by the top Via


def check_mpart01() -> None:
    m = request("mpart01")
    assert len(m.body) == int(m.get("content-length") or "-1")
    assert b"\x00" in m.body  # framed by Content-Length, not as a C string
    assert m.content_type == "multipart/mixed"
    assert m.body.rstrip(b"\r\n").endswith(b"--7a9cbec02ceef655--")


def check_unreason() -> None:
    data = load("unreason")
    m = response("unreason")
    assert m.status == 200
    first_line = data.split(b"\r\n", 1)[0]
    assert m.reason == first_line[len(b"SIP/2.0 200 ") :].decode("utf-8")
    assert "простое" in m.reason
    assert len(m.body) == 154


def check_noreason() -> None:
    m = response("noreason")
    assert (m.status, m.reason) == (100, "")


# ----------------------------------------------------------------- 3.1.2 invalid messages


def check_badinv01() -> None:
    exc = malformed("badinv01")
    assert exc.request.method == "INVITE"
    assert exc.request.get("call-id") == "badinv01.0ha0isndaksdjasdf3234nas"  # reply possible


def check_clerr() -> None:
    exc = malformed("clerr")  # on UDP; the TCP case is in test_framing
    assert "content-length" in exc.reason.lower()


def check_ncl() -> None:
    exc = malformed("ncl")
    assert "content-length" in exc.reason.lower()


def check_scalar02() -> None:
    exc = malformed("scalar02")
    assert "cseq" in exc.reason.lower()


def check_scalarlg() -> None:
    dropped("scalarlg")


def check_quotbal() -> None:
    exc = malformed("quotbal")
    assert exc.request.get("call-id") == "quotbal.aksdj"


def check_ltgtruri() -> None:
    exc = malformed("ltgtruri")
    assert exc.request.uri == "<sip:user@example.com>"


def check_lwsruri() -> None:
    malformed("lwsruri")


def check_lwsstart() -> None:
    m = request("lwsstart")  # tolerant parse is allowed
    assert (m.method, m.uri) == ("INVITE", "sip:user@example.com")


def check_trws() -> None:
    m = request("trws")  # tolerant parse is allowed
    assert (m.method, m.uri) == ("OPTIONS", "sip:remote-target@example.com")


def check_escruri() -> None:
    m = request("escruri")
    assert parse_uri(m.uri).headers == "Route=%3Csip:example.com%3E"
    assert not m.has("route")  # escaped URI headers never become real headers


def check_baddate() -> None:
    m = request("baddate")
    assert m.get("date") == "Fri, 01 Jan 2010 16:00:00 EST"  # kept, never interpreted


def check_regbadct() -> None:
    m = request("regbadct")
    (contact,) = m.values("contact")
    with pytest.raises(SipParseError):
        parse_name_addr(contact)  # the registrar answers 400


def check_badaspec() -> None:
    m = request("badaspec")  # tolerant accept is allowed
    assert m.to.uri == "sip:t.watson@example.org"
    assert m.to.display == "Watson, Thomas"
    assert m.from_.display == "Bell, Alexander"


def check_baddn() -> None:
    exc = malformed("baddn")
    assert exc.request.get("call-id") == "baddn.31415@c.example.com"


def check_badvers() -> None:
    exc = malformed("badvers", status=505)
    assert exc.request.method == "OPTIONS"


def check_mismatch01() -> None:
    exc = malformed("mismatch01")
    assert "cseq" in exc.reason.lower()


def check_mismatch02() -> None:
    with pytest.raises(MalformedRequest) as info:
        parse_message(load("mismatch02"))
    assert info.value.status in (400, 501)  # README: 501, 400 also acceptable
    assert info.value.request.method == "NEWMETHOD"


def check_bigcode() -> None:
    dropped("bigcode")


# ------------------------------------------------------------- 3.2 transaction semantics


def check_badbranch() -> None:
    assert request("badbranch").via.branch == "z9hG4bK"


# ------------------------------------------------------------- 3.3 application semantics


def check_insuf() -> None:
    exc = malformed("insuf")
    assert exc.request.via.branch == "z9hG4bKkdj.insuf"  # enough to address a reply
    assert not exc.request.has("call-id")


def check_unkscm() -> None:
    m = request("unkscm")
    assert uri_scheme(m.uri) == "nobodyknowsthisscheme"
    with pytest.raises(SipParseError) as info:
        parse_uri(m.uri)
    assert info.value.status == 416


def check_novelsc() -> None:
    m = request("novelsc")
    assert uri_scheme(m.uri) == "soap.beep"
    with pytest.raises(SipParseError) as info:
        parse_uri(m.uri)
    assert info.value.status == 416


def check_unksm2() -> None:
    m = request("unksm2")
    contacts = [parse_name_addr(v) for v in m.values("contact")]
    schemes = [uri_scheme(a.uri) for a in (m.to, m.from_, *contacts)]
    assert schemes == ["isbn", "http", "name"]  # the registrar answers 400: not sip/sips


def check_bext01() -> None:
    m = request("bext01")
    assert m.values("require") == ["nothingSupportsThis", "nothingSupportsThisEither"]
    assert m.values("proxy-require") == ["noProxiesSupportThis", "norDoAnyProxiesSupportThis"]


def check_invut() -> None:
    m = request("invut")
    assert m.content_type == "application/unknownformat"
    assert len(m.body) == 40


def check_regaut01() -> None:
    m = request("regaut01")
    assert m.get("authorization") == "NoOneKnowsThisScheme opaque-data=here"


def check_multi01() -> None:
    exc = malformed("multi01")
    assert "duplicate" in exc.reason.lower()


def check_mcl01() -> None:
    exc = malformed("mcl01")
    assert "content-length" in exc.reason.lower()


def check_bcast() -> None:
    m = response("bcast")
    assert [parse_via(v).host for v in m.values("via")] == ["192.0.2.198", "255.255.255.255"]


def check_zeromf() -> None:
    assert request("zeromf").get("max-forwards") == "0"


def check_cparam01() -> None:
    contact = parse_name_addr(request("cparam01").get("contact") or "")
    assert contact.params == {"unknownparam": None}  # a header param, not the URI's
    assert parse_uri(contact.uri).params == {}


def check_cparam02() -> None:
    contact = parse_name_addr(request("cparam02").get("contact") or "")
    assert contact.params == {}
    assert parse_uri(contact.uri).params == {"unknownparam": None}  # part of the URI


def check_regescrt() -> None:
    m = request("regescrt")
    contact = parse_uri(parse_name_addr(m.values("contact")[0]).uri)
    assert contact.headers == "Route=%3Csip:sip.example.com%3E"
    assert not m.has("route")


def check_sdp01() -> None:
    m = request("sdp01")
    assert m.values("accept") == ["text/nobodyKnowsThis"]
    assert m.content_type == "application/sdp"


# ---------------------------------------------------------------- 3.4 backward compatibility


def check_inv2543() -> None:
    m = request("inv2543")
    assert m.via.branch is None
    assert m.from_.tag is None
    assert not m.has("max-forwards") and not m.has("content-length")
    assert m.body.startswith(b"v=0")  # the body runs to the end of the datagram


CHECKS: dict[str, Callable[[], None]] = {
    name.removeprefix("check_"): func
    for name, func in list(globals().items())
    if name.startswith("check_") and callable(func)
}


def test_every_fixture_has_a_check() -> None:
    assert len(NAMES) == 49
    assert sorted(CHECKS) == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_torture_message(name: str) -> None:
    CHECKS[name]()


@pytest.mark.parametrize("name", NAMES)
def test_survives_and_round_trips(name: str) -> None:
    """Whatever the verdict, the server can go on: parse, reply or drop, re-serialize."""
    try:
        message = parse_message(load(name))
    except MalformedRequest as exc:
        reply = make_response(exc.request, exc.status, exc.reason, received=("192.0.2.9", 5060))
        copied = reply.get_all("via")
        assert len(copied) == len(exc.request.get_all("via"))
        assert reply.to_bytes().startswith(f"SIP/2.0 {exc.status} ".encode())
        return
    except SipParseError:
        assert load(name).startswith(b"SIP/2.0")  # only responses are dropped silently
        return
    again = parse_message(message.to_bytes())
    assert again.headers == [h for h in message.headers if h[0] != "content-length"] + [
        ("content-length", str(len(message.body)))
    ]
    assert again.body == message.body
    assert again.to_bytes() == message.to_bytes()
