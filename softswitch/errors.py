"""Errors that carry the SIP status they mean, turned into replies at one boundary."""

from __future__ import annotations


class SipError(Exception):
    """A request that must be answered with ``status`` (4xx/5xx) and ``reason``.

    ``extra_headers`` lets the boundary add what the status requires (Allow for 405/501,
    Unsupported for 420, Accept for 415, Min-Expires for 423, Retry-After for 503).
    """

    def __init__(
        self, status: int, reason: str, extra_headers: tuple[tuple[str, str], ...] = ()
    ) -> None:
        super().__init__(f"{status} {reason}")
        self.status = status
        self.reason = reason
        self.extra_headers = extra_headers


class SipParseError(SipError):
    """The bytes are not a SIP message we can act on (400 unless said otherwise)."""

    def __init__(self, reason: str, status: int = 400) -> None:
        super().__init__(status, reason)
