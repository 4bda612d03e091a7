"""The switch's HTTP server: the asyncio shell around ``http.py``, and a router.

Pages plug in by route: ``server.route("GET", "/metrics", handler)``; a handler takes the
``Request`` and returns a ``Response`` (or an awaitable of one), or raises ``HttpError`` for a
4xx of its own (a wrong token, a form that does not validate). The router answers 404 for an
unknown path and 405 with ``Allow`` for a method the path does not serve; HEAD is served by
the GET handler, without the body.

Every connection is one task carrying one request, bounded three ways so a slow or hostile
client cannot hold the switch's memory or tasks: ``request_timeout`` to receive the whole
request (a client that stops mid-way gets 408), ``handler_timeout`` for an awaiting handler
(503), ``write_timeout`` for the reply to drain, and at most ``max_clients`` connections at
once (more get 503). A refused request (malformed, too large) gets its 4xx and the server
goes on serving other connections. After the reply the server shuts its sending side and
reads what the client may still be sending (a body it refused, bounded by ``LINGER``) before
closing: closing with unread input would send a TCP reset that can destroy the reply before
the client reads it.

Handlers run on the event loop, like everything that reads the switch: they need no locking,
and must be quick (a metrics scrape walks a company's calls and phones).

Each request carries the connection's peer (host, port) from the transport, and the server
keeps one ``LoginThrottle`` (``logins``) for the pages that check a password: a host that
guesses wrong too often is refused on all of them (``throttle.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
from collections.abc import Awaitable, Callable

from softswitch.web.http import (
    DEFAULT_LIMITS,
    KNOWN_METHODS,
    HttpError,
    Limits,
    Request,
    RequestParser,
    Response,
    encode_response,
    error_response,
)
from softswitch.web.throttle import LoginThrottle

__all__ = [
    "HANDLER_TIMEOUT",
    "MAX_CLIENTS",
    "REQUEST_TIMEOUT",
    "Handler",
    "HttpServer",
    "Router",
]

log = logging.getLogger("softswitch.web")

REQUEST_TIMEOUT = 10.0  # seconds to receive one whole request, from the connection's start
HANDLER_TIMEOUT = 10.0  # seconds an awaiting handler may take
WRITE_TIMEOUT = 10.0  # seconds for the reply to drain to a slow reader
LINGER = 2.0  # seconds to read (and drop) what a client still sends after the reply
MAX_CLIENTS = 64  # connections at once
CHUNK = 64 * 1024

Handler = Callable[[Request], Response | Awaitable[Response]]


class Router:
    """(method, path) -> handler, exact paths only (the switch serves a few fixed pages)."""

    def __init__(self) -> None:
        self._routes: dict[str, dict[str, Handler]] = {}

    def add(self, method: str, path: str, handler: Handler) -> None:
        if method not in KNOWN_METHODS or method == "HEAD":
            raise ValueError(f"cannot route method {method!r} (HEAD follows GET)")
        if not path.startswith("/"):
            raise ValueError(f"a route's path starts with '/': {path!r}")
        methods = self._routes.setdefault(path, {})
        if method in methods:
            raise ValueError(f"{method} {path} is routed already")
        methods[method] = handler

    def resolve(self, method: str, path: str) -> Handler:
        methods = self._routes.get(path)
        if methods is None:
            raise HttpError(404, f"no page at {path}")
        handler = methods.get("GET" if method == "HEAD" else method)
        if handler is None:
            allowed = sorted({*methods, *(("HEAD",) if "GET" in methods else ())})
            raise HttpError(
                405, f"{path} does not serve {method}", (("Allow", ", ".join(allowed)),)
            )
        return handler


class HttpServer:
    """Listens on one TCP address; ``route`` before or after ``start``."""

    def __init__(
        self,
        router: Router | None = None,
        *,
        limits: Limits = DEFAULT_LIMITS,
        request_timeout: float = REQUEST_TIMEOUT,
        handler_timeout: float = HANDLER_TIMEOUT,
        write_timeout: float = WRITE_TIMEOUT,
        max_clients: int = MAX_CLIENTS,
        wall: Callable[[], float] = time.time,
        logins: LoginThrottle | None = None,
    ) -> None:
        self.router = router or Router()
        self.limits = limits
        self.request_timeout = request_timeout
        self.handler_timeout = handler_timeout
        self.write_timeout = write_timeout
        self.max_clients = max_clients
        self.wall = wall  # for the Date header only
        self.logins = LoginThrottle() if logins is None else logins
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self.address: tuple[str, int] | None = None

    def route(self, method: str, path: str, handler: Handler) -> None:
        self.router.add(method, path, handler)

    @property
    def connections(self) -> int:
        """Connections open now (each is at most one request)."""
        return len(self._connections)

    async def start(self, host: str, port: int) -> tuple[str, int]:
        """Listen; returns the bound (host, port), port 0 being the one the system chose."""
        self._server = await asyncio.start_server(self._serve, host, port, reuse_address=True)
        bound = self._server.sockets[0].getsockname()
        self.address = (str(bound[0]), int(bound[1]))
        log.info("- http on %s:%d", *self.address)
        return self.address

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._connections):
            task.cancel()
        if self._connections:
            await asyncio.gather(*self._connections, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def respond(self, request: Request) -> Response:
        """The response to one parsed request (never raises: a failing handler is a 500)."""
        try:
            handler = self.router.resolve(request.method, request.path)
            async with asyncio.timeout(self.handler_timeout):
                result = handler(request)
                if inspect.isawaitable(result):
                    result = await result
            if not isinstance(result, Response):
                raise TypeError(f"a handler returned {type(result).__name__}, not a Response")
            return result
        except HttpError as exc:
            return error_response(exc)
        except TimeoutError:
            log.warning(
                "- http %s %s: no answer within %.0f s", *_line(request), self.handler_timeout
            )
            return error_response(HttpError(503, "the page took too long"))
        except Exception:
            log.exception("- http %s %s failed", *_line(request))
            return error_response(HttpError(500, "internal error"))

    # --- connections -----------------------------------------------------------------------
    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            if len(self._connections) > self.max_clients:
                busy = HttpError(503, f"too many connections ({self.max_clients})")
                await self._send(writer, error_response(busy), head=False)
            else:
                response, head = await self._answer(reader, _peer(writer))
                if response is not None:
                    await self._send(writer, response, head=head)
            await self._linger(reader, writer)
        except (TimeoutError, ConnectionError):
            pass  # a slow or vanished client: nothing more to say
        except asyncio.CancelledError:
            # close(): the connection ends here. Not re-raised: asyncio's stream callback
            # (3.11) reports a cancelled connection task as an unhandled error.
            pass
        except Exception:
            log.exception("- http connection failed")
        finally:
            self._connections.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError, TimeoutError):
                await asyncio.wait_for(writer.wait_closed(), 1.0)

    async def _answer(
        self, reader: asyncio.StreamReader, peer: tuple[str, int] | None
    ) -> tuple[Response | None, bool]:
        """The response to the connection's request, and whether it answers a HEAD; None for
        a client that sent nothing (it gets nothing back)."""
        parser = RequestParser(self.limits, peer)
        try:
            async with asyncio.timeout(self.request_timeout):
                request = await _read_request(reader, parser)
        except TimeoutError:
            late = HttpError(408, f"request not received within {self.request_timeout:g} s")
            return (error_response(late) if parser.started else None), False
        except HttpError as exc:
            return error_response(exc), False
        if request is None:  # the client closed its side before a whole request came
            cut = HttpError(400, "incomplete request")
            return (error_response(cut) if parser.started else None), False
        return await self.respond(request), request.method == "HEAD"

    async def _send(self, writer: asyncio.StreamWriter, response: Response, *, head: bool) -> None:
        try:
            data = encode_response(response, head=head, now=self.wall())
        except ValueError:
            log.exception("- http: a handler built an unsafe response")
            data = encode_response(error_response(HttpError(500, "internal error")))
        writer.write(data)
        async with asyncio.timeout(self.write_timeout):
            await writer.drain()

    async def _linger(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if writer.can_write_eof():
            writer.write_eof()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(LINGER):
                while await reader.read(CHUNK):
                    pass


async def _read_request(reader: asyncio.StreamReader, parser: RequestParser) -> Request | None:
    while True:
        data = await reader.read(CHUNK)
        if not data:
            return None
        request = parser.feed(data)
        if request is not None:
            return request


def _peer(writer: asyncio.StreamWriter) -> tuple[str, int] | None:
    """(host, port) of the connection's other end; an IPv4 client of a dual-stack socket
    as its IPv4 address (``::ffff:192.0.2.7`` is the same host as ``192.0.2.7``)."""
    name = writer.get_extra_info("peername")
    if not isinstance(name, tuple) or len(name) < 2:
        return None
    host = str(name[0])
    if host.startswith("::ffff:") and "." in host:
        host = host.removeprefix("::ffff:")
    return host, int(name[1])


def _line(request: Request) -> tuple[str, str]:
    return request.method, request.target[:200]
