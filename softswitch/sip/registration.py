"""REGISTER handling: from a SIP request to the registrar core and back (RFC 3261 §10.3).

The cores (``auth``, ``registrar``, ``guard``) take plain values; this adapter reads them out
of the message, and turns their outcomes into a response. Unknown users and wrong passwords
get the very same answers, so the registrar cannot be used to enumerate extensions.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import formatdate
from functools import lru_cache
from typing import Literal

from softswitch.errors import SipError, SipParseError
from softswitch.sip.auth import AuthOutcome, DigestAuthenticator
from softswitch.sip.guard import Guard, auth_failure_log_line
from softswitch.sip.headers import parse_name_addr, parse_uint
from softswitch.sip.message import Header, SipRequest, SipResponse, make_response
from softswitch.sip.registrar import Aor, ContactRequest, RegisterResult, Registrar, contact_header
from softswitch.sip.transport import Flow
from softswitch.sip.uri import parse_uri

log = logging.getLogger("softswitch.sip")
security_log = logging.getLogger("softswitch.security")

MAX_CONTACTS_PER_REQUEST = 20


@dataclass(frozen=True, slots=True)
class Account:
    """What the registrar needs to know of a user: its extension number and password."""

    aor: str
    password: str


def challenge_headers(
    auth: DigestAuthenticator, name: str, now: float, stale: bool
) -> list[Header]:
    return [(name, value) for value in auth.challenge(now, stale=stale)]


class RegistrationService:
    def __init__(
        self,
        *,
        auth: DigestAuthenticator,
        registrar: Registrar,
        guard: Guard,
        accounts: Callable[[str], Account | None],
        wall: Callable[[], float],
    ) -> None:
        self.auth = auth
        self.registrar = registrar
        self.guard = guard
        self.accounts = accounts
        self.wall = wall

    def handle(self, request: SipRequest, flow: Flow, now: float) -> SipResponse:
        """Answer one REGISTER (``now`` is the monotonic time, for nonces and the guard)."""
        try:
            to_uri = parse_uri(request.to.uri)
        except SipParseError as exc:
            reason = "Bad To URI" if exc.status == 400 else "AOR must be a SIP URI"
            raise SipError(400, reason) from None
        contacts = self._contacts(request)
        expires = request.get("expires")
        expires_header = None
        if expires is not None:
            try:
                expires_header = parse_uint(expires, "Expires")
            except SipParseError:
                expires_header = None  # RFC 4475 scalar02: a bad Expires falls back to default

        def password_of(username: str) -> str | None:
            account = self.accounts(username)
            return None if account is None else account.password

        # Nonces are stamped with wall time so they stay valid across a restart.
        result = self.auth.verify(
            request.get("authorization"), "REGISTER", password_of, self.wall()
        )
        received = (flow.host, flow.port)
        if result.outcome is not AuthOutcome.OK:
            return self._refuse(request, flow, now, result.outcome, result.reason)
        assert result.username is not None
        account = self.accounts(result.username)
        if account is None:  # vanished between lookup and now (reload): same as unknown
            return self._refuse(request, flow, now, AuthOutcome.FAILED, "unknown user")
        if to_uri.user_unescaped not in (account.aor, result.username):
            # One may only register one's own extension (RFC 3261 §10.3 step 6).
            return make_response(request, 403, "Forbidden", to_tag=_tag(request), received=received)
        outcome = self.registrar.register(
            Aor(account.aor),
            contacts,
            expires_header,
            request.call_id,
            request.cseq.number,
            flow.transport,
            flow.host,
            flow.port,
            request.get("user-agent") or "",
            self.wall(),
        )
        return self._answer(request, flow, outcome)

    def _contacts(self, request: SipRequest) -> list[ContactRequest] | Literal["*"]:
        values = request.values("contact")
        if len(values) == 1 and values[0] == "*":
            return "*"
        if "*" in values:
            raise SipError(400, "Wildcard Contact mixed with others")
        if len(values) > MAX_CONTACTS_PER_REQUEST:
            raise SipError(400, "Too many contacts")
        out: list[ContactRequest] = []
        for value in values:
            addr = parse_name_addr(value)
            parse_uri(addr.uri) if addr.uri.lower().startswith("sip") else _bad_contact()
            expires = addr.params.get("expires")
            q = addr.params.get("q")
            out.append(
                ContactRequest(
                    uri=addr.uri,
                    expires=_int_or_none(expires),
                    q=_float_or_none(q),
                    instance=addr.params.get("+sip.instance"),
                )
            )
        return out

    def _refuse(
        self, request: SipRequest, flow: Flow, now: float, outcome: AuthOutcome, reason: str
    ) -> SipResponse:
        received = (flow.host, flow.port)
        if outcome in (AuthOutcome.MISSING, AuthOutcome.STALE):
            extra = challenge_headers(
                self.auth, "www-authenticate", self.wall(), outcome is AuthOutcome.STALE
            )
            return make_response(
                request, 401, "Unauthorized", to_tag=_tag(request), received=received, extra=extra
            )
        record_failure(self.guard, request, flow, now, reason)
        return make_response(request, 403, "Forbidden", to_tag=_tag(request), received=received)

    def _answer(self, request: SipRequest, flow: Flow, outcome: RegisterResult) -> SipResponse:
        received = (flow.host, flow.port)
        extra: list[Header] = []
        if outcome.code == 200:
            wall = self.wall()
            extra.extend(("contact", contact_header(b, wall)) for b in outcome.bindings)
            extra.append(("date", _http_date(wall)))
            log.info(
                "%s REGISTER %s: %d binding(s) from %s",
                request.call_id,
                request.to.uri,
                len(outcome.bindings),
                flow,
            )
        elif outcome.min_expires is not None:
            extra.append(("min-expires", str(outcome.min_expires)))
        return make_response(
            request,
            outcome.code,
            outcome.reason,
            to_tag=_tag(request),
            received=received,
            extra=extra,
        )


def record_failure(guard: Guard, request: SipRequest, flow: Flow, now: float, reason: str) -> None:
    """Log an authentication failure the way fail2ban expects, and count it towards a ban."""
    security_log.warning(
        auth_failure_log_line(
            request.method, request.from_.uri, flow.host, flow.port, request.call_id, reason
        )
    )
    if guard.record_auth_failure(flow.host, now):
        security_log.warning("%s banned %s after repeated failures", request.call_id, flow.host)


def _tag(request: SipRequest) -> str:
    # A stable tag per request keeps retransmitted answers identical.
    return format(abs(hash((request.call_id, request.cseq.number))) & 0xFFFFFFFF, "08x")


def _bad_contact() -> None:
    raise SipError(400, "Contact must be a SIP URI")


def _int_or_none(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return parse_uint(value, "expires")
    except SipParseError:
        return None


def _float_or_none(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return None


def _http_date(wall: float) -> str:
    return _date_of_second(int(wall))


@lru_cache(maxsize=4)  # every 200 of the same second carries the same Date
def _date_of_second(second: int) -> str:
    return formatdate(second, usegmt=True)


__all__ = ["Account", "RegistrationService", "challenge_headers", "record_failure"]
