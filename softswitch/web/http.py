"""HTTP/1.1 requests and responses, sans-IO: bytes in, a ``Request`` out; a ``Response`` in,
bytes out. The asyncio shell is ``server.py``.

Why our own instead of ``http.server`` or a framework: the switch serves a handful of small
pages (metrics, the agents' form, click-to-call) on its own event loop, next to the SIP and
RTP sockets, and must not let a slow or hostile client hold memory or a task. So the parser
enforces every limit *as bytes arrive* (a request line of 8 KiB, 32 KiB of headers, 100
header fields, a 1 MiB body) and never buffers past them, and every connection carries one
request (``Connection: close``): no keep-alive state to bound.

Errors carry their status (DESIGN habit 6): the parser raises ``HttpError(400 | 413 | 414 |
431 | 501 | 505, ...)`` and the server turns it into a reply at one place. What is refused
(RFC 9112 unless said otherwise):

- a request line that is not ``METHOD SP target SP HTTP/1.x``, non-ASCII or control bytes in
  it, a target that is neither origin-form (``/path?query``), absolute-form nor ``*``: 400;
  a method nobody here knows: 501 (RFC 9110 §9.1); HTTP/2+ in the version: 505;
- header lines without a colon, with blanks before it (§5.1, request smuggling), folded
  continuation lines (§5.2), control characters in a value, an HTTP/1.1 request without
  exactly one Host (§3.2): 400;
- ``Transfer-Encoding`` (no chunked bodies here; clients send ``Content-Length``): 501; a
  ``Content-Length`` that is not digits or disagrees with another one (§6.3): 400.

Lines may end in CRLF or a bare LF (§2.2 allows accepting LF; curl in scripts does not need
it, but a hand-typed ``nc`` session does); a bare CR elsewhere is a control byte: 400.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from email.utils import formatdate
from http import HTTPStatus
from urllib.parse import urlsplit

__all__ = [
    "DEFAULT_LIMITS",
    "KNOWN_METHODS",
    "HttpError",
    "Limits",
    "Request",
    "RequestParser",
    "Response",
    "basic_credentials",
    "encode_response",
    "error_response",
    "text_response",
]

# RFC 9110 §9 and PATCH (RFC 5789): a method outside these is "not implemented" (501); one of
# these that a path does not serve is "not allowed" there (405, from the router).
KNOWN_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"}
)


@dataclass(frozen=True, slots=True)
class Limits:
    request_line: int = 8 * 1024  # bytes, line ending excluded
    headers: int = 32 * 1024  # bytes of the header section, blank line included
    header_count: int = 100
    body: int = 1024 * 1024


DEFAULT_LIMITS = Limits()


class HttpError(Exception):
    """A request refused with ``status``; ``detail`` is the reply's text, ``headers`` extra
    header fields for it (``Allow`` on a 405)."""

    def __init__(self, status: int, detail: str, headers: tuple[tuple[str, str], ...] = ()) -> None:
        super().__init__(f"{status} {detail}")
        self.status = status
        self.detail = detail
        self.headers = headers


@dataclass(frozen=True, slots=True)
class Request:
    """One parsed request. Header names are lower case, in arrival order, values as sent
    (decoded as ISO-8859-1, RFC 9110 §5.5); ``path`` and ``query`` are not percent-decoded.
    ``peer``: the (host, port) the connection came from, as the transport says (never a
    header a client wrote: a login throttle counts by it); None when made without one."""

    method: str
    target: str
    path: str
    query: str
    version: str
    headers: tuple[tuple[str, str], ...]
    body: bytes = b""
    peer: tuple[str, int] | None = None

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (any case), or None."""
        wanted = name.lower()
        return next((value for key, value in self.headers if key == wanted), None)


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: tuple[tuple[str, str], ...] = field(default=())


def text_response(status: int, text: str, headers: tuple[tuple[str, str], ...] = ()) -> Response:
    return Response(status, text.encode(), headers=headers)


def error_response(error: HttpError) -> Response:
    """What a client gets for a refused request: the status and why, in plain text."""
    reason = _reason(error.status)
    return text_response(error.status, f"{error.status} {reason}: {error.detail}\n", error.headers)


def basic_credentials(header: str | None) -> tuple[str, bytes]:
    """(user, password) of a Basic ``Authorization`` header (RFC 7617, UTF-8); ("", b"")
    when there is none or it is malformed, which a page then refuses like a wrong password."""
    scheme, _, token = (header or "").strip().partition(" ")
    if scheme.lower() != "basic":
        return "", b""
    try:
        decoded = base64.b64decode(token.strip(), validate=True)
        user, colon, password = decoded.decode("utf-8").partition(":")
    except (ValueError, UnicodeDecodeError):
        return "", b""
    return (user, password.encode()) if colon else ("", b"")


_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_VERSION = re.compile(rb"HTTP/([0-9])\.([0-9])")
_END_OF_HEAD = re.compile(rb"\n\r?\n")  # from the request line's LF: the blank line
_BAD_TARGET = re.compile(rb"[\x00-\x20\x7f-\xff]")
_BAD_VALUE = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")  # controls other than HT
_DIGITS = re.compile(r"[0-9]+")


@dataclass(frozen=True, slots=True)
class _Head:
    method: str
    target: str
    path: str
    query: str
    version: str
    headers: tuple[tuple[str, str], ...]
    length: int
    end: int  # offset of the body in the buffer


class RequestParser:
    """Feed it bytes until it returns a ``Request`` (or raises ``HttpError``). One request per
    parser: the server closes the connection after answering. ``peer``: the connection's
    (host, port), handed on to the request."""

    def __init__(
        self, limits: Limits = DEFAULT_LIMITS, peer: tuple[str, int] | None = None
    ) -> None:
        self.limits = limits
        self.peer = peer
        self._buffer = bytearray()
        self._head: _Head | None = None

    @property
    def started(self) -> bool:
        """Whether any byte of a request came (a silent connection needs no 408)."""
        return bool(self._buffer)  # leading blank lines are dropped as they come

    def feed(self, data: bytes) -> Request | None:
        self._buffer += data
        if self._head is None:
            self._head = self._parse_head()
            if self._head is None:
                return None
        head = self._head
        if len(self._buffer) - head.end < head.length:
            return None
        body = bytes(self._buffer[head.end : head.end + head.length])
        return Request(
            head.method, head.target, head.path, head.query, head.version, head.headers, body,
            self.peer,
        )  # fmt: skip

    def _parse_head(self) -> _Head | None:
        buf, limits = self._buffer, self.limits
        start = 0
        while buf.startswith(b"\r\n", start) or buf.startswith(b"\n", start):
            start += 1 if buf[start] == 0x0A else 2  # empty lines before a request (§2.2)
        del buf[:start]  # not kept: endless blank lines must not fill the buffer
        line_end = buf.find(b"\n")
        # The line's length without its CR (the CR of a CRLF may be all that came so far).
        length = len(buf) if line_end < 0 else line_end
        if length and buf[length - 1] == 0x0D:
            length -= 1
        if length > limits.request_line:
            raise HttpError(414, f"request line longer than {limits.request_line} bytes")
        if line_end < 0:
            return None
        match = _END_OF_HEAD.search(buf, line_end)
        if match is None:
            if len(buf) - line_end > limits.headers:
                raise HttpError(431, f"header section longer than {limits.headers} bytes")
            return None
        if match.end() - line_end > limits.headers:
            raise HttpError(431, f"header section longer than {limits.headers} bytes")
        method, target, path, query, version = _request_line(_chomp(bytes(buf[:line_end])))
        headers = _header_lines(bytes(buf[line_end + 1 : match.start() + 1]), limits)
        return _Head(
            method,
            target,
            path,
            query,
            version,
            headers,
            _body_length(headers, version, limits),
            match.end(),
        )


def _chomp(line: bytes) -> bytes:
    return line[:-1] if line.endswith(b"\r") else line


def _request_line(line: bytes) -> tuple[str, str, str, str, str]:
    parts = line.split(b" ")
    if len(parts) != 3 or not all(parts):
        raise HttpError(400, "malformed request line")
    method, target, version = parts
    if _TOKEN.fullmatch(method) is None:
        raise HttpError(400, "malformed method")
    version_match = _VERSION.fullmatch(version)
    if version_match is None:
        raise HttpError(400, "malformed HTTP version")
    if version_match.group(1) != b"1":
        raise HttpError(505, "only HTTP/1.0 and HTTP/1.1 are served")
    if _BAD_TARGET.search(target) is not None:
        raise HttpError(400, "malformed request target")
    name = method.decode("ascii")
    if name not in KNOWN_METHODS:
        raise HttpError(501, f"method {name} is not implemented")
    text = target.decode("ascii")
    path, query = _split_target(name, text)
    return name, text, path, query, version.decode("ascii")


def _split_target(method: str, target: str) -> tuple[str, str]:
    if target.startswith("/"):
        path, _, query = target.partition("?")
        return path, query
    if target == "*" and method == "OPTIONS":
        return "*", ""
    if target.startswith(("http://", "https://")):  # absolute-form (RFC 9112 §3.2.2)
        parts = urlsplit(target)
        if parts.netloc:
            return parts.path or "/", parts.query
    raise HttpError(400, "malformed request target")


def _header_lines(block: bytes, limits: Limits) -> tuple[tuple[str, str], ...]:
    lines = block.split(b"\n")[:-1]  # the block ends with the LF before the blank line
    if len(lines) > limits.header_count:
        raise HttpError(431, f"more than {limits.header_count} header fields")
    headers = []
    for raw in lines:
        line = _chomp(raw)
        if line[:1] in (b" ", b"\t"):
            raise HttpError(400, "folded header line")
        name, colon, value = line.partition(b":")
        if not colon or _TOKEN.fullmatch(name) is None:
            raise HttpError(400, "malformed header line")
        value = value.strip(b" \t")
        if _BAD_VALUE.search(value) is not None:
            raise HttpError(400, f"control character in header {name.decode('ascii')}")
        headers.append((name.decode("ascii").lower(), value.decode("latin-1")))
    return tuple(headers)


def _body_length(headers: tuple[tuple[str, str], ...], version: str, limits: Limits) -> int:
    hosts = [value for name, value in headers if name == "host"]
    if version == "HTTP/1.1" and len(hosts) != 1:
        raise HttpError(400, "an HTTP/1.1 request needs exactly one Host header")
    if any(name == "transfer-encoding" for name, _ in headers):
        raise HttpError(501, "Transfer-Encoding is not supported: send Content-Length")
    lengths = {
        item.strip()
        for name, value in headers
        if name == "content-length"
        for item in value.split(",")
    }
    if not lengths:
        return 0
    if len(lengths) > 1 or not all(_DIGITS.fullmatch(item) for item in lengths):
        raise HttpError(400, "malformed Content-Length")
    length = int(lengths.pop())
    if length > limits.body:
        raise HttpError(413, f"body longer than {limits.body} bytes")
    return length


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


_NO_BODY = frozenset({204, 304})


def encode_response(response: Response, *, head: bool = False, now: float | None = None) -> bytes:
    """The bytes of ``response`` with ``Connection: close`` (one request per connection);
    ``head``: the headers of a GET without its body (RFC 9110 §9.3.2); ``now``: wall-clock
    time for the Date header (an origin server with a clock sends one, §6.6.1).

    Raises ValueError for a header name or value a handler built with CR, LF or other
    control bytes in it: a response must never be split by what a client put in a field."""
    lines = [f"HTTP/1.1 {response.status} {_reason(response.status)}"]
    if now is not None:
        lines.append(f"Date: {formatdate(now, usegmt=True)}")
    if response.status not in _NO_BODY:
        lines.append(f"Content-Type: {response.content_type}")
        lines.append(f"Content-Length: {len(response.body)}")
    for name, value in response.headers:
        if _TOKEN.fullmatch(name.encode()) is None or _BAD_VALUE.search(value.encode()):
            raise ValueError(f"unsafe response header {name!r}: {value!r}")
        lines.append(f"{name}: {value}")
    lines.append("X-Content-Type-Options: nosniff")  # a browser must not guess HTML from text
    lines.append("Connection: close")
    head_bytes = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    if head or response.status in _NO_BODY:
        return head_bytes
    return head_bytes + response.body
