"""Digest authentication, the client side: answering a provider's challenge (RFC 7616 §3.4,
RFC 8760 for SIP, RFC 2617 for the qop-less form), sans-IO.

``softswitch.sip.auth`` is the server side; this module computes what a SIP trunk provider
expects from us when it answers our REGISTER (or INVITE) with 401/407. Choices, with reasons:

* **The challenge is parsed by the server's own parser** (``auth.parse_digest``): one grammar,
  already hardened against hostile input, so what we accept as a challenge is exactly what
  our registrar would accept as credentials.
* **qop=auth when offered, RFC 2069 only when qop is absent.** ``auth-int`` would need the
  body hashed; a REGISTER has none worth protecting, and our own registrar never offers it.
  A challenge offering ``auth-int`` alone is refused (``DigestChallengeError``), as is an
  unknown algorithm: a wrong guess would only be rejected and count as a failed login.
* **The topmost usable challenge wins** (RFC 8760 §2.4, RFC 7616 §3.7): servers list them
  strongest first, and our own registrar sends SHA-256 before MD5.
* **Parameters are echoed as written** (``algorithm`` spelling, ``opaque``), hashed as
  received: the server compares against what it sent.
* ``userhash=true`` (RFC 7616 §3.4.4) is honoured: the username is sent hashed.
* ``DigestClient`` answers **each nonce once per attempt**: the same nonce coming back
  without ``stale=true`` means the server rejected our answer (wrong credentials), and more
  than ``max_answers`` challenges in one attempt end it too, since a server that hands out a
  fresh nonce with every rejection would otherwise be answered for ever. It never sends
  credentials pre-emptively: some providers count a reused nonce as a failed login.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from softswitch.sip.auth import parse_digest
from softswitch.sip.headers import quote
from softswitch.sip.message import Header

__all__ = [
    "Challenge",
    "DigestChallengeError",
    "DigestClient",
    "authorization",
    "choose_challenge",
    "parse_challenge",
]

# Header text decoded with surrogateescape hashes back to the bytes the server sent.
_ERRORS = "surrogateescape"


def _hasher(name: str) -> Callable[[str], str]:
    def digest(text: str) -> str:
        return hashlib.new(name, text.encode(errors=_ERRORS)).hexdigest()

    return digest


_HASHES: dict[str, Callable[[str], str]] = {
    "MD5": _hasher("md5"),
    "SHA-256": _hasher("sha256"),
}
# RFC 8760 also names SHA-512/256; OpenSSL builds without it simply do not offer it.
if "sha512_256" in hashlib.algorithms_available:
    _HASHES["SHA-512-256"] = _hasher("sha512_256")


class DigestChallengeError(ValueError):
    """A challenge we cannot answer (not Digest, missing nonce, unknown algorithm or qop)."""


@dataclass(frozen=True, slots=True)
class Challenge:
    """One parsed WWW-Authenticate / Proxy-Authenticate value we are able to answer."""

    realm: str
    nonce: str
    algorithm: str | None  # as written by the server; None means MD5 (RFC 7616 §3.3)
    qop: str | None  # "auth", or None for an RFC 2069 challenge (no qop offered)
    opaque: str | None
    stale: bool
    userhash: bool

    @property
    def hash_name(self) -> str:
        """The base hash, upper-case, without ``-sess`` ("MD5", "SHA-256", ...)."""
        return (self.algorithm or "MD5").upper().removesuffix("-SESS")

    @property
    def session(self) -> bool:
        return (self.algorithm or "").upper().endswith("-SESS")


def parse_challenge(value: str) -> Challenge:
    """Parse one challenge header value; raise ``DigestChallengeError`` if we cannot answer it."""
    params = parse_digest(value)
    if params is None:
        raise DigestChallengeError("not a Digest challenge")
    realm, nonce = params.get("realm"), params.get("nonce")
    if realm is None or not nonce:
        raise DigestChallengeError("challenge without realm or nonce")
    algorithm = params.get("algorithm")
    upper = (algorithm or "MD5").upper()
    if upper.removesuffix("-SESS") not in _HASHES:
        raise DigestChallengeError(f"unsupported algorithm {algorithm!r}")
    offered = params.get("qop")
    qop: str | None = None
    if offered is not None:
        # A quoted list, "auth,auth-int" or "auth, auth-int" (RFC 7616 §3.9.1 writes both).
        if "auth" not in {item.strip(" \t").lower() for item in offered.split(",")}:
            raise DigestChallengeError(f"unsupported qop {offered!r}")
        qop = "auth"
    elif upper.endswith("-SESS"):
        raise DigestChallengeError("a -sess algorithm needs qop (it hashes the cnonce)")
    return Challenge(
        realm=realm,
        nonce=nonce,
        algorithm=algorithm,
        qop=qop,
        opaque=params.get("opaque"),
        stale=params.get("stale", "").lower() == "true",
        userhash=params.get("userhash", "").lower() == "true",
    )


def choose_challenge(values: Iterable[str]) -> Challenge | None:
    """The first challenge we can answer, in header order (RFC 8760 §2.4), or None."""
    for value in values:
        try:
            return parse_challenge(value)
        except DigestChallengeError:
            continue
    return None


def authorization(
    challenge: str | Challenge,
    method: str,
    uri: str,
    username: str,
    password: str,
    nc: int,
    cnonce: str,
) -> str:
    """The Authorization / Proxy-Authorization header value answering ``challenge``.

    ``uri`` must be the Request-URI exactly as sent (servers compare it character for
    character); ``nc`` counts the requests made with this nonce, from 1; ``cnonce`` should be
    unpredictable. ``nc`` and ``cnonce`` are ignored for an RFC 2069 (qop-less) challenge.
    """
    if isinstance(challenge, str):
        challenge = parse_challenge(challenge)
    if not 1 <= nc <= 0xFFFFFFFF:
        raise ValueError(f"nonce-count {nc} out of range")
    h = _HASHES[challenge.hash_name]
    nonce, realm = challenge.nonce, challenge.realm
    ha1 = h(f"{username}:{realm}:{password}")
    if challenge.session:
        ha1 = h(f"{ha1}:{nonce}:{cnonce}")
    ha2 = h(f"{method}:{uri}")
    nc_text = f"{nc:08x}"
    if challenge.qop is None:
        response = h(f"{ha1}:{nonce}:{ha2}")
    else:
        response = h(f"{ha1}:{nonce}:{nc_text}:{cnonce}:{challenge.qop}:{ha2}")
    shown_user = h(f"{username}:{realm}") if challenge.userhash else username
    parts = [
        f"username={quote(shown_user)}",
        f"realm={quote(realm)}",
        f"nonce={quote(nonce)}",
        f"uri={quote(uri)}",
        f'response="{response}"',
    ]
    if challenge.algorithm is not None:
        parts.append(f"algorithm={challenge.algorithm}")
    if challenge.qop is not None:
        parts.append(f"cnonce={quote(cnonce)}")
    if challenge.opaque is not None:
        parts.append(f"opaque={quote(challenge.opaque)}")
    if challenge.qop is not None:
        parts += [f"qop={challenge.qop}", f"nc={nc_text}"]
    if challenge.userhash:
        parts.append("userhash=true")
    return "Digest " + ", ".join(parts)


class DigestClient:
    """One set of credentials used across requests: nonce-counts, the once-per-nonce rule.

    ``judge`` looks at a 401/407 and returns the challenge to answer, or why not; ``header``
    builds the credentials header for the next request. ``new_attempt`` starts a fresh
    attempt (a new request sent without credentials).
    """

    MAX_TRACKED_NONCES = 16  # nonce-counts kept in case a nonce is offered again

    def __init__(
        self,
        username: str,
        password: str,
        new_cnonce: Callable[[], str],
        max_answers: int = 3,
    ) -> None:
        self.username = username
        self._password = password
        self._new_cnonce = new_cnonce
        self.max_answers = max_answers
        self._answered: set[str] = set()  # nonces answered during this attempt
        self._answers = 0  # challenges answered during this attempt (stale ones included)
        self._nc: dict[str, int] = {}  # nonce → last nonce-count, in order of use

    def new_attempt(self) -> None:
        self._answered.clear()
        self._answers = 0

    def judge(self, status: int, headers: Sequence[Header]) -> Challenge | str:
        """The challenge in a 401 (WWW-) or 407 (Proxy-Authenticate) to answer, or a reason."""
        name = "www-authenticate" if status == 401 else "proxy-authenticate"
        challenge = choose_challenge(value for lname, value in headers if lname == name)
        if challenge is None:
            return "no challenge we can answer"
        if challenge.nonce in self._answered and not challenge.stale:
            return "credentials rejected (wrong username or password?)"
        if self._answers >= self.max_answers:
            return f"still challenged after {self.max_answers} answers"
        return challenge

    def header(self, status: int, challenge: Challenge, method: str, uri: str) -> Header:
        """``(name, value)`` of the Authorization (401) or Proxy-Authorization (407)."""
        nonce = challenge.nonce
        nc = self._nc.pop(nonce, 0) + 1
        self._nc[nonce] = nc  # re-inserted last, so the oldest nonce is first
        if len(self._nc) > self.MAX_TRACKED_NONCES:
            del self._nc[next(iter(self._nc))]
        self._answered.add(nonce)
        self._answers += 1
        value = authorization(
            challenge, method, uri, self.username, self._password, nc, self._new_cnonce()
        )
        return ("proxy-authorization" if status == 407 else "authorization", value)
