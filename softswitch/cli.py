"""Command line: ``softswitch serve | check | credentials | prompts | holidays``, and the admin
commands against the running server: ``status | registrations | calls | queues | hangup``."""

from __future__ import annotations

import argparse
import datetime
import logging
import sys
from pathlib import Path
from typing import TextIO

from softswitch.app import run_app
from softswitch.config import ConfigError, load_config
from softswitch.config.cli import run_check, run_credentials
from softswitch.control.client import run_admin
from softswitch.control.protocol import ControlError
from softswitch.dialplan.holidays import list_holidays, subdivisions
from softswitch.logs import setup_logging
from softswitch.media.audiofile import probe_audio
from softswitch.media.prompts import render_all


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="softswitch", description="A pure-Python SIP softswitch")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the switch in the foreground")
    serve.add_argument("--config", type=Path, help="TOML config (default: the bundled example)")
    serve.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING (default INFO)")
    check = sub.add_parser("check", help="validate a config and list every problem")
    check.add_argument("--config", type=Path)
    creds = sub.add_parser("credentials", help="print an extension's SIP username and password")
    creds.add_argument("extension")
    creds.add_argument("--config", type=Path)
    prompts = sub.add_parser(
        "prompts", help="convert every prompt and music-on-hold track ahead of time"
    )
    prompts.add_argument("--config", type=Path)
    days = sub.add_parser("holidays", help="list a country's or region's public holidays")
    days.add_argument("--country", required=True, help='ISO code, e.g. "ES"')
    days.add_argument("--subdivision", help='region code, e.g. "MD" (Madrid)')
    days.add_argument("--year", type=int, help="default: this year")
    days.add_argument(
        "--language", help='of the names, e.g. "es", "en_US" (default: the country\'s)'
    )
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
    hangup = sub.add_parser("hangup", help="end a live call (its Call-ID, from `calls`)")
    hangup.add_argument("call_id")
    hangup.add_argument("--config", type=Path, help="the config the server runs with")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "check":
        return run_check(args.config, sys.stdout, probe=probe_audio)
    if args.command == "credentials":
        return run_credentials(args.config, args.extension, sys.stdout)
    if args.command == "prompts":
        return run_prompts(args.config, sys.stdout, sys.stderr)
    if args.command in ADMIN_COMMANDS:
        return run_admin(args.config, args.command, None, args.json, sys.stdout, sys.stderr)
    if args.command == "hangup":
        call = {"call_id": args.call_id}
        return run_admin(args.config, "hangup", call, False, sys.stdout, sys.stderr)
    if args.command == "holidays":
        year = args.year or datetime.date.today().year
        return run_holidays(args.country, args.subdivision, year, args.language, sys.stdout)
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


def run_holidays(
    country: str, subdivision: str | None, year: int, language: str | None, out: TextIO
) -> int:
    """Print ``YYYY-MM-DD name`` per holiday, by date, and return 0; for a country or
    subdivision the holidays package does not know, say so on stderr and return 2."""
    try:
        days = list_holidays(country, subdivision, year, language)
    except NotImplementedError:
        print(_unknown_place(country, subdivision), file=sys.stderr)
        return 2
    for day, name in days.items():
        out.write(f"{day.isoformat()} {name}\n")
    return 0


def _unknown_place(country: str, subdivision: str | None) -> str:
    try:
        known = subdivisions(country)
    except NotImplementedError:
        return f"softswitch holidays: unknown country {country!r} (use an ISO code such as ES)"
    listed = ", ".join(known) or "none"
    return f"softswitch holidays: {country.upper()} has no subdivision {subdivision!r} ({listed})"


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
