"""Queues with real PJSIP phones: the provider (a pjsua account at 127.0.0.2) calls the DID,
the IVR answers, 2 queues the caller, an agent's phone rings and both talk (FFT); round robin
over three agents shares five calls 2/2/1."""

from __future__ import annotations

import collections
from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import HOST, TRUNK_HOST, Pbx, Server
from .phone import Phone, PjEndpoint, talk_both_ways

pytestmark = pytest.mark.e2e

ROUTING = f"""
[trunks.proveedor]
host = "{TRUNK_HOST}"
inbound_from = ["{TRUNK_HOST}/32"]

[prompts.menu]
text = "Para soporte, pulse dos."
language = "es"

[numbers."+34910000000"]
action = "ivr:principal"

[numbers."+34910000001"]
action = "queue:soporte"

[ivrs.principal]
prompt = "menu"
timeout = 8
retries = 1
options = {{ "2" = "queue:soporte" }}

[queues.soporte]
agents = ["1001", "1002", "1003"]
strategy = "round_robin"
ring_time = 8
wrapup = 0
"""


def test_ivr_option_two_queues_the_caller_and_an_agent_talks(
    ep: PjEndpoint,
    server_factory: Callable[..., Server],
    phone_factory: Callable[..., Phone],
    tmp_path: Path,
) -> None:
    server = server_factory(extra=ROUTING)
    pbx = Pbx(server, phone_factory)
    agents = [pbx.phone(n) for n in ("1001", "1002", "1003")]
    provider = phone_factory("+34611222333", host=TRUNK_HOST)
    call = provider.call(f"sip:910000000@{HOST}:{server.port}")
    call.wait_state("CONFIRMED", 10)
    call.wait_media(5)
    ep.sleep(0.5)
    call.send_dtmf("2")
    ep.wait_for(lambda: any(a.incoming for a in agents), 10, "an agent's phone to ring")
    ringing = next(a for a in agents if a.incoming).incoming[0]
    ringing.answer(200)
    ringing.wait_state("CONFIRMED", 10)
    ringing.wait_media(5)
    talk_both_ways(ep, call, ringing, tmp_path)
    call.hangup()
    ringing.wait_state("DISCONNECTED", 5)


def test_round_robin_over_three_agents_shares_five_calls_two_two_one(
    ep: PjEndpoint,
    server_factory: Callable[..., Server],
    phone_factory: Callable[..., Phone],
) -> None:
    server = server_factory(extra=ROUTING)
    pbx = Pbx(server, phone_factory)
    agents = {n: pbx.phone(n) for n in ("1001", "1002", "1003")}
    provider = phone_factory("+34611222333", host=TRUNK_HOST)
    answered: collections.Counter[str] = collections.Counter()
    for _ in range(5):
        seen = {n: len(a.incoming) for n, a in agents.items()}
        call = provider.call(f"sip:910000001@{HOST}:{server.port}")
        call.wait_state("CONFIRMED", 10)

        def rung(before: dict[str, int] = seen) -> list[str]:
            return [n for n, a in agents.items() if len(a.incoming) > before[n]]

        ep.wait_for(rung, 10, "an agent's phone to ring")
        assert len(rung()) == 1, "round robin rings one agent at a time"
        number = rung()[0]
        ringing = agents[number].incoming[-1]
        ringing.answer(200)
        ringing.wait_state("CONFIRMED", 10)
        answered[number] += 1
        call.hangup()
        ringing.wait_state("DISCONNECTED", 5)
        call.wait_state("DISCONNECTED", 5)
    assert sorted(answered.values()) == [1, 2, 2], answered
