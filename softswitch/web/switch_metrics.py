"""``SwitchMetrics``: the ``/metrics`` page of a running switch, read from its parts.

Like the control socket's ``AppView``, this sits below ``softswitch.app`` and cannot name
``App``: ``MetricsParts`` lists the attributes it reads, and each owner is asked (DESIGN
habit 4): live calls from the B2BUA's registry, bindings from the location service, waiting
callers from the queue service, endpoints from the relay. The totals come from their owners
too, passed in as ``calls`` (``counters.CallCounter``), ``security`` (the SIP ``Guard``) and
``rtp`` (the ``RtpRelay``); each is optional, and its families are left out when it is not
given. Failed web logins and the hosts banned for them are the HTTP
server's (``App.http.logins``), read while the server runs.

A scrape runs on the switch's event loop (the HTTP server calls handlers there) and is a walk
over small collections: a company's calls, phones, queues and bans.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

import softswitch
from softswitch.call.b2bua import B2bua
from softswitch.clock import Clock
from softswitch.dialplan.queue_app import QueueRunner
from softswitch.rtp.totals import RtpTotals, StreamTotals
from softswitch.sip.location import LocationService
from softswitch.web.http import Request, Response
from softswitch.web.metrics import Family, counter, gauge, metrics_response

__all__ = ["CallCounts", "MetricsParts", "RtpCounts", "SecurityCounts", "SwitchMetrics"]


class _Media(Protocol):
    @property
    def queues(self) -> QueueRunner: ...


class _Relay(Protocol):
    @property
    def active_endpoints(self) -> int: ...
    @property
    def parked_endpoints(self) -> int: ...


class _Logins(Protocol):
    """``throttle.LoginThrottle``."""

    @property
    def failures(self) -> int: ...
    @property
    def bans(self) -> int: ...
    def active_bans(self, now: float) -> int: ...


class _Http(Protocol):
    @property
    def logins(self) -> _Logins: ...


class MetricsParts(Protocol):
    """The attributes of ``softswitch.app.App`` this page reads."""

    @property
    def clock(self) -> Clock: ...
    @property
    def b2bua(self) -> B2bua: ...
    @property
    def location(self) -> LocationService: ...
    @property
    def media(self) -> _Media: ...
    @property
    def relay(self) -> _Relay: ...
    @property
    def http(self) -> _Http | None: ...


class CallCounts(Protocol):
    """``counters.CallCounter``."""

    @property
    def answered(self) -> int: ...
    @property
    def unanswered(self) -> int: ...


class SecurityCounts(Protocol):
    """``softswitch.sip.guard.Guard``."""

    @property
    def auth_failures(self) -> int: ...
    @property
    def bans(self) -> int: ...
    def active_bans(self, now: float) -> int: ...


class RtpCounts(Protocol):
    """``softswitch.rtp.transport.RtpRelay``."""

    def totals(self) -> RtpTotals: ...


class SwitchMetrics:
    """The families of one scrape; ``handle`` is the ``GET /metrics`` handler. Uptime counts
    from ``started`` (monotonic; default: when this is made, i.e. when the app starts)."""

    def __init__(
        self,
        switch: MetricsParts,
        *,
        calls: CallCounts | None = None,
        security: SecurityCounts | None = None,
        rtp: RtpCounts | None = None,
        started: float | None = None,
    ) -> None:
        self.switch = switch
        self.calls = calls
        self.security = security
        self.rtp = rtp
        self.started = switch.clock.monotonic() if started is None else started

    def handle(self, request: Request) -> Response:
        return metrics_response(self.families())

    def families(self) -> list[Family]:
        return [
            *self._process(),
            *self._calls(),
            *self._queues(),
            *self._media(),
            *self._security(),
            *self._web(),
        ]

    def _process(self) -> Iterator[Family]:
        sw = self.switch
        yield gauge(
            "softswitch_info", "The running version.", [((("version", softswitch.__version__),), 1)]
        )
        yield gauge(
            "softswitch_uptime_seconds",
            "Seconds since the switch started.",
            sw.clock.monotonic() - self.started,
        )
        now = sw.clock.wall()
        live = sum(1 for b in sw.location.all_bindings() if b.expires_at > now)
        yield gauge("softswitch_registrations", "Registered phone contacts (bindings).", live)

    def _calls(self) -> Iterator[Family]:
        ringing = answered = 0
        for call in self.switch.b2bua.calls:
            if call.ended:
                continue
            if call.answered is None:
                ringing += 1
            else:
                answered += 1
        yield gauge(
            "softswitch_calls",
            "Live calls: ringing, or answered (by a phone or by the switch itself).",
            [((("state", "ringing"),), ringing), ((("state", "answered"),), answered)],
        )
        if self.calls is not None:
            yield counter(
                "softswitch_calls_total",
                "Calls ended since start; rate() gives calls per second.",
                [
                    ((("outcome", "answered"),), self.calls.answered),
                    ((("outcome", "unanswered"),), self.calls.unanswered),
                ],
            )

    def _queues(self) -> Iterator[Family]:
        """Waits count from when the call came in, as the control socket's ``queues`` shows
        them: the queue service does not say when a caller joined (an IVR before the queue
        counts)."""
        runner = self.switch.media.queues
        now = runner.monotonic()
        started = {c.call_id: c.started for c in self.switch.b2bua.calls if not c.ended}
        waiting, longest = [], []
        for name in sorted(runner.queues):
            waits = [
                now - started[call_id]
                for caller_id in runner.service.waiting(name)
                if (call_id := caller_id.rpartition("#")[0] or caller_id) in started
            ]
            labels = (("queue", name),)
            waiting.append((labels, float(len(waits))))
            longest.append((labels, max(waits, default=0.0)))
        yield gauge("softswitch_queue_waiting", "Callers waiting in each queue.", waiting)
        yield gauge(
            "softswitch_queue_longest_wait_seconds",
            "How long the longest-waiting caller of each queue has waited (0: nobody waits).",
            longest,
        )

    def _media(self) -> Iterator[Family]:
        relay = self.switch.relay
        yield gauge(
            "softswitch_rtp_endpoints",
            "RTP/RTCP port pairs: in use by calls, or parked for reuse.",
            [
                ((("state", "active"),), relay.active_endpoints),
                ((("state", "parked"),), relay.parked_endpoints),
            ],
        )
        if self.rtp is None:
            return
        totals = self.rtp.totals()
        streams = (("rtp", totals.rtp), ("rtcp", totals.rtcp))
        yield counter(
            "softswitch_rtp_packets_received_total",
            "Packets received from phones.",
            [((("stream", name),), s.received) for name, s in streams],
        )
        yield counter(
            "softswitch_rtp_packets_relayed_total",
            "Packets sent on to phones: relayed from the other leg, or played by the switch.",
            [((("stream", name),), s.sent) for name, s in streams],
        )
        yield counter(
            "softswitch_rtp_packets_dropped_total",
            "Packets the switch did not pass on: no destination yet (no_destination), or from "
            "a source strict latching refuses or not RTP at all (rejected).",
            list(_dropped(streams)),
        )
        yield counter(
            "softswitch_rtp_packets_lost_total",
            "Packets lost on the way to the phones, as their RTCP reports count them.",
            totals.lost,
        )

    def _security(self) -> Iterator[Family]:
        guard = self.security
        if guard is None:
            return
        yield counter(
            "softswitch_auth_failures_total",
            "Failed authentications (REGISTER and INVITE digest answers that did not match).",
            guard.auth_failures,
        )
        yield counter(
            "softswitch_bans_total", "Source addresses banned for repeated failures.", guard.bans
        )
        yield gauge(
            "softswitch_bans",
            "Source addresses banned now.",
            guard.active_bans(self.switch.clock.monotonic()),
        )

    def _web(self) -> Iterator[Family]:
        http = self.switch.http
        if http is None:
            return
        logins = http.logins
        yield counter(
            "softswitch_web_login_failures_total",
            "Failed logins to the web pages (the agent page): credentials sent and wrong.",
            logins.failures,
        )
        yield counter(
            "softswitch_web_login_bans_total",
            "Hosts refused web logins for repeated failures.",
            logins.bans,
        )
        yield gauge(
            "softswitch_web_login_bans",
            "Hosts refused web logins now.",
            logins.active_bans(self.switch.clock.monotonic()),
        )


def _dropped(
    streams: tuple[tuple[str, StreamTotals], ...],
) -> Iterator[tuple[tuple[tuple[str, str], ...], float]]:
    for name, s in streams:
        yield (("stream", name), ("reason", "no_destination")), s.dropped
        yield (("stream", name), ("reason", "rejected")), s.rejected
