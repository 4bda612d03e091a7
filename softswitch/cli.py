"""Command line: ``softswitch serve | check | credentials``."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from softswitch.app import run_app
from softswitch.config import ConfigError, load_config
from softswitch.config.cli import run_check, run_credentials
from softswitch.logs import setup_logging


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
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "check":
        return run_check(args.config, sys.stdout)
    if args.command == "credentials":
        return run_credentials(args.config, args.extension, sys.stdout)
    setup_logging(args.log_level)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        for issue in exc.issues:
            print(issue, file=sys.stderr)
        return 1
    logging.getLogger("softswitch").info("- starting with %s", ", ".join(config.files))
    return run_app(config)
