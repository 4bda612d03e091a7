"""Keeping one registration with a SIP trunk provider (RFC 3261 §10.2), sans-IO.

``TrunkRegistration`` is the client half of REGISTER. User calls (``start``, ``stop``), the
outcome of each REGISTER (``response``, ``timeout``) and the clock (``handle_timer``) go in with
``now``; REGISTERs to send (``take_requests``) and state changes with a human reason
(``take_events``, ``last_reason``) come out. The transaction layer under it retransmits and
reports one final response or a timeout per request; this core decides what comes next, and
every such decision is a row of ``TABLE``.

Choices, each with its reason:

* **One REGISTER in flight, ever** (§10.2: none before the previous one's final response or
  timeout). ``stop()`` during a request waits for its outcome (STOPPING), then unregisters.
* **One Call-ID and From tag for the object's life, CSeq counting up**, so the registrar can
  order our requests (§10.2.4).
* **Challenges** are answered by ``digest_client.DigestClient``: once per nonce, a repeated
  nonce without ``stale=true`` is wrong credentials, no pre-emptive credentials.
* **Granted expiry**: the ``expires`` of our own Contact in the 2xx, else the Expires header,
  else the shortest ``expires`` listed (early is safe), else what we asked. The refresh goes
  out ``min(granted / 2, REFRESH_MARGIN)`` before expiry: 40 s leaves room for a refresh that
  needs the whole UDP retransmission schedule (Timer F, 32 s) plus a challenge round trip,
  where Asterisk's 10 s is used up by one lost packet.
* **423**: ask again with the Min-Expires (kept for later refreshes), only when it is really
  longer and at most ``MAX_INTERVAL_RETRIES`` times per attempt.
* **Failures and timeouts** retry after ``10 s · 2^n`` capped at 5 min, times a seeded jitter
  in ``[1 - JITTER, 1]`` so switches restarted together do not hit the provider in step; a
  longer Retry-After (503) wins. A 2xx resets the back-off.
* ``stop()`` with no binding possibly alive (never granted, or lapsed) goes IDLE at once; a
  failed Expires: 0 is not retried, the binding lapses by itself.
"""

from __future__ import annotations

import enum
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from softswitch.errors import SipParseError
from softswitch.ids import POOL
from softswitch.sip.digest_client import Challenge, DigestClient
from softswitch.sip.headers import parse_name_addr, split_list
from softswitch.sip.message import Header, SipRequest
from softswitch.sip.uri import SipUri, parse_uri

__all__ = [
    "IN_FLIGHT",
    "TABLE",
    "Action",
    "IllegalTransition",
    "Input",
    "State",
    "StateChanged",
    "Transition",
    "TrunkAccount",
    "TrunkRegistration",
    "granted_expiry",
]

REFRESH_MARGIN = 40.0
BACKOFF_BASE = 10.0
BACKOFF_CAP = 300.0
JITTER = 0.2
RETRY_AFTER_CAP = 3600.0  # a provider asking for more is not believed beyond an hour
MAX_CHALLENGES = 3
MAX_INTERVAL_RETRIES = 2
MAX_FORWARDS = "70"


class State(enum.Enum):
    IDLE = "idle"  # not started, or stopped
    REGISTERING = "registering"  # a REGISTER without credentials is in flight
    AUTHENTICATING = "authenticating"  # a REGISTER answering a challenge is in flight
    REGISTERED = "registered"  # bound; the refresh timer runs
    FAILED = "failed"  # the last attempt failed; the retry timer runs
    STOPPING = "stopping"  # stop() came while a REGISTER was in flight; Expires: 0 follows
    UNREGISTERING = "unregistering"  # the Expires: 0 REGISTER is in flight


class Input(enum.Enum):
    START = "start"
    STOP = "stop"  # no binding can be alive
    STOP_BOUND = "stop while bound"  # a granted binding has not lapsed yet
    RECV_2XX = "2xx"
    RECV_CHALLENGE = "challenge"  # 401/407 with a challenge we will answer
    RECV_REJECTED = "rejected"  # 401/407 we will not answer
    RECV_423 = "423"  # with a longer Min-Expires we will ask for
    RECV_FAILURE = "failure"  # any other final response
    TIMEOUT = "timeout"  # transaction timeout or transport error
    TIMER_REFRESH = "refresh timer"
    TIMER_RETRY = "retry timer"


class Action(enum.Enum):
    NEW_ATTEMPT = "new attempt"  # reset the per-attempt counters (challenges, 423s)
    SEND_REGISTER = "send register"  # Expires: asked; with credentials if challenged
    SEND_UNREGISTER = "send unregister"  # Expires: 0; with credentials if challenged
    RAISE_EXPIRES = "raise expires"
    BIND = "bind"  # note the granted expiry, arm the refresh, reset the back-off
    ARM_RETRY = "arm retry"
    FORGET = "forget"  # the binding and any timer: nothing left to do


@dataclass(frozen=True, slots=True)
class Transition:
    actions: tuple[Action, ...]
    next_state: State
    summary: str  # the start of the human reason ("" for a no-op)


class IllegalTransition(RuntimeError):
    """A user call that makes no sense in this state: a bug in the caller."""

    def __init__(self, state: State, event: Input) -> None:
        super().__init__(f"trunk registration: {event.value} is illegal in {state.value}")
        self.state = state
        self.event = event


S, In, A = State, Input, Action
_T = Transition
_UNDONE = (In.RECV_REJECTED, In.RECV_423, In.RECV_FAILURE, In.TIMEOUT)  # no 2xx
_RETRY = _T((A.ARM_RETRY,), S.FAILED, "registration failed")
_FRESH = (A.NEW_ATTEMPT, A.SEND_REGISTER)
_UNREGISTER = _T((A.NEW_ATTEMPT, A.SEND_UNREGISTER), S.UNREGISTERING, "unregistering")
_GONE = _T((A.FORGET,), S.IDLE, "unregister failed, the binding lapses at expiry")
_DEFER = _T((), S.STOPPING, "stopping after the REGISTER in flight")


def _stop_rows(state: State, row: Transition) -> dict[tuple[State, Input], Transition]:
    return {(state, In.STOP): row, (state, In.STOP_BOUND): row}


def _in_flight(state: State) -> dict[tuple[State, Input], Transition]:
    """REGISTERING and AUTHENTICATING react alike; they differ only in what they tell."""
    return {
        (state, In.RECV_2XX): _T((A.BIND,), S.REGISTERED, "registered"),
        (state, In.RECV_CHALLENGE): _T((A.SEND_REGISTER,), S.AUTHENTICATING, "challenged"),
        (state, In.RECV_REJECTED): _RETRY,
        (state, In.RECV_423): _T((A.RAISE_EXPIRES, A.SEND_REGISTER), S.REGISTERING, "too brief"),
        (state, In.RECV_FAILURE): _RETRY,
        (state, In.TIMEOUT): _RETRY,
        **_stop_rows(state, _DEFER),
    }


TABLE: dict[tuple[State, Input], Transition] = {
    (S.IDLE, In.START): _T(_FRESH, S.REGISTERING, "registering"),
    **_stop_rows(S.IDLE, _T((), S.IDLE, "")),
    **_in_flight(S.REGISTERING),
    **_in_flight(S.AUTHENTICATING),
    (S.REGISTERED, In.TIMER_REFRESH): _T(_FRESH, S.REGISTERING, "refreshing"),
    **_stop_rows(S.REGISTERED, _UNREGISTER),
    (S.FAILED, In.TIMER_RETRY): _T(_FRESH, S.REGISTERING, "retrying"),
    (S.FAILED, In.STOP): _T((A.FORGET,), S.IDLE, "stopped"),
    (S.FAILED, In.STOP_BOUND): _UNREGISTER,
    # Whatever became of the REGISTER in flight, a binding may exist now: remove it.
    **{(S.STOPPING, event): _UNREGISTER for event in (In.RECV_2XX, *_UNDONE)},
    (S.STOPPING, In.RECV_CHALLENGE): _T((A.SEND_UNREGISTER,), S.UNREGISTERING, "challenged"),
    **_stop_rows(S.STOPPING, _T((), S.STOPPING, "")),
    **{(S.UNREGISTERING, event): _GONE for event in _UNDONE},
    (S.UNREGISTERING, In.RECV_2XX): _T((A.FORGET,), S.IDLE, "unregistered"),
    (S.UNREGISTERING, In.RECV_CHALLENGE): _T((A.SEND_UNREGISTER,), S.UNREGISTERING, "challenged"),
    **_stop_rows(S.UNREGISTERING, _T((), S.UNREGISTERING, "")),
}

# Exactly one REGISTER is in flight in these states, and no timer runs.
IN_FLIGHT = frozenset({S.REGISTERING, S.AUTHENTICATING, S.STOPPING, S.UNREGISTERING})


@dataclass(frozen=True, slots=True)
class StateChanged:
    trunk: str
    old: State
    new: State
    reason: str
    at: float


@dataclass(frozen=True, slots=True)
class TrunkAccount:
    """What one registration needs; ``aor`` defaults to ``sip:username@<registrar host>``."""

    name: str  # for logs and status
    registrar_uri: str  # the Request-URI, e.g. "sip:sip.provider.net" (RFC 3261 §10.2)
    username: str
    password: str
    contact: str  # our Contact header value, e.g. "<sip:trunk1@192.0.2.10:5060>"
    aor: str | None = None
    auth_username: str | None = None  # when the provider's login differs from the AOR user
    expires: int = 3600
    user_agent: str | None = None

    def address_of_record(self) -> str:
        if self.aor is not None:
            return self.aor
        return f"sip:{self.username}@{parse_uri(self.registrar_uri).host}"


class TrunkRegistration:
    """One registration with one provider; the module docstring gives the rules."""

    def __init__(
        self,
        account: TrunkAccount,
        *,
        via: Callable[[], str],
        rng: random.Random,
        new_cnonce: Callable[[], str] | None = None,
        call_id: str | None = None,
        from_tag: str | None = None,
    ) -> None:
        """``via()`` gives the Via value of the next request, a fresh branch each call; ``rng``
        draws the back-off jitter. Identifiers default to fresh random ones."""
        if not 0 < account.expires < 2**31:
            raise ValueError(f"expires {account.expires} out of range")
        try:  # a bad URI fails here, when the configuration is loaded, not at the first send
            host = parse_uri(account.registrar_uri).host
            self._aor = account.address_of_record()
            self._contact_uri = parse_uri(parse_name_addr(account.contact).uri)
        except SipParseError as exc:
            raise ValueError(f"trunk {account.name}: {exc.reason}") from None
        self.account = account
        self.call_id = call_id or f"{POOL.hex(10)}@{host}"
        self.state = State.IDLE
        self.last_reason = "not started"
        self.expires = account.expires  # what we ask for (raised by a 423)
        self.bound_until: float | None = None  # when the granted binding lapses
        self._via = via
        self._rng = rng
        self._from_tag = from_tag or POOL.hex(6)
        self._digest = DigestClient(
            account.auth_username or account.username,
            account.password,
            new_cnonce or (lambda: POOL.hex(8)),
            MAX_CHALLENGES,
        )
        self._cseq = 0
        self._outstanding: tuple[int, int] | None = None  # (CSeq, Expires) in flight
        self._deadline: float | None = None
        self._timer: Input | None = None
        self._failures = 0  # consecutive failed attempts: the back-off exponent
        self._interval_retries = 0
        # Set by the classifier for the actions of the transition it triggers.
        self._challenge: tuple[int, Challenge] | None = None
        self._granted = self._min_expires = 0
        self._retry_after = 0.0
        self._requests: list[SipRequest] = []
        self._events: list[StateChanged] = []

    # ----------------------------------------------------------------- inputs

    def start(self, now: float) -> None:
        self._apply(In.START, now, "")

    def stop(self, now: float) -> None:
        bound = self.bound_until is not None and now < self.bound_until
        self._apply(In.STOP_BOUND if bound else In.STOP, now, "")

    def response(
        self, status: int, headers: Sequence[Header], now: float, phrase: str = ""
    ) -> None:
        """A response to our REGISTER; ``headers`` are lower-case ``(name, value)`` pairs as
        ``SipMessage.headers`` holds them. Provisional and late responses are ignored."""
        if status < 200 or self._outstanding is None or not self._matches(headers):
            return
        event, detail = self._classify(status, headers, self._outstanding[1])
        self._outstanding = None
        self._apply(event, now, f"{status} {phrase}".rstrip() + (f", {detail}" if detail else ""))

    def timeout(self, now: float, detail: str = "no response") -> None:
        """The REGISTER in flight timed out (Timer F) or could not be sent."""
        if self._outstanding is not None:
            self._outstanding = None
            self._apply(In.TIMEOUT, now, detail)

    def handle_timer(self, now: float) -> None:
        if self._timer is None or self._deadline is None or now < self._deadline:
            return
        timer, self._deadline, self._timer = self._timer, None, None
        self._apply(timer, now, "")

    # ----------------------------------------------------------------- outputs

    def next_deadline(self) -> float | None:
        return self._deadline

    def take_requests(self) -> list[SipRequest]:
        requests, self._requests = self._requests, []
        return requests

    def take_events(self) -> list[StateChanged]:
        events, self._events = self._events, []
        return events

    @property
    def outstanding_cseq(self) -> int | None:
        return None if self._outstanding is None else self._outstanding[0]

    # ----------------------------------------------------------------- the machine

    def _apply(self, event: Input, now: float, detail: str) -> None:
        transition = TABLE.get((self.state, event))
        if transition is None:
            raise IllegalTransition(self.state, event)
        notes = [f"{transition.summary}: {detail}" if detail else transition.summary]
        notes.extend(note for action in transition.actions if (note := self._run(action, now)))
        self._challenge, self._retry_after = None, 0.0  # they belong to this input only
        old, self.state = self.state, transition.next_state
        if transition.summary:
            self.last_reason = "; ".join(notes)
        if old is not self.state:
            self._events.append(
                StateChanged(self.account.name, old, self.state, self.last_reason, now)
            )

    def _run(self, action: Action, now: float) -> str:
        if action is A.NEW_ATTEMPT:
            self._digest.new_attempt()
            self._interval_retries = 0
        elif action is A.SEND_REGISTER:
            self._send(self.expires)
        elif action is A.SEND_UNREGISTER:
            self._send(0)
        elif action is A.RAISE_EXPIRES:
            self.expires = self._min_expires
            self._interval_retries += 1
            return f"asking {self.expires} s"
        elif action is A.BIND:
            return self._bind(now)
        elif action is A.ARM_RETRY:
            return self._arm_retry(now)
        elif action is A.FORGET:
            self.bound_until = self._deadline = self._timer = None
        return ""

    def _bind(self, now: float) -> str:
        granted = self._granted
        self.bound_until = now + granted
        self._failures = 0
        refresh_in = granted - min(granted / 2, REFRESH_MARGIN)
        self._timer, self._deadline = In.TIMER_REFRESH, now + refresh_in
        return f"granted {granted} s, refresh in {refresh_in:g} s"

    def _arm_retry(self, now: float) -> str:
        backoff = min(BACKOFF_BASE * 2 ** min(self._failures, 16), BACKOFF_CAP)
        delay = max(backoff * (1.0 - JITTER * self._rng.random()), self._retry_after)
        self._failures += 1
        self._timer, self._deadline = In.TIMER_RETRY, now + delay
        return f"retry in {delay:.1f} s"

    def _send(self, expires: int) -> None:
        self._deadline = self._timer = None  # the transaction's own timeout takes over
        self._cseq += 1
        self._outstanding = (self._cseq, expires)
        uri = self.account.registrar_uri
        headers: list[Header] = [
            ("via", self._via()),
            ("max-forwards", MAX_FORWARDS),
            ("from", f"<{self._aor}>;tag={self._from_tag}"),
            ("to", f"<{self._aor}>"),
            ("call-id", self.call_id),
            ("cseq", f"{self._cseq} REGISTER"),
            ("contact", self.account.contact),
            ("expires", str(expires)),
        ]
        if self._challenge is not None:
            status, challenge = self._challenge
            headers.append(self._digest.header(status, challenge, "REGISTER", uri))
        if self.account.user_agent:
            headers.append(("user-agent", self.account.user_agent))
        self._requests.append(SipRequest("REGISTER", uri, headers))

    # ----------------------------------------------------------------- responses

    def _matches(self, headers: Sequence[Header]) -> bool:
        """Is this the answer to the request in flight? (Without a readable CSeq it is taken
        to be: the transaction layer has matched it by branch already.)"""
        assert self._outstanding is not None
        for name, value in headers:
            if name == "cseq":
                number, _, method = value.strip().partition(" ")
                if method.strip().upper() != "REGISTER":
                    return False
                return not number.isdigit() or int(number) == self._outstanding[0]
        return True

    def _classify(self, status: int, headers: Sequence[Header], asked: int) -> tuple[Input, str]:
        if status < 300:
            if asked == 0:
                return In.RECV_2XX, ""
            self._granted = granted_expiry(headers, self._contact_uri, asked)
            if self._granted <= 0:
                return In.RECV_FAILURE, "our contact was not bound"
            return In.RECV_2XX, ""
        if status in (401, 407):
            verdict = self._digest.judge(status, headers)
            if isinstance(verdict, str):
                return In.RECV_REJECTED, verdict
            self._challenge = (status, verdict)
            stale = ", stale nonce" if verdict.stale else ""
            return In.RECV_CHALLENGE, f'realm "{verdict.realm}", {verdict.hash_name}{stale}'
        if status == 423 and asked:
            return self._classify_423(headers, asked)
        retry_after = header_seconds(headers, "retry-after")
        if retry_after is not None:
            self._retry_after = min(float(retry_after), RETRY_AFTER_CAP)
        return In.RECV_FAILURE, ""

    def _classify_423(self, headers: Sequence[Header], asked: int) -> tuple[Input, str]:
        minimum = header_seconds(headers, "min-expires")
        if minimum is None or not asked < minimum < 2**31:
            return In.RECV_FAILURE, "no usable Min-Expires"
        if self._interval_retries >= MAX_INTERVAL_RETRIES:
            return In.RECV_FAILURE, "Min-Expires keeps growing"
        self._min_expires = minimum
        return In.RECV_423, f"Min-Expires {minimum}"


# ----------------------------------------------------------------------- header reading


def granted_expiry(headers: Sequence[Header], ours: SipUri, asked: int) -> int:
    """Seconds the registrar granted us (the module docstring gives the order of sources).

    A Contact value we cannot parse is skipped: one broken binding of another device listed
    in the 2xx must not make us lose track of ours.
    """
    listed: list[int] = []
    for lname, value in headers:
        if lname != "contact":
            continue
        try:
            items = split_list(value)
        except SipParseError:
            continue
        for item in items:
            try:
                addr = parse_name_addr(item)
                seconds = _seconds(addr.params.get("expires") or "")
                if seconds is not None and _same_contact(parse_uri(addr.uri), ours):
                    return seconds
            except SipParseError:
                continue
            if seconds is not None:
                listed.append(seconds)
    header = header_seconds(headers, "expires")
    if header is not None:
        return header
    return min(listed) if listed else asked


def _same_contact(a: SipUri, b: SipUri) -> bool:
    """Scheme, user, host and port (absent = the scheme's default): registrars echo the
    binding they stored, which may add a port or parameters to what we sent."""
    default = 5061 if a.scheme == "sips" else 5060
    return (
        a.scheme == b.scheme
        and a.user_unescaped == b.user_unescaped
        and a.host == b.host
        and (a.port or default) == (b.port or default)
    )


def header_seconds(headers: Sequence[Header], name: str) -> int | None:
    """A delta-seconds header (Expires, Min-Expires, or Retry-After with its comment)."""
    for lname, value in headers:
        if lname == name:
            return _seconds(value)
    return None


_DELTA_SECONDS = re.compile(r"[ \t]*([0-9]{1,10})(?![0-9])")


def _seconds(text: str) -> int | None:
    """The leading delta-seconds of ``text`` ("120 (lunch);duration=60" → 120), or None."""
    match = _DELTA_SECONDS.match(text)
    return None if match is None else int(match.group(1))
