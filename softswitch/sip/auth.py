"""Digest authentication for a registrar/B2BUA (RFC 3261 §22, RFC 7616, RFC 8760), sans-IO.

Design decisions, each with its reason:

* **Stateless nonces.** A nonce is ``hex(issued_ms ‖ 8 random bytes ‖ HMAC-SHA256(secret)[:16])``.
  Issuing a challenge stores nothing, so an unauthenticated flood cannot grow memory, and a
  nonce cannot be forged without ``secret``.
* **Replay protection only for authenticated requests.** The highest nonce-count seen per nonce
  is remembered after the response has been proven correct, so garbage cannot fill the table.
  The table is bounded; when a still-valid nonce has to be evicted, every nonce issued up to it
  that is no longer tracked is answered STALE (the phone just fetches a fresh nonce), so
  eviction never re-opens a replay window.
* **STALE only for a correct response.** An expired nonce, or one we cannot verify (for example
  signed with a previous secret), yields STALE only when the response is right for the user's
  password; otherwise FAILED. Unknown users are hashed against a dummy password so they cost
  the same and end in exactly the same outcome as a wrong password.
* **RFC 2069 (no qop) responses are refused.** We always offer ``qop="auth"``, which clients
  must then use (RFC 2617 §3.2.2); a qop-less response has no nonce-count, so it could be
  replayed for the nonce's whole lifetime.
* **Credentials for another realm are MISSING, not FAILED** (RFC 3261 §22.3): they are as good
  as no credentials, and the answering challenge tells the phone our realm.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import os
import re
import struct
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from softswitch.ids import POOL

__all__ = ["AuthOutcome", "AuthResult", "DigestAuthenticator", "parse_digest"]


class AuthOutcome(enum.Enum):
    OK = "ok"
    MISSING = "missing"  # no usable credentials for our realm: challenge (401/407)
    STALE = "stale"  # correct but for an expired nonce: challenge with stale=true
    FAILED = "failed"  # anything else: 403, identical for unknown user and wrong password


@dataclass(frozen=True, slots=True)
class AuthResult:
    outcome: AuthOutcome
    username: str | None
    reason: str  # for logs only, never sent to the peer


# The answer to every first request of a phone (the one that gets the challenge): built once.
_NO_CREDENTIALS = AuthResult(AuthOutcome.MISSING, None, "no credentials")

# Longer headers are hostile: a real Authorization value is ~300 characters.
_MAX_HEADER = 4096
_MAX_PARAMS = 32

# One auth-param with its trailing separator. The quoted-string branch is written in the
# "unrolled loop" form and every piece stops at a character the next one cannot start with,
# so matching is linear: no catastrophic backtracking on hostile input.
_PARAM = re.compile(
    r"[\s,]*([A-Za-z0-9!%*+._`'~-]+)[ \t]*=[ \t]*"
    r'(?:"([^"\\]*(?:\\.[^"\\]*)*)"|([^\s,"]*))'
    r"[ \t\r\n]*(?:,|\Z)",
    re.DOTALL,
)
_SCHEME = re.compile(r"\s*(\S+)")
_TRAILING = re.compile(r"[\s,]*\Z")
_UNESCAPE = re.compile(r"\\(.)", re.DOTALL)
_NC = re.compile(r"[0-9a-fA-F]{8}")
# Header text decoded with surrogateescape hashes back to the bytes the phone hashed.
_ERRORS = "surrogateescape"


def parse_digest(value: str) -> dict[str, str] | None:
    """Parse ``Digest k=v, k="v"`` into lower-cased names → unescaped values.

    Returns None for another scheme and raises nothing: a malformed or duplicated parameter
    list yields an empty dict, which ``verify`` treats as FAILED.
    """
    scheme = _SCHEME.match(value)
    if scheme is None or scheme.group(1).lower() != "digest":
        return None
    params: dict[str, str] = {}
    pos, end = scheme.end(), len(value)
    match = _PARAM.match
    while pos < end:
        m = match(value, pos)
        if m is None:  # only separators may remain
            return params if _TRAILING.match(value, pos) else {}
        name, quoted, token = m.groups()
        name = name.lower()
        # A repeated parameter is an attempt to confuse one parser or another: refuse.
        if name in params or len(params) >= _MAX_PARAMS:
            return {}
        if quoted is None:
            params[name] = token
        else:
            params[name] = _UNESCAPE.sub(r"\1", quoted) if "\\" in quoted else quoted
        pos = m.end()
    return params


_HASHES: dict[str, Callable[[bytes], str]] = {
    "MD5": lambda b: hashlib.md5(b).hexdigest(),
    "SHA-256": lambda b: hashlib.sha256(b).hexdigest(),
}

# issued_ms (signed 64-bit) + 8 random bytes; the MAC follows.
_BODY = struct.Struct(">q8s")
_MAC_LEN = 16
_NONCE_HEX_LEN = 2 * (_BODY.size + _MAC_LEN)
# Nonces issued "in the future" by more than this are treated as not ours (clock stepped back).
_CLOCK_SLACK_MS = 2000
_MAX_HA1S = 65536


class DigestAuthenticator:
    """Issues challenges and checks Authorization / Proxy-Authorization values.

    ``now`` must come from one clock for both ``challenge`` and ``verify`` (wall time is best:
    with a ``secret`` kept in state_dir, nonces then stay valid across a restart).
    """

    def __init__(
        self,
        realm: str,
        secret: bytes,
        nonce_ttl: float = 300.0,
        max_tracked_nonces: int = 100_000,
        algorithms: Sequence[str] = ("SHA-256", "MD5"),
    ) -> None:
        if not secret:
            raise ValueError("the nonce secret must not be empty")
        if nonce_ttl <= 0 or max_tracked_nonces < 1:
            raise ValueError("nonce_ttl and max_tracked_nonces must be positive")
        unknown = [a for a in algorithms if a not in _HASHES]
        if unknown or not algorithms:
            raise ValueError(f"unsupported digest algorithms: {unknown or 'none given'}")
        self.realm = realm
        self._secret = secret
        self._ttl_ms = int(nonce_ttl * 1000)
        self._max_tracked = max_tracked_nonces
        self._algorithms = tuple(algorithms)
        quoted_realm = realm.replace("\\", "\\\\").replace('"', '\\"')
        self._prefix = f'Digest realm="{quoted_realm}", nonce="'
        # nonce body → (expires_ms, highest nc); ordered by first authenticated use.
        self._seen: OrderedDict[bytes, tuple[int, int]] = OrderedDict()
        # Untracked nonces issued at or before this instant have been evicted: answer STALE.
        self._evicted_upto_ms = -(2**63)
        # Unknown users are checked against this so they take the same path as known ones.
        self._dummy_password = os.urandom(16).hex()
        # HMAC-SHA256 keyed once: a copy per nonce skips re-hashing the key (half the cost).
        self._mac = hmac.new(secret, digestmod=hashlib.sha256)
        self._ha1s: dict[tuple[str, str, str], str] = {}  # (algorithm, user, password) → HA1

    # ----------------------------------------------------------------- challenges

    def challenge(self, now: float, stale: bool = False) -> list[str]:
        """WWW-Authenticate / Proxy-Authenticate values, strongest algorithm first (RFC 8760)."""
        nonce = self._make_nonce(now)
        tail = '", algorithm={}, qop="auth", stale=true' if stale else '", algorithm={}, qop="auth"'
        head = self._prefix + nonce
        return [head + tail.format(alg) for alg in self._algorithms]

    def tracked_nonces(self) -> int:
        """How many nonces have their nonce-count remembered (bounded by max_tracked_nonces)."""
        return len(self._seen)

    def _make_nonce(self, now: float) -> str:
        body = _BODY.pack(int(now * 1000), POOL.take(8))
        return (body + self._sign(body)).hex()

    def _sign(self, body: bytes) -> bytes:
        mac = self._mac.copy()
        mac.update(body)
        return mac.digest()[:_MAC_LEN]

    def _open_nonce(self, nonce: str) -> tuple[bytes, int] | None:
        """(body, issued_ms) of a nonce we signed, or None."""
        if len(nonce) != _NONCE_HEX_LEN:
            return None
        try:
            raw = bytes.fromhex(nonce)
        except ValueError:
            return None
        if len(raw) != _BODY.size + _MAC_LEN:  # fromhex skips spaces: length tells
            return None
        body, mac = raw[: _BODY.size], raw[_BODY.size :]
        if not hmac.compare_digest(mac, self._sign(body)):
            return None
        issued_ms: int = _BODY.unpack(body)[0]
        return body, issued_ms

    # --------------------------------------------------------------- verification

    def verify(
        self,
        authorization: str | None,
        method: str,
        lookup: Callable[[str], str | None],
        now: float,
        request_uri: str | None = None,
    ) -> AuthResult:
        """Check one credentials header value; ``lookup(username)`` gives the password or None.

        ``request_uri``, when given, must equal the ``uri`` parameter character for character
        (RFC 3261 §22.4 lets a server check it; phones copy the Request-URI verbatim).
        """
        if authorization is None:
            return _NO_CREDENTIALS
        if len(authorization) > _MAX_HEADER:
            return AuthResult(AuthOutcome.FAILED, None, "credentials too long")
        params = parse_digest(authorization)
        if params is None:
            return AuthResult(AuthOutcome.MISSING, None, "not a Digest credential")
        username = params.get("username")
        if username is None:
            return AuthResult(AuthOutcome.FAILED, None, "malformed credentials")
        if params.get("realm") != self.realm:
            return AuthResult(AuthOutcome.MISSING, username, "credentials for another realm")
        problem = _check_shape(params, request_uri)
        if problem:
            return AuthResult(AuthOutcome.FAILED, username, problem)
        return self._verify_response(params, username, method, lookup, now)

    def _verify_response(
        self,
        params: dict[str, str],
        username: str,
        method: str,
        lookup: Callable[[str], str | None],
        now: float,
    ) -> AuthResult:
        password = lookup(username)
        known = password is not None
        try:
            secret = self._dummy_password if password is None else password
            expected = _expected_response(params, self._ha1(params, username, secret), method)
        except UnicodeError:  # lone surrogates from a lossy decode upstream
            return AuthResult(AuthOutcome.FAILED, username, "undecodable credentials")
        given = params["response"].lower().encode("ascii", "replace")
        if not hmac.compare_digest(expected.encode(), given) or not known:
            why = "wrong password" if known else "unknown user"
            return AuthResult(AuthOutcome.FAILED, username, why)
        # The response proves knowledge of the password; now judge the nonce itself.
        outcome, reason = self._judge_nonce(params["nonce"], int(params["nc"], 16), int(now * 1000))
        return AuthResult(outcome, username, reason)

    def _ha1(self, params: dict[str, str], username: str, password: str) -> str:
        """H(username:realm:password), remembered: a phone re-registers with the same one.

        Unknown users (hashed with the dummy password) are remembered the same way, so they
        still cost what a known user costs. Bounded: the table starts over when full.
        """
        algorithm = params.get("algorithm", "MD5").upper().removesuffix("-SESS")
        key = (algorithm, username, password)
        ha1 = self._ha1s.get(key)
        if ha1 is None:
            ha1 = _HASHES[algorithm](f"{username}:{self.realm}:{password}".encode(errors=_ERRORS))
            if len(self._ha1s) >= _MAX_HA1S:
                self._ha1s.clear()
            self._ha1s[key] = ha1
        return ha1

    def _judge_nonce(self, nonce: str, nc: int, now_ms: int) -> tuple[AuthOutcome, str]:
        """OK when the nonce is ours, fresh, and nc is new (nc is then remembered)."""
        opened = self._open_nonce(nonce)
        if opened is None:
            return AuthOutcome.STALE, "nonce not ours (secret changed?)"
        body, issued_ms = opened
        expires_ms = issued_ms + self._ttl_ms
        if now_ms >= expires_ms or issued_ms > now_ms + _CLOCK_SLACK_MS:
            return AuthOutcome.STALE, "nonce expired"
        entry = self._seen.get(body)
        if entry is None:
            if issued_ms <= self._evicted_upto_ms:
                return AuthOutcome.STALE, "nonce no longer tracked"
            self._make_room(now_ms)
        elif nc <= entry[1]:
            return AuthOutcome.FAILED, f"replayed nonce-count {nc}"
        self._seen[body] = (expires_ms, nc)
        return AuthOutcome.OK, "ok"

    def _make_room(self, now_ms: int) -> None:
        seen = self._seen
        # Oldest first use ≈ oldest issue, so expired entries gather at the front.
        while seen:
            body, (expires_ms, _) = next(iter(seen.items()))
            if expires_ms > now_ms and len(seen) < self._max_tracked:
                return
            del seen[body]
            if expires_ms > now_ms:  # evicting a live nonce: fence off everything up to it
                issued_ms: int = _BODY.unpack(body)[0]
                self._evicted_upto_ms = max(self._evicted_upto_ms, issued_ms)


def _check_shape(params: dict[str, str], request_uri: str | None) -> str:
    """Why the parameters cannot be a valid qop=auth response, or '' when they can."""
    for name in ("nonce", "uri", "response", "cnonce", "nc"):
        if not params.get(name):
            if name in ("cnonce", "nc") and "qop" not in params:
                return "no qop: RFC 2069 responses are refused"
            return f"missing {name}"
    if params.get("qop", "").lower() != "auth":
        return f"unsupported qop {params.get('qop')!r}"
    algorithm = params.get("algorithm", "MD5").upper()
    if algorithm.removesuffix("-SESS") not in _HASHES:
        return f"unsupported algorithm {algorithm!r}"
    if _NC.fullmatch(params["nc"]) is None:
        return "malformed nonce-count"
    if request_uri is not None and params["uri"] != request_uri:
        return "digest uri does not match the Request-URI"
    return ""


def _expected_response(params: dict[str, str], ha1: str, method: str) -> str:
    """RFC 7616 §3.4.1 response for qop=auth (and the -sess variants); ``ha1`` is
    H(username:realm:password)."""
    algorithm = params.get("algorithm", "MD5").upper()
    session = algorithm.endswith("-SESS")
    h = _HASHES[algorithm.removesuffix("-SESS")]
    nonce, cnonce = params["nonce"], params["cnonce"]
    if session:
        ha1 = h(f"{ha1}:{nonce}:{cnonce}".encode(errors=_ERRORS))
    ha2 = h(f"{method}:{params['uri']}".encode(errors=_ERRORS))
    qop = params["qop"]  # hashed as sent: the client hashed its own spelling
    return h(f"{ha1}:{nonce}:{params['nc']}:{cnonce}:{qop}:{ha2}".encode(errors=_ERRORS))
