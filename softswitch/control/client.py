"""The CLI's side of the control socket: one request, one reply, blocking, bounded in time.

``run_admin`` is what ``softswitch status|registrations|calls|queues|hangup|holidays|
credentials`` run: it finds the socket from the config's state_dir (the same config ``serve``
was given), asks, and prints a table or the JSON. Every failure a person can meet (no server, a
config that does not load, a socket of another user, an error reply) is one line on stderr and
exit status 1.

``holidays`` and ``credentials`` need no running switch: when none answers, the same handlers
answer from the config file (``config_view.offline_view``) and one line on stderr says so,
because the file may say something else than what a server started earlier still runs.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any, TextIO

from softswitch.config import CompiledConfig, ConfigError, load_config
from softswitch.control.config_view import offline_view
from softswitch.control.protocol import (
    SOCKET_NAME,
    ControlError,
    decode_response,
    encode_request,
)
from softswitch.control.server import CONFIG_COMMANDS, check_path
from softswitch.control.tables import render

__all__ = ["ServerNotRunning", "ask", "control_path", "run_admin"]

TIMEOUT = 5.0  # seconds for the whole exchange
# A reload reads the files and renders new prompts by text-to-speech before it answers.
SLOW = {"reload": 120.0}
MAX_REPLY = 64 * 1024 * 1024  # bytes: a reply is never this big; a runaway one is cut off


class ServerNotRunning(ControlError):
    """Nothing listens on the control socket."""


def control_path(state_dir: Path) -> Path:
    return state_dir / SOCKET_NAME


def ask(path: Path, command: str, args: dict[str, Any] | None = None) -> Any:
    """Send one request and return its result; ControlError (ServerNotRunning) otherwise."""
    check_path(path)
    timeout = SLOW.get(command, TIMEOUT)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(str(path))
        except (FileNotFoundError, ConnectionRefusedError):
            raise ServerNotRunning(
                f"no softswitch server is running (no answer on {path})"
            ) from None
        except PermissionError:
            raise ControlError(f"{path}: permission denied (run as the switch's user)") from None
        try:
            sock.sendall(encode_request(command, args))
            return decode_response(_read_line(sock))
        except TimeoutError:
            raise ControlError(f"the server did not answer within {timeout:g} s") from None
        except ConnectionError as exc:
            raise ControlError(f"the server closed the connection: {exc}") from None


def _read_line(sock: socket.socket) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            raise ControlError("the server closed the connection without a reply")
        end = chunk.find(b"\n")
        if end >= 0:
            chunks.append(chunk[:end])
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_REPLY:
            raise ControlError("the server's reply is too long")


def run_admin(
    config_path: Path | None,
    command: str,
    args: dict[str, Any] | None,
    as_json: bool,
    out: TextIO,
    err: TextIO,
) -> int:
    """Ask the running server for ``command`` and print it; 0, or 1 with a message on err."""
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        for issue in exc.issues:
            err.write(f"{issue}\n")
        return 1
    try:
        result = _answer(config, command, args, err)
    except ControlError as exc:
        err.write(f"softswitch {command}: {exc}\n")
        return 1
    if as_json:
        out.write(json.dumps(result, ensure_ascii=False, indent=2) + "\n")
    else:
        out.write(render(command, result) + "\n")
    return 0


def _answer(config: CompiledConfig, command: str, args: dict[str, Any] | None, err: TextIO) -> Any:
    """The server's answer; for a command a config answers by itself, the file's answer when
    no server runs (ControlError otherwise)."""
    try:
        return ask(control_path(config.server.state_dir), command, args)
    except ServerNotRunning:
        offline = CONFIG_COMMANDS.get(command)
        if offline is None:
            raise
    source = (
        "the holidays package on this machine"  # a place's holidays: the config plays no part
        if args and "country" in args
        else f"the config file {config.files[0]}"
    )
    err.write(f"softswitch {command}: no server is running; this comes from {source}\n")
    return offline(offline_view(config), args or {})
