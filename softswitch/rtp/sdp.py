"""SDP (RFC 4566) parsing and serialization.

Tolerant on input: LF or CRLF line ends, unknown line types and attributes are kept (in their
order) so that a parse/serialize round trip of a well-ordered body gives the same bytes, with
CRLF line ends. Output always uses CRLF and the RFC 4566 line order.

Values are kept as text where the RFC allows more than we use (origin session id and version
may exceed 64 bits on some phones; a connection address may carry a multicast ``/ttl``).
Non-UTF-8 bytes survive the round trip (``surrogateescape``) rather than failing the call.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from softswitch.errors import SipError

__all__ = [
    "MediaDescription",
    "SdpError",
    "SdpOrigin",
    "SessionDescription",
    "parse_sdp",
    "serialize_sdp",
]

Attribute = tuple[str, str | None]

# Line types that SessionDescription / MediaDescription keep in ``other``, split by where
# RFC 4566 §5 places them relative to the c=/b= lines. Unknown letters go after b=.
_SESSION_BEFORE_C = frozenset("iuep")
_MEDIA_BEFORE_C = frozenset("i")


class SdpError(SipError, ValueError):
    """A body that is not SDP we can work with: the INVITE is answered 400."""

    def __init__(self, reason: str) -> None:
        super().__init__(400, "Bad Request")
        self.args = (f"malformed SDP: {reason}",)
        self.detail = reason


@dataclass(frozen=True, slots=True)
class SdpOrigin:
    """The o= line. Session id and version are decimal text (RFC 4566 allows 64-bit+)."""

    username: str
    session_id: str
    version: str
    address: str
    net_type: str = "IN"
    addr_type: str = "IP4"


@dataclass(slots=True)
class MediaDescription:
    """One m= section. ``port_count`` is the ``/2`` of ``m=audio 49170/2``.

    ``other`` holds i=, k= and unknown lines as (letter, value) in their original order.
    """

    media: str
    port: int
    proto: str
    formats: list[str]
    connection: str | None = None
    attributes: list[Attribute] = field(default_factory=list)
    bandwidths: list[tuple[str, str]] = field(default_factory=list)
    port_count: int | None = None
    other: list[tuple[str, str]] = field(default_factory=list)

    def attribute(self, name: str) -> str | None:
        """Value of the first ``a=name[:value]`` ("" for a flag); None if absent."""
        return _find_attribute(self.attributes, name)


@dataclass(slots=True)
class SessionDescription:
    """A whole SDP body.

    ``other`` holds the session-level lines we do not model (i=, u=, e=, p=, t=, r=, z=, k=
    and unknown letters) as (letter, value), in original order; t=/r= pairs stay together.
    """

    origin: SdpOrigin
    session_name: str = "-"
    connection: str | None = None
    media: list[MediaDescription] = field(default_factory=list)
    attributes: list[Attribute] = field(default_factory=list)
    bandwidths: list[tuple[str, str]] = field(default_factory=list)
    other: list[tuple[str, str]] = field(default_factory=list)
    version: str = "0"

    def attribute(self, name: str) -> str | None:
        """Value of the first session-level ``a=name[:value]``; None if absent."""
        return _find_attribute(self.attributes, name)


def _find_attribute(attributes: list[Attribute], name: str) -> str | None:
    for key, value in attributes:
        if key == name:
            return "" if value is None else value
    return None


# --- parsing -----------------------------------------------------------------------------


def parse_sdp(body: bytes) -> SessionDescription:
    """Parse an SDP body; raises SdpError if it is not SDP."""
    text = body.decode("utf-8", "surrogateescape")
    lines = [line.rstrip("\r") for line in text.split("\n")]
    lines = [line for line in lines if line.strip()]
    if not lines or not lines[0].startswith("v="):
        raise SdpError("does not start with v=")
    version = lines[0][2:].strip()
    origin: SdpOrigin | None = None
    session_name: str | None = None
    sdp = SessionDescription(origin=_PLACEHOLDER_ORIGIN, version=version)
    current: MediaDescription | None = None
    for line in lines[1:]:
        if len(line) < 2 or line[1] != "=":
            raise SdpError(f"not a type=value line: {line[:40]!r}")
        kind, value = line[0], line[2:]
        if kind == "m":
            current = _parse_media(value)
            sdp.media.append(current)
        elif current is not None:
            _parse_line(current, kind, value)
        elif kind == "o":
            origin = _parse_origin(value)
        elif kind == "s" and session_name is None:
            session_name = value
        else:
            _parse_line(sdp, kind, value)
    if origin is None:
        raise SdpError("no o= line")
    sdp.origin = origin
    if session_name is not None:
        sdp.session_name = session_name
    return sdp


_PLACEHOLDER_ORIGIN = SdpOrigin("-", "0", "0", "0.0.0.0")


def _parse_origin(value: str) -> SdpOrigin:
    parts = value.split()
    if len(parts) != 6:
        raise SdpError(f"o= needs 6 fields: {value[:60]!r}")
    username, session_id, version, net_type, addr_type, address = parts
    return SdpOrigin(username, session_id, version, address, net_type, addr_type)


def _parse_connection(value: str) -> str:
    parts = value.split()
    if len(parts) != 3:
        raise SdpError(f"c= needs 3 fields: {value[:60]!r}")
    return parts[2]


def _parse_bandwidth(value: str) -> tuple[str, str]:
    kind, colon, amount = value.partition(":")
    if not colon or not kind:
        raise SdpError(f"b= needs type:value: {value[:60]!r}")
    return kind, amount


def _parse_attribute(value: str) -> Attribute:
    name, colon, rest = value.partition(":")
    return (name, rest) if colon else (name, None)


def _parse_line(target: SessionDescription | MediaDescription, kind: str, value: str) -> None:
    """An a=, c=, b= or other line, at session or media level (the same fields at both)."""
    if kind == "a":
        target.attributes.append(_parse_attribute(value))
    elif kind == "c":
        target.connection = _parse_connection(value)
    elif kind == "b":
        target.bandwidths.append(_parse_bandwidth(value))
    else:
        target.other.append((kind, value))


def _parse_media(value: str) -> MediaDescription:
    parts = value.split()
    # RFC 4566 wants at least one format; some stacks send none on a rejected stream.
    if len(parts) < 3:
        raise SdpError(f"m= needs media, port and proto: {value[:60]!r}")
    port_text, slash, count_text = parts[1].partition("/")
    try:
        port = int(port_text)
        port_count = int(count_text) if slash else None
    except ValueError:
        raise SdpError(f"bad m= port: {parts[1][:20]!r}") from None
    if not 0 <= port <= 65535:
        raise SdpError(f"m= port out of range: {port}")
    return MediaDescription(parts[0], port, parts[2], parts[3:], port_count=port_count)


# --- serialization -----------------------------------------------------------------------


def _connection_line(address: str) -> str:
    # The address type is implied by the address: we never write anything but IN IP4/IP6.
    return f"c=IN {'IP6' if ':' in address else 'IP4'} {address}"


def _attribute_line(attribute: Attribute) -> str:
    name, value = attribute
    return f"a={name}" if value is None else f"a={name}:{value}"


def serialize_sdp(sdp: SessionDescription) -> bytes:
    """The body in RFC 4566 order with CRLF line ends."""
    o = sdp.origin
    out = [
        f"v={sdp.version}",
        f"o={o.username} {o.session_id} {o.version} {o.net_type} {o.addr_type} {o.address}",
        f"s={sdp.session_name}",
    ]
    out.extend(f"{k}={v}" for k, v in sdp.other if k in _SESSION_BEFORE_C)
    if sdp.connection is not None:
        out.append(_connection_line(sdp.connection))
    out.extend(f"b={k}:{v}" for k, v in sdp.bandwidths)
    out.extend(f"{k}={v}" for k, v in sdp.other if k not in _SESSION_BEFORE_C)
    out.extend(_attribute_line(a) for a in sdp.attributes)
    for m in sdp.media:
        _serialize_media(m, out)
    out.append("")
    return "\r\n".join(out).encode("utf-8", "surrogateescape")


def _serialize_media(m: MediaDescription, out: list[str]) -> None:
    port = str(m.port) if m.port_count is None else f"{m.port}/{m.port_count}"
    out.append(" ".join(["m=" + m.media, port, m.proto, *m.formats]))
    out.extend(f"{k}={v}" for k, v in m.other if k in _MEDIA_BEFORE_C)
    if m.connection is not None:
        out.append(_connection_line(m.connection))
    out.extend(f"b={k}:{v}" for k, v in m.bandwidths)
    out.extend(f"{k}={v}" for k, v in m.other if k not in _MEDIA_BEFORE_C)
    out.extend(_attribute_line(a) for a in m.attributes)
