"""The agents' form page without sockets: entries validated as declared, the login, whose call
an entry may be saved for, the page's HTML, and every malformed request's 4xx.

The switch is a stand-in with a real compiled config, a real call history in ``tmp_path`` and
a list of calls; requests go through ``HttpServer.respond`` (router and error replies as the
server gives them), on a ``VirtualClock``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from web_fakes import FakeCall, FakeSwitch

from softswitch.config import load_config
from softswitch.config.forms import Form, FormField
from softswitch.storage.history import CallHistory, CallRecord
from softswitch.web.forms import (
    CHALLENGE,
    FORM_PATH,
    MAX_VALUE,
    PAGE_PATH,
    RECENT_CALLS,
    Checked,
    register_forms,
    validate_entry,
)
from softswitch.web.http import Request, Response
from softswitch.web.server import HttpServer

CONFIG = """
[extensions.1001]
name = "Ana García"
username = "ana"
password = "pw-ana"
form = "alta"

[extensions.1002]
name = "Bruno Díaz"
password = "pw-1002"
form = "alta"

[extensions.1003]
password = "pw-1003"

[forms.alta]
description = "Alta de clientes nuevos"
fields = [
  { name = "nombre", type = "text", required = true },
  { name = "email", type = "email" },
  { name = "acepta_contacto", type = "checkbox" },
  { name = "motivo", type = "select", options = ["compra", "información", "queja"] },
]
"""
FORM = Form(
    "t",
    "",
    (
        FormField("nombre", "text", True, ()),
        FormField("email", "email", False, ()),
        FormField("acepta", "checkbox", False, ()),
        FormField("rgpd", "checkbox", True, ()),
        FormField("motivo", "select", True, ("compra", "queja")),
    ),
)
VALID = {"nombre": " Eva ", "email": "eva@example.com", "rgpd": "on", "motivo": "queja"}


# --------------------------------------------------------------------------- validation


def test_a_valid_entry_has_every_declared_field_in_order() -> None:
    checked = validate_entry(FORM, VALID)
    assert checked == Checked(
        {"nombre": "Eva", "email": "eva@example.com", "acepta": False, "rgpd": True,
         "motivo": "queja"}
    )  # fmt: skip
    assert checked.ok
    assert list(checked.values) == ["nombre", "email", "acepta", "rgpd", "motivo"]


@pytest.mark.parametrize(
    ("changes", "errors"),
    [
        ({"nombre": ""}, {"nombre": "required"}),
        ({"nombre": "   "}, {"nombre": "required"}),
        ({"nombre": None}, {"nombre": "required"}),
        ({"nombre": "a" * (MAX_VALUE + 1)}, {"nombre": f"at most {MAX_VALUE} characters"}),
        ({"nombre": "a\x00b"}, {"nombre": "control characters are not allowed"}),
        ({"email": "not-an-address"}, {"email": "not an e-mail address"}),
        ({"email": "a@b"}, {"email": "not an e-mail address"}),
        ({"email": "x" * 250 + "@example.com"}, {"email": "not an e-mail address"}),
        ({"rgpd": None}, {"rgpd": "must be ticked"}),
        ({"acepta": "yes"}, {"acepta": "a checkbox is either ticked or not sent"}),
        ({"motivo": ""}, {"motivo": "required"}),
        ({"motivo": "otra"}, {"motivo": "not one of the options"}),
        ({"motivo": " queja"}, {"motivo": "not one of the options"}),  # as written, or not
        ({"edad": "40"}, {"": "unknown field(s): edad"}),
        ({"z": "1", "a": "2"}, {"": "unknown field(s): a, z"}),
        ({"nombre": "", "email": "x", "motivo": "?"},
         {"nombre": "required", "email": "not an e-mail address",
          "motivo": "not one of the options"}),
    ],
)  # fmt: skip
def test_each_mistake_is_named_at_its_field(
    changes: dict[str, str | None], errors: dict[str, str]
) -> None:
    submitted = {**VALID, **changes}
    checked = validate_entry(FORM, {k: v for k, v in submitted.items() if v is not None})
    assert dict(checked.errors) == errors
    assert not checked.ok


def test_optional_fields_may_be_left_empty() -> None:
    checked = validate_entry(FORM, {"nombre": "Eva", "rgpd": "on", "motivo": "compra", "email": ""})
    assert checked.ok
    assert (checked.values["email"], checked.values["acepta"]) == ("", False)


def test_random_entries_are_valid_exactly_when_every_rule_holds() -> None:
    """Seeded random entries: the verdict agrees with the rules restated independently."""
    rng = random.Random(5)
    texts = ["", " ", "Eva", "eva@example.com", "x@y", "compra", "queja", "on", "off"]
    for _ in range(500):
        submitted = {
            name: rng.choice(texts) for name in ("nombre", "email", "acepta", "rgpd", "motivo")
        }
        for name in list(submitted):
            if rng.random() < 0.2:
                del submitted[name]
        nombre, email = submitted.get("nombre", "").strip(), submitted.get("email", "").strip()
        expected = (
            bool(nombre)
            and (not email or email == "eva@example.com")
            and submitted.get("acepta") in (None, "on")
            and submitted.get("rgpd") == "on"
            and submitted.get("motivo") in ("compra", "queja")
        )
        assert validate_entry(FORM, submitted).ok == expected, submitted


# --------------------------------------------------------------------------- the page


@dataclass
class Page:
    switch: FakeSwitch
    server: HttpServer

    def get(self, user: str = "ana", password: str = "pw-ana") -> Response:
        return self.ask(Request("GET", PAGE_PATH, PAGE_PATH, "", "HTTP/1.1", _auth(user, password)))

    def post(
        self,
        body: bytes | str,
        user: str = "ana",
        password: str = "pw-ana",
        content_type: str = "application/x-www-form-urlencoded",
        headers: tuple[tuple[str, str], ...] = (),
    ) -> Response:
        data = body.encode() if isinstance(body, str) else body
        all_headers = (*_auth(user, password), ("content-type", content_type), *headers)
        return self.ask(Request("POST", FORM_PATH, FORM_PATH, "", "HTTP/1.1", all_headers, data))

    def ask(self, request: Request) -> Response:
        return asyncio.run(self.server.respond(request))

    def stored(self, call_id: str) -> str:
        """The form entry saved for ``call_id``, read back joined to the call's row."""
        history = self.switch.history
        start = datetime.fromtimestamp(self.switch.clock.wall(), UTC)
        history.add(CallRecord(call_id, "inbound", "+34611222333", "", "1001", "", start,
                               None, start, "no answer"))  # fmt: skip
        assert history.flush(5)
        return next(r.form for r in history.query() if r.call_id == call_id)


def _auth(user: str, password: str) -> tuple[tuple[str, str], ...]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return (("host", "pbx:8080"), ("authorization", f"Basic {token}"))


@pytest.fixture
def page(tmp_path: Path) -> Iterator[Page]:
    path = tmp_path / "pbx.toml"
    path.write_text(CONFIG, encoding="utf-8")
    history = CallHistory(tmp_path / "history.sqlite3")
    switch = FakeSwitch(load_config(path), history)
    server = HttpServer()
    register_forms(server, switch)
    try:
        yield Page(switch, server)
    finally:
        history.close()


def _html(response: Response) -> str:
    assert response.content_type == "text/html; charset=utf-8"
    return response.body.decode()


def _ringing_and_answered(page: Page) -> FakeCall:
    """Ana (1001) has two calls: one ringing, a later one she answered from queue soporte."""
    page.switch.b2bua.calls += [
        FakeCall("ringing-1", callee="1001", started=1001.0),
        FakeCall("c-1", caller_name="Eva <b>López</b>", agent="1001", place="queue:soporte",
                 did="+34910000020", started=1000.0, answered=1005.0),
        FakeCall("other", caller="1003", callee="1002", agent="1002", answered=1002.0),
        FakeCall("gone", callee="1001", ended=True),
    ]  # fmt: skip
    return page.switch.b2bua.calls[1]


def test_the_page_shows_the_current_call_and_the_form(page: Page) -> None:
    call = _ringing_and_answered(page)
    response = page.get()
    assert response.status == 200
    html = _html(response)
    assert "<h1>Ana García (1001)</h1>" in html
    # caller, its escaped name, the DID and the queue; nothing from the other calls
    assert "<dd>+34611222333 (Eva &lt;b&gt;López&lt;/b&gt;)</dd>" in html
    assert "<dd>+34910000020</dd>" in html and "<dd>queue soporte</dd>" in html
    assert "<dd>talking</dd>" in html and "ringing-1" not in html and "other" not in html
    assert f'name="call_id" value="{call.call_id}"' in html
    assert "<h2>Alta de clientes nuevos</h2>" in html
    assert '<input type="text" id="f-nombre" name="nombre" value="" maxlength="1000" required>' in (
        html
    )
    assert '<label for="f-nombre">nombre <abbr title="required">*</abbr></label>' in html
    assert '<input type="email" id="f-email" name="email"' in html
    assert '<input type="checkbox" id="f-acepta_contacto" name="acepta_contacto" value="on">' in (
        html
    )
    assert (
        '<option value="información">información</option>' in html
        and 'http-equiv="refresh"' not in html
    )
    assert ("Cache-Control", "no-store") in response.headers
    assert ("X-Frame-Options", "DENY") in response.headers


def test_no_call_is_said_and_the_page_refreshes(page: Page) -> None:
    page.switch.b2bua.calls.append(FakeCall("gone", callee="1001", ended=True))
    html = _html(page.get())
    assert '<p id="no-call">No call.</p>' in html
    assert '<meta http-equiv="refresh" content="5">' in html
    assert "<form" not in html


def test_an_extension_without_a_form_sees_its_call_and_cannot_post(page: Page) -> None:
    page.switch.b2bua.calls.append(FakeCall("c-3", caller="1002", callee="1003"))
    html = _html(page.get("1003", "pw-1003"))
    assert "<dd>1002</dd>" in html and "No form is assigned to this extension." in html
    response = page.post("call_id=c-3&nombre=x", "1003", "pw-1003")
    assert response.status == 403


# --------------------------------------------------------------------------- login


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Basic " + base64.b64encode(b"ana:wrong").decode(),
        "Basic " + base64.b64encode(b"nobody:pw-ana").decode(),
        "Basic " + base64.b64encode(b"1001:pw-ana").decode(),  # the number is not the user
        "Basic " + base64.b64encode(b"ana").decode(),  # no colon
        "Basic " + base64.b64encode(b"ana:pw-an").decode(),  # a prefix of the password
        "Basic !!!not-base64!!!",
        "Basic " + base64.b64encode(b"\xff:pw").decode(),  # not UTF-8
        "Bearer " + base64.b64encode(b"ana:pw-ana").decode(),
    ],
)
def test_a_wrong_login_is_one_plain_401(page: Page, authorization: str | None) -> None:
    headers = (("host", "pbx"),) + ((("authorization", authorization),) if authorization else ())
    for method, path in (("GET", PAGE_PATH), ("POST", FORM_PATH)):
        response = page.ask(Request(method, path, path, "", "HTTP/1.1", headers, b"call_id=x"))
        assert response.status == 401
        assert ("WWW-Authenticate", CHALLENGE) in response.headers
        # The same words whatever was wrong: no hint of which part
        assert (
            response.body
            == b"401 Unauthorized: log in with your extension's SIP user and password\n"
        )


def test_the_login_is_the_sip_username_and_follows_a_reload(page: Page) -> None:
    assert page.get("ana", "pw-ana").status == 200
    assert page.get("1002", "pw-1002").status == 200
    path = Path(page.switch.history.path).parent / "new.toml"
    path.write_text(CONFIG.replace("pw-ana", "pw-nuevo"), encoding="utf-8")
    page.switch.config = load_config(path)
    assert page.get("ana", "pw-ana").status == 401
    assert page.get("ana", "pw-nuevo").status == 200


# --------------------------------------------------------------------------- posting


def test_a_valid_entry_is_stored_and_the_page_shows_it_saved(page: Page) -> None:
    call = _ringing_and_answered(page)
    body = (
        "call_id=c-1&nombre=Eva+L%C3%B3pez&email=eva%40example.com&acepta_contacto=on&motivo=queja"
    )
    response = page.post(body)
    assert response.status == 303
    assert ("Location", PAGE_PATH) in response.headers and response.body == b""
    stored = json.loads(page.stored(call.call_id))
    assert stored == {
        "form": "alta",
        "agent": "1001",
        "values": {"nombre": "Eva López", "email": "eva@example.com", "acepta_contacto": True,
                   "motivo": "queja"},
    }  # fmt: skip
    html = _html(page.get())
    assert '<p class="notice">Saved.</p>' in html
    assert 'value="Eva López"' in html and '<option value="queja" selected>queja</option>' in html
    assert 'value="on" checked>' in html


def test_an_invalid_entry_is_422_with_each_error_beside_its_field_and_nothing_stored(
    page: Page,
) -> None:
    _ringing_and_answered(page)
    body = "call_id=c-1&nombre=&email=nope%22%3E&motivo=otra&edad=40"
    response = page.post(body)
    assert response.status == 422
    html = _html(response)
    assert '<span class="error" id="f-nombre-error">required</span>' in html
    assert '<span class="error" id="f-email-error">not an e-mail address</span>' in html
    assert '<span class="error" id="f-motivo-error">not one of the options</span>' in html
    assert '<p class="error">unknown field(s): edad</p>' in html
    assert 'value="nope&quot;&gt;"' in html  # what was typed comes back, escaped
    assert 'name="call_id" value="c-1"' in html
    assert page.switch.history.pending() == 0
    assert page.stored("c-1") == ""


def test_another_agents_call_or_an_unknown_one_is_403(page: Page) -> None:
    _ringing_and_answered(page)
    for call_id in ("other", "nonexistent"):
        response = page.post(f"call_id={call_id}&nombre=Eva")
        assert response.status == 403
    assert page.switch.history.pending() == 0


def test_an_entry_after_the_call_ended_is_accepted_for_the_agents_own_call(page: Page) -> None:
    _ringing_and_answered(page)
    assert page.get().status == 200  # the page showed c-1 to Ana
    page.switch.b2bua.calls.clear()  # the call ended and left the registry
    response = page.post("call_id=c-1&nombre=Eva")
    assert response.status == 303
    assert json.loads(page.stored("c-1"))["values"]["nombre"] == "Eva"
    # an invalid one for it says the call ended
    assert "The call c-1 has ended." in _html(page.post("call_id=c-1&nombre="))


def test_after_a_restart_the_history_says_whose_call_it_was(page: Page) -> None:
    history, clock = page.switch.history, page.switch.clock
    now = datetime.fromtimestamp(clock.wall(), UTC)
    for call_id, agent, ago in (("mine", "1001", 1), ("old", "1001", 25), ("theirs", "1002", 1)):
        at = now - timedelta(hours=ago)
        history.add(CallRecord(call_id, "inbound", "+34611222333", "", agent, "+34910000020", at,
                               at, at + timedelta(minutes=3), "answered", agent=agent))  # fmt: skip
    assert history.flush(5)
    assert page.post("call_id=mine&nombre=Eva").status == 303
    assert page.post("call_id=theirs&nombre=Eva").status == 403
    assert page.post("call_id=old&nombre=Eva").status == 403  # older than HISTORY_WINDOW


def test_only_the_latest_calls_shown_are_remembered(page: Page) -> None:
    calls = page.switch.b2bua.calls
    for i in range(RECENT_CALLS + 1):
        calls[:] = [FakeCall(f"c{i}", callee="1001", answered=1.0)]
        assert page.get().status == 200
    calls.clear()
    assert page.post(f"call_id=c{RECENT_CALLS}&nombre=Eva").status == 303
    assert page.post("call_id=c1&nombre=Eva").status == 303
    assert page.post("call_id=c0&nombre=Eva").status == 403  # forgotten, and not in history


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        ("call_id=c-1&nombre=Eva", "text/plain", 415),
        ("call_id=c-1&nombre=Eva", "multipart/form-data; boundary=x", 415),
        (b"call_id=c-1&nombre=\xff", "application/x-www-form-urlencoded", 400),
        ("call_id=c-1&nombre=%FF", "application/x-www-form-urlencoded", 400),
        ("call_id=c-1&nombre", "application/x-www-form-urlencoded", 400),
        ("call_id=c-1&&nombre=Eva", "application/x-www-form-urlencoded", 400),
        ("nombre=Eva", "application/x-www-form-urlencoded", 400),
        ("call_id=&nombre=Eva", "application/x-www-form-urlencoded", 400),
        ("", "application/x-www-form-urlencoded", 400),
        ("call_id=c-1&nombre=Eva&nombre=Ana", "application/x-www-form-urlencoded", 400),
        ("call_id=c-1&call_id=other&nombre=Eva", "application/x-www-form-urlencoded", 400),
        ("call_id=c-1&" + "x=1&" * 250, "application/x-www-form-urlencoded", 400),
    ],
)
def test_a_malformed_post_is_4xx_and_nothing_is_stored(
    page: Page, body: str | bytes, content_type: str, status: int
) -> None:
    _ringing_and_answered(page)
    response = page.post(body, content_type=content_type)
    assert response.status == status
    assert page.switch.history.pending() == 0


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ((("origin", "http://evil.example"),), 403),
        ((("origin", "null"),), 403),
        ((("origin", "http://pbx:9090"),), 403),
        ((("sec-fetch-site", "cross-site"),), 403),
        ((("origin", "http://pbx:8080"), ("sec-fetch-site", "same-origin")), 303),
        ((), 303),  # curl sends neither
    ],
)
def test_a_post_from_another_site_is_refused(
    page: Page, headers: tuple[tuple[str, str], ...], status: int
) -> None:
    _ringing_and_answered(page)
    response = page.post("call_id=c-1&nombre=Eva&motivo=compra", headers=headers)
    assert response.status == status
    stored = page.stored("c-1")
    assert (json.loads(stored)["values"]["motivo"] if stored else None) == (
        "compra" if status == 303 else None
    )


def test_the_routes_refuse_other_methods(page: Page) -> None:
    for method, path, allowed in (("POST", PAGE_PATH, "GET, HEAD"), ("GET", FORM_PATH, "POST")):
        response = page.ask(Request(method, path, path, "", "HTTP/1.1", _auth("ana", "pw-ana")))
        assert response.status == 405 and ("Allow", allowed) in response.headers
