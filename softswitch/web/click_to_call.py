"""Click-to-call (``POST /click-to-call``): ring the agent's phones, then the number.

A CRM or a web page asks the switch, with the token of ``server.click_to_call_token``
(``Authorization: Bearer TOKEN``), to connect extension ``extension`` with ``number``
(``application/x-www-form-urlencoded``). The switch checks everything before anything rings:
the token (compared in constant time; wrong or missing → 403, nothing else said), the
extension (404), its permission to call out and a route for the number (403 / 422, as when
the phone dials it), a registered phone (409). Then it rings every registered phone of the
agent at once (when one answers, the others stop, as for a call to the extension); when the
agent answers, the number is dialled through the trunk with the agent's caller ID, the agent
hears ringback, and the two are joined. The answer is 202 with the Call-ID; the call is in the
history as outbound.
"""

from __future__ import annotations

import hmac
import json
import logging
from typing import Protocol
from urllib.parse import parse_qsl

from softswitch.call.b2bua import B2bua
from softswitch.call.local import Dialer
from softswitch.call.originate import originate
from softswitch.clock import Clock
from softswitch.config.model import CompiledConfig
from softswitch.dialplan.click_to_call import DialApp
from softswitch.dialplan.services import MediaStack
from softswitch.errors import SipError
from softswitch.sip.location import Aor, LocationService
from softswitch.web.http import HttpError, Request, Response
from softswitch.web.server import HttpServer

__all__ = ["ClickToCall", "register_click_to_call"]

log = logging.getLogger("softswitch.web")

PATH = "/click-to-call"
MAX_BODY = 4096


class _Switch(Protocol):
    @property
    def config(self) -> CompiledConfig: ...
    @property
    def b2bua(self) -> B2bua: ...
    @property
    def location(self) -> LocationService: ...
    @property
    def media(self) -> MediaStack: ...
    @property
    def clock(self) -> Clock: ...
    @property
    def dialer(self) -> Dialer: ...


class ClickToCall:
    def __init__(self, switch: _Switch) -> None:
        self.switch = switch

    async def handle(self, request: Request) -> Response:
        config = self.switch.config
        token = config.server.click_to_call_token
        if not token:
            raise HttpError(404, "click-to-call is off (server.click_to_call_token)")
        given = request.header("authorization") or ""
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            raise HttpError(403, "wrong token")
        extension, number = _fields(request)
        ext = config.extensions.get(extension)
        if ext is None:
            raise HttpError(404, f"no extension {extension}")
        decision = self.switch.media.route_outbound(extension, number, ())
        if decision.status == 403:
            raise HttpError(403, f"extension {extension} may not call external numbers")
        if decision.call is None:
            raise HttpError(422, f"no outbound route takes {number}")
        switch = self.switch
        bindings = switch.location.lookup(Aor(extension), switch.clock.wall())
        if not bindings:
            raise HttpError(409, f"extension {extension} has no registered phone")
        ring_time = ext.ring_time or config.server.ring_time
        try:
            call = await originate(
                switch.b2bua,
                switch.media.services,
                bindings,  # every phone of the agent rings; the first to answer takes it
                (number, "click-to-call"),  # what the agent's screen shows
                ring_time,
                DialApp(f"external:{number}"),
                switch.dialer,
            )
        except SipError as exc:
            raise HttpError(503, exc.reason) from None
        call.caller, call.caller_name = decision.caller_id, ext.name  # what the far end sees
        call.callee = number
        log.info("%s click-to-call: %s then %s", call.call_id, extension, number)
        body = json.dumps({"call_id": call.call_id}).encode()
        return Response(202, body, "application/json")


def _fields(request: Request) -> tuple[str, str]:
    if len(request.body) > MAX_BODY:
        raise HttpError(413, "body too large")
    kind = (request.header("content-type") or "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise HttpError(415, "send application/x-www-form-urlencoded")
    try:
        pairs = parse_qsl(request.body.decode("utf-8", "strict"), strict_parsing=True)
    except (UnicodeDecodeError, ValueError):
        raise HttpError(400, "malformed form body") from None
    fields = dict(pairs)
    if len(fields) != len(pairs) or set(fields) != {"extension", "number"}:
        raise HttpError(400, "exactly the fields extension and number are needed")
    if not fields["extension"] or not fields["number"]:
        raise HttpError(400, "extension and number must not be empty")
    return fields["extension"], fields["number"]


def register_click_to_call(http: HttpServer, switch: _Switch) -> ClickToCall:
    page = ClickToCall(switch)
    http.route("POST", PATH, page.handle)
    return page
