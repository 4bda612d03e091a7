"""Operations with real PJSIP phones: a live call is listed by `softswitch calls` and hung
up by `softswitch hangup`; its history row has the right disposition and times and exports as
CSV; a missed call shows in the missed-calls view; the agent's form page shows the call,
refuses an invalid entry and stores a valid one with the call's row."""

from __future__ import annotations

import base64
import csv
import http.client
import io
import json
import subprocess
import sys
import urllib.parse
from collections.abc import Callable

import pytest

from .conftest import HOST, REPO, Pbx, Server, free_port
from .phone import Phone, PjEndpoint

pytestmark = pytest.mark.e2e

FORM = """
[forms.alta]
fields = [
  { name = "nombre", type = "text", required = true },
  { name = "email", type = "email" },
]
"""


def _cli(server: Server, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "softswitch", *args, "--config", str(server.config_path)]
    return subprocess.run(
        command, cwd=REPO, check=False, capture_output=True, text=True, timeout=60
    )


def _http(port: int, method: str, path: str, body: str = "") -> tuple[int, str]:
    login = base64.b64encode(b"1002:secret-1002").decode()
    headers = {"authorization": f"Basic {login}"}
    if body:
        headers["content-type"] = "application/x-www-form-urlencoded"
    connection = http.client.HTTPConnection(HOST, port, timeout=10)
    try:
        connection.request(method, path, body=body or None, headers=headers)
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


def test_calls_hangup_history_forms_and_missed_view(
    ep: PjEndpoint,
    server_factory: Callable[..., Server],
    phone_factory: Callable[..., Phone],
) -> None:
    web = free_port()
    keys = {"server": f'http_listen = "{HOST}:{web}"', "1002": 'form = "alta"'}
    extensions = {"1001": ("Ana García", "secret-1001"), "1002": ("Bruno Díaz", "secret-1002")}
    server = server_factory(extra=FORM, keys=keys, extensions=extensions)
    pbx = Pbx(server, phone_factory)
    ana, bruno = pbx.phone("1001"), pbx.phone("1002")

    call = ana.call(pbx.uri("1002"))
    answered = bruno.wait_incoming(10)
    answered.answer(200)
    call.wait_state("CONFIRMED", 10)
    ep.sleep(1.2)  # some talk, so billed seconds are more than zero

    live = _cli(server, "calls", "--json")
    assert live.returncode == 0, live
    (listed,) = json.loads(live.stdout)
    call_id = listed["call_id"]

    status, page = _http(web, "GET", "/agent")
    assert status == 200 and "1001" in page and "Ana" in page
    invalid = urllib.parse.urlencode({"call_id": call_id, "nombre": "", "email": "no"})
    assert _http(web, "POST", "/agent/form", invalid)[0] == 422
    valid = urllib.parse.urlencode({"call_id": call_id, "nombre": "Cliente", "email": "c@x.es"})
    assert _http(web, "POST", "/agent/form", valid)[0] == 303

    ended = _cli(server, "hangup", call_id)
    assert ended.returncode == 0, ended
    call.wait_state("DISCONNECTED", 5)
    answered.wait_state("DISCONNECTED", 5)

    missed = ana.call(pbx.uri("1002"))  # Bruno declines: a missed call
    bruno.wait_incoming(10).answer(486)
    missed.wait_state("DISCONNECTED", 10)

    def rows() -> list[dict[str, str]]:
        export = _cli(server, "calls", "--since", "2000-01-01", "--csv")
        assert export.returncode == 0, export
        return list(csv.DictReader(io.StringIO(export.stdout)))

    ep.wait_for(lambda: len(rows()) >= 2, 10, "both calls in the history")
    by_id = {row["uniqueid"]: row for row in rows()}
    talked = by_id[call_id]
    assert (talked["src"], talked["dst"], talked["disposition"]) == ("1001", "1002", "ANSWERED")
    assert 1 <= int(talked["billsec"]) <= int(talked["duration"]) <= 30
    assert json.loads(talked["form"])["values"]["nombre"] == "Cliente"
    view = _cli(server, "calls", "--missed-by", "extension", "--json")
    assert view.returncode == 0, view
    (worst,) = json.loads(view.stdout)
    assert (worst["name"], worst["missed"]) == ("1002", 1)
