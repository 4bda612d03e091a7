"""Plain aligned tables of the control commands' results, for people (``--json`` is for scripts).

The renderers take the decoded JSON (what the server sent), not the view dataclasses: the CLI
may talk to a server of another version, and a table must not break on a field it does not
know. Points in time are shown in the local time zone, durations as H:MM:SS.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["RENDERERS", "duration", "render", "table", "when"]


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns left-aligned, two spaces apart, no trailing blanks."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
        for line in (headers, *rows)
    ]
    return "\n".join(lines)


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    whole = max(0, int(seconds))
    return f"{whole // 3600}:{whole // 60 % 60:02d}:{whole % 60:02d}"


def when(wall: float | None) -> str:
    if wall is None:
        return "-"
    return datetime.datetime.fromtimestamp(wall).strftime("%Y-%m-%d %H:%M:%S")


def _text(value: Any) -> str:
    return "-" if value is None or value == "" else str(value)


def render_status(s: dict[str, Any]) -> str:
    head = (
        f"softswitch {s['version']}, domain {s['domain']}, up {duration(s['uptime'])}\n"
        f"{s['calls']} live call(s), {s['registrations']} registration(s)"
    )
    if not s["trunks"]:
        return head + "\nno trunks"
    rows = [
        [t["name"], t["state"], when(t["since"]), when(t["bound_until"]), _text(t["reason"])]
        for t in s["trunks"]
    ]
    return head + "\n\n" + table(["TRUNK", "STATE", "SINCE", "BOUND UNTIL", "REASON"], rows)


def render_registrations(regs: list[dict[str, Any]]) -> str:
    if not regs:
        return "no registrations"
    rows = [
        [
            r["extension"],
            r["contact"],
            r["source"],
            r["transport"],
            duration(r["expires_in"]),
            _text(r["user_agent"]),
        ]
        for r in regs
    ]
    return table(["EXTENSION", "CONTACT", "SOURCE", "TRANSPORT", "EXPIRES IN", "USER AGENT"], rows)


def render_calls(calls: list[dict[str, Any]]) -> str:
    if not calls:
        return "no live calls"
    rows = [
        [
            c["call_id"],
            c["caller"],
            c["callee"],
            c["state"],
            duration(c["duration"]),
            c["answered_by"] if not c["app"] else f"{c['answered_by']} ({c['app']})",
            _text(c["bridged_to"]),
        ]
        for c in calls
    ]
    headers = ["CALL ID", "CALLER", "CALLEE", "STATE", "DURATION", "ANSWERED BY", "BRIDGED TO"]
    return table(headers, rows)


def render_queues(queues: list[dict[str, Any]]) -> str:
    if not queues:
        return "no queues"
    return "\n\n".join(_queue(q) for q in queues)


def _queue(q: dict[str, Any]) -> str:
    parts = [f"queue {q['name']}: {len(q['waiting'])} waiting"]
    if q["waiting"]:
        rows = [
            [str(w["position"]), w["caller"], duration(w["waited"]), w["call_id"]]
            for w in q["waiting"]
        ]
        parts.append(table(["POSITION", "CALLER", "WAITED", "CALL ID"], rows))
    parts.append(table(["AGENT", "STATE"], [[a["extension"], a["state"]] for a in q["agents"]]))
    return "\n".join(parts)


def render_hangup(result: dict[str, Any]) -> str:
    return f"hung up {result['call_id']}"


def render_reload(result: Any) -> str:
    head = "applied" if result["applied"] else "not applied (dry run or no changes)"
    lines = [f"reload: {head}", result["changes"]]
    lines += [f"{key}: changed; restart to apply it" for key in result["needs_restart"]]
    return "\n".join(lines)


_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")  # not the locale's: stable text


def render_holidays(result: Any) -> str:
    """A place's holidays (a list: ``YYYY-MM-DD name`` lines, as the command always printed)
    or the config's holiday sets, one table each."""
    if isinstance(result, list):
        return "\n".join(f"{d['date']} {d['name']}" for d in result) or "no holidays"
    if not result["sets"]:
        return "no holiday sets in the config ([holidays.*])"
    return "\n\n".join(_holiday_set(s) for s in result["sets"])


def _holiday_set(s: dict[str, Any]) -> str:
    place = ", ".join(p for p in (s["country"], s["subdivision"]) if p)
    if s["schedules"]:
        used = f"closes schedule(s) {', '.join(s['schedules'])}"
        used += f"; number(s) {', '.join(s['numbers'])}" if s["numbers"] else "; no number"
    else:
        used = "used by no schedule"
    rows = [
        [
            d["date"],
            _weekday(d["date"]),
            "closed" if d["closed"] else "open",
            d["source"],
            d["name"],
        ]
        for d in s["days"]
    ]
    head = f"holidays {s['name']} ({place}): {used}"
    return head + "\n" + table(["DATE", "DAY", "OFFICE", "SOURCE", "NAME"], rows)


def _weekday(iso: str) -> str:
    try:
        return _WEEKDAYS[datetime.date.fromisoformat(iso).weekday()]
    except ValueError:
        return "-"


def render_credentials(c: dict[str, Any]) -> str:
    # username and password first: the two lines this command always printed
    name = f" ({c['name']})" if c["name"] else ""
    lines = [
        f"username: {c['username']}",
        f"password: {c['password']}",
        f"extension: {c['extension']}{name}",
        f"domain: {c['domain']}",
    ]
    registrars = c["registrars"] or ["-"]
    return "\n".join(lines + [f"registrar: {uri}" for uri in registrars])


RENDERERS: dict[str, Callable[[Any], str]] = {
    "holidays": render_holidays,
    "credentials": render_credentials,
    "reload": render_reload,
    "status": render_status,
    "registrations": render_registrations,
    "calls": render_calls,
    "queues": render_queues,
    "hangup": render_hangup,
}


def render(command: str, result: Any) -> str:
    return RENDERERS[command](result)
