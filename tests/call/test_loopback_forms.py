"""The agents' form page on a running switch: a caller from the trunk reaches agent 1002
through queue soporte; the agent logs in to ``/agent`` with the SIP credentials over real HTTP,
sees the caller, the number it came in on and the queue, and saves the form; the entry is in
the call's history row and its CSV export once the call ends. A wrong password, another
agent's Call-ID, an invalid entry and malformed requests each get their 4xx and store nothing.
The app serves the page on its own HTTP server when ``server.http_listen`` is set.
"""

from __future__ import annotations

import base64
import csv
import http.client
import io
import json
import re
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlencode

import pytest
from sipclient import Dialog, RtpSocket, SipPeer, make_sdp, new_tag

from softswitch.storage.history import CallRecord
from softswitch.storage.history_export import COLUMNS, to_csv

if TYPE_CHECKING:
    from conftest import RunningSwitch, SwitchFactory

    from softswitch.sip.message import SipRequest

HOST = "127.0.0.1"
TRUNK_HOST = "127.0.0.2"
CALLER = "+34611222333"
DID = "+34910000020"
WAIT = 5.0
EXTRA = f"""
[trunks.proveedor]
host = "{TRUNK_HOST}"
inbound_from = ["{TRUNK_HOST}/32"]

[numbers."{DID}"]
action = "queue:soporte"

[queues.soporte]
agents = ["1002"]
strategy = "ringall"
wrapup = 0

[forms.alta]
description = "Alta de clientes nuevos"
fields = [
  {{ name = "nombre", type = "text", required = true }},
  {{ name = "email", type = "email" }},
  {{ name = "acepta_contacto", type = "checkbox" }},
  {{ name = "motivo", type = "select", options = ["compra", "información", "queja"] }},
]
"""
FORM = "application/x-www-form-urlencoded"


@dataclass
class Setup:
    sw: RunningSwitch
    address: tuple[str, int]
    trunk: SipPeer
    agent: SipPeer

    def request(
        self,
        method: str,
        path: str,
        user: str = "1002",
        password: str = "secret-1002",
        body: bytes | None = None,
        content_type: str = FORM,
    ) -> tuple[int, dict[str, str], str]:
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        headers = {"Authorization": f"Basic {token}"}
        if body is not None:
            headers["Content-Type"] = content_type
        conn = http.client.HTTPConnection(*self.address, timeout=WAIT)
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            return response.status, dict(response.getheaders()), response.read().decode()
        finally:
            conn.close()

    def post(self, fields: dict[str, str], **kw: str) -> tuple[int, dict[str, str], str]:
        return self.request("POST", "/agent/form", body=urlencode(fields).encode(), **kw)

    def rows(self) -> list[CallRecord]:
        app = self.sw.app
        assert app is not None
        assert app.history.flush(timeout=WAIT)
        return app.history.query()


@pytest.fixture
def setup(make_switch: SwitchFactory) -> Iterator[Setup]:
    sw = make_switch(
        extra=EXTRA,
        server={"timezone": "UTC", "http_listen": f"{HOST}:0"},
        extension_keys={"1002": {"form": "alta"}, "1003": {"form": "alta"}},
    )
    app = sw.app
    assert app is not None and app.http is not None and app.http.address is not None
    trunk = make_switch.peer(sw, CALLER, host=TRUNK_HOST)
    agent = make_switch.peer(sw, "1002")
    assert agent.register().status == 200
    yield Setup(sw, app.http.address, trunk, agent)


def _queue_call(s: Setup, rtp: RtpSocket) -> tuple[Dialog, SipRequest]:
    """The trunk's caller (with a display name) reaches the queue, which rings 1002; 1002
    answers. The caller's dialog, and the INVITE the agent got."""
    sdp = make_sdp(rtp.port).replace(b"127.0.0.1", TRUNK_HOST.encode())
    invite = s.trunk.invite(DID, sdp, display="Eva López", authenticate=False)
    ok = s.trunk.response(invite)
    assert ok.status == 200  # the queue answers: the caller hears music while waiting
    dialog = s.trunk.uac_dialog(invite, ok)
    s.trunk.ack_2xx(dialog)
    incoming = s.agent.expect_request("INVITE")
    agent_rtp = RtpSocket()
    try:
        s.agent.reply(incoming, 200, to_tag=new_tag(), body=make_sdp(agent_rtp.port))
        s.agent.expect_request("ACK", call_id=incoming.call_id)
    finally:
        agent_rtp.close()
    return dialog, incoming


def _shown_call_id(s: Setup) -> str:
    """Once the switch has bridged the agent, the page shows the call; its Call-ID."""
    deadline = time.monotonic() + WAIT
    while True:
        status, _, html = s.request("GET", "/agent")
        assert status == 200
        match = re.search(r'name="call_id" value="([^"]+)"', html)
        if match and "<dd>talking</dd>" in html:
            return match.group(1)
        assert time.monotonic() < deadline, html
        time.sleep(0.02)


def _hang_up(s: Setup, dialog: Dialog, incoming: SipRequest) -> None:
    bye = s.trunk.in_dialog(dialog, "BYE")
    assert s.trunk.transact(bye).status == 200
    s.agent.reply(s.agent.expect_request("BYE", call_id=incoming.call_id), 200)


def _raw(s: Setup, data: bytes) -> bytes:
    with socket.create_connection(s.address, timeout=WAIT) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_an_agent_sees_the_caller_saves_the_form_and_the_entry_is_exported(
    setup: Setup,
) -> None:
    s = setup
    status, headers, html = s.request("GET", "/agent")
    assert status == 200 and '<p id="no-call">No call.</p>' in html
    assert '<meta http-equiv="refresh" content="5">' in html

    rtp = RtpSocket(TRUNK_HOST)
    try:
        dialog, incoming = _queue_call(s, rtp)
        call_id = _shown_call_id(s)
        assert call_id == dialog.call_id  # the caller's Call-ID: the history row's
        _, _, html = s.request("GET", "/agent")
        assert "<h1>Bruno Díaz (1002)</h1>" in html
        assert f"<dd>{CALLER} (Eva López)</dd>" in html
        assert f"<dd>{DID}</dd>" in html and "<dd>queue soporte</dd>" in html
        assert '<select id="f-motivo" name="motivo"><option value="">-</option>' in html
        assert 'http-equiv="refresh"' not in html

        entry = {
            "call_id": call_id,
            "nombre": "Eva López",
            "email": "eva@example.com",
            "acepta_contacto": "on",
            "motivo": "información",
        }
        status, headers, _ = s.post(entry)
        assert (status, headers["Location"]) == (303, "/agent")
        _, _, html = s.request("GET", "/agent")
        assert '<p class="notice">Saved.</p>' in html and 'value="Eva López"' in html
        _hang_up(s, dialog, incoming)
    finally:
        rtp.close()

    saved = {
        "form": "alta",
        "agent": "1002",
        "values": {
            "nombre": "Eva López",
            "email": "eva@example.com",
            "acepta_contacto": True,
            "motivo": "información",
        },
    }
    row = next(r for r in _rows_until(s, call_id))
    assert (row.agent, row.place, row.did, row.disposition) == ("1002", "queue:soporte", DID,
                                                                "answered")  # fmt: skip
    assert json.loads(row.form) == saved
    out = io.StringIO(newline="")
    to_csv([row], out)
    header, line = list(csv.reader(io.StringIO(out.getvalue())))
    assert header == list(COLUMNS)
    assert json.loads(line[COLUMNS.index("form")]) == saved
    # After the call, the page says so again.
    assert '<p id="no-call">No call.</p>' in s.request("GET", "/agent")[2]


def _rows_until(s: Setup, call_id: str) -> list[CallRecord]:
    deadline = time.monotonic() + WAIT
    while not (rows := [r for r in s.rows() if r.call_id == call_id]):
        assert time.monotonic() < deadline, "the call's row was not written"
        time.sleep(0.05)
    return rows


def test_bad_logins_other_agents_invalid_and_malformed_requests_store_nothing(
    setup: Setup,
) -> None:
    s = setup
    rtp = RtpSocket(TRUNK_HOST)
    try:
        dialog, incoming = _queue_call(s, rtp)
        call_id = _shown_call_id(s)
        valid = {"call_id": call_id, "nombre": "Eva", "motivo": "compra"}

        for user, password in (("1002", "wrong"), ("1002", ""), ("9999", "secret-1002")):
            status, headers, body = s.request("GET", "/agent", user, password)
            assert status == 401
            assert headers["WWW-Authenticate"].startswith('Basic realm="softswitch agents"')
            assert CALLER not in body
            assert s.post(valid, user=user, password=password)[0] == 401

        # 1003 has the form too, but this is 1002's call
        assert s.post(valid, user="1003", password="secret-1003")[0] == 403

        status, _, html = s.post({**valid, "nombre": "", "email": "eva@", "motivo": "otra"})
        assert status == 422
        assert '<span class="error" id="f-nombre-error">required</span>' in html
        assert '<span class="error" id="f-email-error">not an e-mail address</span>' in html
        assert '<span class="error" id="f-motivo-error">not one of the options</span>' in html
        assert s.post({**valid, "edad": "40"})[0] == 422

        assert s.post({"nombre": "Eva"})[0] == 400  # no call_id
        encoded = urlencode(valid).encode()
        assert s.request("POST", "/agent/form", body=encoded + b"&nombre=%FF")[0] == 400
        assert s.request("POST", "/agent/form", body=encoded, content_type="text/plain")[0] == 415
        assert _raw(s, b"POST /agent/form HTTP/1.1\r\nHost\r\n\r\n").startswith(
            b"HTTP/1.1 400 Bad Request\r\n"
        )
        assert _raw(s, b"GET /agent HTTP/1.1\r\n\r\n").startswith(b"HTTP/1.1 400 ")  # no Host
        _hang_up(s, dialog, incoming)
    finally:
        rtp.close()
    (row,) = _rows_until(s, call_id)
    assert row.form == ""  # nothing of the above was stored
