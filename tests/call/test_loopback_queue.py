"""A call queue over real sockets: calls from the trunk wait in the queue, agents' phones are
rung by strategy, and a full queue sends the next caller to ``on_full``."""

from __future__ import annotations

import collections
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest
from sipclient import Dialog, RtpSocket, SipPeer, make_sdp, new_tag, read_sdp, rtp_packet

from softswitch.sip.message import SipRequest

if TYPE_CHECKING:
    from conftest import RunningSwitch, SwitchFactory

TRUNK_HOST = "127.0.0.2"
AGENTS = ("1001", "1002", "1003")

QUEUE = f"""
[trunks.proveedor]
host = "{TRUNK_HOST}"
inbound_from = ["{TRUNK_HOST}/32"]

[prompts.lleno]
text = "Lo sentimos."
language = "es"

[numbers."+34910000020"]
action = "queue:soporte"

[numbers."+34910000021"]
action = "queue:pequena"

[queues.soporte]
agents = ["1001", "1002", "1003"]
strategy = "round_robin"
ring_time = 5
wrapup = 0
max_wait = 0
record = true

[prompts.aviso]
text = "Llamada de la cola de soporte."
language = "es"

[numbers."+34910000022"]
action = "queue:anuncio"

[queues.anuncio]
agents = ["1004"]
strategy = "ringall"
ring_time = 10
wrapup = 0
agent_announcement = "aviso"

[queues.pequena]
agents = ["1004"]
strategy = "ringall"
max_callers = 1
ring_time = 30
wrapup = 0
on_full = ["prompt:lleno", "hangup"]
"""


@dataclass
class Setup:
    sw: RunningSwitch
    trunk: SipPeer
    agents: dict[str, SipPeer]
    rtp: RtpSocket


@pytest.fixture
def setup(make_switch: SwitchFactory) -> Iterator[Setup]:
    sw = make_switch(extra=QUEUE, server={"timezone": "UTC"})
    trunk = make_switch.peer(sw, "+34611222333", host=TRUNK_HOST)
    agents = {number: make_switch.peer(sw, number) for number in (*AGENTS, "1004")}
    for agent in agents.values():
        assert agent.register().status == 200
    rtp = RtpSocket(TRUNK_HOST)
    try:
        yield Setup(sw, trunk, agents, rtp)
    finally:
        rtp.close()


def _call(s: Setup, number: str) -> tuple[SipRequest, Dialog, tuple[str, int]]:
    """Call ``number`` from the trunk: the INVITE, the dialog, where the switch wants RTP."""
    # the queue answers: the caller hears music while waiting
    invite, dialog, ok = s.trunk.answered_call(number, s.rtp.port)
    media = read_sdp(ok.body)
    return invite, dialog, (media.host, media.port)


def _ringing_agent(s: Setup, among: tuple[str, ...]) -> tuple[str, SipRequest]:
    """The one agent whose phone rings now (the others stay silent)."""
    for _ in range(50):  # bounded: 50 x 0.1 s
        for number in among:
            messages = s.agents[number].collect(0.02)
            for message in messages:
                if isinstance(message, SipRequest) and message.method == "INVITE":
                    return number, message
    raise AssertionError("no agent was rung")


def test_round_robin_over_three_agents_gives_two_two_one(setup: Setup) -> None:
    s = setup
    answered: collections.Counter[str] = collections.Counter()
    for _ in range(5):
        _, dialog, _ = _call(s, "+34910000020")
        number, incoming = _ringing_agent(s, AGENTS)
        agent = s.agents[number]
        agent_rtp = RtpSocket()
        try:
            agent.reply(incoming, 200, to_tag=new_tag(), body=make_sdp(agent_rtp.port))
            agent.expect_request("ACK", call_id=incoming.call_id)
        finally:
            agent_rtp.close()
        answered[number] += 1
        bye = s.trunk.in_dialog(dialog, "BYE")
        s.trunk.send(bye)
        assert s.trunk.response(bye).status == 200
        agent_bye = agent.expect_request("BYE", call_id=incoming.call_id)
        agent.reply(agent_bye, 200)
    assert sorted(answered.values()) == [1, 2, 2]
    assert set(answered) == set(AGENTS)
    # record = true: each talk with an agent was recorded, one WAV per call
    recordings = list((s.sw.config_path.parent / "state" / "recordings").rglob("*.wav"))
    assert len(recordings) == 5


def test_a_full_queue_sends_the_next_caller_to_on_full(setup: Setup) -> None:
    s = setup
    first, first_dialog, _ = _call(s, "+34910000021")
    _, incoming = _ringing_agent(s, ("1004",))  # the first caller waits while 1004 rings
    s.agents["1004"].reply(incoming, 180, to_tag=new_tag())
    second, _, _ = _call(s, "+34910000021")  # max_callers = 1: on_full speaks, then hangs up
    bye = s.trunk.expect_request("BYE", timeout=10.0, call_id=second.call_id)
    s.trunk.reply(bye, 200)
    hangup = s.trunk.in_dialog(first_dialog, "BYE")
    s.trunk.send(hangup)
    assert s.trunk.response(hangup).status == 200
    assert first.call_id != second.call_id


def test_the_agent_hears_the_announcement_before_the_caller(setup: Setup) -> None:
    s = setup
    _, dialog, switch_media = _call(s, "+34910000022")
    _, incoming = _ringing_agent(s, ("1004",))
    agent = s.agents["1004"]
    agent_rtp = RtpSocket()
    try:
        agent.reply(incoming, 200, to_tag=new_tag(), body=make_sdp(agent_rtp.port))
        agent.expect_request("ACK", call_id=incoming.call_id)
        voice = bytes([0x55]) * 160  # what the caller says: a payload nobody else sends
        before = 0
        for seq in range(250):  # bounded: 5 s of 20 ms packets from the caller
            s.rtp.send(rtp_packet(seq, 160 * seq, 0xCA11, voice), switch_media)
            got = agent_rtp.receive(1, timeout=0.02)
            if got and got[0][12:] == voice:
                break
            before += len(got)
        else:
            raise AssertionError("the caller never reached the agent")
        assert before >= 25, f"the agent heard only {before} packets before the caller"
    finally:
        agent_rtp.close()
    bye = s.trunk.in_dialog(dialog, "BYE")
    s.trunk.send(bye)
    assert s.trunk.response(bye).status == 200
