"""The control socket: a Unix stream socket under ``state_dir``, for its owner only.

Why a Unix socket and not TCP on localhost: the file's mode (0600) is the whole access
control, with nothing to configure and no password on any command line, and only processes
of the switch's user can hang calls up. The mode is set at ``bind`` (umask 0177 around it:
no moment when another user could connect) and again with ``chmod`` (a umask is advisory on
some systems for sockets).

Starting: a socket file left by a server that died is replaced; one that a live server
answers on makes this start fail with ``ControlError``, so two switches on one state_dir
(which would share SQLite files and ports) are stopped at the door. A path that exists but
is no socket is left alone and refused.

Serving: each connection may send any number of request lines (``protocol.py``); each gets
one reply, and a bad one (malformed, unknown command, oversized, a failing view) gets an error
reply while the connection carries on. A connection is bounded in time: ``idle`` seconds
between requests, ``lifetime`` in all, ``MAX_CLIENTS`` at once. The view is called on the
event loop, so what it reads of the switch needs no locking.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
import socket
import stat
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

from softswitch.control.protocol import (
    ControlError,
    LineFramer,
    Oversized,
    encode_error,
    encode_result,
    parse_request,
)
from softswitch.control.views import ConfigQueries, ControlView

__all__ = [
    "COMMANDS",
    "CONFIG_COMMANDS",
    "IDLE_TIMEOUT",
    "LIFETIME",
    "MAX_CLIENTS",
    "ControlServer",
    "check_path",
    "handle_line",
    "start_control",
]

log = logging.getLogger("softswitch.control")

IDLE_TIMEOUT = 30.0  # seconds a connection may wait between requests
LIFETIME = 300.0  # seconds a connection may last in all
MAX_CLIENTS = 16  # connections at once; more are told so and closed
CHUNK = 16 * 1024
SUN_PATH_MAX = 107  # bytes in a Unix socket path (Linux: 108 with the NUL)

Command = Callable[[ControlView, Mapping[str, Any]], Any]


def _no_args(args: Mapping[str, Any]) -> None:
    if args:
        raise ControlError(f"unexpected argument(s): {', '.join(sorted(args))}")


def _status(view: ControlView, args: Mapping[str, Any]) -> Any:
    _no_args(args)
    return asdict(view.status())


def _registrations(view: ControlView, args: Mapping[str, Any]) -> Any:
    _no_args(args)
    return [asdict(r) for r in view.registrations()]


def _calls(view: ControlView, args: Mapping[str, Any]) -> Any:
    _no_args(args)
    return [asdict(c) for c in view.calls()]


def _queues(view: ControlView, args: Mapping[str, Any]) -> Any:
    _no_args(args)
    return [asdict(q) for q in view.queues()]


def _hangup(view: ControlView, args: Mapping[str, Any]) -> Any:
    call_id = args.get("call_id")
    if not isinstance(call_id, str) or not call_id or set(args) != {"call_id"}:
        raise ControlError('hangup takes one argument: {"call_id": "..."}')
    if not view.hangup(call_id):
        raise ControlError(f"no live call {call_id!r}")
    return {"call_id": call_id}


def _reload(view: ControlView, args: Mapping[str, Any]) -> Any:
    dry_run = args.get("dry_run", False)
    if not isinstance(dry_run, bool) or set(args) - {"dry_run"}:
        raise ControlError('reload takes one optional argument: {"dry_run": true|false}')
    return view.reload(dry_run)  # a coroutine: reading the files must not stall the calls


_HOLIDAY_ARGS = frozenset({"year", "country", "subdivision", "language"})
_YEARS = range(1900, 2201)  # what the holidays package is asked about; a typo is refused


def _holidays(view: ConfigQueries, args: Mapping[str, Any]) -> Any:
    """No ``country``: the config's holiday sets (``HolidaysView``); with one: the place's
    public holidays, a list of ``{date, name}`` (what the offline command always printed)."""
    unknown = sorted(set(args) - _HOLIDAY_ARGS)
    if unknown:
        raise ControlError(f"unexpected argument(s): {', '.join(unknown)}")
    year = args.get("year")
    if year is not None and (type(year) is not int or year not in _YEARS):  # bool is no year
        raise ControlError(f'"year" must be a year from {_YEARS[0]} to {_YEARS[-1]}')
    country, subdivision, language = (
        _optional_text(args, key) for key in ("country", "subdivision", "language")
    )
    if country is None:
        if subdivision is not None or language is not None:
            raise ControlError('"subdivision" and "language" go with a "country"')
        return asdict(view.holidays(year))
    days = view.place_holidays(country, subdivision, year, language)
    return [asdict(day) for day in days]


def _optional_text(args: Mapping[str, Any], key: str) -> str | None:
    value = args.get(key)
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise ControlError(f"{key!r} must be a non-empty string")
    return value


def _credentials(view: ConfigQueries, args: Mapping[str, Any]) -> Any:
    """An extension's username, password and where to register. The socket is its owner's
    only, so the password may travel on it; nothing here logs a reply."""
    extension = args.get("extension")
    if not isinstance(extension, str) or not extension or set(args) != {"extension"}:
        raise ControlError('credentials takes one argument: {"extension": "..."}')
    found = view.credentials(extension)
    if found is None:
        raise ControlError(f"unknown extension {extension!r}")
    return asdict(found)


# The commands a config answers by itself: the CLI asks a ``config_view.ConfigView`` of the
# file with these same handlers when no server runs.
CONFIG_COMMANDS: dict[str, Callable[[ConfigQueries, Mapping[str, Any]], Any]] = {
    "holidays": _holidays,
    "credentials": _credentials,
}

COMMANDS: dict[str, Command] = {
    "status": _status,
    "registrations": _registrations,
    "calls": _calls,
    "queues": _queues,
    "hangup": _hangup,
    "reload": _reload,
    **CONFIG_COMMANDS,
}


def handle_line(view: ControlView, line: bytes | Oversized) -> bytes:
    """The reply line to one request line (never raises: a bug in a view is an error reply)."""
    result = _dispatch(view, line)
    if inspect.isawaitable(result):  # only the event loop's own handler awaits
        if inspect.iscoroutine(result):
            result.close()
        return encode_error("this command needs the running server")
    return result


async def answer_line(view: ControlView, line: bytes | Oversized) -> bytes:
    """``handle_line`` for the server, which also awaits commands that work in the
    background (``reload``)."""
    result = _dispatch(view, line)
    if not inspect.isawaitable(result):
        return result
    try:
        return encode_result(await result)
    except ControlError as exc:
        return encode_error(str(exc))
    except Exception as exc:
        log.exception("control request failed")
        return encode_error(f"internal error: {exc!r}")


def _dispatch(view: ControlView, line: bytes | Oversized) -> bytes | Awaitable[Any]:
    if isinstance(line, Oversized):
        return encode_error(f"request line longer than {line.limit} bytes")
    try:
        request = parse_request(line)
        command = COMMANDS.get(request.command)
        if command is None:
            known = ", ".join(COMMANDS)
            raise ControlError(f"unknown command {request.command!r} (known: {known})")
        result = command(view, request.args)
        if inspect.isawaitable(result):
            return result
        return encode_result(result)
    except ControlError as exc:
        return encode_error(str(exc))
    except Exception as exc:
        log.exception("control request failed: %r", line[:200])
        return encode_error(f"internal error: {exc!r}")


def check_path(path: Path) -> None:
    """Unix socket paths are short: say so plainly instead of an OSError from bind()."""
    if len(os.fsencode(path)) > SUN_PATH_MAX:
        raise ControlError(
            f"control socket path too long for a Unix socket ({SUN_PATH_MAX} bytes): {path}"
        )


class ControlServer:
    """The listening socket and its connections; ``close()`` ends both and removes the file."""

    def __init__(
        self,
        path: Path,
        view: ControlView,
        *,
        idle: float = IDLE_TIMEOUT,
        lifetime: float = LIFETIME,
        max_clients: int = MAX_CLIENTS,
    ) -> None:
        self.path = path
        self.view = view
        self.idle = idle
        self.lifetime = lifetime
        self.max_clients = max_clients
        self._server: asyncio.Server | None = None
        self._inode: int | None = None  # of our socket file: only that one is removed
        self._connections: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        check_path(self.path)
        await _clear_stale(self.path)
        sock = _bind_private(self.path)
        self._inode = self.path.stat().st_ino
        try:
            self._server = await asyncio.start_unix_server(self._serve, sock=sock, limit=CHUNK)
        except BaseException:
            sock.close()
            self._unlink()
            raise
        log.info("- control socket %s", self.path)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._connections):
            task.cancel()
        if self._connections:
            await asyncio.gather(*self._connections, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
        self._unlink()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            if len(self._connections) > self.max_clients:
                writer.write(encode_error(f"too many control connections ({self.max_clients})"))
                await asyncio.wait_for(writer.drain(), self.idle)
                return
            async with asyncio.timeout(self.lifetime):
                await self._requests(reader, writer)
        except (TimeoutError, ConnectionError):
            pass  # a slow or vanished client: nothing to answer
        finally:
            self._connections.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError, TimeoutError):
                await asyncio.wait_for(writer.wait_closed(), 1.0)

    async def _requests(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        framer = LineFramer()
        while True:
            async with asyncio.timeout(self.idle):
                data = await reader.read(CHUNK)
            if not data:
                return
            replies = [await answer_line(self.view, line) for line in framer.feed(data)]
            if replies:
                writer.write(b"".join(replies))
                async with asyncio.timeout(self.idle):
                    await writer.drain()

    def _unlink(self) -> None:
        """Remove the socket file if it is still ours (not a successor's)."""
        with contextlib.suppress(FileNotFoundError):
            if self.path.stat().st_ino == self._inode:
                self.path.unlink()


async def start_control(
    path: Path,
    view: ControlView,
    *,
    idle: float = IDLE_TIMEOUT,
    lifetime: float = LIFETIME,
    max_clients: int = MAX_CLIENTS,
) -> ControlServer:
    """Listen on ``path``; raises ControlError when another server answers there."""
    server = ControlServer(path, view, idle=idle, lifetime=lifetime, max_clients=max_clients)
    await server.start()
    return server


async def _clear_stale(path: Path) -> None:
    """Remove the socket file of a server that died; refuse a live one (or no socket)."""
    if not _socket_exists(path):
        return
    try:
        _, writer = await asyncio.wait_for(asyncio.open_unix_connection(str(path)), 2.0)
    except (ConnectionRefusedError, FileNotFoundError):
        _remove(path)  # nobody listens: the file of a server that died
        log.info("- removed stale control socket %s", path)
        return
    except TimeoutError:  # a listener whose backlog is full is alive, if busy
        raise ControlError(f"another softswitch holds {path} (it does not accept)") from None
    writer.close()
    raise ControlError(f"another softswitch is running: its control socket {path} answers")


def _socket_exists(path: Path) -> bool:
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return False
    if not stat.S_ISSOCK(mode):
        raise ControlError(f"{path} exists and is not a socket: not replacing it")
    return True


def _remove(path: Path) -> None:
    path.unlink(missing_ok=True)


def _bind_private(path: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        old = os.umask(0o177)  # process-wide, for this one call: the file is born 0600
        try:
            sock.bind(str(path))
        finally:
            os.umask(old)
        os.chmod(path, 0o600)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock
