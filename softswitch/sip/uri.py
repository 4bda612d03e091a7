"""SIP URIs (RFC 3261 §19.1): parse, compare, render.

The user part keeps its escapes as written (``user``) and offers the unescaped form once
(``user_unescaped``): RFC 4475 esc01 requires ``value%41`` not to be unescaped twice, and
escnull requires ``%00`` not to truncate anything. URI parameters are stored unescaped (once),
names lower-cased, because they are looked up by name (esc01 writes ``lr`` as ``%6C%72``);
``render`` escapes whatever the grammar does not allow bare (RFC 3261 §19.1.4 makes an
escaped and an unescaped unreserved character equivalent).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from softswitch.errors import SipParseError
from softswitch.sip.headers import parse_hostport

SUPPORTED_SCHEMES = frozenset({"sip", "sips"})
_ESCAPE_RE = re.compile(rb"%([0-9A-Fa-f]{2})")
# paramchar = param-unreserved / unreserved (RFC 3261 §25.1); everything else is %HH on output.
_PARAM_CHARS = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.!~*'()[]/:&+$"
)
_PARAM_NAME_RE = re.compile(r"[A-Za-z0-9\-_.!~*'()\[\]/:&+$%]+\Z")
_PARAM_SAFE_RE = re.compile(r"[A-Za-z0-9\-_.!~*'()\[\]/:&+$]*\Z")


def _unescape_match(match: re.Match[bytes]) -> bytes:
    return bytes((int(match.group(1), 16),))


def unescape(text: str) -> str:
    """Decode %HH escapes once; a ``%`` not followed by two hex digits is kept literally.

    Decoded bytes that are not UTF-8 survive as surrogate escapes, so nothing is lost.
    """
    if "%" not in text:
        return text
    raw = _ESCAPE_RE.sub(_unescape_match, text.encode("utf-8", "surrogateescape"))
    return raw.decode("utf-8", "surrogateescape")


def escape_param(text: str) -> str:
    """Escape a URI parameter name or value for output (inverse of ``unescape``)."""
    if _PARAM_SAFE_RE.match(text) is not None:
        return text
    return "".join(
        chr(byte) if chr(byte) in _PARAM_CHARS else f"%{byte:02X}"
        for byte in text.encode("utf-8", "surrogateescape")
    )


@dataclass(frozen=True, slots=True)
class SipUri:
    scheme: str  # lower-case
    user: str | None  # as written, escapes kept
    password: str | None
    host: str  # lower-case
    port: int | None
    # unescaped, names lower-case
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
            out += [";", escape_param(name)]
            if value is not None:
                out += ["=", escape_param(value)]
        if self.headers:
            out += ["?", self.headers]
        return "".join(out)

    def __str__(self) -> str:
        return self.render()


_SCHEME_RE = re.compile(r"([A-Za-z][A-Za-z0-9+\-.]*):")


def uri_scheme(text: str) -> str:
    """The scheme of any absolute URI, lower-cased ('' if there is none)."""
    match = _SCHEME_RE.match(text)
    return "" if match is None else match.group(1).lower()


# Parsed URIs by text. A phone writes the same few URIs in every message (its To, From and
# Contact), and the REGISTER path alone parses five per registration; a SipUri is immutable,
# so one may be shared. Bounded: hostile peers invent URIs, and the cache then starts over.
_CACHE: dict[str, SipUri] = {}
_CACHE_SIZE = 4096


def parse_uri(text: str) -> SipUri:
    """Parse a sip: or sips: URI; other schemes raise 416 (the caller decides if that matters)."""
    uri = _CACHE.get(text)
    if uri is None:
        uri = _parse_uri(text)
        if len(_CACHE) >= _CACHE_SIZE:
            _CACHE.clear()
        _CACHE[text] = uri
    return uri


def _parse_uri(text: str) -> SipUri:
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
    params = _uri_params(ptext) if semi else {}
    return SipUri(scheme, user, password, host, port, params, headers if qmark else None)


def _uri_params(text: str) -> dict[str, str | None]:
    """``;name=value;flag`` of a URI: names of paramchars (wider than a token: RFC 3261
    §25.1 allows ``[]/:&+$``), values taken as written but for their escapes."""
    params: dict[str, str | None] = {}
    escaped = "%" in text
    for part in text.split(";"):
        name, eq, value = part.partition("=")
        if _PARAM_NAME_RE.match(name) is None or (eq and not value):
            raise SipParseError("malformed URI parameter")
        if escaped:
            name = unescape(name)
            value = unescape(value)
        params[name.lower()] = value if eq else None
    return params


def same_aor(a: SipUri, b: SipUri) -> bool:
    """Address-of-record equality: scheme, unescaped user, host (RFC 3261 §10.3 step 5)."""
    return a.scheme == b.scheme and a.user_unescaped == b.user_unescaped and a.host == b.host
