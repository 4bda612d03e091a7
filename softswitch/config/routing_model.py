"""The compiled routing vocabulary: where calls go, when, and through which trunk.

Frozen values built once by ``compile`` from the ``[numbers]``, ``[schedules]``, ``[ivrs]``...
tables of CONFIG.md. Every name they hold has been checked to resolve (an ``Action`` target is
an existing extension, queue, prompt...), so the routing engine never meets a dangling name at
call time. Objects refer to each other by name (the keys of ``CompiledConfig``'s mappings),
except a number's schedule and a schedule's holidays, which are embedded: evaluating a number
needs nothing but the number itself and the time.
"""

from __future__ import annotations

import datetime
import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

from softswitch.config.dialing import DialingPlan, did_candidates

__all__ = [
    "ACTION_KINDS",
    "Action",
    "ActionKind",
    "Actions",
    "Blocklist",
    "EmailConfig",
    "ExternalDestination",
    "HolidaySet",
    "Ivr",
    "Mailbox",
    "Number",
    "OutboundRoute",
    "Queue",
    "QueueStrategy",
    "RingGroup",
    "RingStrategy",
    "Schedule",
    "TimeRange",
    "Trunk",
]

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
ActionKind = Literal[
    "extension", "external", "group", "queue", "ivr", "voicemail", "conference", "prompt", "hangup"
]
ACTION_KINDS: tuple[ActionKind, ...] = (
    "extension",
    "external",
    "group",
    "queue",
    "ivr",
    "voicemail",
    "conference",
    "prompt",
    "hangup",
)
RingStrategy = Literal["all", "sequential"]
QueueStrategy = Literal["ringall", "round_robin", "least_talk_time", "fewest_calls", "random"]


class Action(NamedTuple):
    """One routing step, ``kind:target`` in the file. ``target`` is "" for ``hangup``.

    Targets: an extension number (extension; voicemail of an extension), or the table name in
    ``external_destinations``, ``ring_groups`` (group), ``queues``, ``ivrs``, ``voicemail``,
    ``conferences`` or ``prompts``.
    """

    kind: ActionKind
    target: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.target}" if self.target else self.kind


# Steps run in order; the last one decides (a prompt plays and goes on to the next).
Actions = tuple[Action, ...]


@dataclass(frozen=True, slots=True)
class EmailConfig:
    """The SMTP server for missed-call and voicemail mail (``[email]``)."""

    scheme: Literal["smtp", "smtps"]  # smtps = TLS from the first byte; smtp may STARTTLS
    host: str
    port: int
    sender: str  # the TOML key ``from``
    username: str | None
    password: str | None = field(repr=False)


@dataclass(frozen=True, slots=True)
class ExternalDestination:
    name: str  # the table name, used in actions: ``external:movil_ana``
    code: str  # dialable internal code, unique with extension and conference numbers
    display_name: str  # the TOML key ``name``
    number: str  # E.164; dialled out through the outbound routes
    email: str | None
    username: str  # for a softphone that rings along; default: the code
    password: str | None = field(repr=False)  # None = generated later, like an extension's


@dataclass(frozen=True, slots=True)
class Trunk:
    name: str
    host: str
    port: int
    transport: Literal["udp", "tcp"]
    username: str | None
    password: str | None = field(repr=False)
    register: bool
    # INVITEs from these are the trunk's. Defaults to the host itself when it is an IP address.
    inbound_from: tuple[IpNetwork, ...]


@dataclass(frozen=True, slots=True)
class OutboundRoute:
    pattern: str  # as written: "+34[6-9]XXXXXXXX"
    regex: re.Pattern[str]  # the whole number must match
    trunk: str
    strip: int  # leading characters removed before sending
    prepend: str  # then put in front

    def rewrite(self, number: str) -> str | None:
        """What to send to the trunk for ``number``, or None when this route does not match."""
        if self.regex.fullmatch(number) is None:
            return None
        return self.prepend + number[self.strip :]


@dataclass(frozen=True, slots=True)
class TimeRange:
    """Open from ``start`` (inclusive) to ``end`` (exclusive), minutes after local midnight.

    ``end`` may be 1440 ("24:00"). A range never crosses midnight: an overnight opening is
    written as two ranges, 22:00-24:00 and 00:00-06:00.
    """

    start: int
    end: int
    days: frozenset[int]  # weekday(): 0 = Monday
    months: frozenset[int]  # 1..12
    monthdays: frozenset[int]  # 1..31


@dataclass(frozen=True, slots=True)
class HolidaySet:
    """Public holidays of a country or region from the ``holidays`` package, adjusted.

    Imported holidays are kept when ``include_all`` or when their date or (case-folded) name is
    listed in ``include_*``; then the ones whose date or name is in ``exclude_*`` are dropped;
    ``extra`` days are always added. ``dialplan.holidays.holiday_dates`` applies it.
    """

    name: str
    country: str  # ISO code, upper case
    subdivision: str | None  # a holidays-package code: "MD"
    language: str | None  # of the names: server.language if the package has it, else the
    # country's own ("es" for ES); None only for a place the package does not know
    include_all: bool
    include_dates: frozenset[datetime.date]
    include_names: frozenset[str]  # case-folded
    exclude_dates: frozenset[datetime.date]
    exclude_names: frozenset[str]
    extra: tuple[tuple[datetime.date, str], ...]  # (day, name), in file order


@dataclass(frozen=True, slots=True)
class Schedule:
    name: str
    timezone: str  # server.timezone: ranges are local times there
    ranges: tuple[TimeRange, ...]
    holidays: HolidaySet | None  # a holiday is closed all day, whatever the ranges say


@dataclass(frozen=True, slots=True)
class Number:
    """A DID the trunks deliver (``[numbers."+34910000000"]``)."""

    did: str  # E.164
    description: str
    prefix: str  # put before the caller's name so that agents see which line was called
    schedule: Schedule | None  # None = always open
    action: Actions | None  # None (or not enabled): calls are rejected
    on_holiday: Actions | None  # None = on_closed applies on holidays too
    on_closed: Actions | None
    enabled: bool


@dataclass(frozen=True, slots=True)
class Ivr:
    name: str
    prompt: str  # a [prompts.*] name
    timeout: float  # seconds to wait for a choice after the prompt
    retries: int  # replays before on_timeout / on_invalid apply
    on_timeout: Actions | None  # None = hang up
    on_invalid: Actions | None
    options: Mapping[str, Actions]  # read-only; keys are single DTMF characters 0-9 * #
    direct_dial: bool  # callers may dial an extension number directly
    # Dialable code that phones call to reach the menu (unique with extension numbers and the
    # other codes); None = reached only through actions.
    number: str | None = None


@dataclass(frozen=True, slots=True)
class RingGroup:
    name: str
    members: Actions  # extension:NUMBER and external:NAME steps, in ring order
    strategy: RingStrategy
    ring_time: float  # seconds; per member when sequential
    prefix: str
    on_failure: Actions | None  # None = the next step of the list, else hang up
    missed_call_email: str | None
    record: bool


@dataclass(frozen=True, slots=True)
class Queue:
    name: str
    agents: tuple[str, ...]  # extension numbers
    strategy: QueueStrategy
    max_callers: int  # waiting at once; the next caller gets on_full
    max_wait: float  # seconds; 0 = no limit; then on_timeout
    ring_time: float  # per offer to an agent
    wrapup: float  # seconds an agent rests after a call
    moh: str  # a music_on_hold class, or "default" (always available)
    agent_announcement: str | None  # a prompt played to the agent on answering
    announce_position: bool
    priority: int  # an agent in several queues serves the higher one first
    record: bool
    missed_call_email: str | None
    on_timeout: Actions | None  # None = the next step of the list, else hang up
    on_full: Actions | None  # the same


@dataclass(frozen=True, slots=True)
class Mailbox:
    """A shared mailbox with its own greeting (``[voicemail.general]``)."""

    name: str
    greeting: str | None  # a prompt; None = the system greeting
    email: str | None
    attach: bool
    pin: str | None = field(repr=False)


@dataclass(frozen=True, slots=True)
class Blocklist:
    """Callers rejected before any routing: exact E.164 numbers and E.164 prefixes."""

    exact: frozenset[str] = frozenset()
    prefixes: tuple[str, ...] = ()

    def blocks(self, caller: str, plan: DialingPlan) -> bool:
        """Whether ``caller``, in any spelling ``did_candidates`` knows, is blocked.

        Hot path (every inbound INVITE): a set lookup and one C-level ``startswith`` with the
        tuple of prefixes per spelling; an empty list costs one truth test.
        """
        if not self.exact and not self.prefixes:
            return False
        for number in (caller, *did_candidates(caller, plan)):
            if number in self.exact or number.startswith(self.prefixes):
                return True
        return False
