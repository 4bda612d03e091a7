"""Web login throttling: the sans-IO ``LoginThrottle`` in virtual time (10 failures in 60 s
ban a host for 10 minutes, other hosts unaffected), the agent page counting its failed
logins per peer host, and the real HTTP server answering 429 with ``Retry-After`` to a
banned host (from its TCP peer address) without storing what it posted."""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from web_fakes import FakeCall, FakeCalls, FakeSwitch

from softswitch.config import load_config
from softswitch.storage.history import CallHistory, CallRecord
from softswitch.web.forms import FORM_PATH, PAGE_PATH, register_forms
from softswitch.web.http import HttpError, Request, Response
from softswitch.web.server import HttpServer
from softswitch.web.throttle import BAN_TIME, LoginThrottle, host_of

A, B = "192.0.2.7", "198.51.100.9"
PASSWORD = "pw-ana-secreta"
WRONG = "adivina-123"
CONFIG = f"""
[extensions.1001]
name = "Ana"
username = "ana"
password = "{PASSWORD}"
form = "alta"

[forms.alta]
fields = [{{ name = "nombre", type = "text", required = true }}]
"""


def retry_after(error: HttpError) -> str:
    return dict(error.headers)["Retry-After"]


# --------------------------------------------------------------------------- sans-IO


def test_ten_failures_in_a_minute_ban_the_host_for_ten_minutes() -> None:
    throttle = LoginThrottle()
    now = 1000.0
    for i in range(9):
        assert throttle.failed(A, now + i) is False
        throttle.admit(A, now + i)  # still let in
    assert throttle.failed(A, now + 59) is True  # the 10th within 60 s
    with pytest.raises(HttpError) as refused:
        throttle.admit(A, now + 59)
    assert refused.value.status == 429 and retry_after(refused.value) == "600"
    with pytest.raises(HttpError) as later:
        throttle.admit(A, now + 59 + 599.5)
    assert retry_after(later.value) == "1"  # the rest of the ban, rounded up
    throttle.admit(A, now + 59 + BAN_TIME)  # served its time: let in again
    assert (throttle.failures, throttle.bans) == (10, 1)


def test_other_hosts_are_not_affected_by_a_ban() -> None:
    throttle = LoginThrottle()
    for _ in range(10):
        throttle.failed(A, 0.0)
    assert throttle.is_banned(A, 1.0) and not throttle.is_banned(B, 1.0)
    throttle.admit(B, 1.0)
    for _ in range(9):
        assert throttle.failed(B, 2.0) is False  # B's count is its own
    assert throttle.active_bans(2.0) == 1


def test_failures_spread_over_more_than_the_window_do_not_ban() -> None:
    throttle = LoginThrottle()
    banned = [throttle.failed(A, 7.0 * i) for i in range(20)]  # 10 span 63 s, never 60
    assert not any(banned)
    throttle.admit(A, 200.0)
    assert throttle.failures == 20 and throttle.bans == 0


def test_each_failure_logs_one_line_naming_the_host(caplog: pytest.LogCaptureFixture) -> None:
    throttle = LoginThrottle(max_failures=2)
    with caplog.at_level(logging.WARNING, logger="softswitch.web"):
        throttle.failed(A, 0.0)
        throttle.failed(A, 1.0)
        throttle.failed("", 2.0)
    assert [r.getMessage() for r in caplog.records] == [
        f"- http login failed from {A}",
        f"- http login failed from {A}: banned for 600 s",
        "- http login failed from an unknown peer",
    ]


def test_a_request_without_a_peer_is_counted_as_the_unknown_host() -> None:
    request = Request("GET", "/", "/", "", "HTTP/1.1", ())
    assert host_of(request) == ""
    assert host_of(Request("GET", "/", "/", "", "HTTP/1.1", (), peer=(A, 4242))) == A


# --------------------------------------------------------------------------- the page


def authorization(password: str) -> tuple[str, str]:
    return ("authorization", "Basic " + base64.b64encode(f"ana:{password}".encode()).decode())


def get(host: str, password: str | None) -> Request:
    headers = (("host", "pbx"),) + ((authorization(password),) if password is not None else ())
    return Request("GET", PAGE_PATH, PAGE_PATH, "", "HTTP/1.1", headers, peer=(host, 40000))


@pytest.fixture
def switch(tmp_path: Path) -> Iterator[FakeSwitch]:
    path = tmp_path / "pbx.toml"
    path.write_text(CONFIG, encoding="utf-8")
    history = CallHistory(tmp_path / "history.sqlite3")
    try:
        calls = FakeCalls([FakeCall("c-1", agent="1001", answered=1001.0)])
        yield FakeSwitch(load_config(path), history, calls)
    finally:
        history.close()


def ask(server: HttpServer, request: Request) -> Response:
    return asyncio.run(server.respond(request))


def test_a_banned_host_gets_429_even_with_the_right_password(
    switch: FakeSwitch, caplog: pytest.LogCaptureFixture
) -> None:
    server = HttpServer()
    register_forms(server, switch)
    with caplog.at_level(logging.WARNING, logger="softswitch.web"):
        statuses = [ask(server, get(A, WRONG)).status for _ in range(10)]
    assert statuses == [401] * 10
    refused = ask(server, get(A, PASSWORD))
    assert refused.status == 429 and ("Retry-After", "600") in refused.headers
    assert ask(server, get(B, PASSWORD)).status == 200  # another host logs in
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert logged.count(f"login failed from {A}") == 10
    assert WRONG not in logged and PASSWORD not in logged
    switch.clock.advance(BAN_TIME - 1)
    assert ask(server, get(A, PASSWORD)).status == 429
    switch.clock.advance(1)
    assert ask(server, get(A, PASSWORD)).status == 200
    assert server.logins.failures == 10


def test_a_visit_without_credentials_is_no_failed_login(switch: FakeSwitch) -> None:
    server = HttpServer()
    register_forms(server, switch)
    assert [ask(server, get(A, None)).status for _ in range(30)] == [401] * 30
    assert server.logins.failures == 0
    assert ask(server, get(A, PASSWORD)).status == 200


def test_a_success_resets_no_other_hosts_count(switch: FakeSwitch) -> None:
    server = HttpServer()
    register_forms(server, switch)
    for _ in range(9):
        ask(server, get(A, WRONG))
    assert ask(server, get(B, PASSWORD)).status == 200
    assert ask(server, get(A, WRONG)).status == 401  # the 10th: banned from now on
    assert ask(server, get(A, PASSWORD)).status == 429


# --------------------------------------------------------------------------- over TCP

HOST, OTHER = "127.0.0.1", "127.0.0.2"  # the second, another host on the loopback


async def post(address: tuple[str, int], password: str, source: str) -> bytes:
    """POST an entry for call c-1 from ``source`` over a real connection; the whole reply."""
    body = b"call_id=c-1&nombre=Eva"
    head = (
        f"POST {FORM_PATH} HTTP/1.1\r\nHost: pbx\r\n{': '.join(authorization(password))}\r\n"
        f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    reader, writer = await asyncio.open_connection(*address, local_addr=(source, 0))
    try:
        writer.write(head.encode() + body)
        writer.write_eof()
        return await reader.read()
    finally:
        writer.close()


def status_and_headers(reply: bytes) -> tuple[int, dict[str, str]]:
    lines = reply.partition(b"\r\n\r\n")[0].decode("latin-1").split("\r\n")
    fields = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split(" ")[1]), fields


def stored_form(history: CallHistory) -> str:
    """The entry saved for c-1, read back joined to its row (written here for the join)."""
    assert history.flush(5)
    start = datetime.fromtimestamp(0, UTC)
    history.add(CallRecord("c-1", "inbound", "+34611222333", "", "1001", "", start, None,
                           start, "no answer"))  # fmt: skip
    assert history.flush(5)
    return next(r.form for r in history.query() if r.call_id == "c-1")


def test_over_tcp_a_banned_host_gets_429_and_its_entry_is_not_stored(
    switch: FakeSwitch,
) -> None:
    async def test() -> list[Any]:
        server = HttpServer(wall=switch.clock.wall)
        register_forms(server, switch)
        address = await server.start(HOST, 0)
        try:
            failed = [status_and_headers(await post(address, WRONG, HOST))[0] for _ in range(10)]
            banned = status_and_headers(await post(address, PASSWORD, HOST))
            form_after_ban = await asyncio.to_thread(stored_form, switch.history)
            other = status_and_headers(await post(address, PASSWORD, OTHER))[0]
            return [failed, banned, form_after_ban, other]
        finally:
            await server.close()

    failed, (status, headers), form_after_ban, other = asyncio.run(asyncio.wait_for(test(), 20))
    assert failed == [401] * 10
    assert status == 429 and headers["Retry-After"] == "600"
    assert form_after_ban == ""  # the right password during the ban stored nothing
    assert other == 303  # another host (its own TCP peer address) saves the same entry
    assert '"nombre":"Eva"' in stored_form(switch.history)
