"""A provider's trunk as something the B2BUA can ring: a binding with credentials.

The B2BUA rings ``Binding``s (a phone's registered contact and the address its packets come
from). A trunk is one more such target: the Request-URI is ``sip:NUMBER@host:port``, packets
go to the trunk's resolved address, and the provider's 401/407 on the INVITE is answered with
the trunk's credentials (``TrunkBinding.username``/``password``). Only UDP trunks place calls
today (the transport opens no outbound TCP connections); a TCP trunk fails the call with 503
and a clear log line.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import math
import socket
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from softswitch.config.routing_model import Trunk
from softswitch.errors import SipError
from softswitch.sip.location import Aor, Binding

if TYPE_CHECKING:
    from softswitch.call.local import LocalApp

__all__ = ["OutboundDecision", "TrunkBinding", "TrunkCall", "trunk_binding"]

log = logging.getLogger("softswitch.call")


@dataclass(frozen=True, slots=True)
class TrunkCall:
    """Send ``number`` to ``trunk``, presenting ``caller_id``."""

    trunk: Trunk
    number: str  # as the trunk gets it (after the route's strip and prepend)
    label: str  # for logs: the dialled number or the external destination's name


@dataclass(frozen=True, slots=True)
class OutboundDecision:
    """An external call to place (``call``), or why not (``status``, with a sentence key)."""

    status: int = 0
    reason: str = ""
    app: LocalApp | None = None  # speaks (early media) before the refusal
    call: TrunkCall | None = None
    caller_id: str = ""
    record: bool = False


@dataclass(frozen=True, slots=True)
class TrunkBinding(Binding):
    """A call to ``contact`` through a trunk; ``username`` answers its challenges."""

    trunk: str = ""
    username: str | None = None
    password: str | None = field(default=None, repr=False)


async def _address(host: str) -> str:
    try:
        ipaddress.ip_address(host)
        return host
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, None, family=socket.AF_INET, type=socket.SOCK_DGRAM)
    except OSError as exc:
        raise SipError(503, "Trunk Unreachable") from exc
    return str(infos[0][4][0])


async def trunk_binding(trunk: Trunk, number: str, label: str) -> TrunkBinding:
    """The target for ``number`` on ``trunk``, its host resolved (503 when it cannot be)."""
    if trunk.transport != "udp":
        log.warning("- trunk %s: calls over %s are not supported yet", trunk.name, trunk.transport)
        raise SipError(503, "Trunk Transport Unsupported")
    try:
        host = await _address(trunk.host)
    except SipError:
        log.warning("- trunk %s: cannot resolve %s", trunk.name, trunk.host)
        raise
    return TrunkBinding(
        aor=Aor(label),
        contact=f"sip:{number}@{trunk.host}:{trunk.port}",
        transport="udp",
        source_host=host,
        source_port=trunk.port,
        expires_at=math.inf,
        call_id="",
        cseq=0,
        q=None,
        user_agent="",
        instance=None,
        trunk=trunk.name,
        username=trunk.username,
        password=trunk.password,
    )
