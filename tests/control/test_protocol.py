"""The control socket without a switch: the JSON-lines format, the line framer, the command
table, the tables, and the server on a real Unix socket in front of a scripted view."""

from __future__ import annotations

import asyncio
import json
import os
import random
import socket
import stat
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from softswitch.control.client import ServerNotRunning, ask
from softswitch.control.protocol import (
    MAX_LINE,
    ControlError,
    LineFramer,
    Oversized,
    Request,
    decode_response,
    encode_error,
    encode_request,
    encode_result,
    parse_request,
)
from softswitch.control.server import handle_line, start_control
from softswitch.control.tables import duration, render, table
from softswitch.control.views import (
    AgentView,
    CallView,
    CredentialsView,
    DayView,
    HolidaySetView,
    HolidaysView,
    HolidayView,
    QueueView,
    RegistrationView,
    StatusView,
    TrunkView,
    WaitingView,
)

WAIT = 5.0  # seconds any socket exchange in these tests may take

# ------------------------------------------------------------------------------ framing


def test_framer_splits_lines_across_chunks_and_drops_blank_ones() -> None:
    framer = LineFramer(limit=100)
    assert framer.feed(b'{"a"') == []
    assert framer.feed(b': 1}\n\n  \r\n{"b": 2}\r\n{"c"') == [b'{"a": 1}', b'{"b": 2}']
    assert framer.feed(b": 3}\n") == [b'{"c": 3}']


def test_framer_chunking_does_not_change_the_lines() -> None:
    rng = random.Random(5)
    lines = [json.dumps({"n": i, "pad": "x" * rng.randrange(0, 40)}).encode() for i in range(30)]
    stream = b"\n".join(lines) + b"\n"
    for _ in range(20):
        framer = LineFramer(limit=100)
        got: list[bytes | Oversized] = []
        at = 0
        while at < len(stream):
            step = rng.randrange(1, 30)
            got += framer.feed(stream[at : at + step])
            at += step
        assert got == lines


def test_oversized_line_is_reported_once_and_the_next_line_is_whole() -> None:
    framer = LineFramer(limit=10)
    out = framer.feed(b"0123456789A")  # past the limit, unfinished: reported now
    assert out == [Oversized(10)]
    assert framer.feed(b"BCDEF" * 100) == []  # the rest of it is skipped, not buffered
    assert framer.feed(b'XYZ\n{"ok":1}\n') == [b'{"ok":1}']


def test_a_line_exactly_at_the_limit_passes_one_byte_more_does_not() -> None:
    framer = LineFramer(limit=10)
    assert framer.feed(b"0123456789\n") == [b"0123456789"]
    assert framer.feed(b"0123456789A\n") == [Oversized(10)]
    assert framer.feed(b"ok\n") == [b"ok"]


# ------------------------------------------------------------------------------ requests


def test_parse_request_reads_command_and_args() -> None:
    assert parse_request(b'{"command": "status"}') == Request("status", {})
    assert parse_request(encode_request("hangup", {"call_id": "x"}).strip()) == Request(
        "hangup", {"call_id": "x"}
    )


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b"{not json", "malformed JSON"),
        (b"\xff\xfe", "not UTF-8"),
        (b'["status"]', "JSON object"),
        (b'{"command": ""}', "non-empty string"),
        (b'{"command": 3}', "non-empty string"),
        (b'{"command": "status", "args": []}', '"args"'),
        (b'{"command": "status", "extra": 1}', "unknown key(s) in request: extra"),
    ],
)
def test_bad_requests_say_what_is_wrong(line: bytes, message: str) -> None:
    with pytest.raises(ControlError) as info:
        parse_request(line)
    assert message in str(info.value)


def test_responses_round_trip_and_errors_raise() -> None:
    assert decode_response(encode_result({"n": "Ana García"}).strip()) == {"n": "Ana García"}
    assert "García".encode() in encode_result("García")  # readable in socat
    with pytest.raises(ControlError, match="no live call"):
        decode_response(encode_error("no live call 'x'"))
    with pytest.raises(ControlError, match="not a JSON line"):
        decode_response(b"garbage")
    with pytest.raises(ControlError, match='no "ok"'):
        decode_response(b'{"result": 1}')


# ------------------------------------------------------------------------------ commands


@dataclass
class FakeView:
    """A ControlView with fixed answers; records hang-ups."""

    live: set[str] = field(default_factory=lambda: {"call-1"})
    hung_up: list[str] = field(default_factory=list)
    fail: bool = False

    def status(self) -> StatusView:
        trunk = TrunkView("proveedor", "registered", "200 OK", 1.0e9, 1.0e9 + 300, "udp:x:5060")
        return StatusView("0.1.0", "example.com", 3725.5, len(self.live), 2, (trunk,))

    def registrations(self) -> list[RegistrationView]:
        return [
            RegistrationView("1001", "sip:1001@10.0.0.5:5062", "10.0.0.5:5062", "udp", 290.2, "X")
        ]

    def calls(self) -> list[CallView]:
        if self.fail:
            raise RuntimeError("view broke")
        return [
            CallView(cid, "1001", "1002", "answered", 61.0, 59.0, "phone", None, "1002")
            for cid in sorted(self.live)
        ]

    def queues(self) -> list[QueueView]:
        waiting = (WaitingView(1, "+34611222333", "call-9", 42.0),)
        agents = (AgentView("1001", "free"), AgentView("1002", "on call"))
        return [QueueView("soporte", waiting, agents)]

    def hangup(self, call_id: str) -> bool:
        if call_id not in self.live:
            return False
        self.live.discard(call_id)
        self.hung_up.append(call_id)
        return True

    async def reload(self, dry_run: bool) -> dict[str, Any]:
        return {"applied": not dry_run, "changes": "", "needs_restart": []}

    def holidays(self, year: int | None) -> HolidaysView:
        years = (2026, 2027) if year is None else (year,)
        days = tuple(HolidayView(f"{y}-05-15", "San Isidro", True, "extra") for y in years)
        madrid = HolidaySetView("madrid", "ES", "MD", "es", ("oficina",), ("+3491",), days)
        return HolidaysView(years, (madrid,))

    def place_holidays(
        self, country: str, subdivision: str | None, year: int | None, language: str | None
    ) -> list[DayView]:
        return [DayView(f"{year or 2026}-01-01", f"{country} {subdivision} {language}")]

    def credentials(self, extension: str) -> CredentialsView | None:
        if extension not in ("1001", "ana"):
            return None
        return CredentialsView("1001", "Ana", "ana", "s3cret", "example.com", ("sip:h:5060",))


def _reply(view: FakeView, line: bytes | Oversized) -> Any:
    return json.loads(handle_line(view, line))


def test_each_command_answers_with_the_views_fields() -> None:
    view = FakeView()
    status = _reply(view, encode_request("status"))
    assert status["ok"] is True
    assert status["result"]["trunks"][0]["state"] == "registered"
    assert status["result"]["calls"] == 1
    regs = _reply(view, encode_request("registrations"))["result"]
    assert regs[0]["source"] == "10.0.0.5:5062"
    queues = _reply(view, encode_request("queues"))["result"]
    assert queues[0]["waiting"][0]["waited"] == 42.0
    assert [a["state"] for a in queues[0]["agents"]] == ["free", "on call"]


def test_hangup_ends_a_known_call_and_refuses_an_unknown_one() -> None:
    view = FakeView()
    ok = _reply(view, encode_request("hangup", {"call_id": "call-1"}))
    assert ok == {"ok": True, "result": {"call_id": "call-1"}}
    assert view.hung_up == ["call-1"]
    again = _reply(view, encode_request("hangup", {"call_id": "call-1"}))
    assert again == {"ok": False, "error": "no live call 'call-1'"}
    missing = _reply(view, encode_request("hangup"))
    assert missing["ok"] is False and "call_id" in missing["error"]


def test_holidays_and_credentials_pass_their_arguments_to_the_view() -> None:
    view = FakeView()
    sets = _reply(view, encode_request("holidays"))["result"]
    assert sets["years"] == [2026, 2027]
    assert [d["date"] for d in sets["sets"][0]["days"]] == ["2026-05-15", "2027-05-15"]
    one = _reply(view, encode_request("holidays", {"year": 2030}))["result"]
    assert one["years"] == [2030] and one["sets"][0]["schedules"] == ["oficina"]
    place = {"country": "ES", "subdivision": "MD", "year": 2027, "language": "en"}
    listed = _reply(view, encode_request("holidays", place))["result"]
    assert listed == [{"date": "2027-01-01", "name": "ES MD en"}]
    creds = _reply(view, encode_request("credentials", {"extension": "ana"}))["result"]
    assert (creds["extension"], creds["password"], creds["registrars"]) == (
        "1001",
        "s3cret",
        ["sip:h:5060"],
    )
    unknown = _reply(view, encode_request("credentials", {"extension": "1009"}))
    assert unknown == {"ok": False, "error": "unknown extension '1009'"}


@pytest.mark.parametrize(
    ("command", "args", "message"),
    [
        ("holidays", {"year": "2027"}, '"year" must be a year from 1900 to 2200'),
        ("holidays", {"year": True}, '"year" must be a year'),
        ("holidays", {"year": 2027.0}, '"year" must be a year'),
        ("holidays", {"year": 3000}, '"year" must be a year'),
        ("holidays", {"subdivision": "MD"}, '"subdivision" and "language" go with a "country"'),
        ("holidays", {"country": ""}, "'country' must be a non-empty string"),
        ("holidays", {"country": "ES", "language": 3}, "'language' must be"),
        ("holidays", {"colour": "red"}, "unexpected argument(s): colour"),
        ("credentials", {}, 'credentials takes one argument: {"extension": "..."}'),
        ("credentials", {"extension": "1001", "x": 1}, "credentials takes one argument"),
        ("credentials", {"extension": 1001}, "credentials takes one argument"),
    ],
)
def test_holidays_and_credentials_refuse_bad_arguments(
    command: str, args: dict[str, Any], message: str
) -> None:
    reply = _reply(FakeView(), encode_request(command, args))
    assert reply["ok"] is False and message in reply["error"]


def test_unknown_commands_extra_args_oversize_and_view_bugs_are_error_replies() -> None:
    view = FakeView()
    unknown = _reply(view, encode_request("reboot"))
    assert unknown["ok"] is False and "unknown command 'reboot'" in unknown["error"]
    assert "status" in unknown["error"]  # lists what is known
    extra = _reply(view, encode_request("calls", {"since": "yesterday"}))
    assert extra == {"ok": False, "error": "unexpected argument(s): since"}
    big = _reply(view, Oversized(MAX_LINE))
    assert big == {"ok": False, "error": f"request line longer than {MAX_LINE} bytes"}
    view.fail = True
    broken = _reply(view, encode_request("calls"))
    assert broken["ok"] is False and "view broke" in broken["error"]


# ------------------------------------------------------------------------------ tables


def test_table_aligns_columns_without_trailing_blanks() -> None:
    text = table(["A", "LONG HEADER"], [["wide cell", "x"], ["b", ""]])
    assert text.splitlines() == ["A          LONG HEADER", "wide cell  x", "b"]


def test_durations_print_as_hours_minutes_seconds() -> None:
    assert [duration(s) for s in (0, 59.9, 61, 3725.5, None, -1)] == [
        "0:00:00",
        "0:00:59",
        "0:01:01",
        "1:02:05",
        "-",
        "0:00:00",
    ]


def test_renderers_show_every_command_result() -> None:
    view = FakeView()
    results = {
        cmd: _reply(view, encode_request(cmd))["result"]
        for cmd in ("status", "registrations", "calls", "queues")
    }
    status = render("status", results["status"]).splitlines()
    assert status[0] == "softswitch 0.1.0, domain example.com, up 1:02:05"
    assert status[1] == "1 live call(s), 2 registration(s)"
    assert status[3].split() == ["TRUNK", "STATE", "SINCE", "BOUND", "UNTIL", "REASON"]
    assert status[4].startswith("proveedor  registered  ")
    regs = render("registrations", results["registrations"]).splitlines()
    assert regs[1].split() == [
        "1001",
        "sip:1001@10.0.0.5:5062",
        "10.0.0.5:5062",
        "udp",
        "0:04:50",
        "X",
    ]
    calls = render("calls", results["calls"]).splitlines()
    assert calls[1].split() == ["call-1", "1001", "1002", "answered", "0:01:01", "phone", "1002"]
    queues = render("queues", results["queues"]).splitlines()
    assert queues[0] == "queue soporte: 1 waiting"
    assert queues[2].split() == ["1", "+34611222333", "0:00:42", "call-9"]
    assert queues[4].split() == ["1001", "free"]
    assert render("calls", []) == "no live calls"
    assert render("registrations", []) == "no registrations"


# ------------------------------------------------------------------------------ the server


def run(main: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(asyncio.wait_for(main(), 4 * WAIT))


async def exchange(path: Path, data: bytes, replies: int) -> list[Any]:
    reader, writer = await asyncio.open_unix_connection(str(path))
    try:
        writer.write(data)
        await writer.drain()
        return [json.loads(await asyncio.wait_for(reader.readline(), WAIT)) for _ in range(replies)]
    finally:
        writer.close()


def test_server_socket_is_private_and_survives_bad_requests(tmp_path: Path) -> None:
    path = tmp_path / "control.sock"

    async def main() -> None:
        server = await start_control(path, FakeView())
        try:
            mode = os.stat(path).st_mode
            assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o600
            big = b'{"command": "status", "pad": "' + b"x" * (MAX_LINE + 10) + b'"}\n'
            stream = b"{oops\n" + big + b'{"command": "calls"}\n'
            bad, oversized, good = await exchange(path, stream, 3)
            assert bad["ok"] is False and "malformed JSON" in bad["error"]
            assert oversized["ok"] is False and "longer than" in oversized["error"]
            assert good["ok"] is True and good["result"][0]["call_id"] == "call-1"
            # The blocking client the CLI uses, meanwhile on a thread (the loop keeps serving).
            status = await asyncio.to_thread(ask, path, "status")
            assert status["domain"] == "example.com"
        finally:
            await server.close()
        assert not path.exists()  # closing removes the file

    run(main)


def test_a_live_server_is_not_replaced_a_stale_socket_is(tmp_path: Path) -> None:
    path = tmp_path / "control.sock"
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(path))  # bound, never listening, then closed: a dead server's file
    stale.close()

    async def main() -> None:
        first = await start_control(path, FakeView())
        try:
            with pytest.raises(ControlError, match="another softswitch is running"):
                await start_control(path, FakeView())
            assert (await exchange(path, encode_request("status"), 1))[0]["ok"] is True
        finally:
            await first.close()

    run(main)


def test_a_file_that_is_no_socket_is_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "control.sock"
    path.write_text("not mine")

    async def main() -> None:
        with pytest.raises(ControlError, match="not a socket"):
            await start_control(path, FakeView())

    run(main)
    assert path.read_text() == "not mine"


def test_an_idle_connection_is_closed(tmp_path: Path) -> None:
    path = tmp_path / "control.sock"

    async def main() -> None:
        server = await start_control(path, FakeView(), idle=0.05)
        try:
            reader, writer = await asyncio.open_unix_connection(str(path))
            assert await asyncio.wait_for(reader.read(), WAIT) == b""  # closed by the server
            writer.close()
        finally:
            await server.close()

    run(main)


def test_a_busy_connection_is_still_bounded_in_time(tmp_path: Path) -> None:
    path = tmp_path / "control.sock"

    async def main() -> None:
        server = await start_control(path, FakeView(), lifetime=0.1)
        try:
            reader, writer = await asyncio.open_unix_connection(str(path))
            answered = 0
            while True:  # never idle: only the lifetime can end it (bounded by run's timeout)
                try:
                    writer.write(encode_request("status"))
                    line = await asyncio.wait_for(reader.readline(), WAIT)
                except ConnectionError:
                    break  # closed while we wrote
                if not line:
                    break
                answered += 1
            assert answered >= 1
            writer.close()
        finally:
            await server.close()

    run(main)


def test_connections_past_the_limit_are_told_and_closed(tmp_path: Path) -> None:
    path = tmp_path / "control.sock"

    async def main() -> None:
        server = await start_control(path, FakeView(), max_clients=1)
        try:
            reader, first = await asyncio.open_unix_connection(str(path))
            first.write(encode_request("status"))  # answered: the server holds this one
            assert json.loads(await asyncio.wait_for(reader.readline(), WAIT))["ok"] is True
            (refused,) = await exchange(path, b"", 1)
            assert refused == {"ok": False, "error": "too many control connections (1)"}
            first.close()
        finally:
            await server.close()

    run(main)


def test_client_without_server_says_so(tmp_path: Path) -> None:
    with pytest.raises(ServerNotRunning, match="no softswitch server is running"):
        ask(tmp_path / "control.sock", "status")
