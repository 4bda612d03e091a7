"""The asyncio edge of the RTP relay: the only RTP module that touches sockets.

``RtpRelay`` owns every RTP/RTCP socket of the server (one relay per server). Each call leg
gets an ``RtpEndpoint``: an even RTP port and the odd RTCP port above it, bound on the relay's
address. Linking two endpoints makes packets received on one go out of the other's sockets to
that leg's phone, RTP and RTCP separately; the per-packet work lives in ``relay.RelaySocket``.

The relay also keeps the process totals ``/metrics`` shows (``totals()``, see ``totals``):
its sockets count every packet already, and an endpoint's counts are added up when it
closes, before they are zeroed for the next call, so the per-packet path is untouched.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import ipaddress
import socket
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from softswitch.errors import SipError
from softswitch.rtp.ports import PortAllocator
from softswitch.rtp.relay import Address, RelaySocket, SocketStats
from softswitch.rtp.totals import RelayTotals, RtpTotals

__all__ = ["EndpointStats", "NoPortsAvailable", "RtpEndpoint", "RtpRelay"]

# DSCP EF (RFC 3246) in the IPv4 TOS byte: voice gets priority on networks that honour it.
_TOS_EF = 0xB8
_BIND_RETRY_ERRNOS = frozenset({errno.EADDRINUSE, errno.EACCES})
_HOLD_HOSTS = frozenset({"0.0.0.0", "::"})


# Seconds a closed endpoint rests before another call may use it, and how many may rest.
COOL_DOWN = 2.0
MAX_PARKED = 4096
# Pairs tried per new endpoint before answering "no ports" (each failed try is two syscalls).
MAX_BIND_TRIES = 32


class NoPortsAvailable(SipError):
    """Every RTP port pair is in use (or held by someone else): answer 503."""

    def __init__(self) -> None:
        super().__init__(503, "Service Unavailable")
        self.args = ("no RTP port pair available",)


@dataclass(frozen=True, slots=True)
class EndpointStats:
    local_port: int
    rtp: SocketStats
    rtcp: SocketStats


class RtpEndpoint:
    """One leg's RTP+RTCP socket pair on the switch (RTCP on ``local_port + 1``)."""

    __slots__ = ("_transports", "family", "local_port", "peer", "rtcp", "rtp")

    def __init__(
        self,
        local_port: int,
        family: socket.AddressFamily,
        rtp: RelaySocket,
        rtcp: RelaySocket,
        transports: tuple[asyncio.DatagramTransport, asyncio.DatagramTransport],
    ) -> None:
        self.local_port = local_port
        self.family = family
        self.rtp = rtp
        self.rtcp = rtcp
        self.peer: RtpEndpoint | None = None
        self._transports = transports

    def set_remote(self, host: str, port: int | None, rtcp: tuple[str, int] | None = None) -> None:
        """Where this leg's SDP wants media (see offer_answer.media_target / rtcp_target).

        A changed address forgets the latched sources. Host 0.0.0.0 (hold) or port 0/None
        (disabled) sends nothing until a usable address comes. A hostname or an address of
        the other IP family is not sent to (resolving it per packet would block the loop):
        the leg then relies on latching alone.
        """
        if port is None or port == 0 or host in _HOLD_HOSTS:
            self.rtp.set_remote(None, muted=True)
            self.rtcp.set_remote(None, muted=True)
            return
        self.rtp.set_remote(self._usable(host, port))
        if rtcp is None:
            rtcp = (host, port + 1)
        self.rtcp.set_remote(self._usable(*rtcp))

    def _usable(self, host: str, port: int) -> Address | None:
        if not 0 < port <= 65535:
            return None
        wanted = 6 if self.family == socket.AF_INET6 else 4
        return (host, port) if _ip_version(host) == wanted else None

    @property
    def latched(self) -> Address | None:
        """The address RTP from this leg's phone comes from, once packets arrived."""
        return self.rtp.source

    @property
    def stats(self) -> EndpointStats:
        return EndpointStats(self.local_port, self.rtp.stats(), self.rtcp.stats())

    def __repr__(self) -> str:
        return f"<RtpEndpoint {self.local_port} -> {self.rtp.dest}>"


@functools.lru_cache(maxsize=4096)
def _ip_version(host: str) -> int:
    """4 or 6 for a literal address, 0 otherwise (cached: every SDP names one)."""
    try:
        return ipaddress.ip_address(host).version
    except ValueError:
        return 0


class RtpRelay:
    """Owns every RTP socket; hands out endpoints and wires them together."""

    def __init__(
        self,
        bind_host: str,
        port_min: int,
        port_max: int,
        *,
        cool_down: float = COOL_DOWN,
        max_parked: int = MAX_PARKED,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.bind_host = bind_host
        self.ports = PortAllocator(port_min, port_max)
        self._family = socket.AF_INET6 if ":" in bind_host else socket.AF_INET
        self._endpoints: dict[int, RtpEndpoint] = {}
        # Closed endpoints keep their sockets here, oldest first, for reuse once cooled down:
        # binding two sockets and starting two transports per leg costs more than a whole
        # SIP transaction, and a call needs two legs.
        self._parked: deque[tuple[float, RtpEndpoint]] = deque()
        self._cool_down = cool_down
        self._max_parked = max_parked
        self._clock = clock
        self._totals = RelayTotals()

    @property
    def parked_endpoints(self) -> int:
        return len(self._parked)

    @property
    def active_endpoints(self) -> int:
        return len(self._endpoints)

    def totals(self) -> RtpTotals:
        """Packets since start: closed endpoints' final counts plus open ones' so far (a walk
        over the open endpoints, for a scrape)."""
        return self._totals.read(self._endpoints.values())

    async def open_endpoint(self) -> RtpEndpoint:
        """Allocate a port pair and bind it; pairs someone else holds are skipped."""
        reused = self._unpark()
        if reused is not None:
            return reused
        # Bounded twice: each free pair is tried at most once, and at most MAX_BIND_TRIES
        # pairs per call, so a range that another program took over costs a few failed
        # binds per call, not thousands.
        for _ in range(min(self.ports.available, MAX_BIND_TRIES)):
            port = self.ports.allocate()
            if port is None:
                break
            try:
                sockets = self._bind_pair(port)
            except OSError as exc:
                if exc.errno not in _BIND_RETRY_ERRNOS:
                    self.ports.release(port)
                    raise
                self.ports.mark_unusable(port)
                continue
            return await self._start(port, sockets)
        raise NoPortsAvailable()

    def _bind_pair(self, port: int) -> tuple[socket.socket, socket.socket]:
        rtp = self._bind(port)
        try:
            rtcp = self._bind(port + 1)
        except OSError:
            rtp.close()
            raise
        return rtp, rtcp

    def _bind(self, port: int) -> socket.socket:
        sock = socket.socket(self._family, socket.SOCK_DGRAM)
        try:
            sock.setblocking(False)
            if self._family == socket.AF_INET:
                sock.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, _TOS_EF)
            sock.bind((self.bind_host, port))
        except OSError:
            sock.close()
            raise
        return sock

    async def _start(self, port: int, sockets: tuple[socket.socket, socket.socket]) -> RtpEndpoint:
        loop = asyncio.get_running_loop()
        rtp, rtcp = RelaySocket(), RelaySocket(rtcp=True)
        transports: list[asyncio.DatagramTransport] = []
        try:
            for sock, protocol in zip(sockets, (rtp, rtcp), strict=True):
                transports.append(await _serve(loop, sock, protocol))
        except BaseException:
            # Cancelled or failed half-way: give back what we took, sockets and port.
            for transport in transports:
                transport.close()
            for sock in sockets[len(transports) :]:
                sock.close()
            self.ports.release(port)
            raise
        endpoint = RtpEndpoint(port, self._family, rtp, rtcp, (transports[0], transports[1]))
        self._endpoints[port] = endpoint
        return endpoint

    def link(self, a: RtpEndpoint, b: RtpEndpoint) -> None:
        """Relay both ways: what a's phone sends goes to b's phone and vice versa."""
        if a is b:
            raise ValueError("cannot link an endpoint to itself")
        for endpoint in (a, b):
            if endpoint.peer is not None:
                self.unlink(endpoint)
        a.peer, b.peer = b, a
        a.rtp.link(b.rtp)
        b.rtp.link(a.rtp)
        a.rtcp.link(b.rtcp)
        b.rtcp.link(a.rtcp)

    def unlink(self, a: RtpEndpoint) -> None:
        """Stop relaying between a and its peer (packets are then dropped, or go to a sink)."""
        b = a.peer
        for endpoint in (a, b):
            if endpoint is not None:
                endpoint.peer = None
                endpoint.rtp.link(None)
                endpoint.rtcp.link(None)

    def set_sink(self, ep: RtpEndpoint, sink: Callable[[bytes], None] | None) -> None:
        """Deliver RTP received on ep to ``sink`` instead of the peer (None: back to the peer).

        RTCP keeps following the link: a media port has no use for the phone's reports.
        """
        ep.rtp.set_sink(sink)

    def send(self, ep: RtpEndpoint, data: bytes) -> None:
        """Send an RTP packet from ep's RTP socket to its phone."""
        ep.rtp.send(data)

    def take_parked(self) -> RtpEndpoint | None:
        """A cooled-down parked endpoint, at once (no await), or None if there is none."""
        return self._unpark()

    def _unpark(self) -> RtpEndpoint | None:
        """The oldest parked endpoint, if it has cooled down long enough to be reused.

        Late packets of the call it served (still in flight at hang-up) must not latch onto
        the next call, hence the cool-down; the sockets are reset again at reuse because a
        stray packet may have latched them while parked.
        """
        if not self._parked:
            return None
        parked_at, endpoint = self._parked[0]
        if self._clock() - parked_at < self._cool_down:
            return None
        self._parked.popleft()
        endpoint.rtp.reset()
        endpoint.rtcp.reset()
        self._endpoints[endpoint.local_port] = endpoint
        return endpoint

    def close_endpoint(self, ep: RtpEndpoint) -> None:
        """Stop relaying for ep and free it (parked for reuse). Closing twice is harmless."""
        if self._endpoints.get(ep.local_port) is not ep:
            return
        self.unlink(ep)
        del self._endpoints[ep.local_port]
        self._totals.retire(ep)  # before the sockets are zeroed or closed
        if len(self._parked) < self._max_parked:
            ep.rtp.reset()
            ep.rtcp.reset()
            self._parked.append((self._clock(), ep))
            return
        self._destroy(ep)

    def _destroy(self, ep: RtpEndpoint) -> None:
        ep.rtp.close()
        ep.rtcp.close()
        for transport in ep._transports:
            transport.close()
        # The pair goes to the back of the queue; if the kernel still holds the sockets when
        # it comes round again, open_endpoint skips it.
        self.ports.release(ep.local_port)

    def close(self) -> None:
        for endpoint in list(self._endpoints.values()):
            self.unlink(endpoint)
            del self._endpoints[endpoint.local_port]
            self._totals.retire(endpoint)  # the totals stay, even after the relay is gone
            self._destroy(endpoint)
        while self._parked:
            self._destroy(self._parked.popleft()[1])


async def _serve(
    loop: asyncio.AbstractEventLoop, sock: socket.socket, protocol: RelaySocket
) -> asyncio.DatagramTransport:
    transport, _ = await loop.create_datagram_endpoint(lambda: protocol, sock=sock)
    return transport
