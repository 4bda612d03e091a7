"""Reloading a running server with real PJSIP phones: a broken config is refused (every
problem printed, exit 1) while a call in progress keeps its audio both ways (FFT); a good one
takes effect for the next call only (a new conference room answers) and the first call goes
on."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import REPO, Pbx, Server
from .phone import Phone, PhoneCall, PjEndpoint, analyse_tone, listen

pytestmark = pytest.mark.e2e


def _reload(server: Server) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "softswitch", "reload", "--config", str(server.config_path)]
    return subprocess.run(
        command, cwd=REPO, check=False, capture_output=True, text=True, timeout=60
    )


def _both_hear(ep: PjEndpoint, call: PhoneCall, answered: PhoneCall, tmp_path: Path) -> None:
    at_caller, at_callee = str(tmp_path / "caller.wav"), str(tmp_path / "callee.wav")
    listen(ep, [(call, at_caller), (answered, at_callee)], seconds=1.0, settle=0.3)
    assert analyse_tone(at_callee, 700)["ok"], "the callee does not hear the caller"
    assert analyse_tone(at_caller, 1300)["ok"], "the caller does not hear the callee"


def test_reload_keeps_the_call_and_applies_to_the_next(
    ep: PjEndpoint,
    server_factory: Callable[..., Server],
    phone_factory: Callable[..., Phone],
    tmp_path: Path,
) -> None:
    server = server_factory()
    pbx = Pbx(server, phone_factory)
    ana, bruno = pbx.phone("1001"), pbx.phone("1002")
    call = ana.call(pbx.uri("1002"))
    answered = bruno.wait_incoming(10)
    answered.answer(200)
    call.wait_state("CONFIRMED", 10)
    call.wait_media(5)
    answered.wait_media(5)
    call.play_tone(700)
    answered.play_tone(1300)
    _both_hear(ep, call, answered, tmp_path)

    good = server.config_path.read_text(encoding="utf-8")
    server.config_path.write_text(good + '\n[conferences.nueva]\nnumber = "9"\n', "utf-8")
    refused = _reload(server)
    assert refused.returncode == 1, refused
    assert "conferences.nueva.number" in refused.stderr  # each problem, with its key path
    _both_hear(ep, call, answered, tmp_path)  # the call in progress keeps its audio

    room = '\n[conferences.nueva]\nnumber = "3100"\n'
    server.config_path.write_text(good + room, "utf-8")
    applied = _reload(server)
    assert applied.returncode == 0, applied
    assert "3100" in applied.stdout
    joining = ana.call(pbx.uri("3100"))  # the next call: the new room answers
    joining.wait_state("CONFIRMED", 10)
    joining.hangup()
    _both_hear(ep, call, answered, tmp_path)  # and the first call goes on
    call.hangup()
    answered.wait_state("DISCONNECTED", 5)
