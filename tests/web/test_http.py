"""The HTTP parser, response writer and router (sans-IO), then the server over real loopback
TCP: every malformed or oversized request gets its 4xx and the next request is served."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from softswitch.web.http import (
    HttpError,
    Limits,
    Request,
    RequestParser,
    Response,
    encode_response,
    error_response,
    text_response,
)
from softswitch.web.server import HttpServer, Router

HOST = "127.0.0.1"
SMALL = Limits(request_line=32, headers=64, header_count=3, body=10)


def parse(data: bytes, limits: Limits = SMALL) -> Request | None:
    return RequestParser(limits).feed(data)


def refused(data: bytes, limits: Limits = SMALL) -> int:
    with pytest.raises(HttpError) as info:
        parse(data, limits)
    return info.value.status


# --------------------------------------------------------------------------- parser


def test_a_request_with_headers_and_a_body() -> None:
    request = parse(
        b"POST /form?ext=1001 HTTP/1.1\r\nHost: pbx\r\nX-Thing:  a b \r\n"
        b"Content-Length: 5\r\n\r\nhello",
        Limits(),
    )
    assert request == Request(
        "POST",
        "/form?ext=1001",
        "/form",
        "ext=1001",
        "HTTP/1.1",
        (("host", "pbx"), ("x-thing", "a b"), ("content-length", "5")),
        b"hello",
    )
    assert request.header("X-THING") == "a b" and request.header("cookie") is None


def test_incomplete_input_waits_for_more() -> None:
    parser = RequestParser()
    assert parser.feed(b"") is None and not parser.started
    assert parser.feed(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n") is None
    assert parser.started
    assert parser.feed(b"\r\nab") is None  # the head is complete, the body is not
    request = parser.feed(b"cd")
    assert request is not None and request.body == b"abcd"


@given(st.lists(st.integers(min_value=0, max_value=64), max_size=6))
def test_any_split_of_the_bytes_gives_the_same_request(cuts: list[int]) -> None:
    data = b"POST /a?b HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nAccept: */*\r\n\r\nxyz"
    whole = parse(data, Limits())
    parser = RequestParser()
    pieces = [
        data[a:b] for a, b in zip([0, *sorted(cuts)], [*sorted(cuts), len(data)], strict=True)
    ]
    results = [parser.feed(piece) for piece in pieces]
    assert len(data) == 66  # every cut leaves the last piece non-empty: it completes the request
    assert results[-1] == whole and whole is not None
    assert all(r is None for r in results[:-1])


def test_lf_line_endings_and_leading_blank_lines_are_accepted() -> None:
    request = parse(b"\r\n\nGET /x HTTP/1.1\nHost: a\n\n")
    assert request is not None and (request.path, request.headers) == ("/x", (("host", "a"),))


def test_endless_blank_lines_are_not_buffered() -> None:
    parser = RequestParser(SMALL)
    for _ in range(1000):
        assert parser.feed(b"\r\n" * 100) is None
    assert not parser.started  # nothing kept: 200 kB of blank lines is no 414 either
    assert parser.feed(b"GET / HTTP/1.0\r\n\r\n") is not None


def test_http_1_0_needs_no_host_and_other_targets() -> None:
    assert parse(b"GET / HTTP/1.0\r\n\r\n") is not None
    absolute = parse(b"GET http://pbx:8080/m?q HTTP/1.1\r\nHost: pbx\r\n\r\n", Limits())
    assert absolute is not None and (absolute.path, absolute.query) == ("/m", "q")
    star = parse(b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n")
    assert star is not None and star.path == "*"


@pytest.mark.parametrize(
    ("data", "status"),
    [
        (b"GET /\r\n\r\n", 400),  # two parts
        (b"GET  / HTTP/1.1\r\n\r\n", 400),  # two spaces
        (b"G(T / HTTP/1.1\r\n\r\n", 400),  # not a token
        (b"GET / HTTP/1.x\r\n\r\n", 400),
        (b"GET / http/1.1\r\n\r\n", 400),
        (b"GET / HTTP/2.0\r\n\r\n", 505),
        (b"BREW / HTTP/1.1\r\nHost: a\r\n\r\n", 501),
        (b"GET nope HTTP/1.1\r\n\r\n", 400),
        (b"GET * HTTP/1.1\r\n\r\n", 400),  # * is for OPTIONS only
        (b"GET /\x01 HTTP/1.1\r\n\r\n", 400),
        (b"GET /\xc3\xa9 HTTP/1.1\r\n\r\n", 400),  # raw non-ASCII in the target
        (b"GET / HTTP/1.1\r\nHost a\r\n\r\n", 400),  # no colon
        (b"GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400),  # blank before the colon
        (b"GET / HTTP/1.1\r\nHost: a\r\n b\r\n\r\n", 400),  # folded
        (b"GET / HTTP/1.1\r\nHost: a\x00\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n", 400),  # a bare CR
        (b"GET / HTTP/1.1\r\n\r\n", 400),  # no Host
        (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", 501),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: x\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 4\r\n\r\n", 400),
        (b"POST / HTTP/1.0\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", 400),
        (b"POST / HTTP/1.0\r\nContent-Length: 11\r\n\r\n", 413),  # refused before the body
        (b"GET /" + b"a" * 40 + b" HTTP/1.1\r\n", 414),
        (b"GET /" + b"a" * 40, 414),  # no line end yet: refused once past the limit
        (b"GET / HTTP/1.0\r\nA: " + b"a" * 70 + b"\r\n\r\n", 431),
        (b"GET / HTTP/1.0\r\nA: " + b"a" * 70, 431),  # no blank line yet: same
        (b"GET / HTTP/1.0\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n", 431),  # 4 fields
    ],
)
def test_malformed_and_oversized_requests_are_refused(data: bytes, status: int) -> None:
    assert refused(data) == status


def test_limits_are_inclusive() -> None:
    line = b"GET /" + b"a" * 18 + b" HTTP/1.0"
    assert len(line) == SMALL.request_line
    assert parse(line + b"\r\n\r\n") is not None
    assert parse(line + b"\n\n") is not None  # LF only: the same limit
    partial = RequestParser(SMALL)
    assert partial.feed(line + b"\r") is None  # its CR came, its LF not yet: not too long
    assert partial.feed(b"\n\r\n") is not None
    assert refused(b"GET /" + b"a" * 19 + b" HTTP/1.0\r\n\r\n") == 414
    assert refused(b"GET /" + b"a" * 19 + b" HTTP/1.0\n\n") == 414
    three = b"GET / HTTP/1.0\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n"
    assert parse(three) is not None
    assert parse(b"POST / HTTP/1.0\r\nContent-Length: 10\r\n\r\n" + b"x" * 10) is not None


# --------------------------------------------------------------------------- responses


def test_a_response_closes_the_connection_and_dates_itself() -> None:
    data = encode_response(text_response(200, "hi"), now=0.0)
    assert data == (
        b"HTTP/1.1 200 OK\r\nDate: Thu, 01 Jan 1970 00:00:00 GMT\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\nContent-Length: 2\r\n"
        b"X-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\nhi"
    )


def test_head_has_the_length_but_no_body_and_204_neither() -> None:
    head = encode_response(text_response(200, "hello"), head=True)
    assert head.endswith(
        b"Content-Length: 5\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n"
    )
    empty = encode_response(Response(204, b"ignored"))
    assert empty == (
        b"HTTP/1.1 204 No Content\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n"
    )


def test_an_error_says_why_with_its_headers() -> None:
    response = error_response(HttpError(405, "no POST here", (("Allow", "GET, HEAD"),)))
    assert (response.status, response.body) == (405, b"405 Method Not Allowed: no POST here\n")
    assert b"\r\nAllow: GET, HEAD\r\n" in encode_response(response)


@pytest.mark.parametrize(
    "header", [("X-A", "a\r\nSet-Cookie: x"), ("X-A", "a\nb"), ("X A", "b"), ("X:A", "b")]
)
def test_a_header_that_would_split_the_response_is_refused(header: tuple[str, str]) -> None:
    with pytest.raises(ValueError, match="unsafe"):
        encode_response(Response(200, headers=(header,)))


# --------------------------------------------------------------------------- router


def _ok(request: Request) -> Response:
    return text_response(200, f"{request.method} {request.path}")


def test_router_404_405_and_head_follows_get() -> None:
    router = Router()
    router.add("GET", "/metrics", _ok)
    router.add("POST", "/metrics", _ok)
    router.add("PUT", "/other", _ok)
    assert router.resolve("HEAD", "/metrics") is _ok
    with pytest.raises(HttpError) as info:
        router.resolve("GET", "/nope")
    assert info.value.status == 404
    with pytest.raises(HttpError) as info:
        router.resolve("DELETE", "/metrics")
    assert (info.value.status, info.value.headers) == (405, (("Allow", "GET, HEAD, POST"),))
    with pytest.raises(HttpError) as info:
        router.resolve("HEAD", "/other")  # no GET: no HEAD either
    assert (info.value.status, info.value.headers) == (405, (("Allow", "PUT"),))


@pytest.mark.parametrize(
    ("method", "path"), [("HEAD", "/a"), ("BREW", "/a"), ("GET", "a"), ("GET", "/dup")]
)
def test_router_refuses_bad_routes(method: str, path: str) -> None:
    router = Router()
    router.add("GET", "/dup", _ok)
    with pytest.raises(ValueError):
        router.add(method, path, _ok)


# --------------------------------------------------------------------------- server


def _loops() -> list[str]:
    try:
        import uvloop  # noqa: F401  (the production loop, where available)
    except ImportError:
        return ["asyncio"]
    return ["asyncio", "uvloop"]


Runner = Callable[[Callable[[], Coroutine[Any, Any, None]]], None]


@pytest.fixture(params=_loops())
def run(request: pytest.FixtureRequest) -> Runner:
    def runner(test: Callable[[], Coroutine[Any, Any, None]]) -> None:
        factory: Callable[[], asyncio.AbstractEventLoop] = asyncio.new_event_loop
        if request.param == "uvloop":
            import uvloop

            factory = uvloop.new_event_loop
        with asyncio.Runner(loop_factory=factory) as loop:
            loop.run(asyncio.wait_for(test(), 20))  # a bound on a hung test, not a tolerance

    return runner


async def exchange(address: tuple[str, int], data: bytes, *, shut: bool = True) -> bytes:
    """Send ``data`` (then end our side, if ``shut``) and read the reply to its end."""
    reader, writer = await asyncio.open_connection(*address)
    try:
        writer.write(data)
        await writer.drain()
        if shut:
            writer.write_eof()
        return await reader.read()
    finally:
        writer.close()


async def settled(predicate: Callable[[], bool]) -> None:
    """Wait for the server to reach a state on its own loop (bounded: 5 s)."""
    for _ in range(500):
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("not reached")


def status_of(reply: bytes) -> int:
    return int(reply.split(b" ", 2)[1])


def body_of(reply: bytes) -> bytes:
    return reply.partition(b"\r\n\r\n")[2]


GOOD = b"GET /hello HTTP/1.1\r\nHost: pbx\r\n\r\n"


async def started(**options: Any) -> HttpServer:
    server = HttpServer(wall=lambda: 0.0, **options)
    server.route("GET", "/hello", lambda request: text_response(200, "hello"))
    await server.start(HOST, 0)
    return server


@pytest.mark.parametrize(
    ("data", "status"),
    [
        (b"GET / HTTP/1.1 extra\r\n\r\n", 400),
        (b"GET /hello HTTP/1.1\r\n\r\n", 400),  # no Host
        (b"GET /hello HTTP/3.0\r\nHost: a\r\n\r\n", 505),
        (b"BREW /hello HTTP/1.1\r\nHost: a\r\n\r\n", 501),
        (b"DELETE /hello HTTP/1.1\r\nHost: a\r\n\r\n", 405),
        (b"GET /missing HTTP/1.1\r\nHost: a\r\n\r\n", 404),
        (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: a\r\n\r\n", 414),
        (b"GET /hello HTTP/1.1\r\nHost: a\r\nX: " + b"a" * 40_000 + b"\r\n\r\n", 431),
        (b"GET /hello HTTP/1.1\r\nHost: a\r\n" + b"X: 1\r\n" * 100 + b"\r\n", 431),
        (b"POST /hello HTTP/1.1\r\nHost: a\r\nContent-Length: 2000000\r\n\r\n" + b"x" * 1000, 413),
        (b"GET /hello HTTP/1.1\r\nHost: a\r\n", 400),  # the client ends before the blank line
    ],
)
def test_each_bad_request_gets_its_4xx_and_the_server_goes_on(
    run: Runner, data: bytes, status: int
) -> None:
    async def test() -> None:
        server = await started()
        assert server.address is not None
        try:
            reply = await exchange(server.address, data)
            assert status_of(reply) == status
            assert body_of(reply).startswith(f"{status} ".encode())
            assert b"\r\nConnection: close\r\n" in reply
            second = await exchange(server.address, GOOD)
            assert (status_of(second), body_of(second)) == (200, b"hello")
        finally:
            await server.close()

    run(test)


def test_a_refused_body_still_lets_the_client_read_the_413(
    run: Runner,
) -> None:
    """The client goes on sending the body it announced; the reply must not be lost to a
    TCP reset when the server closes with that input unread."""

    async def test() -> None:
        server = await started()
        assert server.address is not None
        try:
            reader, writer = await asyncio.open_connection(*server.address)
            writer.write(b"POST /hello HTTP/1.1\r\nHost: a\r\nContent-Length: 3000000\r\n\r\n")
            writer.write(b"x" * 300_000)  # more than the socket buffers hold
            reply = await reader.read()
            writer.close()
            assert status_of(reply) == 413
        finally:
            await server.close()

    run(test)


def test_handlers_sync_async_refusing_and_failing(
    run: Runner,
) -> None:
    async def later(request: Request) -> Response:
        await asyncio.sleep(0)
        return Response(201, request.body[::-1], "application/octet-stream")

    def refuse(request: Request) -> Response:
        raise HttpError(403, "wrong token")

    def broken(request: Request) -> Response:
        raise RuntimeError("bug")

    def not_a_response(request: Request) -> Any:
        return "text"

    async def test() -> None:
        server = await started()
        server.route("POST", "/later", later)
        server.route("GET", "/refuse", refuse)
        server.route("GET", "/broken", broken)
        server.route("GET", "/typo", not_a_response)
        assert server.address is not None
        try:
            reply = await exchange(
                server.address, b"POST /later HTTP/1.0\r\nContent-Length: 3\r\n\r\nabc"
            )
            assert (status_of(reply), body_of(reply)) == (201, b"cba")
            assert b"\r\nContent-Type: application/octet-stream\r\n" in reply
            assert b"\r\nDate: Thu, 01 Jan 1970 00:00:00 GMT\r\n" in reply
            reply = await exchange(server.address, b"GET /refuse HTTP/1.0\r\n\r\n")
            assert (status_of(reply), body_of(reply)) == (403, b"403 Forbidden: wrong token\n")
            reply = await exchange(server.address, b"GET /broken HTTP/1.0\r\n\r\n")
            assert (status_of(reply), body_of(reply)) == (
                500,
                b"500 Internal Server Error: internal error\n",
            )
            reply = await exchange(server.address, b"GET /typo HTTP/1.0\r\n\r\n")
            assert status_of(reply) == 500
            head = await exchange(server.address, b"HEAD /hello HTTP/1.0\r\n\r\n")
            assert status_of(head) == 200 and body_of(head) == b""
            assert b"\r\nContent-Length: 5\r\n" in head
            assert status_of(await exchange(server.address, GOOD)) == 200
        finally:
            await server.close()

    run(test)


def test_a_request_carries_the_peer_the_transport_saw(run: Runner) -> None:
    """The address is the connection's, not anything the client wrote (X-Forwarded-For is
    a header like any other)."""

    def peer(request: Request) -> Response:
        return text_response(200, repr(request.peer))

    async def test() -> None:
        server = await started()
        server.route("GET", "/peer", peer)
        assert server.address is not None
        try:
            reader, writer = await asyncio.open_connection(
                *server.address, local_addr=("127.0.0.2", 0)
            )
            port = writer.get_extra_info("sockname")[1]
            writer.write(b"GET /peer HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 192.0.2.1\r\n\r\n")
            writer.write_eof()
            reply = await reader.read()
            writer.close()
            assert body_of(reply) == repr(("127.0.0.2", port)).encode()
        finally:
            await server.close()

    run(test)
    assert RequestParser(peer=("192.0.2.9", 5)).feed(GOOD) == Request(
        "GET", "/hello", "/hello", "", "HTTP/1.1", (("host", "pbx"),), peer=("192.0.2.9", 5)
    )


def test_slow_clients_and_handlers_are_cut_off(
    run: Runner,
) -> None:
    async def never(request: Request) -> Response:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async def test() -> None:
        server = await started(request_timeout=0.2, handler_timeout=0.2)
        server.route("GET", "/never", never)
        assert server.address is not None
        try:
            # Half a request, then nothing: 408, without the client closing its side.
            reply = await exchange(server.address, b"GET /hello HTTP/1.1\r\n", shut=False)
            assert status_of(reply) == 408
            # Connected, silent: closed without a word.
            assert await exchange(server.address, b"", shut=False) == b""
            reply = await exchange(server.address, b"GET /never HTTP/1.0\r\n\r\n")
            assert status_of(reply) == 503
            assert status_of(await exchange(server.address, GOOD)) == 200
        finally:
            await server.close()

    run(test)


def test_too_many_connections_get_503_and_close_ends_them(
    run: Runner,
) -> None:
    async def test() -> None:
        server = await started(max_clients=1)
        assert server.address is not None
        try:
            reader, writer = await asyncio.open_connection(*server.address)
            writer.write(b"GET /hello HTTP/1.1\r\n")  # holds the one slot
            await writer.drain()
            reply = await exchange(server.address, GOOD)
            assert status_of(reply) == 503
            writer.write(b"Host: a\r\n\r\n")
            assert status_of(await reader.read()) == 200  # the held one is served
            writer.close()
            await settled(lambda: server.connections == 0)  # it sees the close in its own time
            assert status_of(await exchange(server.address, GOOD)) == 200  # slot free again
            # close() ends connections still open.
            reader_of_idle, idle = await asyncio.open_connection(*server.address)
            idle.write(b"GET")
            await idle.drain()
            await settled(lambda: server.connections == 1)
        finally:
            await server.close()
        assert server.connections == 0
        with contextlib.suppress(ConnectionResetError):  # its unread "GET": maybe a reset
            assert await reader_of_idle.read() == b""  # ended by the server, without a reply
        idle.close()
        with pytest.raises(OSError):
            await asyncio.open_connection(*server.address)

    run(test)
