"""`holidays` and `credentials` as a config answers them (``ConfigView``), through the same
handlers the control server runs, the tables people read, and the CLI's fallback to the config
file when no server answers on the socket."""

from __future__ import annotations

import datetime
import json
import socket
from pathlib import Path
from typing import Any

import pytest

from softswitch.cli import main
from softswitch.config import CompiledConfig, load_config, resolve_passwords
from softswitch.config.holiday_sets import package_holidays
from softswitch.control.config_view import (
    ConfigView,
    offline_view,
    place_problem,
    registrar_uris,
)
from softswitch.control.protocol import ControlError, decode_response, encode_result
from softswitch.control.server import CONFIG_COMMANDS
from softswitch.control.tables import render
from softswitch.dialplan.holidays import list_holidays
from softswitch.storage.secrets import SecretStore

CONFIG = """\
[server]
domain = "pbx.example.com"
listen = ["udp:0.0.0.0:5060", "tcp:192.168.1.10:5061", "udp:127.0.0.1:0"]
state_dir = "state"
timezone = "Europe/Madrid"
language = "es"

[extensions.1001]
name = "Ana García"
username = "ana"
password = "secret1001"

[extensions.1002]
name = "Bruno"

[holidays.madrid]
country = "ES"
subdivision = "MD"
include = "all"
exclude = ["2027-05-03"]
extra = ["2027-05-14 Fiesta local", "2028-02-01 Otra fiesta"]

[holidays.sevilla]
country = "ES"
subdivision = "AN"
include = ["2027-01-01"]

[schedules.oficina]
ranges = [{ start = "09:00", end = "14:00", days = "mon-fri" }]
holidays = "madrid"

[numbers."+34910000000"]
schedule = "oficina"
action = "extension:1001"
"""

# 2026-12-31 23:30 UTC is already 2027 in Madrid, where the schedules run.
NEW_YEAR_IN_MADRID = datetime.datetime(2026, 12, 31, 23, 30, tzinfo=datetime.UTC).timestamp()
REGISTRARS = ("sip:pbx.example.com:5060;transport=udp",)


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    path = tmp_path / "pbx.toml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


@pytest.fixture
def config(config_path: Path) -> CompiledConfig:
    return load_config(config_path)


def over_the_wire(command: str, view: ConfigView, args: dict[str, Any]) -> Any:
    """The handler's result as the CLI receives it (JSON: tuples become lists)."""
    return decode_response(encode_result(CONFIG_COMMANDS[command](view, args)).strip())


# ------------------------------------------------------------------------------ holidays


def test_holidays_default_to_this_year_and_the_next_in_server_time(config: CompiledConfig) -> None:
    view = ConfigView(config, NEW_YEAR_IN_MADRID, REGISTRARS)
    assert view.holidays(None).years == (2027, 2028)
    an_hour_earlier = ConfigView(config, NEW_YEAR_IN_MADRID - 3600, REGISTRARS)
    assert an_hour_earlier.holidays(None).years == (2026, 2027)
    assert view.holidays(2030).years == (2030,)


def test_a_set_lists_closed_extra_and_removed_days_and_where_it_applies(
    config: CompiledConfig,
) -> None:
    result = over_the_wire("holidays", ConfigView(config, NEW_YEAR_IN_MADRID, REGISTRARS), {})
    madrid, sevilla = result["sets"]
    assert (madrid["name"], madrid["country"], madrid["subdivision"]) == ("madrid", "ES", "MD")
    assert (madrid["schedules"], madrid["numbers"]) == (["oficina"], ["+34910000000"])
    by_date = {d["date"]: d for d in madrid["days"]}
    assert by_date["2027-05-14"] == {
        "date": "2027-05-14",
        "name": "Fiesta local",
        "closed": True,
        "source": "extra",
    }
    assert (by_date["2027-05-03"]["closed"], by_date["2027-05-03"]["source"]) == (False, "removed")
    assert by_date["2028-02-01"]["source"] == "extra"  # next year's extra day too
    imported = package_holidays("ES", "MD", "es", [2027, 2028])
    assert set(by_date) == {d.isoformat() for d in imported} | {"2027-05-14", "2028-02-01"}
    assert by_date["2027-01-01"] == {
        "date": "2027-01-01",
        "name": imported[datetime.date(2027, 1, 1)],
        "closed": True,
        "source": "package",
    }
    assert [d["date"] for d in madrid["days"]] == sorted(by_date)
    # include = one date: every other Andalusian holiday is a working day, and no schedule
    # uses the set at all
    assert (sevilla["schedules"], sevilla["numbers"]) == ([], [])
    closed_2027 = [d["date"] for d in sevilla["days"] if d["closed"]]
    assert closed_2027 == ["2027-01-01"]
    removed = {d["date"] for d in sevilla["days"] if d["source"] == "removed"}
    andalusia = package_holidays("ES", "AN", "es", [2027, 2028])
    assert removed == {d.isoformat() for d in andalusia} - {"2027-01-01"}


def test_a_place_is_listed_as_the_package_says_and_an_unknown_one_refused(
    config: CompiledConfig,
) -> None:
    view = ConfigView(config, NEW_YEAR_IN_MADRID, REGISTRARS)
    listed = over_the_wire("holidays", view, {"country": "es", "subdivision": "md"})
    expected = list_holidays("ES", "MD", 2027)  # the year: "now" in server time
    assert listed == [{"date": d.isoformat(), "name": n} for d, n in expected.items()]
    english = over_the_wire("holidays", view, {"country": "ES", "year": 2028, "language": "en_US"})
    assert english[0] == {"date": "2028-01-01", "name": "New Year's Day"}
    with pytest.raises(ControlError, match=r"unknown country 'QQ' \(use an ISO code"):
        view.place_holidays("qq", None, None, None)
    with pytest.raises(ControlError, match=r"ES has no subdivision 'XX' \(.*MD"):
        view.place_holidays("ES", "XX", 2027, None)
    assert place_problem("ES", "Madrid") is None  # a name the package knows, as codes are


def test_holiday_tables(config: CompiledConfig) -> None:
    view = ConfigView(config, NEW_YEAR_IN_MADRID, REGISTRARS)
    text = render("holidays", over_the_wire("holidays", view, {"year": 2027})).splitlines()
    assert text[0] == "holidays madrid (ES, MD): closes schedule(s) oficina; number(s) +34910000000"
    assert text[1].split() == ["DATE", "DAY", "OFFICE", "SOURCE", "NAME"]
    assert "2027-05-03  Mon  open    removed  " in "\n".join(text)
    assert "2027-05-14  Fri  closed  extra    Fiesta local" in text
    assert "holidays sevilla (ES, AN): used by no schedule" in text
    place = over_the_wire("holidays", view, {"country": "ES", "year": 2027})
    assert render("holidays", place).splitlines()[0] == f"2027-01-01 {place[0]['name']}"
    assert render("holidays", {"years": [2027], "sets": []}) == (
        "no holiday sets in the config ([holidays.*])"
    )


# ------------------------------------------------------------------------------ credentials


def test_credentials_by_number_or_username_with_where_to_register(
    config: CompiledConfig,
) -> None:
    view = ConfigView(config, NEW_YEAR_IN_MADRID, REGISTRARS)
    ana = over_the_wire("credentials", view, {"extension": "ana"})
    assert ana == {
        "extension": "1001",
        "name": "Ana García",
        "username": "ana",
        "password": "secret1001",
        "domain": "pbx.example.com",
        "registrars": list(REGISTRARS),
    }
    assert over_the_wire("credentials", view, {"extension": "1001"}) == ana
    assert "secret1001" not in repr(view.credentials("1001"))  # a stray log line shows none
    assert render("credentials", ana).splitlines() == [
        "username: ana",
        "password: secret1001",
        "extension: 1001 (Ana García)",
        "domain: pbx.example.com",
        "registrar: sip:pbx.example.com:5060;transport=udp",
    ]
    with pytest.raises(ControlError, match="unknown extension '1009'"):
        CONFIG_COMMANDS["credentials"](view, {"extension": "1009"})


def test_generated_passwords_come_from_the_servers_secret_store(
    config: CompiledConfig, config_path: Path
) -> None:
    offline = offline_view(config).credentials("1002")
    assert offline is not None and len(offline.password) >= 22
    stored = json.loads((config_path.parent / "state" / "secrets.json").read_text())
    assert stored["extensions.1002.password"] == offline.password
    assert offline_view(load_config(config_path)).credentials("1002") == offline  # stable
    # The server resolves every password at start: the same one, with no store to ask.
    running = resolve_passwords(config, SecretStore(config.server.state_dir))
    served = ConfigView(running, NEW_YEAR_IN_MADRID, REGISTRARS).credentials("1002")
    assert served is not None and served.password == offline.password
    with pytest.raises(ControlError, match="1002 has no password"):
        ConfigView(config, NEW_YEAR_IN_MADRID, REGISTRARS).credentials("1002")


def test_registrars_name_the_domain_for_any_interface_and_skip_unknown_ports(
    config: CompiledConfig,
) -> None:
    assert offline_view(config).registrars == (  # the file's udp:127.0.0.1:0 is not known
        "sip:pbx.example.com:5060;transport=udp",
        "sip:192.168.1.10:5061;transport=tcp",
    )
    bound = [("udp", "::", 5070), ("tcp", "::1", 5071)]
    assert registrar_uris("pbx", bound) == (
        "sip:pbx:5070;transport=udp",
        "sip:[::1]:5071;transport=tcp",
    )


# ------------------------------------------------------------------------------ the CLI offline


def note(command: str, config_path: Path) -> str:
    return (
        f"softswitch {command}: no server is running; "
        f"this comes from the config file {config_path}\n"
    )


def test_without_a_server_the_cli_answers_from_the_file_and_says_so(
    config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["credentials", "1002", "--config", str(config_path), "--json"])
    out, err = capsys.readouterr()
    assert (code, err) == (0, note("credentials", config_path))
    stored = json.loads((config_path.parent / "state" / "secrets.json").read_text())
    assert json.loads(out)["password"] == stored["extensions.1002.password"]

    code = main(["holidays", "--config", str(config_path), "--year", "2027", "--json"])
    out, err = capsys.readouterr()
    assert (code, err) == (0, note("holidays", config_path))
    days = {d["date"]: d["source"] for d in json.loads(out)["sets"][0]["days"]}
    assert (days["2027-05-14"], days["2027-05-03"]) == ("extra", "removed")

    code = main(["credentials", "1009", "--config", str(config_path)])
    out, err = capsys.readouterr()
    assert (code, out) == (1, "")
    assert err.splitlines() == [
        note("credentials", config_path).strip(),
        "softswitch credentials: unknown extension '1009'",
    ]


def test_a_dead_servers_socket_falls_back_and_other_commands_do_not(
    config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = config_path.parent / "state"
    state.mkdir()
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(state / "control.sock"))  # bound, never listening: connecting is refused
    stale.close()
    assert main(["credentials", "ana", "--config", str(config_path)]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines()[:2] == ["username: ana", "password: secret1001"]
    assert err == note("credentials", config_path)
    assert main(["status", "--config", str(config_path)]) == 1  # needs the server itself
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("softswitch status: no softswitch server is running")


def test_place_options_are_checked_before_asking(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["holidays", "--subdivision", "MD"]) == 2
    assert capsys.readouterr().err == (
        "softswitch holidays: --subdivision and --language go with --country\n"
    )
    assert main(["holidays", "--country", "ES", "--subdivision", "XX"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("softswitch holidays: ES has no subdivision 'XX'")
