"""Framing SIP messages out of a TCP byte stream (RFC 3261 §18.3).

A stream carries messages back to back, each framed by its Content-Length, plus CRLF
keep-alives between them (RFC 5626 §3.5.1: a double CRLF "ping" is answered with a single
CRLF "pong"). The buffer never grows beyond ``max_size``: a peer that sends more than that
without completing a message is cut off.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from softswitch.errors import SipParseError
from softswitch.sip.headers import parse_uint

_PING_BYTES = b"\r\n\r\n"
# A Content-Length line (full or compact name), its value possibly folded onto more lines.
_CONTENT_LENGTH_RE = re.compile(
    rb"^(?:content-length|l)[ \t]*:((?:[^\r\n]|\r?\n[ \t])*)", re.IGNORECASE | re.MULTILINE
)


@dataclass(frozen=True, slots=True)
class KeepAlivePing:
    """A CRLFCRLF ping: answer with CRLF."""


_PING = KeepAlivePing()


class StreamFramer:
    """Cuts one connection's byte stream into raw messages and pings (sans-IO)."""

    def __init__(self, max_size: int = 65535) -> None:
        self._buffer = bytearray()
        self._max_size = max_size
        self._scanned = 0  # bytes at the buffer's start already searched for the blank line
        self._need = 0  # length of the message at the buffer's start, once its head is known

    def feed(self, data: bytes) -> list[bytes | KeepAlivePing]:
        """Add received bytes; return every complete message (raw) and ping now available.

        Raises ``SipParseError`` when the stream cannot be framed (the connection must then be
        closed: there is no way to find the next message boundary); 513 for oversize.
        """
        buffer = self._buffer
        buffer += data
        out: list[bytes | KeepAlivePing] = []
        while buffer:
            if self._need:
                if len(buffer) < self._need:
                    break
                out.append(bytes(buffer[: self._need]))
                self._consume(self._need)
            elif buffer[0] in (0x0D, 0x0A):
                if not self._skip_line_end(out):
                    break
            elif not self._find_head():
                break
        return out

    def _consume(self, count: int) -> None:
        del self._buffer[:count]
        self._scanned = 0
        self._need = 0

    def _skip_line_end(self, out: list[bytes | KeepAlivePing]) -> bool:
        """Handle CR/LF before a message: a ping, or padding; False to wait for more bytes."""
        buffer = self._buffer
        if buffer.startswith(_PING_BYTES):
            self._consume(4)
            out.append(_PING)
        elif len(buffer) < 4 and _PING_BYTES.startswith(buffer):
            return False  # maybe the start of a ping
        else:
            # A lone CRLF (a pong, or padding between messages) carries nothing.
            self._consume(2 if buffer.startswith(b"\r\n") else 1)
        return True

    def _find_head(self) -> bool:
        """Find the end of the head at the buffer's start and set ``_need``; False to wait."""
        buffer = self._buffer
        found = _head_end(buffer, max(0, self._scanned - 3))
        if found is None:
            if len(buffer) > self._max_size:
                raise SipParseError("message too large", status=513)
            self._scanned = len(buffer)
            return False
        end, separator = found
        length = _content_length(bytes(buffer[:end]))
        need = end + separator + length
        if need > self._max_size:
            raise SipParseError("message too large", status=513)
        self._need = need
        return True


def _head_end(buffer: bytearray, start: int) -> tuple[int, int] | None:
    """(index, length) of the blank line ending the head, or None if not there yet.

    Bare-LF heads are accepted as parse_message accepts them; the first line end tells which
    style the peer uses, so the usual CRLF stream costs one search.
    """
    first_lf = buffer.find(b"\n")
    if first_lf < 0:
        return None
    end = buffer.find(_PING_BYTES, start)
    if first_lf > 0 and buffer[first_lf - 1] == 0x0D:
        return None if end < 0 else (end, 4)
    lf_end = buffer.find(b"\n\n", start, len(buffer) if end < 0 else end)
    if lf_end >= 0:
        return lf_end, 2
    return None if end < 0 else (end, 4)


def _content_length(head: bytes) -> int:
    values = _CONTENT_LENGTH_RE.findall(head)
    if not values:
        raise SipParseError("Content-Length required on stream transports")
    if len(values) > 1:
        raise SipParseError("duplicate Content-Length")
    value = values[0].replace(b"\r", b"").replace(b"\n", b"").decode("latin-1")
    return parse_uint(value, "Content-Length")
