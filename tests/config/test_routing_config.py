"""The routing vocabulary of CONFIG.md: compiled objects, defaults, every cross-check located,
DID spellings, the blocklist and outbound routes."""

from __future__ import annotations

import datetime
import ipaddress
from pathlib import Path

import holidays
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from softswitch.config import ConfigError, ConfigIssue, load_config
from softswitch.config.dialing import COUNTRIES, did_candidates, to_e164
from softswitch.config.model import CompiledConfig
from softswitch.config.routing_model import (
    Action,
    EmailConfig,
    Mailbox,
    Queue,
    RingGroup,
    TimeRange,
    Trunk,
)
from softswitch.config.trunks import pattern_regex


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def issues_of(tmp_path: Path, text: str) -> list[ConfigIssue]:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, "pbx.toml", text))
    return list(caught.value.issues)


def load(tmp_path: Path, text: str) -> CompiledConfig:
    return load_config(write(tmp_path, "pbx.toml", text))


# The CONFIG.md example, with text prompts (no audio files needed).
ROUTING = """\
[server]
timezone = "Europe/Madrid"
language = "es"

[email]
server = "smtp://mail.example.com:587"
from = "centralita@example.com"
username = "centralita"
password = "mail-secret"

[extensions.1001]
voicemail = true
[extensions.1002]
[extensions.1003]

[external_destinations.movil_ana]
code = "2001"
name = "Móvil de Ana"
number = "+34600111222"
email = "ana@example.com"

[trunks.proveedor]
host = "sip.provider.example"
port = 5060
transport = "udp"
username = "pbx"
password = "trunk-secret"
register = true
inbound_from = ["192.0.2.0/24"]

[[outbound_routes]]
match = "+34[6-9]XXXXXXXX"
trunk = "proveedor"
strip = 0
prepend = ""

[prompts.bienvenida]
text = "Bienvenido."
[prompts.festivo]
text = "Hoy es festivo."
[prompts.cerrado]
text = "Estamos cerrados."
[prompts.opcion_no_valida]
text = "Opción no válida."
[prompts.aviso_agente]
text = "Llamada de la cola de soporte."
[prompts.saludo_general]
text = "Deje su mensaje."

[schedules.oficina]
ranges = [
  { start = "09:00", end = "14:00", days = "mon-fri" },
  { start = "16:00", end = "18:00", days = "mon-thu", months = "sep-jun" },
  { start = "08:00", end = "15:00", days = "mon-fri", months = "jul-aug" },
  { start = "09:00", end = "13:00", days = "sat", monthdays = "1-7" },
]
holidays = "madrid"

[holidays.madrid]
country = "ES"
subdivision = "MD"
include = "all"
exclude = []
extra = ["2026-05-15"]

[numbers."+34910000000"]
description = "Línea principal"
prefix = "MAD"
schedule = "oficina"
action = "ivr:principal"
on_holiday = "prompt:festivo"
on_closed = ["prompt:cerrado", "voicemail:general"]
enabled = true

[ivrs.principal]
prompt = "bienvenida"
timeout = 8
retries = 2
on_timeout = "group:recepcion"
on_invalid = ["prompt:opcion_no_valida", "ivr:principal"]
options = { "1" = "group:ventas", "2" = "queue:soporte", "9" = "voicemail:general" }
direct_dial = true

[ring_groups.recepcion]
members = ["1003"]

[ring_groups.ventas]
members = ["1001", "1002", "2001"]
strategy = "all"
ring_time = 20
prefix = "VENTAS"
on_failure = "voicemail:1001"
missed_call_email = "ventas@example.com"
record = false

[queues.soporte]
agents = ["1001", "1002", "1003"]
strategy = "round_robin"
max_callers = 10
max_wait = 300
ring_time = 15
wrapup = 5
moh = "default"
agent_announcement = "aviso_agente"
announce_position = true
priority = 5
record = true
missed_call_email = "soporte@example.com"
on_timeout = "voicemail:general"
on_full = "voicemail:general"

[voicemail.general]
greeting = "saludo_general"
email = "oficina@example.com"
attach = true
pin = "0000"

[conferences.sala1]
number = "3001"

[blocklist]
numbers = ["+34600000000", "+34905*"]
"""


def test_config_md_example_compiles(tmp_path: Path) -> None:
    config = load(tmp_path, ROUTING)
    assert config.email == EmailConfig(
        "smtp", "mail.example.com", 587, "centralita@example.com", "centralita", "mail-secret"
    )
    assert "mail-secret" not in repr(config.email)
    movil = config.external_destinations["movil_ana"]
    assert (movil.code, movil.display_name, movil.number, movil.username) == (
        "2001",
        "Móvil de Ana",
        "+34600111222",
        "2001",
    )
    assert config.trunks["proveedor"] == Trunk(
        name="proveedor",
        host="sip.provider.example",
        port=5060,
        transport="udp",
        username="pbx",
        password="trunk-secret",
        register=True,
        inbound_from=(ipaddress.ip_network("192.0.2.0/24"),),
    )
    number = config.numbers["+34910000000"]
    assert (number.description, number.prefix, number.enabled) == ("Línea principal", "MAD", True)
    assert number.action == (Action("ivr", "principal"),)
    assert number.on_holiday == (Action("prompt", "festivo"),)
    assert number.on_closed == (Action("prompt", "cerrado"), Action("voicemail", "general"))
    assert number.schedule is config.schedules["oficina"]
    assert number.schedule.holidays is config.holiday_sets["madrid"]
    assert set(config.raw_sections) == set()


def test_schedule_ranges_and_holidays_compile(tmp_path: Path) -> None:
    config = load(tmp_path, ROUTING)
    schedule = config.schedules["oficina"]
    weekdays, all_months, all_days = (
        frozenset(range(5)),
        frozenset(range(1, 13)),
        frozenset(range(1, 32)),
    )
    assert schedule.timezone == "Europe/Madrid"
    assert schedule.ranges == (
        TimeRange(9 * 60, 14 * 60, weekdays, all_months, all_days),
        TimeRange(
            16 * 60,
            18 * 60,
            frozenset(range(4)),
            frozenset({9, 10, 11, 12, 1, 2, 3, 4, 5, 6}),
            all_days,
        ),
        TimeRange(8 * 60, 15 * 60, weekdays, frozenset({7, 8}), all_days),
        TimeRange(9 * 60, 13 * 60, frozenset({5}), all_months, frozenset(range(1, 8))),
    )
    madrid = config.holiday_sets["madrid"]
    assert (madrid.country, madrid.subdivision, madrid.language, madrid.include_all) == (
        "ES",
        "MD",
        "es",
        True,
    )
    assert madrid.extra == ((datetime.date(2026, 5, 15), "Local holiday"),)


def test_ivr_groups_queues_mailboxes_compile(tmp_path: Path) -> None:
    config = load(tmp_path, ROUTING)
    ivr = config.ivrs["principal"]
    assert (ivr.prompt, ivr.timeout, ivr.retries, ivr.direct_dial) == ("bienvenida", 8.0, 2, True)
    assert dict(ivr.options) == {
        "1": (Action("group", "ventas"),),
        "2": (Action("queue", "soporte"),),
        "9": (Action("voicemail", "general"),),
    }
    assert ivr.on_timeout == (Action("group", "recepcion"),)
    assert ivr.on_invalid == (Action("prompt", "opcion_no_valida"), Action("ivr", "principal"))
    # An external destination's code in members becomes a step that dials it by name.
    assert config.ring_groups["ventas"] == RingGroup(
        name="ventas",
        members=(
            Action("extension", "1001"),
            Action("extension", "1002"),
            Action("external", "movil_ana"),
        ),
        strategy="all",
        ring_time=20.0,
        prefix="VENTAS",
        on_failure=(Action("voicemail", "1001"),),
        missed_call_email="ventas@example.com",
        record=False,
    )
    assert config.queues["soporte"] == Queue(
        name="soporte",
        agents=("1001", "1002", "1003"),
        strategy="round_robin",
        max_callers=10,
        max_wait=300.0,
        ring_time=15.0,
        wrapup=5.0,
        moh="default",
        agent_announcement="aviso_agente",
        announce_position=True,
        priority=5,
        record=True,
        missed_call_email="soporte@example.com",
        on_timeout=(Action("voicemail", "general"),),
        on_full=(Action("voicemail", "general"),),
    )
    assert config.mailboxes["general"] == Mailbox(
        "general", "saludo_general", "oficina@example.com", True, "0000"
    )
    assert "0000" not in repr(config.mailboxes["general"])


def test_defaults(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """\
[extensions.1001]
[prompts.menu]
text = "Menú."
[email]
server = "smtps://mail.example.com"
[trunks.ip]
host = "198.51.100.7"
[ivrs.menu]
prompt = "menu"
direct_dial = true
[ring_groups.todos]
members = ["1001"]
[queues.cola]
[numbers."910000000"]
""",
    )
    assert config.email == EmailConfig(
        "smtps", "mail.example.com", 465, "softswitch@softswitch.local", None, None
    )
    trunk = config.trunks["ip"]
    assert (trunk.port, trunk.transport, trunk.register) == (5060, "udp", False)
    assert trunk.inbound_from == (ipaddress.ip_network("198.51.100.7/32"),)  # the host itself
    ivr = config.ivrs["menu"]
    assert (ivr.timeout, ivr.retries, ivr.on_timeout, ivr.on_invalid) == (8.0, 2, None, None)
    group = config.ring_groups["todos"]
    assert (group.strategy, group.ring_time, group.on_failure, group.record) == (
        "all",
        20.0,
        None,
        False,
    )
    queue = config.queues["cola"]
    assert (queue.agents, queue.strategy, queue.max_callers, queue.moh) == (
        (),
        "ringall",
        10,
        "default",
    )
    # A national spelling of a DID is kept as E.164; with no action it rejects calls.
    number = config.numbers["+34910000000"]
    assert (number.schedule, number.action, number.enabled) == (None, None, True)
    assert config.email is not None and config.outbound_routes == ()
    assert not config.is_blocked("+34600000000")


def test_no_email_table_means_no_email(tmp_path: Path) -> None:
    assert load(tmp_path, "[extensions.1001]\n").email is None


def test_routing_mappings_are_read_only(tmp_path: Path) -> None:
    config = load(tmp_path, ROUTING)
    for mapping in (config.numbers, config.ivrs, config.queues, config.ivrs["principal"].options):
        with pytest.raises(TypeError):
            mapping["x"] = None  # type: ignore[index]


# -- numbers: spellings, blocklist, outbound routes, internal codes -------------------------


@pytest.mark.parametrize(
    "called", ["+34910000000", "0034910000000", "34910000000", "910000000", "91 000 00 00"]
)
def test_did_spellings_find_the_number(tmp_path: Path, called: str) -> None:
    config = load(tmp_path, ROUTING)
    assert config.number_for(called) is config.numbers["+34910000000"]


@pytest.mark.parametrize("called", ["+34910000001", "910000001", "1001", "", "sip:abc"])
def test_other_numbers_are_not_matched(tmp_path: Path, called: str) -> None:
    assert load(tmp_path, ROUTING).number_for(called) is None


def test_trunk_prefix_country(tmp_path: Path) -> None:
    config = load(tmp_path, '[server]\ncountry = "DE"\n[numbers."030123456"]\n')
    assert list(config.numbers) == ["+4930123456"]
    for called in ("030123456", "004930123456", "+4930123456", "4930123456"):
        assert config.number_for(called) is config.numbers["+4930123456"]
    assert config.number_for("30123456") is None  # no trunk prefix: not a German spelling


@settings(derandomize=True, max_examples=200)
@given(st.text(alphabet="0123456789", min_size=9, max_size=9).filter(lambda s: s[0] in "6789"))
def test_every_spanish_spelling_means_the_same_e164(national: str) -> None:
    plan = COUNTRIES["ES"]
    e164 = "+34" + national
    for spelling in (e164, "0034" + national, "34" + national, national):
        assert e164 in set(did_candidates(spelling, plan))
    assert to_e164(national, plan) == e164


def test_blocklist_exact_and_prefix_in_any_spelling(tmp_path: Path) -> None:
    config = load(tmp_path, ROUTING)
    assert config.blocklist.exact == frozenset({"+34600000000"})
    assert config.blocklist.prefixes == ("+34905",)
    for caller in ("+34600000000", "600000000", "0034600000000", "+34905123456", "905123456"):
        assert config.is_blocked(caller), caller
    for caller in ("+34600000001", "+3490", "anonymous", "+44905123456"):
        assert not config.is_blocked(caller), caller


def test_outbound_route_matches_dialled_or_e164_and_rewrites(tmp_path: Path) -> None:
    text = ROUTING + '[[outbound_routes]]\nmatch = "0X."\ntrunk = "proveedor"\nstrip = 1\n'
    text += 'prepend = "+49"\n'
    config = load(tmp_path, text)
    mobile, catch_all = config.outbound_routes
    assert config.outbound_route("+34600111222") == (mobile, "+34600111222")
    assert config.outbound_route("600111222") == (mobile, "+34600111222")  # national form
    assert config.outbound_route("030123") == (catch_all, "+4930123")
    assert config.outbound_route("+34500111222") is None  # 5 is outside [6-9]
    assert config.outbound_route("+3460011122") is None  # one digit short


@pytest.mark.parametrize(
    ("pattern", "matches", "misses", "shortest"),
    [
        ("NXX", ["200", "999"], ["100", "20", "2000"], 3),
        ("Z", ["1", "9"], ["0"], 1),
        ("[1-3,7]X", ["15", "70"], ["45", "5"], 2),
        ("+34.", ["+346", "+34600111222"], ["+34", "34600"], 4),
        ("00!", ["00", "0044"], ["0"], 2),
        ("*9#", ["*9#"], ["9"], 3),
        ("nxx", ["234"], ["134"], 3),
    ],
)
def test_pattern_regex(pattern: str, matches: list[str], misses: list[str], shortest: int) -> None:
    compiled = pattern_regex(pattern)
    assert not isinstance(compiled, str)
    regex, length = compiled
    assert length == shortest
    assert all(regex.fullmatch(n) for n in matches)
    assert not any(regex.fullmatch(n) for n in misses)


@pytest.mark.parametrize("pattern", ["", "34+", "X.X", "[]", "[a]", "[1-3", "A1", "!1"])
def test_bad_patterns_explain_themselves(pattern: str) -> None:
    assert isinstance(pattern_regex(pattern), str)


def test_dial_code_covers_extensions_externals_and_conferences(tmp_path: Path) -> None:
    config = load(tmp_path, ROUTING)
    assert config.dial_code("1001") == Action("extension", "1001")
    assert config.dial_code("2001") == Action("external", "movil_ana")
    assert config.dial_code("3001") == Action("conference", "sala1")
    assert config.dial_code("4001") is None
    assert str(Action("queue", "soporte")) == "queue:soporte"
    assert str(Action("hangup", "")) == "hangup"


# -- mistakes, each at its key path and line --------------------------------------------------

BASE = """\
[extensions.1001]
voicemail = true
[extensions.1002]
[prompts.hola]
text = "Hola."
[ring_groups.ventas]
members = ["1001"]
"""
BASE_LINES = BASE.count("\n")


def only_issue(tmp_path: Path, extra: str) -> ConfigIssue:
    found = issues_of(tmp_path, BASE + extra)
    assert len(found) == 1, [str(issue) for issue in found]
    return found[0]


# Each case: "KEY.PATH @LINE | words of the message", then the TOML added to BASE (LINE counts
# from its first line). Cases are separated by "---" lines.
CASES = """\
numbers."+34910000000".on_closed[1] @2 | no mailbox named "general"
[numbers."+34910000000"]
on_closed = ["prompt:hola", "voicemail:general"]
---
numbers."+34910000000".action @2 | not an action
[numbers."+34910000000"]
action = "grupo:ventas"
---
numbers."+34910000000".action @2 | names no ring group
[numbers."+34910000000"]
action = "group:"
---
numbers."+34910000000".action @2 | did you mean "ventas"
[numbers."+34910000000"]
action = "group:venta"
---
numbers."+34910000000".action @2 | extension 1002 has no mailbox
[numbers."+34910000000"]
action = "voicemail:1002"
---
numbers."+34910000000".action[0] @2 | make it the last step
[numbers."+34910000000"]
action = ["hangup", "group:ventas"]
---
numbers."+34910000000".action @2 | hangup takes no name
[numbers."+34910000000"]
action = "hangup:now"
---
numbers."+34910000000".action @2 | an empty list
[numbers."+34910000000"]
action = []
---
numbers."+34910000000".action @2 | expected a string or a list of strings
[numbers."+34910000000"]
action = 5
---
numbers."+34910000000".schedule @2 | no schedule named "oficina"
[numbers."+34910000000"]
schedule = "oficina"
---
numbers."+34910000000".acton @2 | did you mean "action"
[numbers."+34910000000"]
acton = "hangup"
---
numbers.abc @1 | not a phone number
[numbers."abc"]
---
numbers.910000000 @2 | same number as "+34910000000"
[numbers."+34910000000"]
[numbers."910000000"]
---
ivrs.m.options.10 @3 | 0-9, * or #
[ivrs.m]
prompt = "hola"
options = { "10" = "group:ventas" }
---
ivrs.m.prompt @2 | no prompt named "hla"
[ivrs.m]
prompt = "hla"
direct_dial = true
---
ivrs.m @1 | callers could only time out
[ivrs.m]
prompt = "hola"
---
ivrs.m.timeout @3 | greater than 0
[ivrs.m]
prompt = "hola"
timeout = 0
direct_dial = true
---
ring_groups.v.members[1] @2 | no extension number or external code
[ring_groups.v]
members = ["1001", "9999"]
---
ring_groups.v.members[1] @2 | listed twice
[ring_groups.v]
members = ["1001", "1001"]
---
ring_groups.v.strategy @3 | "all", "sequential"
[ring_groups.v]
members = ["1001"]
strategy = "random"
---
queues.q.agents[0] @2 | no extension "1003"
[queues.q]
agents = ["1003"]
---
queues.q.moh @2 | no music_on_hold class named "jazz"
[queues.q]
moh = "jazz"
---
queues.q.agent_announcement @2 | no prompt named "x"
[queues.q]
agent_announcement = "x"
---
queues.q.max_callers @2 | at least 1
[queues.q]
max_callers = 0
---
queues.q.on_full @2 | no queue named "q2"
[queues.q]
on_full = "queue:q2"
---
voicemail.1001 @1 | extension 1001's mailbox
[voicemail.1001]
---
voicemail.v.pin @2 | 4 to 12 digits
[voicemail.v]
pin = "12"
---
voicemail.v.greeting @2 | no prompt named "nope"
[voicemail.v]
greeting = "nope"
---
schedules.s.ranges[0].end @2 | 18:00-24:00 and 00:00-09:00
[schedules.s]
ranges = [{ start = "18:00", end = "09:00" }]
---
schedules.s.ranges[0].end @2 | is empty
[schedules.s]
ranges = [{ start = "09:00", end = "09:00" }]
---
schedules.s.ranges[0].start @2 | "HH:MM"
[schedules.s]
ranges = [{ start = "9h", end = "10:00" }]
---
schedules.s.ranges[0].start @2 | can only end
[schedules.s]
ranges = [{ start = "24:00", end = "24:00" }]
---
schedules.s.ranges[0] @2 | needs a start time
[schedules.s]
ranges = [{ end = "10:00" }]
---
schedules.s.ranges[0].days @2 | "mon-fri"
[schedules.s]
ranges = [{ start = "09:00", end = "10:00", days = "mon-fry" }]
---
schedules.s.ranges[0].months @2 | "sep-jun"
[schedules.s]
ranges = [{ start = "09:00", end = "10:00", months = "sept" }]
---
schedules.s.ranges[0].monthdays @2 | low to high
[schedules.s]
ranges = [{ start = "09:00", end = "10:00", monthdays = "25-5" }]
---
schedules.s.holidays @3 | no holidays named "md"
[schedules.s]
ranges = [{ start = "09:00", end = "10:00" }]
holidays = "md"
---
schedules.s @1 | at least one range
[schedules.s]
---
holidays.h.country @2 | does not know the country "XX"
[holidays.h]
country = "XX"
---
holidays.h.subdivision @3 | known: AN, AR
[holidays.h]
country = "ES"
subdivision = "ZZ"
---
holidays.h @1 | needs a country
[holidays.h]
---
holidays.h.include @3 | "all" or a list
[holidays.h]
country = "ES"
include = "some"
---
holidays.h.include @3 | 2026-05-16 is not a public holiday in ES
[holidays.h]
country = "ES"
include = ["2026-05-16"]
---
holidays.h.exclude @4 | no holiday named "Navidad" in ES-MD
[holidays.h]
country = "ES"
subdivision = "MD"
exclude = ["Navidad"]
---
holidays.h.extra[0] @3 | not a date
[holidays.h]
country = "ES"
extra = ["2026-02-30"]
---
holidays.h.extra[0] @3 | no time of day
[holidays.h]
country = "ES"
extra = [2026-05-15T10:00:00]
---
holidays.h.extra[1] @3 | listed twice
[holidays.h]
country = "ES"
extra = ["2026-05-15", 2026-05-15]
---
trunks.t @1 | needs a host
[trunks.t]
port = 5060
---
trunks.t.register @3 | username and a password
[trunks.t]
host = "sip.example.com"
register = true
---
trunks.t.inbound_from[0] @3 | CIDR
[trunks.t]
host = "sip.example.com"
inbound_from = ["192.0.2.1/24"]
---
trunks.t.transport @3 | "udp", "tcp"
[trunks.t]
host = "sip.example.com"
transport = "tls"
---
outbound_routes[0].trunk @3 | no trunk named "nadie"
[[outbound_routes]]
match = "X."
trunk = "nadie"
---
outbound_routes[0].match @4 | unexpected "Y"
[trunks.t]
host = "h.example"
[[outbound_routes]]
match = "9Y"
trunk = "t"
---
outbound_routes[0].strip @6 | shortest match has 2
[trunks.t]
host = "h.example"
[[outbound_routes]]
match = "9X"
trunk = "t"
strip = 3
---
outbound_routes[0].prepend @6 | only digits
[trunks.t]
host = "h.example"
[[outbound_routes]]
match = "9X"
trunk = "t"
prepend = "a"
---
external_destinations.e.code @2 | already used by extension 1002
[external_destinations.e]
code = "1002"
number = "+34600111222"
---
external_destinations.e.number @3 | not a phone number
[external_destinations.e]
code = "2001"
number = "móvil"
---
external_destinations.e.username @4 | already used
[external_destinations.e]
code = "2001"
number = "600111222"
username = "1001"
---
external_destinations.e @1 | needs a code
[external_destinations.e]
number = "600111222"
---
email.server @2 | "smtp://host:port"
[email]
server = "http://mail.example.com"
---
email.password @3 | needs a username
[email]
server = "smtp://mail.example.com"
password = "x"
---
email @1 | needs a server
[email]
---
blocklist.numbers[0] @2 | block every caller
[blocklist]
numbers = ["*"]
---
blocklist.numbers[1] @2 | listed twice
[blocklist]
numbers = ["+34600", "600"]
---
server.country @2 | no dialling plan
[server]
country = "XX"
"""


def parse_cases(text: str) -> list[tuple[str, str, int, str]]:
    cases = []
    for block in text.split("---\n"):
        head, extra = block.split("\n", 1)
        located, words = head.split(" | ", 1)
        key_path, line = located.rsplit(" @", 1)
        cases.append((extra, key_path, int(line), words))
    return cases


@pytest.mark.parametrize(("extra", "key_path", "line", "words"), parse_cases(CASES))
def test_each_routing_mistake_is_located(
    tmp_path: Path, extra: str, key_path: str, line: int, words: str
) -> None:
    issue = only_issue(tmp_path, extra)
    assert (issue.key_path, issue.line) == (key_path, BASE_LINES + line), str(issue)
    assert words in issue.message, str(issue)


def test_codes_unique_across_extensions_externals_and_conferences(tmp_path: Path) -> None:
    found = issues_of(
        tmp_path,
        BASE
        + '[conferences.sala]\nnumber = "3000"\n'
        + '[external_destinations.a]\ncode = "3000"\nnumber = "600000001"\n'
        + '[external_destinations.b]\ncode = "3001"\nnumber = "600000002"\n'
        + '[external_destinations.c]\ncode = "3001"\nnumber = "600000003"\n',
    )
    assert [(i.key_path, i.message) for i in found] == [
        ("external_destinations.a.code", 'code "3000" is already used by conference sala'),
        ("external_destinations.c.code", 'code "3001" is already used by external destination b'),
    ]


def test_every_routing_mistake_reported_at_once(tmp_path: Path) -> None:
    text = (
        BASE
        + '[numbers."+34910000000"]\naction = "queue:nope"\non_closed = "ivr:nope"\n'
        + '[queues.q]\nagents = ["7"]\n'
        + '[schedules.s]\nranges = [{ start = "10:00", end = "09:00" }]\n'
    )
    paths = [issue.key_path for issue in issues_of(tmp_path, text)]
    assert paths == [
        'numbers."+34910000000".action',
        'numbers."+34910000000".on_closed',
        "queues.q.agents[0]",
        "schedules.s.ranges[0].end",
    ]


def test_holiday_names_and_dates_compile(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """\
[server]
language = "es"
[holidays.h]
country = "es"
subdivision = "Madrid"
include = ["año nuevo", 2027-05-03, "2026-12-25"]
exclude = ["Epifanía del Señor"]
extra = ["2026-05-15 San Isidro", 2026-11-09]
""",
    )
    h = config.holiday_sets["h"]
    assert (h.country, h.subdivision, h.language, h.include_all) == ("ES", "MD", "es", False)
    assert h.include_names == frozenset({"año nuevo"})
    assert h.include_dates == frozenset({datetime.date(2027, 5, 3), datetime.date(2026, 12, 25)})
    assert h.exclude_names == frozenset({"epifanía del señor"})
    assert h.extra == (
        (datetime.date(2026, 5, 15), "San Isidro"),
        (datetime.date(2026, 11, 9), "Local holiday"),
    )


def test_holiday_names_use_the_server_language(tmp_path: Path) -> None:
    text = '[server]\nlanguage = "en"\n[holidays.h]\ncountry = "ES"\ninclude = ["Epiphany"]\n'
    assert load(tmp_path, text).holiday_sets["h"].language == "en_US"


def test_schedule_range_spellings(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """\
[[schedules.s.ranges]]
start = "9:00"
end = "24:00"
days = "Friday-Mon"
months = "nov-feb,jun"
monthdays = "1-3,30"
[[schedules.s.ranges]]
start = "00:00"
end = "06:30"
days = "mon,wed , sun"
""",
    )
    first, second = config.schedules["s"].ranges
    assert (first.start, first.end) == (540, 1440)
    assert first.days == frozenset({4, 5, 6, 0})
    assert first.months == frozenset({11, 12, 1, 2, 6})
    assert first.monthdays == frozenset({1, 2, 3, 30})
    assert (second.start, second.end, second.days) == (0, 390, frozenset({0, 2, 6}))


def test_holiday_names_in_another_language_are_translated(tmp_path: Path) -> None:
    text = '[server]\nlanguage = "es"\n[holidays.h]\ncountry = "ES"\nsubdivision = "CT"\n'
    config = load(tmp_path, text + 'include = ["Sant Esteve"]\n')  # Catalan, for 26 December
    spanish = holidays.country_holidays("ES", subdiv="CT", years=2026, language="es")
    assert config.holiday_sets["h"].include_names == {
        spanish[datetime.date(2026, 12, 26)].casefold()
    }
    (issue,) = issues_of(tmp_path, text + 'include = ["Sant Estev"]\n')
    assert "--subdivision CT --language es` lists them" in issue.message


def test_every_spanish_community_compiles(tmp_path: Path) -> None:
    codes = [*("AN", "AR", "AS", "CB", "CE", "CL", "CM", "CN", "CT", "EX")]
    codes += ["GA", "IB", "MC", "MD", "ML", "NC", "PV", "RI", "VC"]
    text = "".join(f'[holidays.{c.lower()}]\ncountry = "ES"\nsubdivision = "{c}"\n' for c in codes)
    sets = load(tmp_path, text).holiday_sets
    assert [(s.country, s.subdivision) for s in sets.values()] == [("ES", c) for c in codes]
