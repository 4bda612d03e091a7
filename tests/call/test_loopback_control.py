"""The control socket on a running switch: admin commands see real registrations, calls,
queues and trunk registrations, and ``hangup`` ends a real call.

``App.run`` does not start the control server yet (app.py wires it in), so each test starts
it on the switch's own loop with an ``AppView`` of the running app, exactly what the app is
to do. The phones are scripted (sipclient); the CLI runs in-process through ``cli.main``.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import stat
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from conftest import Phones
from sipclient import RtpSocket, SipPeer
from test_loopback_calls import establish

from softswitch.cli import main
from softswitch.control import SOCKET_NAME, ControlServer, ask

if TYPE_CHECKING:
    from conftest import RunningSwitch, SwitchFactory

TRUNK_HOST = "127.0.0.2"
QUEUE_NUMBER = "+34910000020"
CALLER = "+34611222333"
WAIT = 5.0  # seconds a state reached on the switch's own timers may take


def config_extra(provider_port: int, register: bool) -> str:
    # 1003 is never registered: the queue's only agent is away, so its caller keeps waiting.
    # Registering is on only where a test answers the REGISTER: at stop the client waits
    # (2 s) for an answer to its un-REGISTER that a silent provider never sends.
    return f"""
[trunks.proveedor]
host = "{TRUNK_HOST}"
port = {provider_port}
username = "acme"
password = "trunk-secret"
register = {str(register).lower()}
inbound_from = ["{TRUNK_HOST}/32"]

[trunks.respaldo]
host = "127.0.0.3"

[numbers."{QUEUE_NUMBER}"]
action = "queue:soporte"

[queues.soporte]
agents = ["1003"]
strategy = "ringall"
max_wait = 0
"""


@dataclass
class Setup:
    sw: RunningSwitch
    path: Path  # the control socket
    server: ControlServer
    phones: Phones
    provider: SipPeer  # the trunk's registrar
    trunk_caller: SipPeer  # a caller from the trunk's network

    def ask(self, command: str, args: dict[str, Any] | None = None) -> Any:
        return ask(self.path, command, args)

    def cli(self, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
        code = main([*argv, "--config", str(self.sw.config_path)])
        out, err = capsys.readouterr()
        return code, out, err


def on_loop(sw: RunningSwitch, make: Callable[[], Any]) -> Any:
    """Run the coroutine ``make()`` builds on the switch's loop; its result, here."""
    future = sw.call(lambda: asyncio.run_coroutine_threadsafe(make(), asyncio.get_running_loop()))
    return future.result(WAIT)


@pytest.fixture
def setup(make_switch: SwitchFactory, request: pytest.FixtureRequest) -> Iterator[Setup]:
    """The switch and its control server; parametrize ``setup`` with True to have trunk
    proveedor register."""
    register = bool(getattr(request, "param", False))
    provider = SipPeer(("127.0.0.1", 0), user="acme", host=TRUNK_HOST)
    make_switch.peers.append(provider)
    sw = make_switch(extra=config_extra(provider.local[1], register), server={"timezone": "UTC"})
    provider.server = sw.udp
    trunk_caller = make_switch.peer(sw, CALLER, host=TRUNK_HOST)
    caller, callee = make_switch.peer(sw, "1001"), make_switch.peer(sw, "1002")
    assert callee.register().status == 200
    app = sw.app
    assert app is not None
    path = app.config.server.state_dir / SOCKET_NAME
    server = app.control  # the running app's own
    assert server is not None
    rtp = RtpSocket(), RtpSocket()
    try:
        yield Setup(sw, path, server, Phones(sw, caller, callee, *rtp), provider, trunk_caller)
    finally:
        for sock in rtp:
            sock.close()
        on_loop(sw, server.close)


def until(predicate: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not predicate():
        assert time.monotonic() < deadline, f"not {what} within {WAIT} s"
        time.sleep(0.02)


# --------------------------------------------------------------------------- tests


def test_socket_is_private_and_a_bad_line_does_not_end_the_session(setup: Setup) -> None:
    mode = os.stat(setup.path).st_mode
    assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o600
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(WAIT)
        sock.connect(str(setup.path))
        sock.sendall(b'{"command": "status"\n{"command": "registrations"}\n')
        reader = sock.makefile("rb")
        bad, good = json.loads(reader.readline()), json.loads(reader.readline())
    assert bad["ok"] is False and "malformed JSON" in bad["error"]
    assert good["ok"] is True and [r["extension"] for r in good["result"]] == ["1002"]


def test_registrations_list_the_registered_phone(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    callee = setup.phones.callee
    (reg,) = setup.ask("registrations")
    assert reg["extension"] == "1002"
    assert reg["source"] == "{}:{}".format(*callee.local)
    assert reg["transport"] == "udp"
    assert callee.contact_uri() in reg["contact"]
    assert 0 < reg["expires_in"] <= 300  # the peer asked for 300 s
    code, out, _ = setup.cli(capsys, "registrations")
    assert code == 0
    header, row = out.splitlines()
    assert header.split()[:4] == ["EXTENSION", "CONTACT", "SOURCE", "TRANSPORT"]
    assert row.split()[:4] == ["1002", reg["contact"], reg["source"], "udp"]


@pytest.mark.parametrize("setup", [True], indirect=True)
def test_status_lists_trunks_registrations_and_calls(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    register = setup.provider.expect_request("REGISTER", timeout=WAIT)
    setup.provider.reply(register, 200)

    def registered() -> bool:
        trunks = setup.ask("status")["trunks"]
        return bool(trunks[0]["state"] == "registered")

    until(registered, "registered with the provider")
    status = setup.ask("status")
    assert (status["calls"], status["registrations"]) == (0, 1)
    assert status["domain"] == "127.0.0.1" and status["uptime"] >= 0
    proveedor, respaldo = status["trunks"]
    assert proveedor["name"] == "proveedor"
    assert proveedor["provider"] == f"udp:{TRUNK_HOST}:{setup.provider.local[1]}"
    assert proveedor["since"] <= time.time() < proveedor["bound_until"]
    assert respaldo == {
        "name": "respaldo",
        "state": "static",
        "reason": "does not register",
        "since": None,
        "bound_until": None,
        "provider": None,
    }
    code, out, _ = setup.cli(capsys, "status")
    assert code == 0
    lines = out.splitlines()
    assert lines[1] == "0 live call(s), 1 registration(s)"
    assert lines[4].split()[:2] == ["proveedor", "registered"]
    assert lines[5].split()[:2] == ["respaldo", "static"]
    code, out, _ = setup.cli(capsys, "status", "--json")
    assert code == 0 and json.loads(out)["trunks"][0]["state"] == "registered"


def test_a_live_call_is_listed_and_hung_up_from_the_cli(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    p = setup.phones
    call = establish(p)
    call_id = call.invite.call_id
    code, out, _ = setup.cli(capsys, "calls", "--json")
    assert code == 0
    (listed,) = json.loads(out)
    assert listed["call_id"] == call_id
    assert (listed["caller"], listed["callee"], listed["state"]) == ("1001", "1002", "answered")
    assert (listed["answered_by"], listed["app"], listed["bridged_to"]) == ("phone", None, "1002")
    assert listed["duration"] >= listed["talk"] >= 0
    code, out, _ = setup.cli(capsys, "calls")
    assert code == 0
    header, row = out.splitlines()
    assert header.split()[:3] == ["CALL", "ID", "CALLER"]
    assert row.split()[:4] == [call_id, "1001", "1002", "answered"]

    code, out, _ = setup.cli(capsys, "hangup", call_id)
    assert (code, out) == (0, f"hung up {call_id}\n")
    for peer, dialog_id in ((p.caller, call_id), (p.callee, call.incoming.call_id)):
        bye = peer.expect_request("BYE", call_id=dialog_id)
        peer.reply(bye, 200)
    assert setup.ask("calls") == []
    code, _, err = setup.cli(capsys, "hangup", call_id)
    assert code == 1 and err == f"softswitch hangup: no live call {call_id!r}\n"


def test_a_queued_caller_shows_in_queues_and_calls_and_can_be_hung_up(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    rtp = RtpSocket(TRUNK_HOST)
    try:
        # the queue answers: music while waiting
        invite, _dialog, _ok = setup.trunk_caller.answered_call(QUEUE_NUMBER, rtp.port)
        until(lambda: bool(setup.ask("queues")[0]["waiting"]), "queued")
        (queue,) = setup.ask("queues")
        assert queue["name"] == "soporte"
        (waiting,) = queue["waiting"]
        assert (waiting["position"], waiting["caller"]) == (1, CALLER)
        assert (waiting["call_id"], waiting["waited"] >= 0) == (invite.call_id, True)
        assert queue["agents"] == [{"extension": "1003", "state": "away"}]  # not registered
        (listed,) = setup.ask("calls")
        assert (listed["answered_by"], listed["app"]) == ("switch", "queue soporte")
        code, out, _ = setup.cli(capsys, "queues")
        assert code == 0
        lines = out.splitlines()
        assert lines[0] == "queue soporte: 1 waiting"
        assert lines[2].split()[:2] == ["1", CALLER]
        assert lines[4].split() == ["1003", "away"]

        assert setup.ask("hangup", {"call_id": invite.call_id}) == {"call_id": invite.call_id}
        bye = setup.trunk_caller.expect_request("BYE", call_id=invite.call_id)
        setup.trunk_caller.reply(bye, 200)
        until(lambda: not setup.ask("queues")[0]["waiting"], "out of the queue")
    finally:
        rtp.close()


def test_cli_without_a_running_server_says_so(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    on_loop(setup.sw, setup.server.close)  # the fixture's close again is harmless
    assert not setup.path.exists()
    code, out, err = setup.cli(capsys, "status")
    assert (code, out) == (1, "")
    assert err.startswith("softswitch status: no softswitch server is running")
    assert "Traceback" not in err
