"""Brute-force bans, request floods and the fail2ban log line, against the running switch."""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sipclient import SipPeer, make_sdp

from softswitch.sip.message import SipResponse

if TYPE_CHECKING:
    from conftest import SwitchFactory

OTHER_HOST = "127.0.0.2"  # a second source address on loopback (Linux routes all 127/8)
ASTERISK_FILTER = Path("/etc/fail2ban/filter.d/asterisk.conf")


def _options(peer: SipPeer) -> SipResponse:
    return peer.transact(peer.request("OPTIONS", "sip:127.0.0.1"))


def test_repeated_auth_failures_ban_only_that_address(make_switch: SwitchFactory) -> None:
    sw = make_switch(security={"max_auth_failures": 10, "failure_window": 60, "ban_time": 3})
    attacker = make_switch.peer(sw, "1001")
    for attempt in range(10):
        response = attacker.register(password=f"guess-{attempt}")
        assert response.status == 403, (attempt, response)
    # Banned: nothing at all comes back, not even to OPTIONS or a correct REGISTER.
    attacker.send(attacker.request("OPTIONS", "sip:127.0.0.1"))
    attacker.send(attacker.request("REGISTER", "sip:127.0.0.1", to=f"<{attacker.aor}>"))
    assert attacker.silent_for(0.5)
    # Another address is served as usual, for the very same extension.
    honest = make_switch.peer(sw, "1001", host=OTHER_HOST)
    assert honest.register().status == 200
    assert _options(honest).status == 200
    # The ban lasts ban_time (3 s): skip the switch's clock past it instead of sleeping.
    sw.clock.skip(3.5)
    assert _options(attacker).status == 200
    assert attacker.register().status == 200


def test_failures_below_the_limit_do_not_ban(make_switch: SwitchFactory) -> None:
    sw = make_switch(security={"max_auth_failures": 5, "failure_window": 60, "ban_time": 60})
    peer = make_switch.peer(sw, "1002")
    for attempt in range(4):
        assert peer.register(password=f"guess-{attempt}").status == 403
    assert peer.register().status == 200  # the right password still works
    assert _options(peer).status == 200


def test_invite_auth_failures_count_towards_the_ban(make_switch: SwitchFactory) -> None:
    sw = make_switch(security={"max_auth_failures": 3, "failure_window": 60, "ban_time": 60})
    peer = make_switch.peer(sw, "1001")
    peer.password = "wrong"
    for _ in range(3):
        invite = peer.invite("1002", make_sdp(4000))
        final = peer.response(invite)
        assert final.status == 403
        peer.send(peer.ack_for_failure(invite, final))
    options = peer.request("OPTIONS", "sip:127.0.0.1")
    peer.send(options)
    # The ACK of the last 403 came after the ban and was dropped, so that 403 may still be
    # retransmitted (Timer G); nothing else may come back.
    late = peer.collect(0.7)
    assert all(
        isinstance(m, SipResponse) and m.status == 403 and m.call_id == invite.call_id for m in late
    ), late


def test_request_flood_gets_503_then_silence(make_switch: SwitchFactory) -> None:
    sw = make_switch(security={"request_rate": 20, "request_burst": 20})
    flooder = make_switch.peer(sw, "1001")
    requests = [flooder.request("OPTIONS", "sip:127.0.0.1") for _ in range(200)]
    for request in requests:
        flooder.send(request)
    answers = [m for m in flooder.collect(0.5) if isinstance(m, SipResponse)]
    statuses = [m.status for m in answers]
    ok = statuses.count(200)
    busy = [m for m in answers if m.status == 503]
    # The burst is served, then one 503 per second at most, then nothing: 200 requests
    # must not become 200 answers. A token or two may refill while the burst is processed.
    assert statuses[:20] == [200] * 20, statuses
    assert 20 <= ok <= 25, statuses
    assert 1 <= len(busy) <= 2, statuses
    assert all(int(m.get("retry-after") or 0) >= 1 for m in busy)
    assert len(answers) == ok + len(busy)
    # Another address is not affected.
    bystander = make_switch.peer(sw, "1002", host=OTHER_HOST)
    assert _options(bystander).status == 200


def _start_server(config: Path, log_path: Path) -> tuple[subprocess.Popen[bytes], int]:
    log = log_path.open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "softswitch", "serve", "--config", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=log,
        cwd=Path(__file__).resolve().parents[2],
    )
    log.close()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        match = re.search(r"listening udp 127\.0\.0\.1:(\d+)", log_path.read_text())
        if match:
            return proc, int(match.group(1))
        if proc.poll() is not None:
            break
        time.sleep(0.05)  # polling a subprocess's log: there is nothing to await
    proc.kill()
    proc.wait(5)
    raise AssertionError(f"softswitch did not start:\n{log_path.read_text()}")


def _stop_server(proc: subprocess.Popen[bytes]) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    return proc.returncode


def test_fail2ban_log_line_subprocess(tmp_path: Path) -> None:
    from conftest import write_config

    config = write_config(tmp_path)
    log_path = tmp_path / "softswitch.log"
    proc, port = _start_server(config, log_path)
    peer = SipPeer(("127.0.0.1", port), user="1001", password="not-it")
    try:
        response = peer.register(call_id="bruteforce-1@test")
        assert response.status == 403
    finally:
        peer.close()
        assert _stop_server(proc) == 0
    lines = [line for line in log_path.read_text().splitlines() if "Failed to authenticate" in line]
    assert len(lines) == 1, log_path.read_text()
    line = lines[0]
    assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} WARNING \[\d+\] ", line), line
    assert "Request 'REGISTER' from 'sip:1001@127.0.0.1'" in line
    assert f"failed for '127.0.0.1:{peer.local[1]}'" in line
    assert "(callid: bruteforce-1@test)" in line
    fail2ban_regex = shutil.which("fail2ban-regex")
    if fail2ban_regex is None or not ASTERISK_FILTER.exists():
        pytest.skip("fail2ban-regex or its asterisk filter is not installed")
    # "-o ip": one line per match with the address fail2ban would ban.
    out = subprocess.run(
        [fail2ban_regex, "-o", "ip", str(log_path), str(ASTERISK_FILTER)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.stdout.split() == ["127.0.0.1"], (out.stdout, out.stderr)
