"""Flood and brute-force protection per source address, sans-IO.

Three independent tables, each an ``OrderedDict`` capped at ``max_tracked`` entries so a flood
of distinct (possibly spoofed) sources cannot grow memory:

* request buckets (token bucket per IP; least recently seen evicted first — losing a bucket
  only hands that address a fresh burst),
* recent authentication failures per IP (least recently failing evicted first),
* bans (evicted soonest-expiring first; kept apart so a flood of new sources cannot push a
  banned address out of the rate table and thereby unban it).

Trusted networks are never throttled or banned. Only the offending address is affected.

The guard also counts, for ``/metrics``, what it alone sees: failed authentications and bans
since start (``auth_failures``, ``bans``: they only grow, while the tables forget), and the
bans in force (``active_bans``).

``auth_failure_log_line`` writes the failure in the form Asterisk's chan_pjsip uses, so the
stock fail2ban ``asterisk`` filter bans the address at the firewall as well.
"""

from __future__ import annotations

import enum
import ipaddress
import math
import os
import re
from collections import OrderedDict, deque
from collections.abc import Sequence
from ipaddress import IPv4Network, IPv6Network

__all__ = [
    "LOG_LEVEL_FOR_AUTH_FAILURE",
    "MAX_TRACKED",
    "Guard",
    "Verdict",
    "auth_failure_log_line",
]


class Verdict(enum.Enum):
    ALLOW = "allow"
    THROTTLE = "throttle"  # answer 503 with Retry-After
    DROP = "drop"  # say nothing: banned, or already told to back off this second


# At most one 503 per address per this many seconds; the rest of the excess is dropped so a
# flood is not amplified into a flood of responses.
_THROTTLE_INTERVAL = 1.0
# Entries per table by default: a flood of sources costs at most a few MB.
MAX_TRACKED = 65536


class _Bucket:
    __slots__ = ("last", "next_throttle", "tokens", "trusted")

    def __init__(self, tokens: float, now: float, trusted: bool) -> None:
        self.tokens = tokens
        self.last = now
        self.next_throttle = now
        self.trusted = trusted


class Guard:
    """Per-IP token bucket for requests, failure counting and temporary bans."""

    def __init__(
        self,
        max_auth_failures: int = 10,
        failure_window: float = 60.0,
        ban_time: float = 600.0,
        request_rate: float = 200.0,
        request_burst: int = 400,
        trusted: Sequence[IPv4Network | IPv6Network] = (),
        max_tracked: int = MAX_TRACKED,
    ) -> None:
        if max_auth_failures < 1 or max_tracked < 1 or request_rate <= 0 or request_burst < 1:
            raise ValueError("guard limits must be positive")
        self._max_failures = max_auth_failures
        self._window = failure_window
        self._ban_time = ban_time
        self._rate = request_rate
        self._burst = float(request_burst)
        self._trusted = tuple(trusted)
        self._max_tracked = max_tracked
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._bans: OrderedDict[str, float] = OrderedDict()  # ip → banned until
        self.auth_failures = 0  # since start, trusted and already banned sources included
        self.bans = 0  # since start: one address banned twice counts twice

    # ------------------------------------------------------------------ requests

    def check_request(self, ip: str, now: float) -> Verdict:
        """Admit, throttle (503) or drop one request from ``ip``; call it for every request."""
        bucket = self._buckets.get(ip)
        if bucket is None:
            bucket = self._new_bucket(ip, now)
        else:
            self._buckets.move_to_end(ip)
        if bucket.trusted:
            return Verdict.ALLOW
        if self._bans and self.is_banned(ip, now):
            return Verdict.DROP
        tokens = bucket.tokens + (now - bucket.last) * self._rate
        bucket.tokens = tokens if tokens < self._burst else self._burst
        bucket.last = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return Verdict.ALLOW
        if now >= bucket.next_throttle:
            bucket.next_throttle = now + _THROTTLE_INTERVAL
            return Verdict.THROTTLE
        return Verdict.DROP

    def _new_bucket(self, ip: str, now: float) -> _Bucket:
        buckets = self._buckets
        while len(buckets) >= self._max_tracked:
            buckets.popitem(last=False)
        bucket = _Bucket(self._burst, now, self.is_trusted(ip))
        buckets[ip] = bucket
        return bucket

    def retry_after(self, ip: str, now: float) -> int:
        """Seconds for Retry-After: the rest of a ban, else until a request would be admitted."""
        until = self._bans.get(ip)
        if until is not None and until > now:
            return max(1, math.ceil(until - now))
        bucket = self._buckets.get(ip)
        if bucket is None:
            return 1
        tokens = bucket.tokens + (now - bucket.last) * self._rate
        return max(1, math.ceil((1.0 - tokens) / self._rate))

    # ----------------------------------------------------- failures and bans

    def record_auth_failure(self, ip: str, now: float) -> bool:
        """Count one failed authentication; True when this failure bans ``ip``."""
        self.auth_failures += 1
        if self.is_banned(ip, now) or self.is_trusted(ip):
            return False
        failures = self._failures.get(ip)
        if failures is None:
            while len(self._failures) >= self._max_tracked:
                self._failures.popitem(last=False)
            failures = self._failures[ip] = deque(maxlen=self._max_failures)
        else:
            self._failures.move_to_end(ip)
        failures.append(now)
        # The deque holds the last N failures: N of them within the window means a ban.
        if len(failures) < self._max_failures or now - failures[0] >= self._window:
            return False
        del self._failures[ip]
        self._ban(ip, now)
        self.bans += 1
        return True

    def _ban(self, ip: str, now: float) -> None:
        bans = self._bans
        self._forget_expired_bans(now)
        while len(bans) >= self._max_tracked:
            bans.popitem(last=False)
        bans[ip] = now + self._ban_time

    def _forget_expired_bans(self, now: float) -> None:
        # Bans share one duration, and an address is only banned again once its old ban is
        # gone (is_banned deletes it), so insertion order is expiry order: purge the front.
        bans = self._bans
        while bans and next(iter(bans.values())) <= now:
            bans.popitem(last=False)

    def active_bans(self, now: float) -> int:
        """Addresses banned at ``now`` (expired bans are forgotten first: the table keeps one
        until that address is seen again or a new ban comes)."""
        self._forget_expired_bans(now)
        return len(self._bans)

    def is_banned(self, ip: str, now: float) -> bool:
        until = self._bans.get(ip)
        if until is None:
            return False
        if until > now:
            return True
        del self._bans[ip]
        return False

    def is_trusted(self, ip: str) -> bool:
        if not self._trusted:
            return False
        try:
            addr = ipaddress.ip_address(ip.strip("[]"))
        except ValueError:
            return False
        if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
            addr = addr.ipv4_mapped  # a dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d
        return any(addr in net for net in self._trusted)

    # ------------------------------------------------------------- introspection

    def tracked(self) -> tuple[int, int, int]:
        """(request buckets, failure records, bans): each stays within max_tracked."""
        return len(self._buckets), len(self._failures), len(self._bans)


# ---------------------------------------------------------------------- logging

# Level word for the line below: Asterisk's filter accepts NOTICE, SECURITY or WARNING after the
# timestamp, and WARNING is also a standard Python logging level name.
LOG_LEVEL_FOR_AUTH_FAILURE = "WARNING"

# Characters a hostile peer could use to steer the filter's regex towards another address
# (quotes, parentheses, brackets, colons) or to forge extra log lines (controls). They are
# percent-escaped, so the text stays readable and unambiguous.
# In the From value a colon followed by a blank is escaped too: the filter's prefix would take
# "...: " as the end of a source-file tag and the line would escape the filter.
_UNSAFE_FROM = re.compile(r"[\x00-\x1f\x7f'%]|:(?=[ \t])")
_UNSAFE_CALL_ID = re.compile(r"[^A-Za-z0-9!*+.@_~/=-]")
_UNSAFE_REASON = re.compile(r"[^A-Za-z0-9 !*+.@_~/=-]")
_UNSAFE_METHOD = re.compile(r"[^A-Za-z0-9._~!*+-]")
_MAX_FIELD = 256


def _escape(pattern: re.Pattern[str], text: str) -> str:
    text = text[:_MAX_FIELD]
    return pattern.sub(lambda m: "".join(f"%{b:02X}" for b in m.group().encode()), text)


def auth_failure_log_line(
    method: str, from_uri: str, ip: str, port: int, call_id: str, reason: str
) -> str:
    """The message (after the timestamp and level word) logged for one failed authentication.

    ``2024-05-01 12:00:00.123 WARNING [4242] [<call-id>] softswitch.auth (<reason>): Request
    'REGISTER' from '<sip:1001@pbx>' failed for '192.0.2.7:5060' (callid: <call-id>) - Failed
    to authenticate`` — fail2ban's ``asterisk`` filter needs ``[<digits>]`` (here the process
    id) right after the level word, then ``text:``; the call-id therefore comes second.
    """
    cid = _escape(_UNSAFE_CALL_ID, call_id)
    # IPv6 in brackets, or fail2ban would read the port as part of the address.
    host = f"[{ip}]" if ":" in ip and not ip.startswith("[") else ip
    why = _escape(_UNSAFE_REASON, reason)
    return (
        f"[{os.getpid()}] [{cid}] softswitch.auth ({why}): "
        f"Request '{_escape(_UNSAFE_METHOD, method)}' from '{_escape(_UNSAFE_FROM, from_uri)}' "
        f"failed for '{host}:{port}' (callid: {cid}) - Failed to authenticate"
    )
