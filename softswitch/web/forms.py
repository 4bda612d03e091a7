"""The agents' page: the call in front of an agent and the form their extension is assigned.

``GET /agent`` shows the agent's current call (the caller's number and name, the company
number it came in on, the queue or ring group that offered it) or "no call", and the form of
``extensions.N.form`` as a plain HTML form; ``POST /agent/form`` checks an entry against the
form's declaration and stores it with the call's history row (``CallHistory.set_form``), then
sends the browser back to the page (303). An entry that does not validate gets the page again
with each error beside its field (422), and nothing is stored. A request that no browser
sends for this page (not form-encoded, not UTF-8, no ``call_id``, a field twice) is 400/415.

Login: HTTP Basic with the extension's SIP username and password, compared in constant time
(both sides hashed first, so not even the length shows); every failure is the same 401, and
counts against the peer's host in the server's ``LoginThrottle`` (429 while it is banned).
**Basic sends the password in clear text: over plain HTTP the page is only for a trusted
network (a LAN, or localhost).** A browser replays those credentials with every request to
the page, a form posted by another site included, so a POST whose ``Origin`` is not this
server, or that the browser marks ``Sec-Fetch-Site: cross-site``, is refused (403); the page
may not be framed or cached.

Whose call: a call is the agent's while its ``agent``, ``callee`` or ``caller`` is the
extension. An entry may be saved after the call ended (the page keeps its Call-ID), so a
Call-ID is also accepted if the page showed it to this agent (the last ``RECENT_CALLS``, in
memory) or the call history has it for this extension within ``HISTORY_WINDOW`` (after a
restart); any other Call-ID is 403. Handlers run on the event loop and walk the live calls
once: tens to hundreds of objects; only that last fallback reads the history file.
"""

from __future__ import annotations

import collections
import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html import escape
from typing import Protocol
from urllib.parse import parse_qsl, urlsplit

from softswitch.clock import Clock
from softswitch.config import CompiledConfig, Extension
from softswitch.config.checks import EMAIL
from softswitch.config.forms import Form, FormField
from softswitch.storage.history import CallHistory, HistoryError
from softswitch.web.http import HttpError, Request, Response, basic_credentials
from softswitch.web.server import HttpServer
from softswitch.web.throttle import LoginThrottle, host_of

__all__ = [
    "CHALLENGE",
    "FORM_PATH",
    "HISTORY_WINDOW",
    "MAX_VALUE",
    "PAGE_PATH",
    "RECENT_CALLS",
    "AgentPage",
    "Checked",
    "FormParts",
    "LiveCall",
    "Value",
    "register_forms",
    "validate_entry",
]

PAGE_PATH = "/agent"
FORM_PATH = "/agent/form"
CHALLENGE = 'Basic realm="softswitch agents", charset="UTF-8"'
_AUTH = (("WWW-Authenticate", CHALLENGE),)
REFRESH = 5  # seconds between reloads of a page with no call (a new call shows by itself)
RECENT_CALLS = 50  # Call-IDs remembered per agent, for entries saved after the call
HISTORY_WINDOW = timedelta(days=1)  # how old a call may be to get its entry after a restart
MAX_VALUE = 1000  # characters in one text field
_MAX_EMAIL = 254  # RFC 5321's longest path
_MAX_FIELDS = 200  # name=value pairs in one POST: more is no browser's doing
_FORM_TYPE = "application/x-www-form-urlencoded"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_PAGE_HEADERS = (
    ("Cache-Control", "no-store"),  # a caller's number must not stay in a shared cache
    ("X-Frame-Options", "DENY"),
    ("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; "
     "form-action 'self'; frame-ancestors 'none'"),
    ("Referrer-Policy", "no-referrer"),
)  # fmt: skip
_STYLE = (
    "body{font-family:sans-serif;max-width:40em;margin:1em auto}dt{font-weight:bold}"
    ".error{color:#b00020}.notice{color:#006400}label{display:inline-block;min-width:10em}"
)

Value = str | bool  # a checkbox's value is a bool; every other field's a string


class LiveCall(Protocol):
    """What the page reads of a call (``softswitch.call.calls.Call`` has it all)."""

    caller: str
    caller_name: str
    callee: str
    agent: str
    place: str  # "", "group:NAME" or "queue:NAME"
    did: str
    started: float
    answered: float | None
    ended: bool

    @property
    def call_id(self) -> str: ...


class _CallRegistry(Protocol):
    @property
    def calls(self) -> Iterable[LiveCall]: ...


class FormParts(Protocol):
    """The attributes of ``softswitch.app.App`` the page reads (``config`` anew on every
    request, so a reload's forms and passwords apply to the next one)."""

    @property
    def config(self) -> CompiledConfig: ...
    @property
    def b2bua(self) -> _CallRegistry: ...
    @property
    def history(self) -> CallHistory: ...
    @property
    def clock(self) -> Clock: ...


# -- validation (pure) -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Checked:
    """An entry checked against its form: every declared field's value, in the form's order,
    and why each wrong one is wrong (key "" for what belongs to no field)."""

    values: Mapping[str, Value]
    errors: Mapping[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors


def validate_entry(form: Form, submitted: Mapping[str, str]) -> Checked:
    """``submitted``: the posted fields by name (``call_id`` already taken out)."""
    values: dict[str, Value] = {}
    errors: dict[str, str] = {}
    for declared in form.fields:
        value, error = _check(declared, submitted.get(declared.name))
        values[declared.name] = value
        if error:
            errors[declared.name] = error
    unknown = [name for name in submitted if form.field(name) is None]
    if unknown:
        errors[""] = "unknown field(s): " + ", ".join(sorted(unknown))
    return Checked(values, errors)


def _check(declared: FormField, raw: str | None) -> tuple[Value, str]:
    """The field's value and "" if it is valid, else what was sent and why it is not."""
    if declared.type == "checkbox":
        if raw not in (None, "on"):  # the page sends "on" for a ticked box, nothing otherwise
            return False, "a checkbox is either ticked or not sent"
        ticked = raw == "on"
        return ticked, "must be ticked" if declared.required and not ticked else ""
    # A select's value is one of the options as written; what is typed loses its blanks.
    value = (raw or "") if declared.type == "select" else (raw or "").strip()
    if not value:
        return "", "required" if declared.required else ""
    if len(value) > MAX_VALUE:
        return value, f"at most {MAX_VALUE} characters"
    if _CONTROL.search(value):
        return value, "control characters are not allowed"
    if declared.type == "email" and (len(value) > _MAX_EMAIL or not EMAIL.fullmatch(value)):
        return value, "not an e-mail address"
    if declared.type == "select" and value not in declared.options:
        return value, "not one of the options"
    return value, ""


def entry_json(form: Form, agent: str, values: Mapping[str, Value]) -> str:
    """The text stored with the call's row (and exported with it): compact, UTF-8 kept."""
    entry = {"form": form.name, "agent": agent, "values": dict(values)}
    return json.dumps(entry, ensure_ascii=False, separators=(",", ":"))


# -- the page ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Shown:
    """What the page shows of the call the form is about."""

    call_id: str
    call: LiveCall | None  # None: it has ended (an entry posted after it)
    values: Mapping[str, Value] = field(default_factory=dict)
    errors: Mapping[str, str] = field(default_factory=dict)
    notice: str = ""


class AgentPage:
    """The two handlers; ``register_forms`` routes them."""

    def __init__(self, switch: FormParts, logins: LoginThrottle) -> None:
        self.switch = switch
        self.logins = logins  # the server's: shared with any other page that takes a password
        self._recent: dict[str, collections.OrderedDict[str, None]] = {}
        self._saved: dict[str, tuple[str, Mapping[str, Value]]] = {}  # the last entry, by agent
        self._dummy = secrets.token_bytes(32)  # an unknown user's password is checked too

    def show(self, request: Request) -> Response:
        """GET /agent."""
        ext = self._login(request)
        call = self._current(ext.number)
        if call is None:
            return _page(self._form_of(ext), ext, None)
        self._remember(ext.number, call.call_id)
        saved_id, saved = self._saved.get(ext.number, ("", {}))
        if saved_id != call.call_id:
            return _page(self._form_of(ext), ext, _Shown(call.call_id, call))
        return _page(self._form_of(ext), ext, _Shown(call.call_id, call, saved, notice="Saved."))

    def save(self, request: Request) -> Response:
        """POST /agent/form."""
        ext = self._login(request)
        _same_origin(request)
        form = self._form_of(ext)
        if form is None:
            raise HttpError(403, f"no form is assigned to extension {ext.number}")
        call_id, submitted = _posted(request)
        if not self._is_theirs(ext.number, call_id):
            raise HttpError(403, "that call is not one of yours")
        checked = validate_entry(form, submitted)
        if not checked.ok:
            shown = _Shown(call_id, self._live(call_id), checked.values, checked.errors)
            return _page(form, ext, shown, status=422)
        try:
            self.switch.history.set_form(call_id, entry_json(form, ext.number, checked.values))
        except HistoryError as exc:
            raise HttpError(503, "the call history is not available") from exc
        self._saved[ext.number] = (call_id, checked.values)
        self._remember(ext.number, call_id)
        return Response(303, b"", headers=(("Location", PAGE_PATH), *_PAGE_HEADERS))

    # --- internals -------------------------------------------------------------------------
    def _login(self, request: Request) -> Extension:
        host, now = host_of(request), self.switch.clock.monotonic()
        self.logins.admit(host, now)  # 429 while banned: not even a right password is checked
        user, password = basic_credentials(request.header("authorization"))
        ext = self.switch.config.extension_by_username(user)
        expected = ext.password.encode() if ext is not None and ext.password else self._dummy
        # Digests of equal length: the comparison takes the same time whatever was sent.
        same = hmac.compare_digest(_digest(password), _digest(expected))
        if ext is None or not same:
            if request.header("authorization") is not None:  # none: a first visit, no guess
                self.logins.failed(host, now)
            raise HttpError(401, "log in with your extension's SIP user and password", _AUTH)
        return ext

    def _form_of(self, ext: Extension) -> Form | None:
        return None if ext.form is None else self.switch.config.forms.get(ext.form)

    def _current(self, number: str) -> LiveCall | None:
        """The agent's live call; of several, one they answered, else the latest."""
        mine = [c for c in self.switch.b2bua.calls if not c.ended and _involves(c, number)]
        return max(
            mine, key=lambda c: (c.agent == number, c.answered is not None, c.started), default=None
        )

    def _live(self, call_id: str) -> LiveCall | None:
        return next((c for c in self.switch.b2bua.calls if c.call_id == call_id), None)

    def _remember(self, number: str, call_id: str) -> None:
        recent = self._recent.setdefault(number, collections.OrderedDict())
        recent[call_id] = None
        recent.move_to_end(call_id)
        if len(recent) > RECENT_CALLS:
            recent.popitem(last=False)  # one in, one out: the oldest

    def _is_theirs(self, number: str, call_id: str) -> bool:
        if any(c.call_id == call_id and _involves(c, number) for c in self.switch.b2bua.calls):
            return True
        if call_id in self._recent.get(number, ()):
            return True
        since = datetime.fromtimestamp(self.switch.clock.wall(), UTC) - HISTORY_WINDOW
        try:
            rows = self.switch.history.query(since=since, extension=number)
        except HistoryError:
            return False
        return any(row.call_id == call_id for row in rows)


def register_forms(http: HttpServer, switch: FormParts) -> AgentPage:
    """Route ``GET /agent`` and ``POST /agent/form`` on ``http`` (an ``HttpServer``)."""
    page = AgentPage(switch, http.logins)
    http.route("GET", PAGE_PATH, page.show)
    http.route("POST", FORM_PATH, page.save)
    return page


def _involves(call: LiveCall, number: str) -> bool:
    return number in (call.agent, call.callee, call.caller)


def _digest(secret: bytes) -> bytes:
    return hashlib.sha256(secret).digest()


def _same_origin(request: Request) -> None:
    """Refuse a POST another site's page made (the browser adds our Basic credentials)."""
    if (request.header("sec-fetch-site") or "").lower() == "cross-site":
        raise HttpError(403, "a form posted from another site")
    origin = request.header("origin")
    if origin is not None and urlsplit(origin).netloc != (request.header("host") or ""):
        raise HttpError(403, "a form posted from another site")


def _posted(request: Request) -> tuple[str, dict[str, str]]:
    """The Call-ID and the form's fields of a POST, or 400/415 for what no browser sends."""
    content_type = (request.header("content-type") or "").partition(";")[0].strip().lower()
    if content_type != _FORM_TYPE:
        raise HttpError(415, f"send the form as {_FORM_TYPE}")
    try:
        text = request.body.decode("utf-8")
        pairs = parse_qsl(
            text, keep_blank_values=True, strict_parsing=bool(text), errors="strict",
            max_num_fields=_MAX_FIELDS,
        )  # fmt: skip
    except ValueError as exc:  # UnicodeDecodeError included
        raise HttpError(400, "malformed form data") from exc
    fields: dict[str, str] = {}
    for name, value in pairs:
        if name in fields:
            raise HttpError(400, f"field {name[:64]!r} sent twice")
        fields[name] = value
    call_id = fields.pop("call_id", "")
    if not call_id:
        raise HttpError(400, "no call_id: post the form from the agent page")
    return call_id, fields


# -- HTML --------------------------------------------------------------------------------------


def _page(form: Form | None, ext: Extension, shown: _Shown | None, status: int = 200) -> Response:
    title = f"{ext.name} ({ext.number})" if ext.name else ext.number
    head = ['<meta charset="utf-8">', f"<title>{escape(title)}</title>", f"<style>{_STYLE}</style>"]
    if shown is None:
        head.append(f'<meta http-equiv="refresh" content="{REFRESH}">')
    body = [f"<h1>{escape(title)}</h1>", *_call_html(shown), *_form_html(form, shown)]
    text = "<!DOCTYPE html>\n<html><head>" + "".join(head) + "</head>\n<body>\n"
    text += "\n".join(body) + "\n</body></html>\n"
    return Response(status, text.encode(), "text/html; charset=utf-8", _PAGE_HEADERS)


def _call_html(shown: _Shown | None) -> list[str]:
    if shown is None:
        return ['<p id="no-call">No call.</p>']
    call = shown.call
    if call is None:
        return [f'<p id="call">The call {escape(shown.call_id)} has ended.</p>']
    caller = escape(call.caller) + (f" ({escape(call.caller_name)})" if call.caller_name else "")
    kind, _, name = call.place.partition(":")
    rows = (
        ("Caller", caller),
        ("Came in on", escape(call.did) or "-"),
        ("Queue or group", f"{escape(kind)} {escape(name)}" if name else "-"),
        ("State", "talking" if call.answered is not None else "ringing"),
    )
    items = "".join(f"<dt>{label}</dt><dd>{value}</dd>" for label, value in rows)
    return [f'<section id="call"><h2>Current call</h2><dl>{items}</dl></section>']


def _form_html(form: Form | None, shown: _Shown | None) -> list[str]:
    if form is None:
        return ["<p>No form is assigned to this extension.</p>"]
    lines = [f'<section id="form"><h2>{escape(form.description or form.name)}</h2>']
    if shown is None:
        return [*lines, "<p>The form opens here during a call.</p></section>"]
    if shown.notice:
        lines.append(f'<p class="notice">{escape(shown.notice)}</p>')
    if "" in shown.errors:
        lines.append(f'<p class="error">{escape(shown.errors[""])}</p>')
    lines.append(f'<form method="post" action="{FORM_PATH}">')
    lines.append(f'<input type="hidden" name="call_id" value="{escape(shown.call_id)}">')
    for declared in form.fields:
        error = shown.errors.get(declared.name, "")
        lines.append(_field_html(declared, shown.values.get(declared.name), error))
    lines.append('<button type="submit">Save</button></form></section>')
    return lines


def _field_html(declared: FormField, value: Value | None, error: str) -> str:
    name, ident = escape(declared.name), escape(f"f-{declared.name}")
    mark = ' <abbr title="required">*</abbr>' if declared.required else ""
    required = " required" if declared.required else ""
    label = f'<label for="{ident}">{escape(declared.name.replace("_", " "))}{mark}</label> '
    if declared.type == "checkbox":
        checked = " checked" if value is True else ""
        control = (
            f'<input type="checkbox" id="{ident}" name="{name}" value="on"{checked}{required}>'
        )
    elif declared.type == "select":
        options = ['<option value="">-</option>'] + [
            f'<option value="{escape(option)}"{" selected" if option == value else ""}>'
            f"{escape(option)}</option>"
            for option in declared.options
        ]
        control = f'<select id="{ident}" name="{name}"{required}>{"".join(options)}</select>'
    else:
        text = escape(value) if isinstance(value, str) else ""
        control = (
            f'<input type="{declared.type}" id="{ident}" name="{name}" value="{text}"'
            f' maxlength="{MAX_VALUE}"{required}>'
        )
    note = f' <span class="error" id="{ident}-error">{escape(error)}</span>' if error else ""
    return f"<p>{label}{control}{note}</p>"
