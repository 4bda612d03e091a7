"""The asyncio edge of SIP: UDP sockets and TCP connections.

Everything here moves bytes; nothing decides protocol behaviour. Received datagrams and
framed TCP messages go to one callback with the ``Flow`` they came on; sending to a Flow
uses the same socket or connection, so replies follow the path the request took (which is
what gets a phone behind NAT its answers, RFC 3581).
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from typing import NamedTuple, cast

from softswitch.errors import SipParseError
from softswitch.sip.framing import KeepAlivePing, StreamFramer

log = logging.getLogger("softswitch.sip")


class Flow(NamedTuple):
    """Where a message came from / must go: transport, remote host and port.

    A NamedTuple: one is built per datagram received, and tuples are cheap to build and hash.
    """

    transport: str  # "udp" | "tcp"
    host: str
    port: int

    @property
    def reliable(self) -> bool:
        return self.transport != "udp"

    def __str__(self) -> str:
        return f"{self.transport}:{self.host}:{self.port}"


MessageCallback = Callable[[bytes, Flow, bool], None]  # data, flow, stream


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, on_message: MessageCallback) -> None:
        self._on_message = on_message

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if data in (b"\r\n", b"\r\n\r\n", b"\x00\x00\x00\x00"):
            return  # NAT keep-alives (RFC 5626 CRLF, and some phones' zero words)
        try:
            self._on_message(data, Flow("udp", addr[0], addr[1]), False)
        except Exception:  # one bad packet must never stop the socket
            log.exception("- error handling a datagram from %s:%s", addr[0], addr[1])

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable and the like: nothing to do, transactions time out.
        log.debug("- udp error: %s", exc)


class _TcpConnection(asyncio.Protocol):
    def __init__(self, owner: SipTransport, max_size: int) -> None:
        self._owner = owner
        self._framer = StreamFramer(max_size)
        self.transport: asyncio.Transport | None = None
        self.flow: Flow | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport; uvloop's is not a registered asyncio.Transport subclass, so no
        # isinstance check here (it broke every TCP connection on uvloop).
        self.transport = cast(asyncio.Transport, transport)
        host, port = transport.get_extra_info("peername")[:2]
        self.flow = Flow("tcp", host, port)
        self._owner._register_connection(self)

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None and self.flow is not None
        try:
            items = self._framer.feed(data)
        except SipParseError as exc:
            log.info("- closing %s: %s", self.flow, exc.reason)
            self.transport.close()
            return
        for item in items:
            if isinstance(item, KeepAlivePing):
                self.transport.write(b"\r\n")
                continue
            try:
                self._owner.on_message(item, self.flow, True)
            except Exception:
                log.exception("- error handling a message from %s", self.flow)

    def connection_lost(self, exc: Exception | None) -> None:
        self._owner._unregister_connection(self)


class SipTransport:
    """Owns every SIP socket: UDP listeners, the TCP server and its connections."""

    def __init__(self, on_message: MessageCallback, max_size: int, max_connections: int) -> None:
        self.on_message = on_message
        self._max_size = max_size
        self._max_connections = max_connections
        self._udp: list[asyncio.DatagramTransport] = []
        self._servers: list[asyncio.Server] = []
        self._connections: dict[tuple[str, int], _TcpConnection] = {}
        self.bound: list[tuple[str, str, int]] = []  # (transport, host, port) actually bound

    async def listen_udp(self, host: str, port: int) -> tuple[str, int]:
        loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
        # Large buffers absorb bursts (load tests send thousands of INVITEs a second).
        for opt in (socket.SO_RCVBUF, socket.SO_SNDBUF):
            sock.setsockopt(socket.SOL_SOCKET, opt, 4 * 1024 * 1024)
        sock.bind((host, port))
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _UdpProtocol(self.on_message), sock=sock
        )
        self._udp.append(transport)
        bound = sock.getsockname()[:2]
        self.bound.append(("udp", bound[0], bound[1]))
        return bound[0], bound[1]

    async def listen_tcp(self, host: str, port: int) -> tuple[str, int]:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            lambda: _TcpConnection(self, self._max_size), host, port, reuse_address=True
        )
        self._servers.append(server)
        bound = server.sockets[0].getsockname()[:2]
        self.bound.append(("tcp", bound[0], bound[1]))
        return bound[0], bound[1]

    def send(self, flow: Flow, data: bytes) -> bool:
        """Send bytes along a flow; False if it cannot be sent now (no such connection)."""
        if flow.transport == "udp":
            if not self._udp:
                return False
            self._udp[0].sendto(data, (flow.host, flow.port))
            return True
        conn = self._connections.get((flow.host, flow.port))
        if conn is None or conn.transport is None or conn.transport.is_closing():
            return False
        conn.transport.write(data)
        return True

    def _register_connection(self, conn: _TcpConnection) -> None:
        assert conn.flow is not None and conn.transport is not None
        if len(self._connections) >= self._max_connections:
            log.warning("- refusing tcp connection from %s: too many connections", conn.flow)
            conn.transport.close()
            return
        self._connections[(conn.flow.host, conn.flow.port)] = conn

    def _unregister_connection(self, conn: _TcpConnection) -> None:
        if (
            conn.flow is not None
            and self._connections.get((conn.flow.host, conn.flow.port)) is conn
        ):
            del self._connections[(conn.flow.host, conn.flow.port)]

    @property
    def connection_count(self) -> int:
        return len(self._connections)

    async def close(self) -> None:
        for transport in self._udp:
            transport.close()
        for server in self._servers:
            server.close()
        for conn in list(self._connections.values()):
            if conn.transport is not None:
                conn.transport.close()
        for server in self._servers:
            await server.wait_closed()
        self._udp.clear()
        self._servers.clear()


def local_address_for(remote_host: str, fallback: str = "127.0.0.1") -> str:
    """The local address the kernel would use to reach ``remote_host`` (no packet is sent)."""
    family = socket.AF_INET6 if ":" in remote_host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect((remote_host, 9))
            return str(probe.getsockname()[0])
        except OSError:
            return fallback
