"""Fixtures for end-to-end tests: one pjsua2 library per session, softswitch servers as
subprocesses (one per test, each with its own config, state directory, ports and log).

When a test fails, its report gets two extra sections: the tail of the server's log and the
PJSIP log lines written during the test.
"""

from __future__ import annotations

import ctypes
import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("pjsua2")

from .phone import Phone, PjEndpoint

REPO = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"
# The SIP provider's phone (a pjsua account) lives on another loopback address, so the switch
# tells its calls from the extensions' by source address (the trunk's inbound_from).
TRUNK_HOST = "127.0.0.2"
SERVER_START_TIMEOUT = 15.0
SERVER_STOP_TIMEOUT = 5.0

# number -> (display name, password). 1003 exists but no test registers it (480 case).
EXTENSIONS: dict[str, tuple[str, str]] = {
    "1001": ("Ana García", "secret1001"),
    "1002": ("Bruno Díaz", "secret1002"),
    "1003": ("Carla Ruiz", "secret1003"),
}

# Servers take RTP ports from 40000-49999, a private block each, never the phones' range.
# A test call needs two pairs per call; 100 ports leave plenty of room for pairs that some
# other process on the machine (a benchmark run, say) happens to hold.
_SERVER_RTP_BLOCK = 100
_server_rtp_blocks = itertools.cycle(range(40000, 50000, _SERVER_RTP_BLOCK))

DIAGNOSTICS = pytest.StashKey[list[Callable[[], tuple[str, str]]]]()


_USED_PORTS: set[int] = set()


def outbound_trunk(provider_port: int) -> str:
    """TOML for a trunk to the provider phone at ``TRUNK_HOST:provider_port`` and a route
    sending Spanish mobiles (+34 6..9) through it."""
    return f"""
[trunks.proveedor]
host = "{TRUNK_HOST}"
port = {provider_port}
inbound_from = ["{TRUNK_HOST}/32"]

[[outbound_routes]]
match = "+34[6-9]XXXXXXXX"
trunk = "proveedor"
"""


def free_port() -> int:
    """A port free on 127.0.0.1 for both UDP and TCP (never 5060: the kernel picks it), and
    never one an earlier server of this session had: a phone's late un-REGISTER to that server
    must not reach the next one (it would remove a binding with the same Contact)."""
    for _ in range(50):
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            u.bind((HOST, 0))
            port = int(u.getsockname()[1])
            if port in _USED_PORTS:
                continue
            t.bind((HOST, port))
            _USED_PORTS.add(port)
            return port
        except OSError:
            continue
        finally:
            u.close()
            t.close()
    raise RuntimeError("no port free for both UDP and TCP")


def free_rtp_block() -> int:
    """First port of the next block whose ports are all free right now (round robin)."""
    for _ in range(10000 // _SERVER_RTP_BLOCK):
        base = next(_server_rtp_blocks)
        if all(_udp_port_free(p) for p in range(base, base + _SERVER_RTP_BLOCK)):
            return base
    raise RuntimeError("no free RTP block in 40000-49999")


def _udp_port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.bind((HOST, port))
        except OSError:
            return False
    return True


def _toml_str(s: str) -> str:
    # A JSON string (without ASCII escaping) is a valid TOML basic string.
    return json.dumps(s, ensure_ascii=False)


def write_config(
    path: Path,
    port: int,
    rtp: tuple[int, int],
    ring_time: int,
    extensions: dict[str, tuple[str, str]],
    extra: str = "",
    keys: dict[str, str] | None = None,
) -> None:
    """``keys``: more TOML lines per extension number (``outbound = true``), and under
    ``"server"`` for the [server] table."""
    lines = [
        "[server]",
        f"domain = {_toml_str(HOST)}",
        f'listen = ["udp:{HOST}:{port}", "tcp:{HOST}:{port}"]',
        f'rtp_ports = "{rtp[0]}-{rtp[1]}"',
        'state_dir = "state"',
        f"ring_time = {ring_time}",
        *([keys["server"]] if keys and "server" in keys else []),
        "",
        "[security]",
        "max_auth_failures = 10",
        "failure_window = 60",
        "ban_time = 600",
    ]
    for number, (name, password) in extensions.items():
        lines += [
            "",
            f"[extensions.{_toml_str(number)}]",
            f"name = {_toml_str(name)}",
            f"password = {_toml_str(password)}",
        ]
        if keys and number in keys:
            lines.append(keys[number])
    path.write_text("\n".join(lines) + "\n" + extra, encoding="utf-8")


@dataclass
class Server:
    """A running `python -m softswitch serve` subprocess."""

    port: int
    config_path: Path
    log_path: Path
    proc: subprocess.Popen[bytes]
    rtp_range: tuple[int, int]
    extensions: dict[str, tuple[str, str]] = field(default_factory=dict)

    @property
    def registrar(self) -> str:
        return f"sip:{HOST}:{self.port}"

    def uri(self, number: str) -> str:
        return f"sip:{number}@{HOST}:{self.port}"

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, n: int = 80) -> str:
        return "\n".join(self.log_text().splitlines()[-n:])

    def wait_ready(self) -> None:
        wanted = (f"listening udp {HOST}:{self.port}", f"listening tcp {HOST}:{self.port}")
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while not all(w in self.log_text() for w in wanted):
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"softswitch exited with {self.proc.returncode} before listening:\n"
                    + self.log_tail()
                )
            if time.monotonic() > deadline:
                raise RuntimeError(f"softswitch not listening after {SERVER_START_TIMEOUT}s")
            time.sleep(0.05)  # polling a subprocess's log; nothing to await instead

    def stop(self) -> int:
        """SIGTERM, then wait (bounded); kill only if it does not exit."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(SERVER_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(SERVER_STOP_TIMEOUT)
        return int(self.proc.returncode)


def start_server(
    directory: Path,
    ring_time: int = 8,
    extensions: dict[str, tuple[str, str]] | None = None,
    extra: str = "",
    keys: dict[str, str] | None = None,
) -> Server:
    """Start a server on a fresh port; retry (bounded) if another process took that port
    between our check and the server's bind (other test runs share this machine).
    ``extra``: TOML appended to the generated config (conferences, prompts...)."""
    for attempt in range(3):
        try:
            return _start_once(directory / f"try{attempt}", ring_time, extensions, extra, keys)
        except PortTaken:
            continue
    raise RuntimeError("softswitch could not bind a free port in 3 attempts")


class PortTaken(RuntimeError):
    pass


def _die_with_parent() -> None:
    """In the server's child process: get SIGTERM if pytest dies (an abort in pjsua skips
    every fixture's teardown), so no server outlives the run holding its ports."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _start_once(
    directory: Path,
    ring_time: int,
    extensions: dict[str, tuple[str, str]] | None,
    extra: str,
    keys: dict[str, str] | None = None,
) -> Server:
    directory.mkdir(parents=True, exist_ok=True)
    exts = dict(EXTENSIONS if extensions is None else extensions)
    port = free_port()
    base = free_rtp_block()
    config = directory / "softswitch.toml"
    rtp = (base, base + _SERVER_RTP_BLOCK - 1)
    write_config(config, port, rtp, ring_time, exts, extra, keys)
    log = directory / "server.log"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    with log.open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "softswitch", "serve", "--config", str(config)],
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            stdout=err,
            stderr=subprocess.STDOUT,
            env=env,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,  # noqa: PLW1509
        )
    server = Server(port, config, log, proc, (base, base + _SERVER_RTP_BLOCK - 1), exts)
    try:
        server.wait_ready()
    except RuntimeError as exc:
        server.stop()
        if "Address already in use" in server.log_text():
            raise PortTaken(str(port)) from exc
        raise
    except BaseException:
        server.stop()
        raise
    return server


# --------------------------------------------------------------------------- reporting
@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    rep = outcome.get_result()  # type: ignore[attr-defined]
    if rep.failed:
        for diag in item.stash.get(DIAGNOSTICS, []):
            title, text = diag()
            rep.sections.append((title, text))


def add_diagnostic(request: pytest.FixtureRequest, diag: Callable[[], tuple[str, str]]) -> None:
    request.node.stash.setdefault(DIAGNOSTICS, []).append(diag)


# --------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="session")
def pj_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PjEndpoint]:
    """The process's single pjsua2 library; it logs (level 4: full SIP messages) to a file."""
    log = tmp_path_factory.mktemp("pjsip") / "pjsip.log"
    with PjEndpoint(
        log_level=int(os.environ.get("E2E_PJ_LOG_LEVEL", "4")), log_file=str(log)
    ) as ep:
        ep.log_path = log  # type: ignore[attr-defined]
        yield ep


@pytest.fixture
def ep(pj_endpoint: PjEndpoint, request: pytest.FixtureRequest) -> PjEndpoint:
    """The session endpoint, plus this test's slice of the PJSIP log on failure."""
    log: Path = pj_endpoint.log_path  # type: ignore[attr-defined]
    start = log.stat().st_size if log.exists() else 0

    def pj_log() -> tuple[str, str]:
        with log.open("rb") as f:
            f.seek(start)
            lines = f.read().decode("utf-8", "replace").splitlines()
        return ("PJSIP log (this test, last 150 lines)", "\n".join(lines[-150:]))

    add_diagnostic(request, pj_log)
    return pj_endpoint


@pytest.fixture
def phone_factory(ep: PjEndpoint) -> Iterator[Callable[..., Phone]]:
    """Make phones; all of them hang up, unregister and close when the test ends."""
    made: list[Phone] = []

    def make(user: str, **kwargs: Any) -> Phone:
        phone = Phone(ep, user, **kwargs)
        made.append(phone)
        return phone

    yield make
    had_calls = any(phone.calls for phone in made)
    for phone in made:
        phone.close()
    if had_calls:
        # The select() ioqueue frees closed RTP sockets' handles 500 ms late; with only 64
        # handles, back-to-back tests must let them drain or PJSIP aborts the process.
        ep.sleep(0.6)


@pytest.fixture
def server_factory(
    tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Callable[..., Server]]:
    servers: list[Server] = []

    def make(
        ring_time: int = 8,
        extensions: dict[str, tuple[str, str]] | None = None,
        extra: str = "",
        keys: dict[str, str] | None = None,
    ) -> Server:
        directory = tmp_path / f"server{len(servers)}"
        server = start_server(directory, ring_time, extensions, extra, keys)
        servers.append(server)
        add_diagnostic(request, lambda: (f"softswitch log ({server.log_path})", server.log_tail()))
        return server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def server(server_factory: Callable[..., Server]) -> Server:
    return server_factory()


class Pbx:
    """A server plus a way to make phones for its extensions."""

    def __init__(self, server: Server, phone_factory: Callable[..., Phone]) -> None:
        self.server = server
        self._make = phone_factory

    def uri(self, number: str) -> str:
        return self.server.uri(number)

    def phone(
        self, number: str, password: str | None = None, register: bool = True, **kw: Any
    ) -> Phone:
        """A phone for `number` (password from the config unless given), registered."""
        if password is None:
            password = self.server.extensions[number][1]
        phone = self._make(
            number, registrar=self.server.registrar, password=password, domain=HOST, **kw
        )
        if register:
            code = phone.register(5)
            assert code == 200, f"{number} REGISTER got {code}"
        return phone


@pytest.fixture
def pbx(server: Server, phone_factory: Callable[..., Phone]) -> Pbx:
    return Pbx(server, phone_factory)
