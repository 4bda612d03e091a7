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
from softswitch.errors import SipError, SipParseError
from softswitch.sip.endpoint import ServerTxn
from softswitch.sip.location import Aor, Binding
from softswitch.sip.message import SipRequest
from softswitch.sip.transport import Flow
from softswitch.sip.uri import parse_uri

if TYPE_CHECKING:
    from softswitch.call.b2bua import B2bua
    from softswitch.call.local import LocalApp, LocalSession

__all__ = [
    "OutboundDecision",
    "TrunkBinding",
    "TrunkCall",
    "place_trunk_call",
    "presented_identities",
    "ring_with_trunks",
    "trunk_binding",
]

log = logging.getLogger("softswitch.call")

OUTBOUND_RING_TIME = 180.0  # the provider says when nobody answers; this only bounds it


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


async def place_trunk_call(
    b2bua: B2bua,
    txn: ServerTxn,
    request: SipRequest,
    flow: Flow,
    caller: tuple[str, str],
    decision: OutboundDecision,
) -> None:
    """Resolve the trunk, then ring it for the caller (leg A waits: its INVITE is absorbed)."""
    call = decision.call
    assert call is not None
    try:
        binding = await trunk_binding(call.trunk, call.number, call.label)
    except SipError as exc:
        b2bua.endpoint.respond(txn, exc.status, exc.reason)
        b2bua.endpoint.flush()
        return
    if txn.status >= 200:
        return  # cancelled meanwhile
    now = b2bua.endpoint.clock.monotonic()
    try:
        placed = b2bua.start_call(
            txn,
            request,
            flow,
            caller,
            call.label,
            [binding],
            OUTBOUND_RING_TIME,
            now,
            record=decision.record,
        )
        placed.direction = "outbound"
    except SipError as exc:
        b2bua.endpoint.respond(txn, exc.status, exc.reason)
    b2bua.endpoint.flush()


async def ring_with_trunks(
    session: LocalSession,
    label: str,
    caller: tuple[str, str],
    bindings: list[Binding],
    externals: list[TrunkCall],
    seconds: float,
) -> None:
    """Resolve the trunks' addresses, then ring everything (503 if nothing is left)."""
    targets = list(bindings)
    for external in externals:
        try:
            targets.append(await trunk_binding(external.trunk, external.number, external.label))
        except SipError:
            continue  # logged where it failed; the other targets still ring
    if not targets:
        session.dial_failed(503)
        return
    await session.ring(label, caller, targets, seconds)


def presented_identities(request: SipRequest) -> tuple[str, ...]:
    """The identities a phone offers for an outbound call: P-Preferred-Identity, From."""
    found: list[str] = []
    for value in (request.get("p-preferred-identity"), request.from_.uri):
        if value:
            uri = value[value.find("<") + 1 : value.rfind(">")] if "<" in value else value
            try:
                found.append(parse_uri(uri).user_unescaped or "")
            except SipParseError:
                continue
    return tuple(found)
