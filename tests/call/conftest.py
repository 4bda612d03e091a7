"""Fixtures for loopback protocol tests: the real switch, in-process on a background thread.

Each test gets its own ``App`` (own state_dir, ephemeral SIP ports, a private RTP port block),
so bans, rate limits and registrations never leak between tests. The app runs on its own
event loop in a thread; the test thread plays the phones with blocking sockets (sipclient).

Time: the app gets a ``SkippableClock`` — the real clock plus an offset the test may push
forward. A test that needs a ban or a ring timeout to expire skips the clock instead of
sleeping; timers already armed still fire on the real schedule.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sipclient import RtpSocket, SipPeer

from softswitch.app import App
from softswitch.clock import RealClock
from softswitch.config import load_config

HOST = "127.0.0.1"
START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0

# number -> (display name, password); 1003 is configured but never registered (480 case).
EXTENSIONS: dict[str, tuple[str, str]] = {
    "1001": ("Ana García", "secret-1001"),
    "1002": ("Bruno Díaz", "secret-1002"),
    "1003": ("Carla Ruiz", "secret-1003"),
    "1004": ("Dora Vidal", "secret-1004"),
}

# A private block of RTP ports per app, cycled: 31000-39999 in blocks of 100, clear of the
# phones' 20000-30000 and the e2e servers' 40000-49999. A block something else holds (another
# process on the machine) is skipped.
_RTP_BLOCKS = itertools.cycle(range(31000, 40000, 100))


def _block_is_free(first: int, size: int = 100) -> bool:
    for port in range(first, first + size):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            try:
                probe.bind((HOST, port))
            except OSError:
                return False
    return True


def free_rtp_block() -> int:
    for _ in range(90):  # bounded: at most one full turn of the cycle
        first = next(_RTP_BLOCKS)
        if _block_is_free(first):
            return first
    raise RuntimeError("no free block of 100 RTP ports in 31000-39999")


class SkippableClock(RealClock):
    """Real time plus an offset that only grows (so monotonic stays monotonic)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def monotonic(self) -> float:
        return time.monotonic() + self.offset

    def wall(self) -> float:
        return time.time() + self.offset

    def skip(self, seconds: float) -> None:
        assert seconds >= 0
        self.offset += seconds


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)  # a JSON string is a TOML basic string


def write_config(
    directory: Path,
    *,
    server: dict[str, Any] | None = None,
    security: dict[str, Any] | None = None,
    extensions: dict[str, tuple[str, str]] | None = None,
    extension_keys: dict[str, dict[str, Any]] | None = None,
    extra: str = "",
) -> Path:
    """A config file in ``directory``; ``server``/``security`` override the test defaults;
    ``extension_keys``: more keys per extension number (e.g. ``record``)."""
    first = free_rtp_block()
    srv: dict[str, Any] = {
        "domain": HOST,
        "listen": [f"udp:{HOST}:0", f"tcp:{HOST}:0"],
        "rtp_ports": f"{first}-{first + 99}",
        "state_dir": "state",
        "ring_time": 10,
        "min_expires": 60,
        "max_expires": 3600,
        "default_expires": 600,
    }
    srv.update(server or {})
    lines = ["[server]", *(f"{k} = {_toml(v)}" for k, v in srv.items())]
    if security:
        lines += ["", "[security]", *(f"{k} = {_toml(v)}" for k, v in security.items())]
    for number, (name, password) in (extensions or EXTENSIONS).items():
        lines += ["", f'[extensions."{number}"]', f"name = {_toml(name)}"]
        lines.append(f"password = {_toml(password)}")
        for key, value in (extension_keys or {}).get(number, {}).items():
            lines.append(f"{key} = {_toml(value)}")
    path = directory / "softswitch.toml"
    path.write_text("\n".join(lines) + "\n" + extra, encoding="utf-8")
    return path


def _new_loop(use_uvloop: bool) -> asyncio.AbstractEventLoop:
    if use_uvloop:
        import uvloop  # what production runs on (app.run_app)

        return uvloop.new_event_loop()
    return asyncio.new_event_loop()


class RunningSwitch:
    """One App on a background thread's event loop."""

    def __init__(self, config_path: Path, *, use_uvloop: bool = True) -> None:
        # uvloop by default: it is what `softswitch serve` runs on (and it differs, e.g. its
        # TCP transports are no asyncio.Transport instances); test_loopback_app covers the
        # default asyncio loop.
        self.config_path = config_path
        self.use_uvloop = use_uvloop
        self.clock = SkippableClock()
        self.app: App | None = None
        self.udp: tuple[str, int] = ("", 0)
        self.tcp: tuple[str, int] = ("", 0)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def start(self) -> RunningSwitch:
        ready = threading.Event()
        config = load_config(self.config_path)

        def on_ready(bound: list[tuple[str, str, int]]) -> None:
            for transport, host, port in bound:
                if transport == "udp":
                    self.udp = (host, port)
                else:
                    self.tcp = (host, port)
            ready.set()

        def run() -> None:
            loop = _new_loop(self.use_uvloop)
            self._loop = loop
            try:
                self.app = App(config, clock=self.clock)
                loop.run_until_complete(self.app.run(on_ready=on_ready))
            except BaseException as exc:  # reported to the test thread
                self._error = exc
                ready.set()
            finally:
                loop.close()

        self._thread = threading.Thread(target=run, name="softswitch", daemon=True)
        self._thread.start()
        if not ready.wait(START_TIMEOUT) or self._error is not None:
            raise RuntimeError(f"switch did not start: {self._error!r}")
        return self

    def call(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` on the switch's loop and return its result (to inspect live state)."""
        assert self._loop is not None
        done = threading.Event()
        box: list[Any] = []

        def wrapper() -> None:
            try:
                box.append(fn())
            finally:
                done.set()

        self._loop.call_soon_threadsafe(wrapper)
        assert done.wait(STOP_TIMEOUT), "switch loop unresponsive"
        return box[0] if box else None

    def stop(self) -> None:
        if self._thread is None or self._loop is None or self.app is None:
            return
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self.app.stop)
            self._thread.join(STOP_TIMEOUT)
        assert not self._thread.is_alive(), "switch did not stop"
        self._thread = None
        if self._error is not None:
            raise self._error

    def peer(self, user: str, *, transport: str = "udp", host: str = HOST, **kw: Any) -> SipPeer:
        _, password = EXTENSIONS.get(user, ("", "not-an-extension"))
        server = self.udp if transport == "udp" else self.tcp
        return SipPeer(server, user=user, password=password, host=host, transport=transport, **kw)


@dataclass
class SwitchFactory:
    tmp_path: Path
    started: list[RunningSwitch]
    peers: list[SipPeer]

    def __call__(self, **overrides: Any) -> RunningSwitch:
        directory = self.tmp_path / f"switch{len(self.started)}"
        directory.mkdir()
        switch = RunningSwitch(write_config(directory, **overrides)).start()
        self.started.append(switch)
        return switch

    def restart(self, switch: RunningSwitch) -> RunningSwitch:
        """Stop ``switch`` and start a new app on the same config and state_dir."""
        switch.stop()
        again = RunningSwitch(switch.config_path).start()
        self.started.append(again)
        return again

    def peer(self, switch: RunningSwitch, user: str, **kw: Any) -> SipPeer:
        peer = switch.peer(user, **kw)
        self.peers.append(peer)
        return peer


@pytest.fixture
def make_switch(tmp_path: Path) -> Iterator[SwitchFactory]:
    """Start switches with config overrides; all are stopped (and peers closed) after."""
    factory = SwitchFactory(tmp_path, [], [])
    try:
        yield factory
    finally:
        for peer in factory.peers:
            peer.close()
        for switch in factory.started:
            switch.stop()


@dataclass
class Phones:
    """A caller and a registered callee, each with an RTP socket."""

    switch: RunningSwitch
    caller: SipPeer
    callee: SipPeer
    caller_rtp: RtpSocket
    callee_rtp: RtpSocket


@pytest.fixture
def phones(make_switch: SwitchFactory) -> Iterator[Phones]:
    """The caller 1001 and the registered callee 1002 on a fresh switch."""
    sw = make_switch()
    caller = make_switch.peer(sw, "1001")
    callee = make_switch.peer(sw, "1002")
    assert callee.register().status == 200
    rtp = RtpSocket(), RtpSocket()
    try:
        yield Phones(sw, caller, callee, *rtp)
    finally:
        for sock in rtp:
            sock.close()
