"""RFC 4475 torture messages sent over UDP to a running softswitch.

Each message goes, alone, to a fresh server (several messages share a Via branch and sent-by,
so on one server they would be taken for retransmissions of each other). The server must
answer with the expected status (replies go to the packet's source address, rport-style,
whatever the Via says), never answer a response, and still answer OPTIONS afterwards.

Expectations follow the case catalogue of the RFC 4475 corpus. The server is a UAS that
authenticates first (RFC 3261 8.2), so a 401/407 challenge counts as "processed normally"
for INVITE and REGISTER; so do 403/404 for users of a domain that is not ours.
"""

from __future__ import annotations

import re
import socket
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from .conftest import HOST, Server

pytestmark = pytest.mark.e2e

CORPUS = Path(__file__).resolve().parents[1] / "fixtures" / "sip" / "rfc4475"
REPLY_WAIT = 1.0
STRAY_WAIT = 0.3  # after a final reply, listen a little longer for replies that must not come

# What a UAS does when it processes a request normally: answer it, challenge it, refuse a user
# of a foreign domain, or say the dialog of an in-dialog request does not exist (481).
NORMAL = frozenset({200, 202, 401, 403, 404, 407, 481})


@dataclass(frozen=True, slots=True)
class Expect:
    codes: frozenset[int]  # acceptable final statuses; empty: the message must get no reply
    why: str
    reply_optional: bool = False  # dropping the message is acceptable too

    @property
    def silent(self) -> bool:
        return not self.codes


def ok(*codes: int, why: str, also: frozenset[int] = frozenset()) -> Expect:
    return Expect(frozenset(codes) | also, why)


NO_REPLY = Expect(frozenset(), "a response: never answered")

CASES: dict[str, Expect] = {
    # 3.1.1 valid messages
    "wsinv": ok(why="odd whitespace and folding: a normal INVITE", also=NORMAL),
    "intmeth": ok(501, why="unknown method"),
    "esc01": ok(why="escaped URIs: a normal INVITE", also=NORMAL),
    "escnull": ok(why="escaped NUL in REGISTER AOR: a normal REGISTER", also=NORMAL),
    "esc02": ok(501, why="RE%47IST%45R is an unknown method, not REGISTER"),
    "lwsdisp": ok(why="no space before <: a normal OPTIONS", also=NORMAL),
    "longreq": ok(why="very long INVITE: no fixed buffers", also=NORMAL),
    "dblreq": ok(why="REGISTER plus trailing bytes: the REGISTER only", also=NORMAL),
    "semiuri": ok(why="; and escaped @ in the user part", also=NORMAL),
    "transports": ok(why="Via with many transports", also=NORMAL),
    "mpart01": ok(405, 501, why="MESSAGE with a binary multipart body", also=NORMAL),
    "unreason": NO_REPLY,
    "noreason": NO_REPLY,
    # 3.1.2 invalid messages
    "badinv01": ok(400, why="empty Via/Contact elements"),
    "clerr": ok(400, why="Content-Length larger than the datagram"),
    "ncl": ok(400, why="negative Content-Length"),
    "scalar02": ok(400, why="CSeq above 2**32-1"),
    "scalarlg": NO_REPLY,
    "quotbal": ok(400, why="unterminated quote (or a careful guess)", also=NORMAL),
    "ltgtruri": ok(400, why="Request-URI inside <>"),
    "lwsruri": ok(400, why="whitespace inside the Request-URI"),
    "lwsstart": ok(400, why="extra spaces in the Request-Line (tolerance allowed)", also=NORMAL),
    "trws": ok(400, why="trailing spaces after SIP/2.0 (tolerance allowed)", also=NORMAL),
    "escruri": ok(400, why="escaped headers in the Request-URI (or ignored)", also=NORMAL),
    "baddate": ok(why="non-GMT Date is ignored", also=NORMAL),
    "regbadct": ok(400, why="addr-spec Contact with headers (or <> inferred)", also=NORMAL),
    "badaspec": ok(400, why="spaces inside <> (tolerance allowed)", also=NORMAL),
    "baddn": ok(400, why="unquoted non-token display names"),
    "badvers": ok(505, why="SIP/7.0"),
    "mismatch01": ok(400, why="CSeq method differs from the Request-Line"),
    "mismatch02": ok(400, 501, why="unknown method, CSeq says another"),
    "bigcode": NO_REPLY,
    # 3.2 transaction layer
    "badbranch": ok(400, why="branch is the bare magic cookie (or RFC 2543 matching)", also=NORMAL),
    # 3.3 application layer
    "insuf": Expect(frozenset({400}), "no Call-ID/From/To: 400 or drop", reply_optional=True),
    "unkscm": ok(416, why="unknown URI scheme"),
    "novelsc": ok(416, 404, why="soap.beep URI scheme"),
    "unksm2": ok(400, 401, 403, why="non-SIP AOR (a challenge may come first)"),
    "bext01": ok(420, why="unknown Require option-tags"),
    "invut": ok(415, 401, 407, why="unknown body type (a challenge may come first)"),
    "regaut01": ok(401, why="unknown Authorization scheme: fresh Digest challenge"),
    "multi01": ok(400, why="duplicated single-value headers"),
    "mcl01": ok(400, why="two different Content-Length values"),
    "bcast": NO_REPLY,
    "zeromf": ok(why="Max-Forwards 0 at a UAS: handled, not 483", also=NORMAL),
    "cparam01": ok(why="Contact param outside the URI", also=NORMAL),
    "cparam02": ok(why="Contact param inside the URI", also=NORMAL),
    "regescrt": ok(why="escaped Route in a Contact URI", also=NORMAL),
    "sdp01": ok(406, 401, 407, why="Accept excludes SDP (a challenge may come first)"),
    # 3.4 backward compatibility
    "inv2543": ok(400, why="RFC 2543 INVITE: accept or reject cleanly", also=NORMAL),
}

_STATUS = re.compile(rb"^SIP/2\.0 (\d{3}) ")
_CSEQ_METHOD = re.compile(rb"\r\n(?:CSeq)[ \t]*:[ \t]*\d+[ \t]+([^\s]+)", re.IGNORECASE)


def _replies(sock: socket.socket, deadline: float, stop_at_final: bool) -> list[bytes]:
    """Datagrams received until `deadline` (or until a final response, plus a short tail)."""
    got: list[bytes] = []
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            data, _ = sock.recvfrom(65535)
        except TimeoutError:
            break
        got.append(data)
        if stop_at_final and (m := _STATUS.match(data)) and int(m[1]) >= 200:
            deadline = min(deadline, time.monotonic() + STRAY_WAIT)
    return got


_COMPACT = {"v": "via", "i": "call-id", "f": "from", "t": "to", "l": "content-length"}


def _headers(message: bytes) -> list[tuple[str, str]]:
    """(lower-case full name, value) of each header line, in order (no folding expected)."""
    head = message.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
    out = []
    for line in head.split("\r\n")[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        out.append((_COMPACT.get(name, name), value.strip()))
    return out


def _values(headers: list[tuple[str, str]], name: str) -> list[str]:
    return [v for n, v in headers if n == name]


# Headers a response with this status must carry (RFC 3261 8.2.1-8.2.3, 21.4.6, 22.1-22.3;
# the corpus catalogue for 501).
_REQUIRED_HEADER = {
    401: ("www-authenticate", "Digest"),
    405: ("allow", ""),
    407: ("proxy-authenticate", "Digest"),
    415: ("accept", ""),
    420: ("unsupported", ""),
    501: ("allow", ""),
}


def _check_reply(name: str, request: bytes, reply: bytes) -> None:
    """What every reply must hold, whatever its status."""
    m = _STATUS.match(reply)
    assert m, f"{name}: not a response: {reply[:60]!r}"
    headers = _headers(reply)
    if (need := _REQUIRED_HEADER.get(int(m[1]))) is not None:
        values = _values(headers, need[0])
        assert values, f"{name}: {m[1].decode()} without {need[0]}"
        assert all(v.startswith(need[1]) for v in values), f"{name}: {need[0]}: {values}"
    # RFC 3261 18.2.1: the top Via names a host that is not the packet's source, so the
    # server records where the request really came from (and fills an empty rport).
    req_via = _values(_headers(request), "via")
    top = _values(headers, "via")
    if req_via and top and int(m[1]) != 400:  # a 400 may echo a Via it could not parse
        assert "received=127.0.0.1" in top[0], f"{name}: top Via without received: {top[0]}"
        if re.search(r";\s*rport\s*(;|$)", req_via[0].split(",")[0]):
            assert re.search(r";rport=\d+", top[0]), f"{name}: rport not filled: {top[0]}"


def _unsupported_tags(reply: bytes) -> set[str]:
    values = _values(_headers(reply), "unsupported")
    return {t.strip().lower() for v in values for t in v.split(",") if t.strip()}


def _final_statuses(replies: list[bytes]) -> list[int]:
    codes = [int(m[1]) for r in replies if (m := _STATUS.match(r))]
    return [c for c in codes if c >= 200]


def _options_status(port: int) -> int | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((HOST, 0))
        lport = sock.getsockname()[1]
        tag = uuid.uuid4().hex
        msg = (
            f"OPTIONS sip:{HOST}:{port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {HOST}:{lport};branch=z9hG4bK{tag};rport\r\n"
            "Max-Forwards: 70\r\n"
            f"From: <sip:probe@{HOST}>;tag={tag[:8]}\r\n"
            f"To: <sip:{HOST}:{port}>\r\n"
            f"Call-ID: {tag}@{HOST}\r\n"
            "CSeq: 1 OPTIONS\r\n"
            "Content-Length: 0\r\n\r\n"
        )
        sock.sendto(msg.encode(), (HOST, port))
        finals = _final_statuses(_replies(sock, time.monotonic() + REPLY_WAIT, True))
        return finals[0] if finals else None


def test_the_table_covers_the_corpus() -> None:
    assert sorted(p.stem for p in CORPUS.glob("*.dat")) == sorted(CASES)
    assert len(CASES) == 49


@pytest.mark.parametrize("name", sorted(CASES))
def test_torture_message(server: Server, name: str) -> None:
    expect = CASES[name]
    raw = (CORPUS / f"{name}.dat").read_bytes()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((HOST, 0))
        sock.sendto(raw, (HOST, server.port))
        replies = _replies(sock, time.monotonic() + REPLY_WAIT, stop_at_final=not expect.silent)
    finals = _final_statuses(replies)
    if expect.silent:
        assert replies == [], f"{name}: {expect.why}; got {replies[:1]!r}"
    elif not finals:
        assert expect.reply_optional, f"{name}: no final reply within {REPLY_WAIT}s ({expect.why})"
    else:
        # Retransmissions repeat the same final status; a second, different one is a bug.
        assert set(finals) == {finals[0]}, f"{name}: several final statuses {finals}"
        assert finals[0] in expect.codes, f"{name}: got {finals[0]}, want {sorted(expect.codes)}"
    for reply in replies:
        _check_reply(name, raw, reply)
    if name == "bext01" and finals == [420]:
        # RFC 4475 3.3.5: a UAS lists the Require tags it lacks; Proxy-Require is for proxies.
        tags = _unsupported_tags(replies[-1])
        want = {"nothingsupportsthis", "nothingsupportsthiseither"}
        assert tags == want, f"420 Unsupported lists {sorted(tags)}, want the Require tags only"
    if name == "dblreq":
        methods = {m[1] for r in replies if (m := _CSEQ_METHOD.search(r))}
        assert methods == {b"REGISTER"}, "the bytes after the REGISTER were taken as a request"
    assert server.proc.poll() is None, "the server died"
    assert _options_status(server.port) == 200, "the server stopped answering OPTIONS"
