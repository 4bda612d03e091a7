"""The call history as CSV (Asterisk cdr_csv columns first) and JSON, and `softswitch calls`
reading the history file in-process."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from softswitch.cli import main
from softswitch.storage.history import CallHistory, CallRecord, history_path
from softswitch.storage.history_export import csv_row, from_json, to_csv, to_json

# Asterisk's cdr_csv Master.csv columns, in its order (with loguniqueid and loguserfield on).
ASTERISK = [
    "accountcode", "src", "dst", "dcontext", "clid", "channel", "dstchannel", "lastapp",
    "lastdata", "start", "answer", "end", "duration", "billsec", "disposition", "amaflags",
    "uniqueid", "userfield",
]  # fmt: skip
MADRID = ZoneInfo("Europe/Madrid")
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)  # 10:00 in Madrid (CET, UTC+1)
FORM = '{"motivo": "factura", "nota": "llamar, después"}'


def queue_call() -> CallRecord:
    return CallRecord(
        call_id="a84b4c76e66710@pc33",
        direction="inbound",
        caller="+34611222333",
        caller_name="Ana López",
        callee="1002",
        did="+34910000020",
        started=T0,
        answered=T0 + timedelta(seconds=12.4),
        ended=T0 + timedelta(seconds=95.9),
        disposition="answered",
        place="queue:soporte",
        agent="1002",
        recording="/var/softswitch/recordings/x.wav",
        form=FORM,
    )


def call(
    disposition: str, answered: bool = False, started: datetime = T0, **changes: str
) -> CallRecord:
    values: dict[str, str] = {
        "call_id": f"id-{disposition}",
        "direction": "inbound",
        "caller": "+34611222333",
        "caller_name": "",
        "callee": "1001",
        "did": "",
    }
    values.update(changes)
    return CallRecord(
        **values,
        started=started,
        answered=started + timedelta(seconds=3) if answered else None,
        ended=started + timedelta(seconds=30),
        disposition=disposition,
    )


def csv_text(records: list[CallRecord], **kwargs: object) -> str:
    out = io.StringIO(newline="")
    to_csv(records, out, **kwargs)  # type: ignore[arg-type]
    return out.getvalue()


# -- CSV -------------------------------------------------------------------------------------------


def test_csv_header_starts_with_cdr_csv_columns_and_every_row_parses() -> None:
    text = csv_text([queue_call(), call("busy")], timezone="Europe/Madrid")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][:18] == ASTERISK
    assert rows[0][18:] == ["did", "place", "agent", "recording", "outcome", "form"]
    assert len(rows) == 3
    assert all(len(row) == len(rows[0]) for row in rows)
    # As cdr_csv writes them: every field quoted, one call per "\n"-ended line.
    assert all(line.startswith('"') and line.endswith('"') for line in text.split("\n")[:-1])
    assert text.endswith('"\n') and "\r" not in text


def test_csv_maps_an_answered_queue_call_onto_the_asterisk_fields() -> None:
    [row] = csv.DictReader(io.StringIO(csv_text([queue_call()], timezone="Europe/Madrid")))
    assert row == {
        "accountcode": "",
        "src": "+34611222333",
        "dst": "1002",
        "dcontext": "inbound",
        "clid": '"Ana López" <+34611222333>',
        "channel": "SIP/+34611222333",
        "dstchannel": "SIP/1002",
        "lastapp": "Queue",
        "lastdata": "queue:soporte",
        "start": "2026-11-02 10:00:00",  # local time in Madrid
        "answer": "2026-11-02 10:00:12",
        "end": "2026-11-02 10:01:35",
        "duration": "95",  # 95.9 s, truncated as Asterisk does
        "billsec": "83",  # 83.5 s
        "disposition": "ANSWERED",
        "amaflags": "DOCUMENTATION",
        "uniqueid": "a84b4c76e66710@pc33",
        "userfield": "",
        "did": "+34910000020",
        "place": "queue:soporte",
        "agent": "1002",
        "recording": "/var/softswitch/recordings/x.wav",
        "outcome": "answered",
        "form": FORM,  # commas and quotes inside survive the quoting
    }


def test_csv_times_follow_the_zone_given_utc_by_default() -> None:
    [row] = csv.DictReader(io.StringIO(csv_text([queue_call()])))
    assert (row["start"], row["end"]) == ("2026-11-02 09:00:00", "2026-11-02 09:01:35")
    summer = CallRecord(
        "s", "outbound", "1001", "", "+34699", "", datetime(2026, 7, 1, 8, 0, tzinfo=UTC),
        None, datetime(2026, 7, 1, 8, 0, 5, tzinfo=UTC), "no answer",
    )  # fmt: skip
    [row] = csv.DictReader(io.StringIO(csv_text([summer], timezone=MADRID)))
    assert row["start"] == "2026-07-01 10:00:00"  # CEST, UTC+2


@pytest.mark.parametrize(
    ("disposition", "answered", "asterisk", "lastapp"),
    [
        ("answered", True, "ANSWERED", "Dial"),
        ("no answer", False, "NO ANSWER", "Dial"),
        ("cancelled", False, "NO ANSWER", "Dial"),
        ("busy", False, "BUSY", "Dial"),
        ("failed", False, "FAILED", "Dial"),
        ("blocked", False, "FAILED", "Hangup"),
        ("voicemail", True, "ANSWERED", "VoiceMail"),
        ("voicemail", False, "NO ANSWER", "VoiceMail"),
    ],
)
def test_csv_dispositions_in_asterisk_words(
    disposition: str, answered: bool, asterisk: str, lastapp: str
) -> None:
    [row] = csv.DictReader(io.StringIO(csv_text([call(disposition, answered)])))
    assert (row["disposition"], row["lastapp"], row["outcome"]) == (asterisk, lastapp, disposition)
    assert row["billsec"] == ("27" if answered else "0")
    assert row["answer"] == ("2026-11-02 09:00:03" if answered else "")
    assert row["dstchannel"] == ("SIP/1001" if answered else "")


def test_csv_caller_id_like_asterisk_merges_it() -> None:
    zone = ZoneInfo("UTC")
    assert csv_row(call("busy"), zone)[4] == "+34611222333"  # no name: the bare number
    named = call("busy", caller_name='Pepe "el jefe"')
    assert csv_row(named, zone)[4] == '"Pepe el jefe" <+34611222333>'
    group = call("no answer", place="group:ventas")
    assert csv_row(group, zone)[7:9] == ["Dial", "group:ventas"]


def test_csv_without_header_is_just_the_calls() -> None:
    out = io.StringIO(newline="")
    assert to_csv([call("busy"), call("failed")], out, header=False) == 2
    rows = list(csv.reader(io.StringIO(out.getvalue())))
    assert [row[16] for row in rows] == ["id-busy", "id-failed"]


# -- JSON ------------------------------------------------------------------------------------------


def test_json_round_trip_gives_the_same_records() -> None:
    records = [queue_call(), call("no answer", caller_name="Ñoño"), call("voicemail", True)]
    text = to_json(records)
    assert from_json(text) == records
    first = json.loads(text)[0]
    assert first["started"] == "2026-11-02T09:00:00+00:00"
    assert first["answered"] == "2026-11-02T09:00:12.400000+00:00"
    assert (first["duration"], first["billed"]) == (95.9, 83.5)
    assert first["form"] == FORM
    assert json.loads(text)[1]["answered"] is None
    assert from_json("[]") == []


@pytest.mark.parametrize(
    "text",
    ['{"call_id": "x"}', '[{"call_id": "x"}]', "[1]", '[{"started": 5}]', "not json"],
)
def test_json_that_is_not_call_history_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        from_json(text)


# -- `softswitch calls` on the history file --------------------------------------------------------

CONFIG = """\
[server]
state_dir = "state"
timezone = "Europe/Madrid"

[extensions.1001]
[extensions.1002]
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "pbx.toml"
    path.write_text(CONFIG, encoding="utf-8")
    store = CallHistory(history_path(tmp_path / "state"))
    # 31 Oct 23:30 in Madrid is still October: the bounds are local days.
    store.add(
        call("no answer", call_id="october", started=datetime(2026, 10, 31, 22, 30, tzinfo=UTC))
    )
    store.add(call("no answer", call_id="missed-1"))
    store.add(call("answered", True, call_id="taken", callee="1002"))
    store.add(call("busy", call_id="missed-2", direction="internal", caller="1002"))
    store.add(call("no answer", call_id="out", direction="outbound", caller="1001"))
    store.close()
    return path


def test_calls_since_missed_csv(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["calls", "--since", "2026-11-01", "--direction", "missed", "--csv", "--config"]
    assert main([*args, str(config)]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["uniqueid"] for r in rows] == ["missed-1", "missed-2"]
    assert [r["disposition"] for r in rows] == ["NO ANSWER", "BUSY"]
    assert rows[0]["start"] == "2026-11-02 10:00:00"  # server.timezone


def test_calls_until_a_date_includes_that_day_and_json_for_scripts(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["calls", "--until", "2026-10-31", "--json", "--config", str(config)]) == 0
    assert [r.call_id for r in from_json(capsys.readouterr().out)] == ["october"]
    assert main(["calls", "--extension", "1002", "--json", "--config", str(config)]) == 0
    assert [r.call_id for r in from_json(capsys.readouterr().out)] == ["taken", "missed-2"]


def test_calls_history_table_for_people(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["calls", "--history", "--direction", "outbound", "--config", str(config)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == [
        "START", "DIRECTION", "FROM", "TO", "DID", "DURATION", "BILLED", "RESULT", "PLACE",
        "AGENT",
    ]  # fmt: skip
    assert lines[1].split() == [
        "2026-11-02", "10:00:00", "outbound", "1001", "1001", "-", "0:00:30", "0:00:00", "no",
        "answer", "-", "-",
    ]  # fmt: skip
    assert main(["calls", "--since", "2027-01-01", "--config", str(config)]) == 0
    assert capsys.readouterr().out == "no calls\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "yesterday"], "not a date: 'yesterday'"),
        (["--until", "2026-13-01"], "not a date: '2026-13-01'"),
        (["--since", "2026-11-01T10:00+01:00"], "without a UTC offset"),
        (["--since", "2026-11-02", "--until", "2026-11-01"], "--since must come before --until"),
        (["--history", "--csv", "--json"], "--csv or --json, not both"),
    ],
)
def test_calls_with_bad_options_exit_2_with_a_clear_error(
    config: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert main(["calls", *args, "--config", str(config)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("softswitch calls: ") and message in captured.err


def test_calls_without_a_history_file_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "pbx.toml"
    path.write_text(CONFIG, encoding="utf-8")
    assert main(["calls", "--csv", "--config", str(path)]) == 1
    assert "no call history at" in capsys.readouterr().err
