"""What a reload would change: two configurations loaded from TOML and compared (diff.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from softswitch.config import CompiledConfig, load_config
from softswitch.config.diff import ConfigDiff, KeyChange, diff_configs, format_diff

BASE = """\
[server]
domain = "pbx.example.com"
listen = ["udp:127.0.0.1:5060", "tcp:127.0.0.1:5060"]
rtp_ports = "40000-40099"
timezone = "Europe/Madrid"
state_dir = "var"
ring_time = 30

[security]
ban_time = 600
trusted = ["192.168.1.0/24"]

[extensions.1001]
name = "Ana García"
password = "ana-secret-1001"
outbound = false
voicemail = { pin = "1111" }

[extensions.1002]
name = "Bruno Díaz"
password = "bruno-secret-1002"

[extensions.1003]
name = "Carmen Ruiz"

[external_destinations.movil_ana]
code = "2001"
name = "Móvil de Ana"
number = "+34600111222"

[trunks.proveedor]
host = "sip.provider.example"
username = "ejemplo"
password = "trunk-secret-1"
inbound_from = ["192.0.2.0/24"]

[trunks.respaldo]
host = "sip.backup.example"

[[outbound_routes]]
match = "+34[6-9]XXXXXXXX"
trunk = "proveedor"

[[outbound_routes]]
match = "+XXXXXXX."
trunk = "respaldo"

[schedules.oficina]
ranges = [{ start = "09:00", end = "14:00", days = "mon-fri" }]
holidays = "madrid"

[holidays.madrid]
country = "ES"
subdivision = "MD"
include = "all"

[numbers."+34910000000"]
description = "Línea principal"
schedule = "oficina"
action = "ivr:principal"
on_closed = "voicemail:general"

[numbers."+34910000001"]
action = "extension:1001"

[prompts.bienvenida]
text = "Bienvenido."
language = "es"

[music_on_hold.suave]
directory = "moh"

[ivrs.principal]
prompt = "bienvenida"
timeout = 8
on_timeout = "group:ventas"
options = { "1" = "group:ventas", "2" = "queue:soporte" }

[ring_groups.ventas]
members = ["1001", "1002", "2001"]
ring_time = 20

[queues.soporte]
agents = ["1002", "1003"]
max_wait = 300

[voicemail.general]
pin = "0000"

[conferences.sala]
number = "3000"
pin = "4321"

[email]
server = "smtp://mail.example.com:587"
from = "centralita@example.com"
username = "centralita"
password = "mail-secret-1"

[forms.alta]
description = "Alta de clientes"

[blocklist]
numbers = ["+34600000000", "+34905*"]
"""


def respelled(text: str) -> str:
    """``text`` written differently: tables and keys in the reverse order (the outbound routes,
    whose order is their priority, kept in theirs), numbers as 8.0 for 8, a DID and a blocked
    number in national / international-prefix spelling, one-action lists."""
    blocks = [block.splitlines() for block in text.strip().split("\n\n")]
    blocks = [[block[0], *reversed(block[1:])] for block in blocks]
    tables = [block for block in blocks if not block[0].startswith("[[")]
    routes = [block for block in blocks if block[0].startswith("[[")]
    text = "\n\n".join("\n".join(block) for block in [*reversed(tables), *routes]) + "\n"
    return edit(
        text,
        ("timeout = 8", "timeout = 8.0"),
        ("max_wait = 300", "max_wait = 300.0"),
        ("ring_time = 20", "ring_time = 20.0"),
        ('[numbers."+34910000000"]', '[numbers."0034910000000"]'),
        ('[numbers."+34910000001"]', '[numbers."910000001"]'),
        ('"+34600000000", "+34905*"', '"0034600000000", "+34905*"'),
        (
            '"1" = "group:ventas", "2" = "queue:soporte"',
            '"2" = "queue:soporte", "1" = ["group:ventas"]',
        ),
        ('on_timeout = "group:ventas"', 'on_timeout = ["group:ventas"]'),
        ('days = "mon-fri"', 'days = "mon,tue-thu,fri"'),
    )


SECRETS = ("ana-secret-1001", "trunk-secret-1", "mail-secret-1", "1111", "4321", "0000")


def edit(text: str, *replacements: tuple[str, str]) -> str:
    """``text`` with each (old, new) replaced; old must occur exactly once."""
    for old, new in replacements:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return text


def load(directory: Path, text: str) -> CompiledConfig:
    """Both files live in one directory, so relative paths (state_dir, moh) resolve alike."""
    (directory / "moh").mkdir(exist_ok=True)
    (directory / "moh" / "tune.wav").touch()
    path = directory / f"config{len(list(directory.glob('*.toml')))}.toml"
    path.write_text(text, encoding="utf-8")
    return load_config(path)


def diff(directory: Path, new_text: str, old_text: str = BASE) -> ConfigDiff:
    return diff_configs(load(directory, old_text), load(directory, new_text))


def lines(result: ConfigDiff) -> list[str]:
    return format_diff(result).splitlines()


def test_the_same_file_twice_changes_nothing(tmp_path: Path) -> None:
    result = diff(tmp_path, BASE)
    assert result.empty
    assert result.sections == ()
    assert result.needs_restart == ()
    assert result.trunks_changed == ()
    assert format_diff(result) == "no changes"


def test_a_respelling_that_compiles_the_same_is_no_change(tmp_path: Path) -> None:
    text = respelled(BASE)
    assert text.index("[server]") > text.index("[blocklist]")
    assert text.index('"+34[6-9]XXXXXXXX"') < text.index('"+XXXXXXX."')
    old, new = load(tmp_path, BASE), load(tmp_path, text)
    assert list(new.extensions) == ["1003", "1002", "1001"]  # the file order did change
    result = diff_configs(old, new)
    assert result.empty, format_diff(result)


def test_extensions_added_removed_and_changed(tmp_path: Path) -> None:
    new_text = edit(
        BASE,
        ('[extensions.1003]\nname = "Carmen Ruiz"\n', '[extensions.1004]\nname = "Dora Vidal"\n'),
        ('outbound = false\nvoicemail = { pin = "1111" }', 'outbound = true\nrecord = "all"'),
        ('agents = ["1002", "1003"]', 'agents = ["1002", "1004"]'),
    )
    result = diff(tmp_path, new_text)
    extensions = result.section("extensions")
    assert extensions is not None
    assert [(a.name, a.summary) for a in extensions.added] == [("1004", "Dora Vidal")]
    assert extensions.removed == ("1003",)
    [changed] = extensions.changed
    assert changed.name == "1001"
    assert changed.changes[:2] == (
        KeyChange("outbound", "false", "true"),
        KeyChange("record", "none", "all"),
    )
    assert "extensions: + 1004 (Dora Vidal)" in lines(result)
    assert "extensions: - 1003" in lines(result)
    assert "extensions: ~ 1001: outbound false -> true" in lines(result)
    assert result.needs_restart == ()


def test_a_mailbox_switched_off_is_one_change(tmp_path: Path) -> None:
    off = diff(tmp_path, edit(BASE, ('voicemail = { pin = "1111" }', "voicemail = false")))
    assert lines(off) == ["extensions: ~ 1001: voicemail on -> (none)"]
    on = diff(
        tmp_path, edit(BASE, ('name = "Bruno Díaz"', 'name = "Bruno Díaz"\nvoicemail = true'))
    )
    assert lines(on) == ["extensions: ~ 1002: voicemail (none) -> on"]
    no_pin = diff(tmp_path, edit(BASE, ('voicemail = { pin = "1111" }', "voicemail = true")))
    assert lines(no_pin) == ["extensions: ~ 1001: voicemail.pin (changed)"]
    assert "1111" not in format_diff(off) + format_diff(no_pin)


def test_changed_secrets_read_changed_and_never_show(tmp_path: Path) -> None:
    new_text = edit(
        BASE,
        ('password = "ana-secret-1001"', 'password = "ana-NEW-1001"'),
        ('password = "trunk-secret-1"', 'password = "trunk-NEW-1"'),
        ('password = "mail-secret-1"', 'password = "mail-NEW-1"'),
        ('voicemail = { pin = "1111" }', 'voicemail = { pin = "1112" }'),
        ('number = "3000"\npin = "4321"', 'number = "3000"\npin = "4322"\nadmin_pin = "9999"'),
        ('[voicemail.general]\npin = "0000"', '[voicemail.general]\npin = "0001"'),
    )
    result = diff(tmp_path, new_text)
    assert lines(result) == [
        "extensions: ~ 1001: password (changed)",
        "extensions: ~ 1001: voicemail.pin (changed)",
        "conferences: ~ sala: pin (changed)",
        "conferences: ~ sala: admin_pin (changed)",
        "email: ~ password (changed)",
        "trunks: ~ proveedor: password (changed)",
        "voicemail: ~ general: pin (changed)",
    ]
    text = format_diff(result) + repr(result)
    for secret in (*SECRETS, "ana-NEW-1001", "trunk-NEW-1", "mail-NEW-1", "1112", "4322", "9999"):
        assert secret not in text
    assert result.trunks_changed == ("proveedor",)


def test_a_changed_ivr_names_the_keys(tmp_path: Path) -> None:
    new_text = edit(
        BASE,
        ("timeout = 8", "timeout = 10"),
        (
            '"2" = "queue:soporte" }',
            '"2" = ["prompt:bienvenida", "queue:soporte"], "0" = "hangup" }',
        ),
    )
    assert lines(diff(tmp_path, new_text)) == [
        "ivrs: ~ principal: timeout 8 -> 10",
        "ivrs: ~ principal: options.2 queue:soporte -> prompt:bienvenida, queue:soporte",
        "ivrs: ~ principal: options.0 (none) -> hangup",
    ]


def test_an_edited_schedule_is_reported_once_not_under_each_number(tmp_path: Path) -> None:
    new_text = edit(
        BASE,
        ('end = "14:00", days = "mon-fri"', 'end = "15:00", days = "mon,wed-fri"'),
        ('include = "all"', 'include = "all"\nextra = ["2026-05-15"]'),
    )
    result = diff(tmp_path, new_text)
    assert lines(result) == [
        "schedules: ~ oficina: ranges 09:00-14:00 mon-fri -> 09:00-15:00 mon,wed-fri",
        "holidays: ~ madrid: extra [] -> 2026-05-15 Local holiday",
    ]
    # The number embeds the schedule object, but is compared by the schedule's name.
    assert result.section("numbers") is None


def test_numbers_added_removed_and_rerouted(tmp_path: Path) -> None:
    new_text = edit(
        BASE,
        ('[numbers."+34910000001"]\naction', '[numbers."+34910000002"]\naction'),
        ('action = "ivr:principal"', 'action = ["prompt:bienvenida", "queue:soporte"]'),
        ('on_closed = "voicemail:general"', 'on_closed = "voicemail:general"\nenabled = false'),
        ('schedule = "oficina"\n', ""),
    )
    assert lines(diff(tmp_path, new_text)) == [
        "numbers: + +34910000002",
        "numbers: - +34910000001",
        "numbers: ~ +34910000000: schedule oficina -> (none)",
        "numbers: ~ +34910000000: action ivr:principal -> prompt:bienvenida, queue:soporte",
        "numbers: ~ +34910000000: enabled true -> false",
    ]


def test_outbound_routes_by_pattern_with_their_order(tmp_path: Path) -> None:
    first = '[[outbound_routes]]\nmatch = "+34[6-9]XXXXXXXX"\ntrunk = "proveedor"\n'
    second = '[[outbound_routes]]\nmatch = "+XXXXXXX."\ntrunk = "respaldo"\n'
    new_route = '[[outbound_routes]]\nmatch = "+1XXXXXXXXXX"\ntrunk = "respaldo"\nstrip = 1\n'
    # A route put first moves the others down, but their priority among themselves is the same.
    added_first = diff(tmp_path, edit(BASE, (first, new_route + "\n" + first)))
    assert lines(added_first) == ["outbound_routes: + +1XXXXXXXXXX (#1 via respaldo)"]
    # Swapped: each one's position is a change.
    swapped = diff(tmp_path, edit(BASE, (first + "\n" + second, second + "\n" + first)))
    assert lines(swapped) == [
        "outbound_routes: ~ +XXXXXXX.: position 2 -> 1",
        "outbound_routes: ~ +34[6-9]XXXXXXXX: position 1 -> 2",
    ]
    rerouted = diff(tmp_path, edit(BASE, (second, second.replace("respaldo", "proveedor"))))
    assert lines(rerouted) == ["outbound_routes: ~ +XXXXXXX.: trunk respaldo -> proveedor"]
    assert rerouted.trunks_changed == ()  # a route's trunk is not the trunk's registration
    removed = diff(tmp_path, edit(BASE, (first, "")))
    assert lines(removed) == ["outbound_routes: - +34[6-9]XXXXXXXX"]


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            'code = "2001"\nname = "Móvil de Ana"',
            'code = "2001"\nname = "Móvil Ana"',
            "external_destinations: ~ movil_ana: display_name Móvil de Ana -> Móvil Ana",
        ),
        (
            "[music_on_hold.suave]",
            "[music_on_hold.fuerte]",
            "music_on_hold: + fuerte",
        ),
        (
            'text = "Bienvenido."',
            'text = "Hola."',
            "prompts: ~ bienvenida: text Bienvenido. -> Hola.",
        ),
        (
            'members = ["1001", "1002", "2001"]',
            'members = ["1002", "1001"]\nstrategy = "sequential"',
            "ring_groups: ~ ventas: members extension:1001, extension:1002, external:movil_ana"
            " -> extension:1002, extension:1001",
        ),
        (
            "max_wait = 300",
            "max_wait = 0",
            "queues: ~ soporte: max_wait 300 -> 0",
        ),
        (
            '[voicemail.general]\npin = "0000"',
            '[voicemail.general]\npin = "0000"\nemail = "oficina@example.com"',
            "voicemail: ~ general: email (none) -> oficina@example.com",
        ),
        (
            '[conferences.sala]\nnumber = "3000"',
            '[conferences.sala]\nnumber = "3001"',
            "conferences: ~ sala: number 3000 -> 3001",
        ),
        (
            'numbers = ["+34600000000", "+34905*"]',
            'numbers = ["+34905*", "+34806*"]',
            "blocklist: - +34600000000",
        ),
        (
            'server = "smtp://mail.example.com:587"',
            'server = "smtps://mail.example.com:465"',
            "email: ~ scheme smtp -> smtps",
        ),
        (
            'description = "Alta de clientes"',
            'description = "Alta de clientes nuevos"',
            "forms: ~ alta: description Alta de clientes -> Alta de clientes nuevos",
        ),
        (
            "ban_time = 600",
            "ban_time = 60",
            "security: ~ ban_time 600 -> 60 (restart to apply)",
        ),
        (
            "ring_time = 30",
            "ring_time = 25",
            "server: ~ ring_time 30 -> 25",
        ),
    ],
)
def test_each_section_reports_its_change(tmp_path: Path, old: str, new: str, expected: str) -> None:
    result = diff(tmp_path, edit(BASE, (old, new)))
    assert expected in lines(result)
    assert not result.empty


def test_blocklist_entries_and_email_come_and_go(tmp_path: Path) -> None:
    blocked = diff(tmp_path, edit(BASE, ('"+34905*"]', '"+34905*", "+34806*", "+34911222333"]')))
    assert lines(blocked) == ["blocklist: + +34911222333", "blocklist: + +34806*"]
    email = BASE[BASE.index("[email]") : BASE.index("[forms.alta]")]
    without = diff(tmp_path, edit(BASE, (email, "")))
    assert lines(without) == ["email: - smtp://mail.example.com:587"]
    back = diff(tmp_path, BASE, old_text=edit(BASE, (email, "")))
    assert lines(back) == ["email: + smtp://mail.example.com:587"]


def test_listen_and_rtp_ports_need_a_restart(tmp_path: Path) -> None:
    new_text = edit(
        BASE,
        ('"udp:127.0.0.1:5060", "tcp:127.0.0.1:5060"', '"udp:[::1]:5070"'),
        ('"40000-40099"', '"40000-40199"'),
        ("ring_time = 30", "ring_time = 25"),
        ('trusted = ["192.168.1.0/24"]', 'trusted = ["192.168.1.0/24", "10.0.0.0/8"]'),
    )
    result = diff(tmp_path, new_text)
    assert result.needs_restart == ("server.listen", "server.rtp_ports", "security.trusted")
    assert lines(result) == [
        "server: ~ listen udp:127.0.0.1:5060, tcp:127.0.0.1:5060 -> udp:[::1]:5070"
        " (restart to apply)",
        "server: ~ rtp_ports 40000-40099 -> 40000-40199 (restart to apply)",
        "server: ~ ring_time 30 -> 25",
        "security: ~ trusted 192.168.1.0/24 -> 192.168.1.0/24, 10.0.0.0/8 (restart to apply)",
    ]


def test_trunks_changed_lists_added_removed_and_changed_trunks(tmp_path: Path) -> None:
    new_text = edit(
        BASE,
        ('host = "sip.provider.example"', 'host = "sip2.provider.example"\nregister = true'),
        ('[trunks.respaldo]\nhost = "sip.backup.example"', '[trunks.nuevo]\nhost = "192.0.2.7"'),
        ('trunk = "respaldo"', 'trunk = "nuevo"'),
    )
    result = diff(tmp_path, new_text)
    assert result.trunks_changed == ("nuevo", "respaldo", "proveedor")
    assert lines(result)[:4] == [
        "trunks: + nuevo",
        "trunks: - respaldo",
        "trunks: ~ proveedor: host sip.provider.example -> sip2.provider.example",
        "trunks: ~ proveedor: register false -> true",
    ]
    assert "trunk-secret-1" not in format_diff(result)


def test_the_order_follows_the_new_file_and_removals_the_old(tmp_path: Path) -> None:
    anchor = "[extensions.1001]"
    old_text = edit(BASE, (anchor, "[extensions.1007]\n\n[extensions.1006]\n\n" + anchor))
    new_text = edit(
        BASE,
        (anchor, '[extensions.1009]\nname = "Zoe"\n\n' + anchor),
        ("[external_destinations", '[extensions.1005]\nname = "Eva"\n\n[external_destinations'),
    )
    expected = [
        "extensions: + 1009 (Zoe)",
        "extensions: + 1005 (Eva)",
        "extensions: - 1007",
        "extensions: - 1006",
    ]
    assert lines(diff(tmp_path, new_text, old_text=old_text)) == expected
    # The reverse diff swaps them: added in the old file's order, removed in the new one's.
    assert lines(diff(tmp_path, old_text, old_text=new_text)) == [
        "extensions: + 1007",
        "extensions: + 1006",
        "extensions: - 1009",
        "extensions: - 1005",
    ]
