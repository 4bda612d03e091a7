"""The switch's HTTP side: ``/metrics`` now, the agents' form page and click-to-call later.

``http`` parses requests and writes responses (sans-IO, with limits); ``server`` is the
asyncio shell and the router (``server.route("GET", "/metrics", handler)``); ``metrics``
writes the Prometheus text format; ``switch_metrics`` reads a running switch through a
Protocol, as the control socket does; the totals it shows are kept by their owners (the
relay counts packets, the SIP guard failures and bans), except ``counters.CallCounter``, the
metrics' own listener to the B2BUA's calls ending.

The app (``App._start_http``) builds the server on ``server.http_listen`` (checked, and
parsed to host and port, by the config) and routes /metrics, /agent and /click-to-call.
"""

from softswitch.web.counters import CallCounter
from softswitch.web.http import HttpError, Request, Response
from softswitch.web.metrics import CONTENT_TYPE, Family, render
from softswitch.web.server import Handler, HttpServer, Router
from softswitch.web.switch_metrics import MetricsParts, SwitchMetrics

__all__ = [
    "CONTENT_TYPE",
    "CallCounter",
    "Family",
    "Handler",
    "HttpError",
    "HttpServer",
    "MetricsParts",
    "Request",
    "Response",
    "Router",
    "SwitchMetrics",
    "render",
]
