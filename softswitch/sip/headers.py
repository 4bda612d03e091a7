"""Typed views of SIP header values (RFC 3261 §20, §25).

Messages keep every header value verbatim; these functions parse a value on demand. Each
parser raises ``SipParseError`` (400) on input the grammar does not allow, so the one
boundary that turns errors into replies can answer it.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from softswitch.errors import SipParseError

# SIP linear whitespace after unfolding. The no-argument str.strip() would also eat Unicode
# spaces (U+0085, U+00A0...) that are part of a value.
_WS = " \t"

# Compact forms (RFC 3261 §7.3.3 and later RFCs) -> full lower-case names.
COMPACT_FORMS: dict[str, str] = {
    "v": "via",
    "f": "from",
    "t": "to",
    "i": "call-id",
    "m": "contact",
    "l": "content-length",
    "c": "content-type",
    "e": "content-encoding",
    "k": "supported",
    "s": "subject",
    "o": "event",
    "r": "refer-to",
    "u": "allow-events",
    "x": "session-expires",
    "b": "referred-by",
    "a": "accept-contact",
    "j": "reject-contact",
    "d": "request-disposition",
    "y": "identity",
}

# How names are written on output; anything else is Title-Cased per dash-separated word.
_DISPLAY_NAMES: dict[str, str] = {
    "call-id": "Call-ID",
    "cseq": "CSeq",
    "www-authenticate": "WWW-Authenticate",
    "mime-version": "MIME-Version",
    "rack": "RAck",
    "rseq": "RSeq",
    "sip-etag": "SIP-ETag",
    "sip-if-match": "SIP-If-Match",
    "p-asserted-identity": "P-Asserted-Identity",
}

# Headers whose value is a comma-separated list (RFC 3261 §7.3.1); others must not be split.
LIST_HEADERS = frozenset(
    {
        "via",
        "contact",
        "route",
        "record-route",
        "allow",
        "supported",
        "require",
        "proxy-require",
        "unsupported",
        "accept",
        "accept-encoding",
        "accept-language",
        "allow-events",
        "content-encoding",
        "in-reply-to",
        "warning",
        "path",
    }
)

# Methods this code base names; anything else must still be a token (RFC 3261 §25.1).
KNOWN_METHODS = frozenset(
    {"INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER", "PRACK", "SUBSCRIBE", "NOTIFY",
     "PUBLISH", "INFO", "REFER", "MESSAGE", "UPDATE"}
)  # fmt: skip
_TOKEN_RE = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+\Z")
_DISPLAY_TOKENS_RE = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+(?:[ \t]+[A-Za-z0-9\-.!%*_+`'~]+)*\Z")


def display_name(lname: str) -> str:
    """The canonical spelling of a lower-case header name."""
    known = _DISPLAY_NAMES.get(lname)
    if known is not None:
        return known
    return "-".join(part[:1].upper() + part[1:] for part in lname.split("-"))


def is_token(text: str) -> bool:
    return _TOKEN_RE.match(text) is not None


def is_digits(text: str) -> bool:
    """ASCII digits only: ``str.isdigit`` also accepts "²" and "٣", which ``int`` rejects."""
    return text.isascii() and text.isdigit()


def split_list(value: str) -> list[str]:
    """Split a comma-separated header value, respecting quotes and <...>.

    Empty elements (``a,,b``) are errors: RFC 3261 lists have no empty members.
    """
    if "," not in value:
        item = value.strip(_WS)
        if not item:
            raise SipParseError("empty header list element")
        return [item]
    items = [item.strip(_WS) for item in _split_unquoted(value, ",", angles=True)]
    if any(not item for item in items):
        raise SipParseError("malformed header list")
    return items


# Parameter names seen on every message; others are checked against the token grammar.
_COMMON_PARAMS = frozenset(
    {"branch", "rport", "received", "tag", "transport", "lr", "maddr", "ttl", "user", "method",
     "expires", "q", "ob", "reg-id", "+sip.instance", "alias", "comp", "sigcomp-id"}
)  # fmt: skip


def parse_params(text: str) -> dict[str, str | None]:
    """Parse ``;name=value;flag`` (text starts after the first ``;``).

    Names are case-insensitive (lower-cased here); values are kept as written, quotes included.
    """
    params: dict[str, str | None] = {}
    for part in text.split(";") if '"' not in text else _split_unquoted(text, ";"):
        name, eq, val = part.partition("=")
        name = name.strip(_WS).lower()
        if name not in _COMMON_PARAMS and not is_token(name):
            raise SipParseError("malformed parameter")
        if eq:
            val = val.strip(_WS)
            if not val:
                raise SipParseError(f"parameter {name} has an empty value")
            params[name] = val
        else:
            params[name] = None
    return params


def _split_unquoted(text: str, sep: str, *, angles: bool = False) -> list[str]:
    """Split at ``sep`` outside quoted strings (and outside <...> when ``angles``)."""
    parts: list[str] = []
    start = 0
    in_quote = in_angle = False
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if in_quote:
            if ch == "\\":
                i += 1  # an escaped character, whatever it is
            elif ch == '"':
                in_quote = False
        elif ch == '"':
            in_quote = True
        elif angles and ch == "<":
            in_angle = True
        elif angles and ch == ">":
            in_angle = False
        elif ch == sep and not in_angle:
            parts.append(text[start:i])
            start = i + 1
        i += 1
    if in_quote:
        raise SipParseError("unterminated quoted string")
    parts.append(text[start:])
    return parts


def unquote(text: str) -> str:
    """``"a \\"b\\""`` -> ``a "b"``; unquoted text is returned as is."""
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        inner = text[1:-1]
        if "\\" not in inner:
            return inner
        out: list[str] = []
        i = 0
        while i < len(inner):
            if inner[i] == "\\" and i + 1 < len(inner):
                i += 1
            out.append(inner[i])
            i += 1
        return "".join(out)
    return text


def quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


# Via, NameAddr and CSeq are immutable NamedTuples rather than frozen dataclasses: dozens
# are built per call and a tuple is about three times cheaper to construct.
class Via(NamedTuple):
    """One Via value: ``SIP/2.0/UDP host:port;branch=...;rport``."""

    transport: str  # upper-case, as compared case-insensitively
    host: str
    port: int | None
    params: dict[str, str | None]

    @property
    def branch(self) -> str | None:
        return self.params.get("branch")

    @property
    def sent_by(self) -> str:
        return self.host if self.port is None else f"{self.host}:{self.port}"


# "SIP / 2.0 / UDP" with optional whitespace around the slashes (RFC 4475 wsinv), then the
# whitespace that separates the transport from sent-by.
_VIA_PROTOCOL_RE = re.compile(
    r"[ \t]*SIP[ \t]*/[ \t]*2\.0[ \t]*/[ \t]*([A-Za-z0-9\-.!%*_+`'~]+)[ \t]+", re.IGNORECASE
)


def parse_via(value: str) -> Via:
    """Parse a single Via value (one element of the list)."""
    match = _VIA_PROTOCOL_RE.match(value)
    if match is None:
        raise SipParseError("malformed Via: expected SIP/2.0/transport sent-by")
    hostport, semi, ptext = value[match.end() :].partition(";")
    host, port = parse_hostport(hostport.rstrip(_WS))
    params = parse_params(ptext) if semi else {}
    return Via(match.group(1).upper(), host, port, params)


# The common shape (a DNS name or IPv4 address, optional port), matched in one step.
_PLAIN_HOSTPORT_RE = re.compile(r"([A-Za-z0-9\-._]+)(?::([0-9]{1,5}))?\Z")


def parse_hostport(text: str) -> tuple[str, int | None]:
    match = _PLAIN_HOSTPORT_RE.match(text)
    if match is not None:
        host, port = match.groups()
        if port is None:
            return host.lower(), None
        if int(port) <= 65535:
            return host.lower(), int(port)
    return _parse_hostport(text)


def _parse_hostport(text: str) -> tuple[str, int | None]:
    if not text:
        raise SipParseError("missing host")
    if text[0] == "[":
        end = text.find("]")
        if end < 0:
            raise SipParseError("unterminated IPv6 reference")
        host = text[: end + 1]
        rest = text[end + 1 :]
        if not rest:
            return host.lower(), None
        if rest[0] != ":":
            raise SipParseError("junk after IPv6 reference")
        return host.lower(), _port(rest[1:])
    host, colon, port = text.partition(":")
    if not host or any(ch in host for ch in " \t<>\"'"):
        raise SipParseError("malformed host")
    return host.lower(), (_port(port) if colon else None)


def _port(text: str) -> int:
    text = text.strip(" \t")
    if not is_digits(text) or len(text) > 5:
        raise SipParseError("malformed port")
    value = int(text)
    if value > 65535:
        raise SipParseError("port out of range")
    return value


class NameAddr(NamedTuple):
    """A From/To/Contact/Route value: display name, URI, header parameters."""

    display: str | None
    uri: str
    params: dict[str, str | None]
    bracketed: bool = True

    @property
    def tag(self) -> str | None:
        return self.params.get("tag")

    def render(self) -> str:
        head = f"{quote(self.display)} <{self.uri}>" if self.display else f"<{self.uri}>"
        if not self.params:
            return head
        return head + "".join(
            f";{name}" if val is None else f";{name}={val}" for name, val in self.params.items()
        )


# Parsed From/To/Contact values by text: a dialog's messages repeat the same values (the
# second REGISTER of a registration all three), and a NameAddr is immutable (its params are
# never changed after parsing), so one may be shared. Bounded: the cache starts over when full.
_NAME_ADDRS: dict[str, NameAddr] = {}
_NAME_ADDRS_SIZE = 4096


def parse_name_addr(value: str) -> NameAddr:
    """Parse ``"Name" <uri>;params``, ``Name <uri>;params`` or ``uri;params``."""
    addr = _NAME_ADDRS.get(value)
    if addr is None:
        addr = _parse_name_addr(value)
        if len(_NAME_ADDRS) >= _NAME_ADDRS_SIZE:
            _NAME_ADDRS.clear()
        _NAME_ADDRS[value] = addr
    return addr


def _parse_name_addr(value: str) -> NameAddr:
    value = value.strip(" \t")
    if not value:
        raise SipParseError("empty address")
    display: str | None = None
    if value[0] == '"':
        end = _closing_quote(value)
        display = unquote(value[: end + 1])
        rest = value[end + 1 :].lstrip(_WS)
        if not rest.startswith("<"):
            raise SipParseError("display name not followed by <uri>")
        return _bracketed(display, rest)
    lt = value.find("<")
    if lt >= 0:
        words = value[:lt].strip(_WS)
        if words:
            if _DISPLAY_TOKENS_RE.match(words) is None:
                raise SipParseError("display name must be quoted")
            display = words
        return _bracketed(display, value[lt:])
    # addr-spec form: everything after the first ';' is a header parameter (RFC 3261 §20).
    uri, semi, ptext = value.partition(";")
    uri = uri.strip(_WS)
    if not uri or any(ch in uri for ch in ' \t>"') or "?" in uri:
        raise SipParseError("malformed addr-spec")
    return NameAddr(None, uri, parse_params(ptext) if semi else {}, bracketed=False)


def _closing_quote(value: str) -> int:
    """Index of the quote closing the one at 0 (a quote after an odd run of \\ is escaped)."""
    i = value.find('"', 1)
    while i >= 0:
        j = i - 1
        while value[j] == "\\":
            j -= 1
        if (i - j) % 2 == 1:
            return i
        i = value.find('"', i + 1)
    raise SipParseError("unterminated quoted display name")


def _bracketed(display: str | None, rest: str) -> NameAddr:
    gt = rest.find(">")
    if gt < 0:
        raise SipParseError("missing >")
    # Tolerate spaces just inside the brackets (RFC 4475 badaspec: "accept tolerantly").
    uri = rest[1:gt].strip(_WS)
    if not uri or " " in uri or "\t" in uri or "<" in uri:
        raise SipParseError("malformed URI in <>")
    tail = rest[gt + 1 :].strip(_WS)
    if not tail:
        return NameAddr(display, uri, {})
    if tail[0] != ";":
        raise SipParseError("junk after >")
    return NameAddr(display, uri, parse_params(tail[1:]))


class CSeq(NamedTuple):
    number: int
    method: str


MAX_CSEQ = 2**31 - 1  # RFC 3261 §8.1.1.5: must be < 2**31 when chosen; parse up to 2**32-1


def parse_cseq(value: str) -> CSeq:
    parts = value.split()
    if len(parts) != 2 or not is_digits(parts[0]) or len(parts[0]) > 10:
        raise SipParseError("malformed CSeq")
    number = int(parts[0])
    if number > 2**32 - 1:
        raise SipParseError("CSeq number out of range")
    if parts[1] not in KNOWN_METHODS and not is_token(parts[1]):
        raise SipParseError("malformed CSeq method")
    return CSeq(number, parts[1])


def parse_uint(value: str, what: str, limit: int = 2**32 - 1) -> int:
    text = value.strip(" \t")
    if not is_digits(text) or len(text) > 10:
        raise SipParseError(f"malformed {what}")
    number = int(text)
    if number > limit:
        raise SipParseError(f"{what} out of range")
    return number
