"""The app as a component: how it starts and stops, whatever loop or thread runs it."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from conftest import RunningSwitch, write_config
from sipclient import SipPeer


def test_app_runs_on_uvloop_in_a_thread(tmp_path: Path) -> None:
    pytest.importorskip("uvloop")
    switch = RunningSwitch(write_config(tmp_path), use_uvloop=True).start()
    try:
        peer = SipPeer(switch.udp, user="1001")
        try:
            assert peer.transact(peer.request("OPTIONS", "sip:127.0.0.1")).status == 200
        finally:
            peer.close()
    finally:
        switch.stop()


def test_app_on_default_loop_in_a_thread_starts_and_stops(tmp_path: Path) -> None:
    switch = RunningSwitch(write_config(tmp_path), use_uvloop=False).start()
    peer = SipPeer(switch.udp, user="1001")
    try:
        assert peer.transact(peer.request("OPTIONS", "sip:127.0.0.1")).status == 200
    finally:
        peer.close()
        switch.stop()
    # Its sockets are closed: the port can be bound again at once.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(switch.udp)
