"""Failed logins to the web pages, counted per peer host; a host that fails too often is
refused for a while, sans-IO (every call takes ``now``, the switch clock's monotonic seconds).

Why: the agent page's password is the extension's SIP password. Without a limit the page
would be a way around the SIP guard (``softswitch.sip.guard``), which bans a source after 10
failed REGISTERs in 60 s for 10 minutes: a script could guess the same password over HTTP as
fast as the switch answers. So the same rule, kept by the same code (a ``Guard`` of its
own, so a web ban and a SIP ban do not mix and each is counted for ``/metrics``):

- a failed login (credentials sent and wrong) is counted against the peer's host; 10 in 60 s
  ban that host for 10 minutes;
- while banned, every request of that host to a page with a login gets ``429 Too Many
  Requests`` with ``Retry-After`` (the rest of the ban), *before* its password is looked at:
  a right guess during a ban must not be told apart from a wrong one;
- other hosts are not affected, and a success resets nothing (else one known password would
  let a script go on guessing the others').

A request without credentials is a browser's first visit (it learns from the 401 which
realm to ask for), not a guess, and is not counted. One server, one throttle
(``HttpServer.logins``): every page that takes a password counts against the same host.
"""

from __future__ import annotations

import logging

from softswitch.sip.guard import MAX_TRACKED, Guard
from softswitch.web.http import HttpError, Request

__all__ = ["BAN_TIME", "FAILURE_WINDOW", "MAX_FAILURES", "LoginThrottle", "host_of"]

log = logging.getLogger("softswitch.web")

MAX_FAILURES = 10  # failed logins from one host ...
FAILURE_WINDOW = 60.0  # ... within these seconds ...
BAN_TIME = 600.0  # ... refuse its logins for this long (the SIP guard's defaults)


def host_of(request: Request) -> str:
    """The host a request came from; "" when the server did not say (a handler called
    directly): such requests are counted together, never let through unthrottled."""
    return request.peer[0] if request.peer is not None else ""


class LoginThrottle:
    """Failed web logins per host, and the bans they earn."""

    def __init__(
        self,
        max_failures: int = MAX_FAILURES,
        window: float = FAILURE_WINDOW,
        ban_time: float = BAN_TIME,
        max_tracked: int = MAX_TRACKED,
    ) -> None:
        self.ban_time = ban_time
        self._guard = Guard(
            max_auth_failures=max_failures,
            failure_window=window,
            ban_time=ban_time,
            max_tracked=max_tracked,
        )

    @property
    def failures(self) -> int:
        """Failed logins since start."""
        return self._guard.auth_failures

    @property
    def bans(self) -> int:
        """Hosts banned since start (one host banned twice counts twice)."""
        return self._guard.bans

    def active_bans(self, now: float) -> int:
        """Hosts banned at ``now``."""
        return self._guard.active_bans(now)

    def is_banned(self, host: str, now: float) -> bool:
        return self._guard.is_banned(host, now)

    def admit(self, host: str, now: float) -> None:
        """Call before checking a password: raises ``HttpError(429)`` while ``host`` is
        banned, with ``Retry-After`` saying how long it still is."""
        if self._guard.is_banned(host, now):
            wait = self._guard.retry_after(host, now)
            raise HttpError(
                429,
                f"too many failed logins from your address: try again in {wait} s",
                (("Retry-After", str(wait)),),
            )

    def failed(self, host: str, now: float) -> bool:
        """Count one failed login from ``host`` and log it (the host only: what was typed
        stays out of the log); True when this failure bans the host."""
        banned = self._guard.record_auth_failure(host, now)
        where = host or "an unknown peer"
        if banned:
            log.warning("- http login failed from %s: banned for %.0f s", where, self.ban_time)
        else:
            log.warning("- http login failed from %s", where)
        return banned
