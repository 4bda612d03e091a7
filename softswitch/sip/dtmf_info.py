"""DTMF in SIP INFO requests: the bodies phones send when they do not use RFC 4733.

There is no standard; two de-facto formats are in use:

- ``application/dtmf-relay`` (Cisco's, the common one)::

      Signal=5
      Duration=160

  Phones differ in line endings (CRLF or LF), spaces around ``=``, case of the keys, and
  whether the signal is a character or an RFC 4733 event code (``10`` for ``*``, ``11``
  for ``#``, ``12``-``15`` for ``A``-``D``). ``Duration`` is in milliseconds.
- ``application/dtmf``: the body is just the digit, or its event code.

Parsing is tolerant of all of that, and lenient where it costs nothing: a missing or
unreadable ``Duration`` still gives the digit (a key press matters more than its length).
Anything else gives None, so the caller answers the INFO without acting on it.
"""

from __future__ import annotations

__all__ = [
    "DTMF_RELAY",
    "DTMF_TYPES",
    "build_dtmf_relay",
    "parse_dtmf_info",
]

DTMF_RELAY = "application/dtmf-relay"
_DTMF = "application/dtmf"
DTMF_TYPES = frozenset({DTMF_RELAY, _DTMF})

_DIGITS = "0123456789*#ABCD"  # RFC 4733 event code order
_MAX_DURATION_MS = 60_000  # beyond this a Duration is nonsense, not a key press
_MAX_BODY = 1024  # real bodies are ~25 bytes; do not split a megabyte looking for Signal


def parse_dtmf_info(content_type: str, body: bytes) -> tuple[str, int | None] | None:
    """``(digit, duration_ms)`` from an INFO body, or None if it is not (valid) DTMF.

    ``content_type`` is the Content-Type header value; its parameters and case are ignored.
    ``duration_ms`` is None when the body does not say (always for ``application/dtmf``).
    """
    media_type = content_type.split(";", 1)[0].strip(" \t").lower()
    if media_type not in DTMF_TYPES or len(body) > _MAX_BODY:
        return None
    try:
        text = body.decode("ascii")
    except UnicodeDecodeError:
        return None
    if media_type == _DTMF:
        digit = _digit(text.strip())
        return None if digit is None else (digit, None)
    return _parse_relay(text)


def build_dtmf_relay(digit: str, duration_ms: int = 100) -> bytes:
    """An ``application/dtmf-relay`` body, for sending a digit by INFO."""
    if len(digit) != 1 or digit.upper() not in _DIGITS:
        raise ValueError(f"not a DTMF digit: {digit!r}")
    return f"Signal={digit.upper()}\r\nDuration={duration_ms}\r\n".encode("ascii")


def _parse_relay(text: str) -> tuple[str, int | None] | None:
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            # The first occurrence counts: a second Signal line is not a second digit.
            fields.setdefault(key.strip().lower(), value.strip())
    signal = fields.get("signal")
    digit = None if signal is None else _digit(signal)
    if digit is None:
        return None
    return digit, _duration(fields.get("duration"))


def _digit(value: str) -> str | None:
    """A digit from a character (``5``, ``*``, ``a``) or an event code (``0``-``15``)."""
    if len(value) == 1:
        upper = value.upper()
        return upper if upper in _DIGITS else None
    if len(value) == 2 and value.isdigit() and value.isascii():
        code = int(value)
        return _DIGITS[code] if code < len(_DIGITS) else None
    return None


def _duration(value: str | None) -> int | None:
    if value is None or not value.isdigit() or not value.isascii():
        return None
    duration = int(value)
    return duration if duration <= _MAX_DURATION_MS else None
