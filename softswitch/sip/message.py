"""SIP messages (RFC 3261 §7): parse and serialize.

Raw headers are kept verbatim as ``(lower-case name, value)`` pairs in arrival order; the
five headers every layer needs (Via, From, To, Call-ID, CSeq) are validated eagerly when a
message is parsed, everything else is parsed on demand through ``softswitch.sip.headers``.
Content-Length is recomputed on output. Text is decoded as UTF-8 with ``surrogateescape`` so
any byte sequence survives a parse/serialize round trip unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from softswitch.errors import SipParseError
from softswitch.sip.headers import (
    COMPACT_FORMS,
    KNOWN_METHODS,
    LIST_HEADERS,
    CSeq,
    NameAddr,
    Via,
    display_name,
    is_digits,
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

    __slots__ = ("_cseq", "_from", "_to", "_via", "body", "headers")

    def __init__(self, headers: list[Header], body: bytes = b"") -> None:
        self.headers = headers
        self.body = body
        # Parsed views, filled by parse_message or on first use, dropped when the header changes.
        self._via: Via | None = None
        self._from: NameAddr | None = None
        self._to: NameAddr | None = None
        self._cseq: CSeq | None = None

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
        return self.get(name) is not None  # any() and its generator cost twice as much

    # --- building ---------------------------------------------------------------------
    def add(self, name: str, value: str) -> None:
        name = name.lower()
        self.headers.append((name, value))
        self._forget(name)

    def set(self, name: str, value: str) -> None:
        """Replace every line of that header by one (appended if absent)."""
        name = name.lower()
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
        name = name.lower()
        self.headers = [h for h in self.headers if h[0] != name]
        self._forget(name)

    def _forget(self, name: str) -> None:
        if name == "via":
            self._via = None
        elif name == "from":
            self._from = None
        elif name == "to":
            self._to = None
        elif name == "cseq":
            self._cseq = None

    # --- eager views ------------------------------------------------------------------
    @property
    def call_id(self) -> str:
        value = self.get("call-id")
        if value is None:
            raise SipParseError("missing Call-ID")
        return value

    @property
    def cseq(self) -> CSeq:
        if self._cseq is None:
            value = self.get("cseq")
            if value is None:
                raise SipParseError("missing CSeq")
            self._cseq = parse_cseq(value)
        return self._cseq

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
        # Inlined SipMessage.__init__: one call less on the hot path.
        self.headers = headers
        self.body = body
        self._via = self._from = self._to = self._cseq = None
        self.method = method
        self.uri = uri

    def start_line(self) -> str:
        return f"{self.method} {self.uri} {SIP_VERSION}"

    def __repr__(self) -> str:
        return f"<SipRequest {self.method} {self.uri}>"


class SipResponse(SipMessage):
    __slots__ = ("reason", "status")

    def __init__(self, status: int, reason: str, headers: list[Header], body: bytes = b"") -> None:
        self.headers = headers
        self.body = body
        self._via = self._from = self._to = self._cseq = None
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

# Header names as written (before the colon) -> canonical lower-case names. Every peer writes
# the same few dozen spellings, so this skips validation, lower() and the compact-form lookup
# for almost every line; bounded because hostile peers may invent names.
_NAMES: dict[str, str] = {}
# Headers whose first value parse_message records for the checks and the eager views.
_FIELDS = SINGLE_HEADERS | {"via"}
_FOLD_RE = re.compile(r"\n[ \t]")  # one regex pass is cheaper than two substring searches
_REQUIRED = ("via", "from", "to", "call-id", "cseq")


def split_head(data: bytes) -> tuple[bytes, bytes] | None:
    """Split at the blank line; None if there is none yet.

    Bare-LF line ends are tolerated from sloppy peers; the earliest blank line wins, so a
    CRLF-CRLF inside the body of a bare-LF message does not move the split.
    """
    end = data.find(b"\r\n\r\n")
    first_lf = data.find(b"\n")
    if end >= 0 and first_lf > 0 and data[first_lf - 1] == 0x0D:
        return data[:end], data[end + 4 :]  # the usual CRLF message: no bare-LF search
    lf_end = data.find(b"\n\n", 0, len(data) if end < 0 else end)
    if lf_end >= 0:
        head = data[:lf_end]
        return (head[:-1] if head.endswith(b"\r") else head), data[lf_end + 2 :]
    if end >= 0:
        return data[:end], data[end + 4 :]
    return None


def _header_lines(head: str) -> tuple[list[str], bool]:
    """Logical lines, unfolded (RFC 3261 §7.3.1), and whether a bare CR was seen."""
    lines = head.split("\r\n")
    crlf = len(lines) - 1
    if head.count("\n") != crlf:
        lines = head.replace("\r\n", "\n").split("\n")
    bare_cr = head.count("\r") != crlf
    if _FOLD_RE.search(head) is not None:
        lines = _unfold(lines)
    return lines, bare_cr


def _unfold(lines: list[str]) -> list[str]:
    out = [lines[0]]
    for line in lines[1:]:
        # A continuation of the start line is not folding: it stays a (malformed) line.
        if line[:1] in (" ", "\t") and len(out) > 1:
            out[-1] = out[-1].rstrip(" \t") + " " + line.strip(" \t")
        else:
            out.append(line)
    return out


def _header_name(name: str) -> str:
    """Canonical lower-case name of a header name as written, or '' if it is not a token."""
    lname = _NAMES.get(name)
    if lname is not None:
        return lname
    stripped = name.rstrip(" \t")
    if not is_token(stripped):
        return ""
    lname = stripped.lower()
    if len(lname) == 1:
        lname = COMPACT_FORMS.get(lname, lname)
    if len(_NAMES) < 1024:
        _NAMES[name] = lname
    return lname


def _parse_headers(
    lines: list[str],
) -> tuple[list[Header], dict[str, str], SipParseError | None]:
    """Headers, the first value of each of ``_FIELDS``, and the first error found.

    Errors are returned, not raised, so a malformed request still carries every header it
    has and can be answered (the 400 copies Via, From, To, Call-ID, CSeq).
    """
    headers: list[Header] = []
    fields: dict[str, str] = {}
    error: SipParseError | None = None
    names = _NAMES
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        lname = names.get(name) if colon else ""
        if lname is None:
            lname = _header_name(name)
        if not lname:
            if line and error is None:
                error = SipParseError("malformed header line")
            continue
        value = value.strip(" \t")
        headers.append((lname, value))
        if lname in _FIELDS:
            if lname == "via":
                if "," in value and error is None:
                    error = _list_error(value)  # every Via line must be a well-formed list
                fields.setdefault(lname, value)
            elif lname not in fields:
                fields[lname] = value
            elif error is None:
                # RFC 4475 multi01, mcl01: a second single-valued header is ambiguous.
                error = SipParseError(f"duplicate {_display(lname)} header")
    return headers, fields, error


def _list_error(value: str) -> SipParseError | None:
    try:
        split_list(value)
    except SipParseError as exc:
        return exc
    return None


def _read_head(
    head_bytes: bytes,
) -> tuple[SipRequest | SipResponse, dict[str, str], SipParseError | None]:
    """Build the message from its start line and headers; the first error is returned."""
    head = head_bytes.decode("utf-8", "surrogateescape")
    lines, bare_cr = _header_lines(head)
    headers, fields, error = _parse_headers(lines)
    if bare_cr and error is None:
        error = SipParseError("bare CR in the header")
    first = lines[0]
    if first.startswith("SIP/"):
        return _response_from(first, headers), fields, error
    request, line_error = _request_from(first, headers)
    return request, fields, line_error or error


def parse_message(
    data: bytes, *, max_size: int = DEFAULT_MAX_SIZE, stream: bool = False
) -> SipRequest | SipResponse:
    """Parse one complete message from a UDP datagram (or one framed TCP message).

    Raises ``MalformedRequest`` for requests that deserve an error reply (513 for requests
    over ``max_size``) and ``SipParseError`` for anything else, to be dropped: responses, and
    requests without a Via to send a reply to. On UDP the body is framed by Content-Length;
    trailing bytes are ignored (RFC 4475 dblreq).
    """
    if len(data) > max_size:
        raise _too_large(data, max_size)
    if data[:1] in (b"\r", b"\n"):
        data = data.lstrip(b"\r\n")  # RFC 3261 §7.5: ignore CRLFs before the start line
    parts = split_head(data)
    if parts is None:
        # A datagram is a whole message: one that ends after its last header line without
        # the blank line (RFC 4475 baddn, inv2543 as archived) has no body.
        if stream or not data.endswith(b"\n"):
            raise SipParseError("no end of headers")
        parts = (data.rstrip(b"\r\n"), b"")
    head, rest = parts
    message, fields, error = _read_head(head)
    if isinstance(message, SipResponse):
        if error is not None:
            raise error
        _check_common(message, fields)
        message.body = _body(fields, rest, stream)
        return message
    try:
        if error is not None:
            raise error
        _check_common(message, fields)
        _check_request(message, fields)
        message.body = _body(fields, rest, stream)
    except SipParseError as exc:
        raise _rejection(message, exc) from None
    return message


def _rejection(request: SipRequest, error: SipParseError) -> SipParseError:
    """A MalformedRequest if a reply can be addressed, else the plain error (dropped).

    Responses travel by the Via (RFC 3261 §18.2.2): without one nobody can match the reply,
    and answering garbage would reflect traffic to spoofed sources.
    """
    if not request.has("via"):
        return error
    return MalformedRequest(error.reason, request, error.status)


def _too_large(data: bytes, max_size: int) -> SipParseError:
    """513 for an oversize request whose head can be read (so it can be answered)."""
    error = SipParseError("message too large", status=513)
    parts = split_head(data[:max_size].lstrip(b"\r\n"))
    if parts is None or data.startswith(b"SIP/"):
        return error
    message, _, _ = _read_head(parts[0])
    return _rejection(message, error) if isinstance(message, SipRequest) else error


def _response_from(first: str, headers: list[Header]) -> SipResponse:
    version, _, rest = first.partition(" ")
    code, _, reason = rest.partition(" ")
    if version.upper() != SIP_VERSION:
        raise SipParseError("unsupported SIP version in response")
    if len(code) != 3 or not is_digits(code) or not "1" <= code[0] <= "6":
        raise SipParseError("malformed status code")
    return SipResponse(int(code), reason, headers)


def _request_from(first: str, headers: list[Header]) -> tuple[SipRequest, SipParseError | None]:
    # split() tolerates runs of spaces and trailing spaces (RFC 4475 lwsstart, trws).
    parts = first.split()
    method = parts[0] if parts else ""
    uri = parts[1] if len(parts) > 1 else ""
    request = SipRequest(method, uri, headers)
    if len(parts) != 3:
        # Whitespace inside the Request-URI (RFC 4475 lwsruri) or a broken start line.
        return request, SipParseError("malformed Request-Line")
    if method not in KNOWN_METHODS and not is_token(method):
        return request, SipParseError("malformed method")
    version = parts[2].upper()
    if version != SIP_VERSION:
        if not version.startswith("SIP/"):
            return request, SipParseError("malformed SIP version")
        return request, SipParseError("Version Not Supported", status=505)
    if uri[:1] == "<" or not uri_scheme(uri):
        return request, SipParseError("malformed Request-URI")
    return request, None


def _body(fields: dict[str, str], rest: bytes, stream: bool) -> bytes:
    value = fields.get("content-length")
    if value is None:
        if stream:
            raise SipParseError("Content-Length required on stream transports")
        return rest  # RFC 3261 §18.3: on UDP the body runs to the end of the datagram
    length = parse_uint(value, "Content-Length", limit=DEFAULT_MAX_SIZE * 16)
    if length > len(rest):
        raise SipParseError("Content-Length larger than the message")
    return rest if length == len(rest) else rest[:length]


def _check_common(message: SipMessage, fields: dict[str, str]) -> None:
    """Parse the eager views now: a malformed value must fail here, not deep in a handler."""
    for required in _REQUIRED:
        if required not in fields:
            raise SipParseError(f"missing {_display(required)}")
    if not fields["call-id"]:
        raise SipParseError("empty Call-ID")
    via = fields["via"]
    message._via = parse_via(via.split(",", 1)[0] if '"' not in via else split_list(via)[0])
    message._from = parse_name_addr(fields["from"])
    message._to = parse_name_addr(fields["to"])
    message._cseq = parse_cseq(fields["cseq"])


def _check_request(request: SipRequest, fields: dict[str, str]) -> None:
    if request.cseq.method != request.method:
        # RFC 4475 mismatch01/02 (400 is acceptable for mismatch02 too).
        raise SipParseError("CSeq method does not match the Request-Line")
    max_forwards = fields.get("max-forwards")
    if max_forwards is not None:
        parse_uint(max_forwards, "Max-Forwards", limit=255)


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
            if to_tag is not None and not _has_tag(request):
                headers.append((lname, f"{value};tag={to_tag}"))
            else:
                headers.append((lname, value))
        elif lname in ("from", "call-id", "cseq"):
            headers.append((lname, value))
    return headers


def _has_tag(request: SipRequest) -> bool:
    try:
        return request.to.tag is not None
    except SipParseError:
        return True  # a To we cannot parse is echoed untouched (the reply is then a 400)


def _stamp_via(value: str, source: tuple[str, int]) -> str:
    """Add received= and fill rport= on the top Via value of a (possibly multi-value) line."""
    try:
        items = split_list(value)
    except SipParseError:
        return value  # a broken Via is echoed as received (RFC 4475 badinv01 gets its 400)
    host, port = source
    params = items[0].split(";")
    stamped: list[str] = [params[0].rstrip(" \t")]
    has_received = False
    for raw in params[1:]:
        param = raw.strip(" \t")
        key = param.split("=", 1)[0].rstrip(" \t").lower()
        if key == "rport":
            stamped.append(f"rport={port}")  # RFC 3581 §4: only when the client asked for it
        elif key == "received":
            stamped.append(f"received={host}")
            has_received = True
        else:
            stamped.append(param)
    if not has_received:
        stamped.append(f"received={host}")
    items[0] = ";".join(stamped)
    return ", ".join(items)


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
