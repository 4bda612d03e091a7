"""Command line: ``softswitch serve | check | prompts | graph``, and the admin commands against
the running server: ``status | registrations | calls | queues | hangup | reload``, and
``holidays | credentials``, which the config file answers when no server runs."""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import sys
from pathlib import Path
from typing import TextIO
from zoneinfo import ZoneInfo

from softswitch.app import run_app
from softswitch.config import ConfigError, load_config
from softswitch.config.cli import run_check
from softswitch.control.client import run_admin
from softswitch.control.config_view import place_problem
from softswitch.control.protocol import ControlError
from softswitch.control.tables import duration, table
from softswitch.graph.command import FORMATS, run_graph
from softswitch.logs import setup_logging
from softswitch.media.audiofile import probe_audio
from softswitch.media.prompts import render_all
from softswitch.storage.history import (
    DIRECTIONS,
    CallHistory,
    CallRecord,
    HistoryError,
    MissedCount,
    history_path,
)
from softswitch.storage.history_export import to_csv, to_json


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="softswitch", description="A pure-Python SIP softswitch")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the switch in the foreground")
    serve.add_argument("--config", type=Path, help="TOML config (default: the bundled example)")
    serve.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING (default INFO)")
    check = sub.add_parser("check", help="validate a config and list every problem")
    check.add_argument("--config", type=Path)
    creds = sub.add_parser(
        "credentials", help="an extension's SIP username, password, domain and registrar"
    )
    creds.add_argument("extension", help="its number or username")
    creds.add_argument("--config", type=Path, help="the config the server runs with")
    creds.add_argument("--json", action="store_true", help="JSON for scripts")
    prompts = sub.add_parser(
        "prompts", help="convert every prompt and music-on-hold track ahead of time"
    )
    prompts.add_argument("--config", type=Path)
    days = sub.add_parser(
        "holidays",
        help="the days the config's holiday sets close, or a country's or region's holidays",
    )
    days.add_argument("--country", help='ISO code, e.g. "ES" (default: the config\'s sets)')
    days.add_argument("--subdivision", help='region code, e.g. "MD" (Madrid)')
    days.add_argument("--year", type=int, help="default: this year (and the next, for the sets)")
    days.add_argument(
        "--language", help='of the names, e.g. "es", "en_US" (default: the country\'s)'
    )
    days.add_argument("--config", type=Path, help="the config the server runs with")
    days.add_argument("--json", action="store_true", help="JSON for scripts")
    graph = sub.add_parser("graph", help="draw what happens to a call on a number")
    graph.add_argument("number", help="a configured number, in any usual spelling")
    graph.add_argument("--config", type=Path)
    graph.add_argument("--format", choices=FORMATS, default="mermaid", help="default: mermaid")
    graph.add_argument("--output", type=Path, help="write here instead of to stdout")
    add_admin_commands(sub)
    return parser


# The admin commands ask the running server over its control socket (softswitch.control).
ADMIN_COMMANDS = {
    "status": "uptime, trunks, registrations and live calls of the running server",
    "registrations": "the phones registered now",
    "calls": "the live calls, with their duration and bridge",
    "queues": "callers waiting in each queue, and the agents' state",
}


def add_admin_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    for name, text in ADMIN_COMMANDS.items():
        admin = sub.add_parser(name, help=text)
        admin.add_argument("--json", action="store_true", help="JSON for scripts")
        admin.add_argument("--config", type=Path, help="the config the server runs with")
        if name == "calls":
            add_history_options(admin)
    reload = sub.add_parser("reload", help="check the edited config and apply it (SIGHUP too)")
    reload.add_argument("--dry-run", action="store_true", help="only show what would change")
    reload.add_argument("--json", action="store_true", help="JSON for scripts")
    reload.add_argument("--config", type=Path, help="the config the server runs with")
    hangup = sub.add_parser("hangup", help="end a live call (its Call-ID, from `calls`)")
    hangup.add_argument("call_id")
    hangup.add_argument("--config", type=Path, help="the config the server runs with")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "check":
        return run_check(args.config, sys.stdout, probe=probe_audio)
    if args.command == "credentials":
        ext = {"extension": args.extension}
        return run_admin(args.config, "credentials", ext, args.json, sys.stdout, sys.stderr)
    if args.command == "prompts":
        return run_prompts(args.config, sys.stdout, sys.stderr)
    if args.command == "calls" and wants_history(args):
        return run_history(args, sys.stdout, sys.stderr)
    if args.command in ADMIN_COMMANDS:
        return run_admin(args.config, args.command, None, args.json, sys.stdout, sys.stderr)
    if args.command == "reload":
        dry = {"dry_run": args.dry_run}
        return run_admin(args.config, "reload", dry, args.json, sys.stdout, sys.stderr)
    if args.command == "hangup":
        call = {"call_id": args.call_id}
        return run_admin(args.config, "hangup", call, False, sys.stdout, sys.stderr)
    if args.command == "graph":
        return run_graph(args.config, args.number, args.format, args.output, sys.stdout, sys.stderr)
    if args.command == "holidays":
        return run_holidays(args, sys.stdout, sys.stderr)
    setup_logging(args.log_level)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        for issue in exc.issues:
            print(issue, file=sys.stderr)
        return 1
    logging.getLogger("softswitch").info("- starting with %s", ", ".join(config.files))
    try:
        return run_app(config)
    except ControlError as exc:  # another server answers on this state_dir's control socket
        print(f"softswitch serve: {exc}", file=sys.stderr)
        return 1


# -- `softswitch calls` with a history option: finished calls, read from the file -------------

_HISTORY_OPTIONS = ("history", "since", "until", "direction", "extension", "csv", "missed_by")


def add_history_options(calls: argparse.ArgumentParser) -> None:
    group = calls.add_argument_group(
        "call history", "any of these shows finished calls instead (the server need not run)"
    )
    group.add_argument("--history", action="store_true", help="every finished call")
    group.add_argument(
        "--since", metavar="DATE", help="from YYYY-MM-DD or YYYY-MM-DDTHH:MM (server.timezone)"
    )
    group.add_argument(
        "--until", metavar="DATE", help="before this time; a date alone includes its whole day"
    )
    group.add_argument("--direction", choices=(*DIRECTIONS, "missed"))
    group.add_argument(
        "--extension", metavar="N", help="calls the extension made, was called on or answered"
    )
    group.add_argument("--csv", action="store_true", help="CSV, Asterisk cdr_csv columns first")
    group.add_argument(
        "--missed-by",
        choices=("extension", "group", "queue"),
        help="the missed-calls view: how many each missed, and the latest",
    )


def wants_history(args: argparse.Namespace) -> bool:
    return any(getattr(args, option) not in (None, False) for option in _HISTORY_OPTIONS)


def run_history(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Print the matching calls of the history file; 2 for bad options, 1 if unreadable."""
    try:
        since, until = parse_when(args.since, False), parse_when(args.until, True)
    except ValueError as exc:
        err.write(f"softswitch calls: {exc}\n")
        return 2
    if args.csv and args.json:
        err.write("softswitch calls: --csv or --json, not both\n")
        return 2
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        for issue in exc.issues:
            err.write(f"{issue}\n")
        return 1
    zone = ZoneInfo(config.server.timezone)
    start, end = (None if t is None else t.replace(tzinfo=zone) for t in (since, until))
    if start is not None and end is not None and start >= end:
        err.write("softswitch calls: --since must come before --until\n")
        return 2
    try:
        history = CallHistory(history_path(config.server.state_dir), read_only=True)
        try:
            if args.missed_by:
                missed = history.missed(args.missed_by, start, end)
            else:
                records = history.query(start, end, args.direction, extension=args.extension)
        finally:
            history.close()
    except HistoryError as exc:
        err.write(f"softswitch calls: {exc}\n")
        return 1
    if args.missed_by:
        return _print_missed(missed, args, zone, out)
    if args.csv:
        to_csv(records, out, zone)
    elif args.json:
        out.write(to_json(records) + "\n")
    else:
        out.write(history_table(records, zone) + "\n")
    return 0


def _print_missed(
    missed: list[MissedCount], args: argparse.Namespace, zone: ZoneInfo, out: TextIO
) -> int:
    if args.json:
        rows = [{"name": m.name, "missed": m.count, "last": m.last.isoformat()} for m in missed]
        out.write(json.dumps(rows) + "\n")
        return 0
    lines = [(m.name, str(m.count), f"{m.last.astimezone(zone):%Y-%m-%d %H:%M}") for m in missed]
    out.write(table((args.missed_by.upper(), "MISSED", "LAST"), lines) + "\n")
    return 0


def parse_when(text: str | None, end_of_day: bool) -> datetime.datetime | None:
    """A local (naive) time from YYYY-MM-DD[THH:MM[:SS]]; a date alone is its midnight, or
    with ``end_of_day`` the next midnight (so ``--until`` includes the day named)."""
    if text is None:
        return None
    try:
        day = datetime.date.fromisoformat(text)
    except ValueError:
        pass
    else:
        day += datetime.timedelta(days=int(end_of_day))
        return datetime.datetime.combine(day, datetime.time())
    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"not a date: {text!r} (use YYYY-MM-DD or YYYY-MM-DDTHH:MM)") from None
    if moment.tzinfo is not None:
        raise ValueError(f"{text!r}: give a local time, without a UTC offset")
    return moment


def history_table(records: list[CallRecord], zone: ZoneInfo) -> str:
    if not records:
        return "no calls"
    rows = [
        [
            r.started.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S"),
            r.direction,
            r.caller,
            r.callee,
            r.did or "-",
            duration(r.duration),
            duration(r.billed),
            r.disposition,
            r.place or "-",
            r.agent or "-",
        ]
        for r in records
    ]
    headers = ["START", "DIRECTION", "FROM", "TO", "DID", "DURATION", "BILLED", "RESULT"]
    return table([*headers, "PLACE", "AGENT"], rows)


def run_prompts(path: Path | None, out: TextIO, err: TextIO) -> int:
    """Render every configured prompt, music-on-hold track and system prompt into the cache,
    drawing a progress bar on ``err``; list what failed and return 1 if anything did."""
    try:
        config = load_config(path)
    except ConfigError as exc:
        for issue in exc.issues:
            err.write(f"{issue}\n")
        return 1
    bar = ProgressBar(err)
    failures = render_all(config, bar.update)
    bar.finish()
    for failure in failures:
        err.write(f"failed: {failure.name}: {failure.message}\n")
    if failures:
        return 1
    out.write(f"OK: {bar.total} rendered into {config.server.state_dir / 'prompts'}\n")
    return 0


def run_holidays(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """``softswitch holidays``: the running server's answer (or the config file's). A place the
    holidays package does not know, or place options without ``--country``, is a usage error
    (2), found here before anything is asked."""
    place = {"subdivision": args.subdivision, "language": args.language}
    if args.country is None:
        if any(place.values()):
            err.write("softswitch holidays: --subdivision and --language go with --country\n")
            return 2
        query = {} if args.year is None else {"year": args.year}
    else:
        problem = place_problem(args.country, args.subdivision)
        if problem is not None:
            err.write(f"softswitch holidays: {problem}\n")
            return 2
        given = {"country": args.country, "year": args.year, **place}
        query = {key: value for key, value in given.items() if value is not None}
    return run_admin(args.config, "holidays", query, args.json, out, err)


class ProgressBar:
    """``[#####     ] 3/7 bienvenida``, redrawn in place with a carriage return (plain text: no
    terminal codes, so a log file shows readable lines)."""

    WIDTH = 10

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._drawn = 0  # length of the line on screen, to blank out a longer previous one
        self.total = 0

    def update(self, done: int, total: int, name: str) -> None:
        self.total = total
        filled = self.WIDTH * done // total if total else self.WIDTH
        line = f"[{'#' * filled}{' ' * (self.WIDTH - filled)}] {done}/{total} {name}"
        self._stream.write("\r" + line.ljust(self._drawn))
        self._stream.flush()
        self._drawn = len(line)

    def finish(self) -> None:
        if self._drawn:
            self._stream.write("\n")
