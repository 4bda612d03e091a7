"""The control socket's wire format, sans-IO: JSON lines in, JSON lines out.

One request per line, ``{"command": "status", "args": {...}}``; one response line per request,
``{"ok": true, "result": ...}`` or ``{"ok": false, "error": "..."}``. Lines, not a length
prefix, so that an admin can talk to the socket with ``socat`` and a script with a few lines
of any language. Both ends use this module: the server (``server.py``) frames what it reads
with ``LineFramer`` and answers with ``encode_result``/``encode_error``; the client
(``client.py``) writes ``encode_request`` and reads ``decode_response``.

Why a framer of our own instead of ``StreamReader.readline``: past its limit ``readline``
drops what it has buffered and the rest of the long line then arrives as a "line" of its own,
answered a second time as malformed. ``LineFramer`` reports an oversized line once and skips
to its end, so the next request is read from its first byte.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

__all__ = [
    "MAX_LINE",
    "SOCKET_NAME",
    "ControlError",
    "LineFramer",
    "Oversized",
    "Request",
    "decode_response",
    "encode_error",
    "encode_request",
    "encode_result",
    "parse_request",
]

MAX_LINE = 64 * 1024  # bytes in one request line, newline excluded
SOCKET_NAME = "control.sock"  # under the config's state_dir

_REQUEST_KEYS = frozenset({"command", "args"})


class ControlError(Exception):
    """A request the server refuses, or an error reply the client got; the text is the reply."""


@dataclass(frozen=True, slots=True)
class Request:
    command: str
    args: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Oversized:
    """A line longer than the framer's limit (reported once, its bytes dropped)."""

    limit: int


class LineFramer:
    """Bytes in, complete lines out (without their ``\\n`` or ``\\r\\n``; blank lines dropped).

    Holds at most ``limit`` bytes of an unfinished line: a peer cannot make it buffer more.
    """

    def __init__(self, limit: int = MAX_LINE) -> None:
        self.limit = limit
        self._partial = bytearray()
        self._skipping = False  # inside an oversized line, already reported

    def feed(self, data: bytes) -> list[bytes | Oversized]:
        out: list[bytes | Oversized] = []
        start = 0
        while (end := data.find(b"\n", start)) >= 0:
            self._finish(data[start:end], out)
            start = end + 1
        rest = data[start:]
        if self._skipping:
            return out
        if len(self._partial) + len(rest) > self.limit:
            self._partial.clear()
            self._skipping = True
            out.append(Oversized(self.limit))
        else:
            self._partial += rest
        return out

    def _finish(self, piece: bytes, out: list[bytes | Oversized]) -> None:
        """A newline ends the line in progress."""
        if self._skipping:
            self._skipping = False  # its Oversized went out when the limit was crossed
        elif len(self._partial) + len(piece) > self.limit:
            out.append(Oversized(self.limit))
        else:
            line = bytes(self._partial + piece).rstrip(b"\r")
            if line.strip():
                out.append(line)
        self._partial.clear()


def parse_request(line: bytes) -> Request:
    """One request line; raises ControlError saying what is wrong with it."""
    try:
        data = json.loads(line.decode("utf-8"))
    except UnicodeDecodeError:
        raise ControlError("request is not UTF-8") from None
    except json.JSONDecodeError as exc:
        raise ControlError(f"malformed JSON: {exc.msg} at column {exc.colno}") from None
    if not isinstance(data, dict):
        raise ControlError('a request is a JSON object: {"command": ..., "args": {...}}')
    unknown = sorted(set(data) - _REQUEST_KEYS)
    if unknown:
        raise ControlError(f"unknown key(s) in request: {', '.join(unknown)}")
    command, args = data.get("command"), data.get("args", {})
    if not isinstance(command, str) or not command:
        raise ControlError('"command" must be a non-empty string')
    if not isinstance(args, dict):
        raise ControlError('"args" must be a JSON object')
    return Request(command, args)


def encode_request(command: str, args: dict[str, Any] | None = None) -> bytes:
    return _line({"command": command, "args": args or {}})


def encode_result(result: Any) -> bytes:
    return _line({"ok": True, "result": result})


def encode_error(message: str) -> bytes:
    return _line({"ok": False, "error": message})


def decode_response(line: bytes) -> Any:
    """The result of a response line; an error reply (or a garbled line) raises ControlError."""
    try:
        data = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ControlError("the server's reply is not a JSON line") from None
    if not isinstance(data, dict) or not isinstance(data.get("ok"), bool):
        raise ControlError('the server\'s reply has no "ok"')
    if not data["ok"]:
        raise ControlError(str(data.get("error", "unknown error")))
    return data.get("result")


def _line(value: dict[str, Any]) -> bytes:
    # Compact, one line; ensure_ascii=False keeps names such as "Ana García" readable in socat.
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"
