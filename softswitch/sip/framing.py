"""Framing SIP messages out of a TCP byte stream (RFC 3261 §18.3).

A stream carries messages back to back, each framed by its Content-Length, plus CRLF
keep-alives between them (RFC 5626 §3.5.1: a double CRLF "ping" is answered with a single
CRLF "pong"). The buffer never grows beyond ``max_size``: a peer that sends more than that
without completing a message is cut off.
"""

from __future__ import annotations

from dataclasses import dataclass

from softswitch.errors import SipParseError
from softswitch.sip.headers import parse_uint


@dataclass(frozen=True, slots=True)
class KeepAlivePing:
    """A CRLFCRLF ping: answer with CRLF."""


class StreamFramer:
    def __init__(self, max_size: int = 65535) -> None:
        self._buffer = bytearray()
        self._max_size = max_size

    def feed(self, data: bytes) -> list[bytes | KeepAlivePing]:
        """Add received bytes; return every complete message (raw) and ping now available.

        Raises ``SipParseError`` when the stream cannot be framed (the connection must then be
        closed: there is no way to find the next message boundary).
        """
        self._buffer += data
        out: list[bytes | KeepAlivePing] = []
        while self._buffer:
            if self._buffer[0] in (0x0D, 0x0A):
                if self._buffer.startswith(b"\r\n\r\n"):
                    del self._buffer[:4]
                    out.append(KeepAlivePing())
                    continue
                if len(self._buffer) < 4 and b"\r\n\r\n".startswith(bytes(self._buffer)):
                    break  # maybe the start of a ping
                stripped = bytes(self._buffer).lstrip(b"\r\n")
                del self._buffer[: len(self._buffer) - len(stripped)]
                continue
            message = self._take_message()
            if message is None:
                break
            out.append(message)
        if len(self._buffer) > self._max_size:
            raise SipParseError("message too large", status=513)
        return out

    def _take_message(self) -> bytes | None:
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            return None
        body_start = end + 4
        length = _content_length(bytes(self._buffer[:end]))
        if body_start + length > self._max_size:
            raise SipParseError("message too large", status=513)
        if len(self._buffer) < body_start + length:
            return None
        message = bytes(self._buffer[: body_start + length])
        del self._buffer[: body_start + length]
        return message


def _content_length(head: bytes) -> int:
    found: int | None = None
    for line in head.split(b"\r\n")[1:]:
        name, colon, value = line.partition(b":")
        if not colon:
            continue
        lname = name.strip().lower()
        if lname in (b"content-length", b"l"):
            if found is not None:
                raise SipParseError("duplicate Content-Length")
            found = parse_uint(value.decode("latin-1"), "Content-Length")
    if found is None:
        raise SipParseError("Content-Length required on stream transports")
    return found
