"""Calls from trunks: which trunk sent it, and where the number it is for sends it now.

A provider is recognised by the address its INVITE comes from (``inbound_from``); nothing
else gets in without a digest, so the switch cannot be used to place calls for free. Then, in
this order (as an admin reads the config):

1. a caller on the block list is refused (403) before any routing;
2. the called number, in any of its usual spellings, must be a configured ``[numbers.*]``
   (else 404), enabled and with an action for the moment of the call (else 403);
3. the number's schedule picks ``action``, ``on_holiday`` or ``on_closed`` for *now* (in
   ``server.timezone``), and ``prefix`` goes before the caller's name;
4. an action that is just ``extension:`` rings that extension as any internal call;
   ``hangup`` first refuses the call (603); anything else answers it and runs the action
   list (``ActionApp``).
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import logging
import socket
from collections.abc import Callable

from softswitch.call.switch import Inbound
from softswitch.config.model import CompiledConfig
from softswitch.dialplan.actions import LOCAL_KINDS, ActionApp, ActionContext
from softswitch.dialplan.schedule import number_actions

__all__ = ["InboundRouting"]

log = logging.getLogger("softswitch.dialplan")


class InboundRouting:
    def __init__(
        self, config: CompiledConfig, context: ActionContext, wall: Callable[[], float]
    ) -> None:
        self.config = config
        self.context = context
        self.wall = wall
        self._networks = [
            (network, trunk.name)
            for trunk in config.trunks.values()
            for network in trunk.inbound_from
        ]

    async def resolve_hosts(self) -> None:
        """A trunk given by name and no ``inbound_from``: its host's addresses are its (the
        provider calls from where it is registered). Looked up once, at start."""
        loop = asyncio.get_running_loop()
        for trunk in self.config.trunks.values():
            if trunk.inbound_from:
                continue
            try:
                infos = await loop.getaddrinfo(trunk.host, trunk.port, type=socket.SOCK_DGRAM)
            except OSError as exc:
                log.warning("- trunk %s: cannot resolve %s: %s", trunk.name, trunk.host, exc)
                continue
            for address in sorted({str(info[4][0]) for info in infos}):
                self._networks.append((ipaddress.ip_network(address), trunk.name))
                log.info("- trunk %s: calls from %s are its", trunk.name, address)

    def trunk_of(self, host: str) -> str | None:
        """The trunk whose ``inbound_from`` holds ``host``, if any."""
        if not self._networks:
            return None
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return None
        for network, name in self._networks:
            if address in network:
                return name
        return None

    def route(self, trunk: str, caller: str, name: str, called: str) -> Inbound:
        config = self.config
        if config.is_blocked(caller):
            log.info("- call from %s via %s to %s: blocked", caller or "anonymous", trunk, called)
            return Inbound(403, "Forbidden", blocked=True)
        number = config.number_for(called)
        if number is None:
            return Inbound(404, "Not Found")
        now = datetime.datetime.fromtimestamp(self.wall(), tz=datetime.UTC)
        actions = number_actions(number, now)
        if not actions:
            return Inbound(403, "Number Not In Service", did=number.did)
        display = " ".join(part for part in (number.prefix, name or caller) if part)
        kind, target = actions[0]
        log.info("- call from %s via %s to %s: %s:%s", caller, trunk, number.did, kind, target)
        if kind == "extension" and len(actions) == 1:
            # Rung as any internal call (early media, the phone's own 180): unanswered, it
            # goes to the extension's voicemail, as an internal call does.
            return Inbound(extension=target, caller_name=display, did=number.did)
        if kind == "hangup":
            return Inbound(603, "Decline", did=number.did)
        if kind in LOCAL_KINDS:
            app = ActionApp(actions, self.context)
            return Inbound(app=app, caller_name=display, did=number.did)
        log.warning("- %s:%s as a number's first step is not supported yet", kind, target)
        return Inbound(480, "Temporarily Unavailable")
