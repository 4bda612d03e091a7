"""SIP messages (RFC 3261 §7): parse and serialize.

Raw headers are kept verbatim as ``(lower-case name, value)`` pairs in arrival order; the
five headers every layer needs (Via, From, To, Call-ID, CSeq) are validated eagerly when a
message is parsed, everything else is parsed on demand through ``softswitch.sip.headers``.
Content-Length is recomputed on output. Text is decoded as UTF-8 with ``surrogateescape`` so
any byte sequence survives a parse/serialize round trip unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable

from softswitch.errors import SipParseError
from softswitch.sip.headers import (
    COMPACT_FORMS,
    LIST_HEADERS,
    CSeq,
    NameAddr,
    Via,
    display_name,
    is_token,
    parse_cseq,
    parse_name_addr,
    parse_uint,
    parse_via,
    split_list,
)
from softswitch.sip.uri import uri_scheme

SIP_VERSION = "SIP/2.0"
DEFAULT_MAX_SIZE = 65535

# Headers that may appear at most once (RFC 3261 §7.3; RFC 4475 multi01, mcl01).
SINGLE_HEADERS = frozenset(
    {"from", "to", "call-id", "cseq", "max-forwards", "content-length", "content-type", "expires"}
)

_DISPLAY_CACHE: dict[str, str] = {}

Header = tuple[str, str]


def _display(lname: str) -> str:
    name = _DISPLAY_CACHE.get(lname)
    if name is None:
        name = display_name(lname)
        if len(_DISPLAY_CACHE) < 4096:  # bounded: hostile peers may invent names
            _DISPLAY_CACHE[lname] = name
    return name


class SipMessage:
    """Common part of requests and responses."""

    __slots__ = ("_from", "_to", "_via", "body", "headers")

    def __init__(self, headers: list[Header], body: bytes = b"") -> None:
        self.headers = headers
        self.body = body
        self._via: Via | None = None
        self._from: NameAddr | None = None
        self._to: NameAddr | None = None

    # --- raw access -------------------------------------------------------------------
    def get(self, name: str) -> str | None:
        """First value of a header (name in lower case), or None."""
        for lname, value in self.headers:
            if lname == name:
                return value
        return None

    def get_all(self, name: str) -> list[str]:
        """Every header line of that name, unsplit."""
        return [value for lname, value in self.headers if lname == name]

    def values(self, name: str) -> list[str]:
        """Every element of a list header, across lines (``Via: a, b`` + ``Via: c``)."""
        out: list[str] = []
        for lname, value in self.headers:
            if lname == name:
                out.extend(split_list(value))
        return out

    def has(self, name: str) -> bool:
        return any(lname == name for lname, _ in self.headers)

    # --- building ---------------------------------------------------------------------
    def add(self, name: str, value: str) -> None:
        self.headers.append((name, value))
        self._forget(name)

    def set(self, name: str, value: str) -> None:
        """Replace every line of that header by one (appended if absent)."""
        out: list[Header] = []
        placed = False
        for header in self.headers:
            if header[0] == name:
                if not placed:
                    out.append((name, value))
                    placed = True
            else:
                out.append(header)
        if not placed:
            out.append((name, value))
        self.headers = out
        self._forget(name)

    def remove(self, name: str) -> None:
        self.headers = [h for h in self.headers if h[0] != name]
        self._forget(name)

    def _forget(self, name: str) -> None:
        if name == "via":
            self._via = None
        elif name == "from":
            self._from = None
        elif name == "to":
            self._to = None

    # --- eager views ------------------------------------------------------------------
    @property
    def call_id(self) -> str:
        value = self.get("call-id")
        if value is None:
            raise SipParseError("missing Call-ID")
        return value

    @property
    def cseq(self) -> CSeq:
        value = self.get("cseq")
        if value is None:
            raise SipParseError("missing CSeq")
        return parse_cseq(value)

    @property
    def via(self) -> Via:
        """The top Via."""
        if self._via is None:
            value = self.get("via")
            if value is None:
                raise SipParseError("missing Via")
            top = value.split(",", 1)[0] if '"' not in value else split_list(value)[0]
            self._via = parse_via(top)
        return self._via

    @property
    def from_(self) -> NameAddr:
        if self._from is None:
            value = self.get("from")
            if value is None:
                raise SipParseError("missing From")
            self._from = parse_name_addr(value)
        return self._from

    @property
    def to(self) -> NameAddr:
        if self._to is None:
            value = self.get("to")
            if value is None:
                raise SipParseError("missing To")
            self._to = parse_name_addr(value)
        return self._to

    @property
    def content_type(self) -> str | None:
        value = self.get("content-type")
        return None if value is None else value.split(";", 1)[0].strip().lower()

    def start_line(self) -> str:
        raise NotImplementedError

    def to_bytes(self) -> bytes:
        parts = [self.start_line()]
        for lname, value in self.headers:
            if lname != "content-length":
                parts.append(f"{_display(lname)}: {value}")
        parts.append(f"Content-Length: {len(self.body)}\r\n\r\n")
        head = "\r\n".join(parts).encode("utf-8", "surrogateescape")
        return head + self.body if self.body else head


class SipRequest(SipMessage):
    __slots__ = ("method", "uri")

    def __init__(self, method: str, uri: str, headers: list[Header], body: bytes = b"") -> None:
        super().__init__(headers, body)
        self.method = method
        self.uri = uri

    def start_line(self) -> str:
        return f"{self.method} {self.uri} {SIP_VERSION}"

    def __repr__(self) -> str:
        return f"<SipRequest {self.method} {self.uri}>"


class SipResponse(SipMessage):
    __slots__ = ("reason", "status")

    def __init__(self, status: int, reason: str, headers: list[Header], body: bytes = b"") -> None:
        super().__init__(headers, body)
        self.status = status
        self.reason = reason

    def start_line(self) -> str:
        return f"{SIP_VERSION} {self.status} {self.reason}"

    def __repr__(self) -> str:
        return f"<SipResponse {self.status} {self.reason}>"


class MalformedRequest(SipParseError):
    """A request we can answer (with ``status``) but must not process.

    ``request`` holds what could be read, so the reply can copy Via/From/To/Call-ID/CSeq.
    """

    def __init__(self, reason: str, request: SipRequest, status: int = 400) -> None:
        super().__init__(reason, status)
        self.request = request


# ---------------------------------------------------------------------------- parsing


def split_head(data: bytes) -> tuple[bytes, bytes] | None:
    """Split at the blank line; None if there is none yet."""
    end = data.find(b"\r\n\r\n")
    if end >= 0:
        return data[:end], data[end + 4 :]
    end = data.find(b"\n\n")  # tolerate bare LF from sloppy peers
    if end >= 0:
        return data[:end], data[end + 2 :]
    return None


def _header_lines(head: str) -> list[str]:
    """Split into logical lines, unfolding continuation lines (RFC 3261 §7.3.1)."""
    lines = head.split("\r\n") if "\r\n" in head else head.split("\n")
    if not any(line[:1] in (" ", "\t") for line in lines[1:]):
        return lines
    out: list[str] = []
    for line in lines:
        if line[:1] in (" ", "\t") and len(out) > 1:
            out[-1] = out[-1].rstrip() + " " + line.strip()
        else:
            out.append(line)
    return out


def _parse_headers(lines: list[str]) -> list[Header]:
    headers: list[Header] = []
    for line in lines:
        if not line:
            continue
        name, colon, value = line.partition(":")
        if not colon:
            raise SipParseError("header line without a colon")
        name = name.rstrip(" \t")
        if not is_token(name):
            raise SipParseError("malformed header name")
        lname = name.lower()
        if len(lname) == 1:
            lname = COMPACT_FORMS.get(lname, lname)
        headers.append((lname, value.strip()))
    return headers


def parse_message(
    data: bytes, *, max_size: int = DEFAULT_MAX_SIZE, stream: bool = False
) -> SipRequest | SipResponse:
    """Parse one complete message from a UDP datagram (or one framed TCP message).

    Raises ``MalformedRequest`` for requests that deserve an error reply and
    ``SipParseError`` for anything else (responses are then dropped by the caller).
    On UDP the body is framed by Content-Length; trailing bytes are ignored (RFC 4475 dblreq).
    """
    if len(data) > max_size:
        raise SipParseError("message too large", status=513)
    parts = split_head(data)
    if parts is None:
        # A datagram is a whole message: one that ends after its last header line without
        # the blank line (RFC 4475 baddn, inv2543 as archived) has no body.
        if stream or not data.endswith(b"\n"):
            raise SipParseError("no end of headers")
        parts = (data.rstrip(b"\r\n"), b"")
    head_bytes, rest = parts
    head = head_bytes.decode("utf-8", "surrogateescape")
    lines = _header_lines(head.lstrip("\r\n"))
    first = lines[0]
    headers = _parse_headers(lines[1:])
    if first.startswith("SIP/"):
        response = _response_from(first, headers)
        response.body = _body(response, rest, stream)
        _check_common(response)
        return response
    request = _request_from(first, headers)
    try:
        request.body = _body(request, rest, stream)
        _check_request(request)
    except MalformedRequest:
        raise
    except SipParseError as exc:
        raise MalformedRequest(exc.reason, request, exc.status) from None
    return request


def _response_from(first: str, headers: list[Header]) -> SipResponse:
    version, _, rest = first.partition(" ")
    code, _, reason = rest.partition(" ")
    if version.upper() != SIP_VERSION:
        raise SipParseError("unsupported SIP version in response")
    if len(code) != 3 or not code.isdigit() or not "1" <= code[0] <= "6":
        raise SipParseError("malformed status code")
    return SipResponse(int(code), reason, headers)


def _request_from(first: str, headers: list[Header]) -> SipRequest:
    parts = first.split()
    method = parts[0] if parts else ""
    uri = parts[1] if len(parts) > 1 else ""
    request = SipRequest(method, uri, headers)
    if len(parts) != 3:
        # Whitespace inside the Request-URI (RFC 4475 lwsruri) or a broken start line.
        raise MalformedRequest("malformed Request-Line", request)
    if not is_token(method):
        raise MalformedRequest("malformed method", request)
    if not parts[2].upper().startswith("SIP/"):
        raise MalformedRequest("malformed SIP version", request)
    if parts[2].upper() != SIP_VERSION:
        raise MalformedRequest("Version Not Supported", request, status=505)
    if uri[:1] == "<" or not uri_scheme(uri):
        raise MalformedRequest("malformed Request-URI", request)
    return request


def _body(message: SipMessage, rest: bytes, stream: bool) -> bytes:
    lengths = message.get_all("content-length")
    if not lengths:
        if stream:
            raise SipParseError("Content-Length required on stream transports")
        return rest
    if len(lengths) > 1:
        raise SipParseError("duplicate Content-Length")
    length = parse_uint(lengths[0], "Content-Length", limit=DEFAULT_MAX_SIZE * 16)
    if length > len(rest):
        raise SipParseError("Content-Length larger than the message")
    return rest[:length]


def _check_common(message: SipMessage) -> None:
    seen: set[str] = set()
    for lname, _ in message.headers:
        if lname in SINGLE_HEADERS:
            if lname in seen:
                raise SipParseError(f"duplicate {_display(lname)} header")
            seen.add(lname)
    for required in ("from", "to", "call-id", "cseq"):
        if required not in seen:
            raise SipParseError(f"missing {_display(required)}")
    # Force the eager views: malformed values must fail here, not deep in a handler.
    _ = message.via, message.from_, message.to
    cseq = message.cseq
    if isinstance(message, SipResponse) and not is_token(cseq.method):
        raise SipParseError("malformed CSeq")


def _check_request(request: SipRequest) -> None:
    _check_common(request)
    cseq_method = request.cseq.method
    if cseq_method != request.method:
        raise SipParseError("CSeq method does not match the Request-Line")
    max_forwards = request.get("max-forwards")
    if max_forwards is not None:
        parse_uint(max_forwards, "Max-Forwards", limit=255)
    for value in request.get_all("via")[1:]:
        split_list(value)  # every Via line must at least be a well-formed list


# ---------------------------------------------------------------------------- replies


def response_headers(
    request: SipRequest,
    to_tag: str | None,
    received: tuple[str, int] | None,
) -> list[Header]:
    """Headers every response copies from its request (RFC 3261 §8.2.6.2).

    ``received`` is the packet's source: RFC 3581 ``rport`` and ``received`` are filled in
    on the top Via so the phone can see where its packets really come from.
    """
    headers: list[Header] = []
    first_via = True
    for lname, value in request.headers:
        if lname == "via":
            if first_via and received is not None:
                headers.append((lname, _stamp_via(value, received)))
            else:
                headers.append((lname, value))
            first_via = False
        elif lname == "to":
            if to_tag is not None and ";tag=" not in value.replace(" ", "").lower():
                headers.append((lname, f"{value};tag={to_tag}"))
            else:
                headers.append((lname, value))
        elif lname in ("from", "call-id", "cseq"):
            headers.append((lname, value))
    return headers


def _stamp_via(value: str, source: tuple[str, int]) -> str:
    """Add received= and fill rport= on the top Via value of a (possibly multi-value) line."""
    top, comma, others = value.partition(",") if '"' not in value else (value, "", "")
    host, port = source
    params = top.split(";")
    stamped: list[str] = [params[0].rstrip()]
    has_received = False
    for param in params[1:]:
        key = param.strip().split("=", 1)[0].lower()
        if key == "rport":
            stamped.append(f"rport={port}")
        elif key == "received":
            stamped.append(f"received={host}")
            has_received = True
        else:
            stamped.append(param.strip())
    if not has_received:
        stamped.append(f"received={host}")
    top = ";".join(stamped)
    return f"{top},{others}" if comma else top


def make_response(
    request: SipRequest,
    status: int,
    reason: str,
    *,
    to_tag: str | None = None,
    received: tuple[str, int] | None = None,
    extra: Iterable[Header] = (),
    body: bytes = b"",
) -> SipResponse:
    headers = response_headers(request, to_tag if status > 100 else None, received)
    headers.extend(extra)
    return SipResponse(status, reason, headers, body)


def header_list(message: SipMessage, name: str) -> list[str]:
    """Convenience for list headers that may be absent: lower-cased option tags etc."""
    if name not in LIST_HEADERS:
        raise ValueError(f"{name} is not a list header")
    return [item.lower() for item in message.values(name)]
