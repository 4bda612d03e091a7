"""SIP URIs (RFC 3261 §19.1): parse, compare, render.

The user part keeps its escapes as written (``user``) and offers the unescaped form once
(``user_unescaped``): RFC 4475 esc01 requires ``value%41`` not to be unescaped twice, and
escnull requires ``%00`` not to truncate anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from softswitch.errors import SipParseError
from softswitch.sip.headers import parse_hostport, parse_params

SUPPORTED_SCHEMES = frozenset({"sip", "sips"})
_HEX = "0123456789abcdefABCDEF"


def unescape(text: str) -> str:
    """Decode %HH escapes once; a ``%`` not followed by two hex digits is kept literally."""
    if "%" not in text:
        return text
    out = bytearray()
    raw = text.encode("utf-8", "surrogateescape")
    i = 0
    while i < len(raw):
        byte = raw[i]
        escape = byte == 0x25 and i + 2 < len(raw)
        if escape and chr(raw[i + 1]) in _HEX and chr(raw[i + 2]) in _HEX:
            out.append(int(raw[i + 1 : i + 3], 16))
            i += 3
            continue
        out.append(byte)
        i += 1
    return out.decode("utf-8", "surrogateescape")


@dataclass(frozen=True, slots=True)
class SipUri:
    scheme: str  # lower-case
    user: str | None  # as written, escapes kept
    password: str | None
    host: str  # lower-case
    port: int | None
    params: dict[str, str | None] = field(default_factory=dict, hash=False, compare=False)
    headers: str | None = None  # the raw ``?a=b&c=d`` part, never turned into real headers

    @property
    def user_unescaped(self) -> str | None:
        return None if self.user is None else unescape(self.user)

    @property
    def transport(self) -> str | None:
        value = self.params.get("transport")
        return value.lower() if value else None

    def render(self) -> str:
        out = [self.scheme, ":"]
        if self.user is not None:
            out.append(self.user)
            if self.password is not None:
                out += [":", self.password]
            out.append("@")
        out.append(self.host)
        if self.port is not None:
            out += [":", str(self.port)]
        for name, value in self.params.items():
            out += [";", name] if value is None else [";", name, "=", value]
        if self.headers:
            out += ["?", self.headers]
        return "".join(out)

    def __str__(self) -> str:
        return self.render()


def uri_scheme(text: str) -> str:
    """The scheme of any absolute URI, lower-cased ('' if there is none)."""
    scheme, colon, _ = text.partition(":")
    if not colon or not scheme or not scheme[0].isalpha():
        return ""
    if not all(ch.isalnum() or ch in "+-." for ch in scheme):
        return ""
    return scheme.lower()


def parse_uri(text: str) -> SipUri:
    """Parse a sip: or sips: URI; other schemes raise 416 (the caller decides if that matters)."""
    scheme = uri_scheme(text)
    if not scheme:
        raise SipParseError("malformed URI")
    if scheme not in SUPPORTED_SCHEMES:
        raise SipParseError(f"unsupported URI scheme {scheme}", status=416)
    rest = text[len(scheme) + 1 :]
    if not rest or any(ch in rest for ch in ' \t\r\n<>"'):
        raise SipParseError("malformed SIP URI")
    user: str | None = None
    password: str | None = None
    # Only one unescaped '@' can appear in a valid SIP URI (user and params must escape it),
    # but the user part may contain '?', ';' and ':' (RFC 4475 intmeth, semiuri).
    at = rest.rfind("@")
    if at >= 0:
        userinfo, rest = rest[:at], rest[at + 1 :]
        user, colon, pw = userinfo.partition(":")
        if colon:
            password = pw
        if not user:
            raise SipParseError("empty user part")
    hostpart, qmark, headers = rest.partition("?")
    hostport, semi, ptext = hostpart.partition(";")
    host, port = parse_hostport(hostport)
    params = parse_params(ptext) if semi else {}
    return SipUri(scheme, user, password, host, port, params, headers if qmark else None)


def same_aor(a: SipUri, b: SipUri) -> bool:
    """Address-of-record equality: scheme, unescaped user, host (RFC 3261 §10.3 step 5)."""
    return a.scheme == b.scheme and a.user_unescaped == b.user_unescaped and a.host == b.host
