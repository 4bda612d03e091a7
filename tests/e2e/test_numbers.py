"""Numbers from a provider with real PJSIP phones (the provider is a pjsua account at
127.0.0.2): out of hours and on a holiday the other actions run (the caller hears the prompt,
the extension never rings); a blocked caller and a disabled number are refused; a sequential
group rings its members in order; a full queue sends the next caller to ``on_full``.

Schedules are written relative to the test's own clock (a month that is not this one, today as
a holiday), so nothing waits for office hours."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import HOST, TRUNK_HOST, Pbx, Server
from .phone import Phone, PhoneCall, PjEndpoint, analyse_tone, listen

pytestmark = pytest.mark.e2e

MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")


def _routing() -> str:
    now = datetime.datetime.now(datetime.UTC)
    other_month = MONTHS[now.month % 12]
    return f"""
[trunks.proveedor]
host = "{TRUNK_HOST}"
inbound_from = ["{TRUNK_HOST}/32"]

[prompts.aviso]
text = "Estamos cerrados."
language = "es"

[schedules.nunca]
ranges = [{{ start = "00:00", end = "24:00", days = "mon-sun", months = "{other_month}" }}]

[holidays.hoy]
country = "ES"
include = []
extra = ["{now.date().isoformat()}"]

[schedules.festivo]
ranges = [{{ start = "00:00", end = "24:00", days = "mon-sun" }}]
holidays = "hoy"

[numbers."+34910000001"]
schedule = "nunca"
action = "extension:1002"
on_closed = ["prompt:aviso", "hangup"]

[numbers."+34910000002"]
schedule = "festivo"
action = "extension:1002"
on_holiday = ["prompt:aviso", "hangup"]

[numbers."+34910000003"]
action = "extension:1002"
enabled = false

[numbers."+34910000004"]
action = "group:turnos"

[numbers."+34910000005"]
action = "queue:pequena"

[ring_groups.turnos]
members = ["1003", "1002"]
strategy = "sequential"
ring_time = 2

[queues.pequena]
agents = ["1001"]
strategy = "ringall"
max_callers = 1
ring_time = 20
on_full = ["prompt:aviso", "hangup"]

[blocklist]
numbers = ["+34905*"]
"""


@pytest.fixture
def pbx(server_factory: Callable[..., Server], phone_factory: Callable[..., Phone]) -> Pbx:
    return Pbx(server_factory(extra=_routing()), phone_factory)


def _dial(provider: Phone, pbx: Pbx, number: str) -> PhoneCall:
    return provider.call(f"sip:{number}@{HOST}:{pbx.server.port}")


def _hears_prompt_then_hangup(ep: PjEndpoint, call: PhoneCall, path: Path) -> None:
    call.wait_state("CONFIRMED", 10)
    call.wait_media(5)
    listen(ep, [(call, str(path))], seconds=0.8, settle=0.1)
    assert analyse_tone(str(path), 440)["rms"] > 0.01, "the prompt is silent"
    call.wait_state("DISCONNECTED", 10)  # the prompt, then hangup


@pytest.mark.parametrize("number", ["+34910000001", "+34910000002"], ids=["closed", "holiday"])
def test_closed_or_holiday_plays_the_prompt_and_never_rings_the_extension(
    ep: PjEndpoint, pbx: Pbx, phone_factory: Callable[..., Phone], tmp_path: Path, number: str
) -> None:
    bruno = pbx.phone("1002")
    provider = phone_factory("+34611222333", host=TRUNK_HOST)
    _hears_prompt_then_hangup(ep, _dial(provider, pbx, number), tmp_path / "prompt.wav")
    assert not bruno.incoming


@pytest.mark.parametrize(
    ("caller", "number"),
    [("+34905123456", "+34910000000"), ("+34611222333", "+34910000003")],
    ids=["blocked caller", "disabled number"],
)
def test_refused_calls(
    pbx: Pbx, phone_factory: Callable[..., Phone], caller: str, number: str
) -> None:
    bruno = pbx.phone("1002")
    provider = phone_factory(caller, host=TRUNK_HOST)
    call = _dial(provider, pbx, number)
    call.wait_state("DISCONNECTED", 10)
    assert call.last_code == 403
    assert not bruno.incoming


def test_sequential_group_rings_members_in_order(
    ep: PjEndpoint, pbx: Pbx, phone_factory: Callable[..., Phone]
) -> None:
    carmen, bruno = pbx.phone("1003"), pbx.phone("1002")
    provider = phone_factory("+34611222333", host=TRUNK_HOST)
    call = _dial(provider, pbx, "+34910000004")
    first = carmen.wait_incoming(10)
    assert not bruno.incoming  # one at a time: Carmen first
    first.wait_state("DISCONNECTED", 6)  # her ring time is over
    second = bruno.wait_incoming(6)
    second.answer(200)
    second.wait_state("CONFIRMED", 10)
    call.wait_state("CONFIRMED", 10)
    call.hangup()
    second.wait_state("DISCONNECTED", 5)


def test_a_full_queue_sends_the_next_caller_to_on_full(
    ep: PjEndpoint, pbx: Pbx, phone_factory: Callable[..., Phone], tmp_path: Path
) -> None:
    ana = pbx.phone("1001")
    provider = phone_factory("+34611222333", host=TRUNK_HOST)
    waiting = _dial(provider, pbx, "+34910000005")
    waiting.wait_state("CONFIRMED", 10)
    ringing = ana.wait_incoming(10)  # the first caller is offered to Ana, who lets it ring
    overflow = _dial(provider, pbx, "+34910000005")
    _hears_prompt_then_hangup(ep, overflow, tmp_path / "full.wav")
    assert waiting.state == "CONFIRMED"  # the first caller still waits
    waiting.hangup()
    ringing.wait_state("DISCONNECTED", 5)
