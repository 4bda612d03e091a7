"""Call history out: CSV that Asterisk billing tools read, and JSON for scripts.

CSV. The first 18 columns are Asterisk's ``cdr_csv`` (``Master.csv``) columns in its order,
with ``loguniqueid`` and ``loguserfield`` on, so a tool that reads those files by position
reads ours. Every field is quoted and lines end in ``\\n``, as ``cdr_csv`` writes them; unlike
``Master.csv`` the first line is a header naming the columns (``header=False`` leaves it out).
Each call is one line, filled in from a ``CallRecord`` like this:

==============  ==============================================================================
accountcode     "" (the switch has no account codes)
src             caller
dst             callee
dcontext        direction: inbound, outbound or internal
clid            ``"caller_name" <caller>``, or the bare number when there is no name
                (Asterisk's ``ast_callerid_merge``)
channel         ``SIP/<caller>``
dstchannel      ``SIP/<agent>`` (``SIP/<callee>`` without one) when answered, else ""
lastapp         VoiceMail (disposition voicemail), Hangup (blocked), Queue (place queue:…),
                else Dial
lastdata        the place (``queue:soporte``, ``group:ventas``), else callee
start           started, as "YYYY-MM-DD HH:MM:SS" in the local time of server.timezone
answer          answered, the same way; "" for a call nobody answered, as in cdr_csv
end             ended, the same way
duration        whole seconds from start to end (truncated, like Asterisk by default)
billsec         whole seconds from answer to end, 0 if unanswered
disposition     ANSWERED, NO ANSWER, BUSY or FAILED: answered → ANSWERED; no answer and
                cancelled (the caller hung up first) → NO ANSWER; busy → BUSY; failed and
                blocked → FAILED; voicemail → ANSWERED if the switch answered, else NO ANSWER
amaflags        DOCUMENTATION (Asterisk's default)
uniqueid        call_id (the caller's SIP Call-ID)
userfield       ""
==============  ==============================================================================

Then our own columns: ``did`` (the number the call came in on), ``place``, ``agent`` (the
extension that answered), ``recording`` (a path), ``outcome`` (our disposition word: answered,
no answer, busy, failed, blocked, voicemail, cancelled) and ``form`` (the agent's form entry,
JSON text).

JSON. ``to_json`` writes a list of objects with every ``CallRecord`` field under its own
name: times in ISO 8601 UTC, ``duration`` and ``billed`` in seconds, ``form`` as the JSON text
it was saved as (so the entry comes back byte for byte). ``from_json`` reads it back.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from datetime import datetime, tzinfo
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from softswitch.storage.history import CallRecord

__all__ = [
    "CDR_CSV_COLUMNS",
    "COLUMNS",
    "EXTRA_COLUMNS",
    "asterisk_disposition",
    "csv_row",
    "from_json",
    "to_csv",
    "to_json",
]

CDR_CSV_COLUMNS = (
    "accountcode", "src", "dst", "dcontext", "clid", "channel", "dstchannel", "lastapp",
    "lastdata", "start", "answer", "end", "duration", "billsec", "disposition", "amaflags",
    "uniqueid", "userfield",
)  # fmt: skip
EXTRA_COLUMNS = ("did", "place", "agent", "recording", "outcome", "form")
COLUMNS = CDR_CSV_COLUMNS + EXTRA_COLUMNS

_ASTERISK_DISPOSITION = {
    "answered": "ANSWERED",
    "no answer": "NO ANSWER",
    "cancelled": "NO ANSWER",
    "busy": "BUSY",
    "failed": "FAILED",
    "blocked": "FAILED",
}
_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
_JSON_TIMES = ("started", "answered", "ended")
_JSON_DERIVED = ("duration", "billed")  # written for scripts, recomputed when read back


def asterisk_disposition(record: CallRecord) -> str:
    if record.disposition == "voicemail":
        return "NO ANSWER" if record.answered is None else "ANSWERED"
    return _ASTERISK_DISPOSITION[record.disposition]


def csv_row(record: CallRecord, zone: tzinfo) -> list[str]:
    """The record's CSV fields, in ``COLUMNS`` order; times local to ``zone``."""
    answered = record.answered
    return [
        "",
        record.caller,
        record.callee,
        record.direction,
        _clid(record.caller_name, record.caller),
        f"SIP/{record.caller}",
        f"SIP/{record.agent or record.callee}" if answered is not None else "",
        _lastapp(record),
        record.place or record.callee,
        _local(record.started, zone),
        "" if answered is None else _local(answered, zone),
        _local(record.ended, zone),
        str(int(record.duration)),
        str(int(record.billed)),
        asterisk_disposition(record),
        "DOCUMENTATION",
        record.call_id,
        "",
        record.did,
        record.place,
        record.agent,
        record.recording,
        record.disposition,
        record.form,
    ]


def to_csv(
    records: Iterable[CallRecord], file: TextIO, timezone: str | tzinfo = "UTC", header: bool = True
) -> int:
    """Write the records as CSV to ``file`` (opened with ``newline=""``); the rows written."""
    zone = ZoneInfo(timezone) if isinstance(timezone, str) else timezone
    writer = csv.writer(file, quoting=csv.QUOTE_ALL, lineterminator="\n")
    if header:
        writer.writerow(COLUMNS)
    count = 0
    for record in records:
        writer.writerow(csv_row(record, zone))
        count += 1
    return count


def to_json(records: Iterable[CallRecord]) -> str:
    return json.dumps([_json_object(r) for r in records], ensure_ascii=False, indent=2)


def from_json(text: str) -> list[CallRecord]:
    """Records from ``to_json``'s text; ValueError when it is not that."""
    data = json.loads(text)
    if not isinstance(data, list):
        raise ValueError("call history JSON must be a list of calls")
    return [_from_object(item) for item in data]


def _json_object(record: CallRecord) -> dict[str, Any]:
    answered = record.answered
    return {
        "call_id": record.call_id,
        "direction": record.direction,
        "caller": record.caller,
        "caller_name": record.caller_name,
        "callee": record.callee,
        "did": record.did,
        "started": record.started.isoformat(),
        "answered": None if answered is None else answered.isoformat(),
        "ended": record.ended.isoformat(),
        "duration": record.duration,
        "billed": record.billed,
        "disposition": record.disposition,
        "place": record.place,
        "agent": record.agent,
        "recording": record.recording,
        "form": record.form,
    }


def _from_object(item: Any) -> CallRecord:
    if not isinstance(item, dict):
        raise ValueError("each call in call history JSON must be an object")
    values = {k: v for k, v in item.items() if k not in _JSON_DERIVED}
    try:
        for name in _JSON_TIMES:
            if values.get(name) is not None:
                values[name] = datetime.fromisoformat(values[name])
        return CallRecord(**values)
    except TypeError as exc:  # a missing or unknown key, a time that is not a string
        raise ValueError(f"not a call history record: {exc}") from exc


def _clid(name: str, number: str) -> str:
    # A double quote inside the name would end it early for whoever parses the clid.
    name = name.replace('"', "")
    if name and number:
        return f'"{name}" <{number}>'
    return name or number


def _lastapp(record: CallRecord) -> str:
    if record.disposition == "voicemail":
        return "VoiceMail"
    if record.disposition == "blocked":
        return "Hangup"
    return "Queue" if record.place.startswith("queue:") else "Dial"


def _local(moment: datetime, zone: tzinfo) -> str:
    return moment.astimezone(zone).strftime(_TIME_FORMAT)
