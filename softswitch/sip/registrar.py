"""The registrar core (RFC 3261 §10.3), sans-IO: plain values in, a RegisterResult out.

The caller has already authenticated the request and extracted its values; this module decides
what happens to the bindings (owned by ``LocationService``) and which reply is due. A request
is all-or-nothing: every contact is checked before any binding changes.

Contacts are matched by their URI string as sent (phones repeat it verbatim on refresh) and, if
they carry ``+sip.instance``, by instance too, so a phone that comes back from a new address
replaces its old binding instead of leaving a dead one to ring (RFC 5626 §6).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple

from softswitch.sip.location import Aor, Binding, LocationService

__all__ = [
    "Aor",
    "Binding",
    "ContactRequest",
    "RegisterResult",
    "RegisterStatus",
    "Registrar",
    "contact_header",
]


@dataclass(frozen=True, slots=True)
class ContactRequest:
    """One Contact of a REGISTER: its URI and the header parameters that matter here."""

    uri: str
    expires: int | None  # the contact's own expires parameter, which beats the Expires header
    q: float | None
    instance: str | None  # +sip.instance


class RegisterStatus(enum.Enum):
    OK = "ok"
    INTERVAL_TOO_BRIEF = "interval too brief"  # reply carries Min-Expires
    BAD_REQUEST = "bad request"
    OUT_OF_ORDER = "out of order"  # same Call-ID, CSeq not higher (RFC 3261 §10.3 step 7)
    TOO_MANY_CONTACTS = "too many contacts"  # more in one request than an AOR may hold


# The one table from outcome to reply.
_REPLIES: dict[RegisterStatus, tuple[int, str]] = {
    RegisterStatus.OK: (200, "OK"),
    RegisterStatus.INTERVAL_TOO_BRIEF: (423, "Interval Too Brief"),
    RegisterStatus.BAD_REQUEST: (400, "Bad Request"),
    RegisterStatus.OUT_OF_ORDER: (500, "Out of Order Request"),
    RegisterStatus.TOO_MANY_CONTACTS: (403, "Too Many Contacts"),
}


@dataclass(frozen=True, slots=True)
class RegisterResult:
    status: RegisterStatus
    code: int
    reason: str
    bindings: tuple[Binding, ...]  # the AOR's bindings after the request, for the 200's Contacts
    min_expires: int | None  # set for 423
    detail: str = ""  # why, for logs


def contact_header(binding: Binding, now: float) -> str:
    """A Contact value for a 200 to REGISTER: the URI with its remaining lifetime."""
    parts = [f"<{binding.contact}>;expires={max(0, round(binding.expires_at - now))}"]
    if binding.q is not None:
        parts.append(f";q={binding.q:g}")
    if binding.instance is not None:
        parts.append(f";+sip.instance={binding.instance}")
    return "".join(parts)


# The two private values below are NamedTuples: built for every REGISTER, and a tuple is
# several times cheaper to build than a frozen dataclass.
class _Origin(NamedTuple):
    """What the REGISTER says about where and by whom it was sent."""

    call_id: str
    cseq: int
    transport: str
    source_host: str
    source_port: int
    user_agent: str


class _Change(NamedTuple):
    request: ContactRequest
    expires: int  # 0 removes
    existing: Binding | None


class Registrar:
    def __init__(
        self, location: LocationService, min_expires: int, max_expires: int, default_expires: int
    ) -> None:
        if not 0 <= min_expires <= default_expires <= max_expires or max_expires < 1:
            raise ValueError("need 0 <= min_expires <= default_expires <= max_expires, max >= 1")
        self.location = location
        self.min_expires = min_expires
        self.max_expires = max_expires
        self.default_expires = default_expires
        self._max_contacts = location.max_contacts_per_aor

    def register(
        self,
        aor: Aor,
        contacts: Sequence[ContactRequest] | Literal["*"],
        expires_header: int | None,
        call_id: str,
        cseq: int,
        transport: str,
        source_host: str,
        source_port: int,
        user_agent: str,
        now: float,
    ) -> RegisterResult:
        """Apply one REGISTER for ``aor`` at wall time ``now``."""
        if not aor:
            return self._fail(RegisterStatus.BAD_REQUEST, "empty address of record")
        if expires_header is not None and expires_header < 0:
            return self._fail(RegisterStatus.BAD_REQUEST, "negative Expires")
        if contacts == "*":
            return self._unregister_all(aor, expires_header, call_id, cseq, now)
        if not contacts:  # a query: report, change nothing
            return self._ok(aor, now)
        if len(contacts) > self._max_contacts:
            return self._fail(RegisterStatus.TOO_MANY_CONTACTS, f"{len(contacts)} contacts")
        origin = _Origin(call_id, cseq, transport, source_host, source_port, user_agent)
        changes = self._plan(aor, contacts, expires_header, origin, now)
        if isinstance(changes, RegisterResult):
            return changes
        for change in changes:
            self._apply(aor, change, origin, now)
        return self._ok(aor, now)

    def _plan(
        self,
        aor: Aor,
        contacts: Sequence[ContactRequest],
        expires_header: int | None,
        origin: _Origin,
        now: float,
    ) -> list[_Change] | RegisterResult:
        """Check every contact first; a failure leaves all bindings untouched."""
        current = self.location.lookup(aor, now)
        by_uri = {b.contact: b for b in current}
        by_instance = {b.instance: b for b in current if b.instance is not None}
        changes: list[_Change] = []
        for request in contacts:
            expires = request.expires if request.expires is not None else expires_header
            expires = self.default_expires if expires is None else expires
            problem = _invalid(request, expires)
            if problem:
                return self._fail(RegisterStatus.BAD_REQUEST, problem)
            if 0 < expires < self.min_expires:
                return self._fail(RegisterStatus.INTERVAL_TOO_BRIEF, f"expires={expires}")
            existing = by_uri.get(request.uri)
            if existing is None and request.instance is not None:
                existing = by_instance.get(request.instance)
            if existing is not None and _out_of_order(existing, origin.call_id, origin.cseq):
                return self._fail(RegisterStatus.OUT_OF_ORDER, f"CSeq {origin.cseq} not newer")
            changes.append(_Change(request, min(expires, self.max_expires), existing))
        return changes

    def _apply(self, aor: Aor, change: _Change, origin: _Origin, now: float) -> None:
        request, existing = change.request, change.existing
        if change.expires == 0:
            if existing is not None:
                self.location.remove(aor, existing.contact)
            return
        binding = Binding(
            aor=aor,
            contact=request.uri,
            transport=origin.transport,
            source_host=origin.source_host,
            source_port=origin.source_port,
            expires_at=now + change.expires,
            call_id=origin.call_id,
            cseq=origin.cseq,
            q=request.q,
            user_agent=origin.user_agent,
            instance=request.instance,
        )
        self.location.update(binding, replaces=existing.contact if existing else None)

    def _unregister_all(
        self, aor: Aor, expires_header: int | None, call_id: str, cseq: int, now: float
    ) -> RegisterResult:
        # RFC 3261 §10.3 step 6: "*" is only valid alone and with Expires: 0.
        if expires_header != 0:
            return self._fail(RegisterStatus.BAD_REQUEST, "Contact: * needs Expires: 0")
        current = self.location.lookup(aor, now)
        if any(_out_of_order(b, call_id, cseq) for b in current):
            return self._fail(RegisterStatus.OUT_OF_ORDER, f"CSeq {cseq} not newer")
        self.location.remove_aor(aor)
        return self._ok(aor, now)

    def _ok(self, aor: Aor, now: float) -> RegisterResult:
        code, reason = _REPLIES[RegisterStatus.OK]
        bindings = tuple(self.location.lookup(aor, now))
        return RegisterResult(RegisterStatus.OK, code, reason, bindings, None)

    def _fail(self, status: RegisterStatus, detail: str) -> RegisterResult:
        code, reason = _REPLIES[status]
        min_expires = self.min_expires if status is RegisterStatus.INTERVAL_TOO_BRIEF else None
        return RegisterResult(status, code, reason, (), min_expires, detail)


def _invalid(request: ContactRequest, expires: int) -> str:
    """Why a contact cannot be registered, or '' if it can."""
    if not request.uri or request.uri.isspace():
        return "empty Contact URI"
    if expires < 0:
        return "negative expires"
    if request.q is not None and not 0.0 <= request.q <= 1.0:
        return f"q={request.q} outside 0..1"
    return ""


def _out_of_order(existing: Binding, call_id: str, cseq: int) -> bool:
    """RFC 3261 §10.3 step 7: a request of the same Call-ID must carry a higher CSeq."""
    return existing.call_id == call_id and cseq <= existing.cseq
