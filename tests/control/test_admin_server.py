"""`softswitch holidays` and `softswitch credentials` against a really running server.

The server is ``python -m softswitch serve`` in a subprocess, with its own state_dir and an
ephemeral SIP port; no phones, since these commands touch no call. The CLI runs in-process
through ``cli.main`` and reaches the server over its control socket, as an admin's shell does.
What shows the answers are the server's: no fallback note on stderr, the SIP port the OS chose
(the file says 0), a generated password the server created at start, and the old values kept
after the file is edited until a ``reload``, the new ones after it.
"""

from __future__ import annotations

import datetime
import json
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from softswitch.cli import main

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT = 15.0  # seconds; the server is ready in well under one
STOP_TIMEOUT = 5.0

HOLIDAYS = """
[holidays.madrid]
country = "ES"
subdivision = "MD"
include = "all"
exclude = ["2027-05-03"]
extra = ["{extra}"]

[schedules.oficina]
ranges = [{{ start = "09:00", end = "14:00", days = "mon-fri" }}]
holidays = "madrid"

[numbers."+34910000000"]
schedule = "oficina"
action = "extension:1001"
"""


def write_config(path: Path, password: str, extra: str) -> None:
    # No RTP port is bound without a call: the range is only the config's required shape.
    path.write_text(
        f"""[server]
domain = "127.0.0.1"
listen = ["udp:127.0.0.1:0"]
rtp_ports = "31000-31099"
state_dir = "state"
timezone = "UTC"

[extensions.1001]
name = "Ana García"
username = "ana"
password = "{password}"

[extensions.1002]
name = "Bruno"
"""
        + HOLIDAYS.format(extra=extra),
        encoding="utf-8",
    )


@dataclass
class Server:
    config: Path
    log: Path
    proc: subprocess.Popen[bytes]

    def cli(self, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
        code = main([*argv, "--config", str(self.config)])
        out, err = capsys.readouterr()
        return code, out, err

    def port(self) -> int:
        found = re.search(r"listening udp 127\.0\.0\.1:(\d+)", self.log.read_text("utf-8"))
        assert found, self.log.read_text("utf-8")
        return int(found.group(1))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(STOP_TIMEOUT)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    config, log = tmp_path / "pbx.toml", tmp_path / "server.log"
    write_config(config, "old-secret", "2027-05-14 Fiesta local")
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "softswitch", "serve", "--config", str(config)],
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    running = Server(config, log, proc)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while "softswitch ready" not in log.read_text("utf-8"):
            assert proc.poll() is None, log.read_text("utf-8")
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.05)  # polling a subprocess's log; nothing to await instead
        yield running
    finally:
        running.stop()


def madrid_days(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    (madrid,) = result["sets"]
    return {day["date"]: day for day in madrid["days"]}


def test_holidays_and_credentials_come_from_the_running_config(
    server: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = server.cli(capsys, "holidays", "--year", "2027", "--json")
    assert (code, err) == (0, "")  # no fallback note: the server answered
    served_holidays = json.loads(out)
    assert served_holidays["years"] == [2027]
    (madrid,) = served_holidays["sets"]
    assert (madrid["schedules"], madrid["numbers"]) == (["oficina"], ["+34910000000"])
    days = madrid_days(served_holidays)
    assert days["2027-05-14"]["name"] == "Fiesta local"
    assert (days["2027-05-14"]["closed"], days["2027-05-14"]["source"]) == (True, "extra")
    assert (days["2027-05-03"]["closed"], days["2027-05-03"]["source"]) == (False, "removed")

    code, out, err = server.cli(capsys, "holidays")  # this year and the next, by its clock
    this_year = datetime.datetime.now(datetime.UTC).year
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert (
        lines[0] == "holidays madrid (ES, MD): closes schedule(s) oficina; number(s) +34910000000"
    )
    assert lines[1].split() == ["DATE", "DAY", "OFFICE", "SOURCE", "NAME"]
    assert lines[2].startswith(f"{this_year}-01-01  ")
    assert any(line.startswith(f"{this_year + 1}-01-01  ") for line in lines)

    code, out, err = server.cli(capsys, "holidays", "--country", "ES", "--year", "2027", "--json")
    assert (code, err) == (0, "")
    assert {"date": "2027-10-12", "name": "Fiesta Nacional de España"} in json.loads(out)

    code, out, err = server.cli(capsys, "credentials", "1002", "--json")
    assert (code, err) == (0, "")
    bruno = json.loads(out)
    stored = json.loads((server.config.parent / "state" / "secrets.json").read_text())
    assert bruno["password"] == stored["extensions.1002.password"]  # generated at start
    assert (bruno["username"], bruno["domain"]) == ("1002", "127.0.0.1")
    assert bruno["registrars"] == [f"sip:127.0.0.1:{server.port()};transport=udp"]

    code, out, err = server.cli(capsys, "credentials", "ana")
    assert (code, err) == (0, "")
    assert out.splitlines()[:3] == [
        "username: ana",
        "password: old-secret",
        "extension: 1001 (Ana García)",
    ]

    code, out, err = server.cli(capsys, "credentials", "1009")
    assert (code, out, err) == (1, "", "softswitch credentials: unknown extension '1009'\n")

    # Stopped, the same questions are answered from the file, alike but for the port the
    # file does not know, and the CLI says where the answer comes from.
    server.stop()
    code, out, err = server.cli(capsys, "holidays", "--year", "2027", "--json")
    assert code == 0 and json.loads(out) == served_holidays
    assert err == (
        "softswitch holidays: no server is running; "
        f"this comes from the config file {server.config}\n"
    )
    code, out, _ = server.cli(capsys, "credentials", "1002", "--json")
    assert code == 0 and json.loads(out) == {**bruno, "registrars": []}
    log = server.log.read_text("utf-8")
    assert bruno["password"] not in log and "old-secret" not in log  # answers are not logged


def test_after_a_reload_the_new_password_and_holiday_are_answered(
    server: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    write_config(server.config, "new-secret", "2027-06-01 Fiesta nueva")
    # edited but not reloaded: the server still runs the old config, and says so
    code, out, _ = server.cli(capsys, "credentials", "1001", "--json")
    assert code == 0 and json.loads(out)["password"] == "old-secret"

    code, out, err = server.cli(capsys, "reload")
    assert (code, err) == (0, ""), out
    assert out.startswith("reload: applied")

    code, out, err = server.cli(capsys, "credentials", "1001", "--json")
    assert (code, err) == (0, "")
    assert json.loads(out)["password"] == "new-secret"
    code, out, err = server.cli(capsys, "holidays", "--year", "2027", "--json")
    assert (code, err) == (0, "")
    days = madrid_days(json.loads(out))
    assert days["2027-06-01"]["name"] == "Fiesta nueva" and "2027-05-14" not in days
    server.stop()
    log = server.log.read_text("utf-8")
    assert "old-secret" not in log and "new-secret" not in log  # the reload's log hides them
