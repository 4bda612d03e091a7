"""The switch's HTTP side: ``/metrics`` now, the agents' form page and click-to-call later.

``http`` parses requests and writes responses (sans-IO, with limits); ``server`` is the
asyncio shell and the router (``server.route("GET", "/metrics", handler)``); ``metrics``
writes the Prometheus text format; ``switch_metrics`` reads a running switch through a
Protocol, as the control socket does; ``counters`` keeps the process totals no owner keeps
yet (packets relayed and lost, authentication failures and bans, calls ended).

Wiring in the app (``softswitch.web`` sits with ``softswitch.control`` below the app)::

    self.guard = CountingGuard(...)           # instead of Guard(...)
    self.relay = CountingRelay(...)           # instead of RtpRelay(...)
    self.call_counter = CallCounter()         # told by b2bua.on_finished
    metrics = SwitchMetrics(self, calls=self.call_counter, security=self.guard, rtp=self.relay)
    self.http = HttpServer(wall=self.clock.wall)
    self.http.route("GET", "/metrics", metrics.handle)
    await self.http.start(*parse_listen(config.server.http_listen))
"""

from softswitch.web.counters import CallCounter, CountingGuard, CountingRelay, RtpTotals
from softswitch.web.http import HttpError, Request, Response
from softswitch.web.metrics import CONTENT_TYPE, Family, render
from softswitch.web.server import Handler, HttpServer, Router, parse_listen
from softswitch.web.switch_metrics import MetricsParts, SwitchMetrics

__all__ = [
    "CONTENT_TYPE",
    "CallCounter",
    "CountingGuard",
    "CountingRelay",
    "Family",
    "Handler",
    "HttpError",
    "HttpServer",
    "MetricsParts",
    "Request",
    "Response",
    "Router",
    "RtpTotals",
    "SwitchMetrics",
    "parse_listen",
    "render",
]
