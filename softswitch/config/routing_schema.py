"""The shape of the routing tables of CONFIG.md: one dataclass per table, field = TOML key.

As in ``schema``, the decoder reads these declarations to reject unknown keys and wrong types,
values stay as written ("mon-fri", "ivr:principal") and ``None`` marks a key that was left out.
A field whose TOML key is not a Python name (``from``) carries the key in its metadata.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Literal

from softswitch.config.routing_model import QueueStrategy, RingStrategy

__all__ = [
    "TOML_KEY",
    "ActionsValue",
    "BlocklistSection",
    "EmailSection",
    "ExternalDestinationSection",
    "HolidaysSection",
    "IvrSection",
    "MailboxSection",
    "NumberSection",
    "OutboundRouteSection",
    "QueueSection",
    "RingGroupSection",
    "ScheduleSection",
    "TimeRangeSection",
    "TrunkSection",
]

TOML_KEY = "toml_key"  # field metadata: the key as written, when it differs from the field name
# "kind:name", or a list of them run in order.
ActionsValue = str | tuple[str, ...]
# A day as "YYYY-MM-DD" in quotes, or a bare TOML date.
DateValue = str | datetime.date


@dataclass(frozen=True, slots=True)
class EmailSection:
    server: str | None = None  # required: "smtp://host:port" or "smtps://host:port"
    from_: str | None = field(default=None, metadata={TOML_KEY: "from"})  # None = pbx@domain
    username: str | None = None
    password: str | None = None


@dataclass(frozen=True, slots=True)
class ExternalDestinationSection:
    code: str | None = None  # required
    name: str = ""
    number: str | None = None  # required
    email: str | None = None
    username: str | None = None  # None = the code
    password: str | None = None  # None = generated later, like an extension's


@dataclass(frozen=True, slots=True)
class TrunkSection:
    host: str | None = None  # required
    port: int = 5060
    transport: Literal["udp", "tcp"] = "udp"
    username: str | None = None
    password: str | None = None
    register: bool = False
    inbound_from: tuple[str, ...] = ()  # () = the host, when it is an IP address


@dataclass(frozen=True, slots=True)
class OutboundRouteSection:
    match: str | None = None  # required
    trunk: str | None = None  # required
    strip: int = 0
    prepend: str = ""


@dataclass(frozen=True, slots=True)
class NumberSection:
    description: str = ""
    prefix: str = ""
    schedule: str | None = None  # None = always open
    action: ActionsValue | None = None
    on_holiday: ActionsValue | None = None
    on_closed: ActionsValue | None = None
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class TimeRangeSection:
    start: str | None = None  # required, "HH:MM"
    end: str | None = None  # required, "HH:MM" up to "24:00"
    days: str | None = None  # None = every day
    months: str | None = None  # None = every month
    monthdays: str | None = None  # None = every day of the month


@dataclass(frozen=True, slots=True)
class ScheduleSection:
    ranges: tuple[TimeRangeSection, ...] = ()
    holidays: str | None = None  # a [holidays.*] name


@dataclass(frozen=True, slots=True)
class HolidaysSection:
    country: str | None = None  # required
    subdivision: str | None = None
    include: str | tuple[DateValue, ...] = "all"  # "all", or dates and names to keep
    exclude: tuple[DateValue, ...] = ()
    extra: tuple[DateValue, ...] = ()  # "YYYY-MM-DD" or "YYYY-MM-DD Name"


@dataclass(frozen=True, slots=True)
class IvrSection:
    number: str | None = None  # None = reached only through actions, not dialled from phones
    prompt: str | None = None  # required
    timeout: float = 8.0
    retries: int = 2
    on_timeout: ActionsValue | None = None
    on_invalid: ActionsValue | None = None
    options: dict[str, ActionsValue] = field(default_factory=dict)
    direct_dial: bool = False


@dataclass(frozen=True, slots=True)
class RingGroupSection:
    members: tuple[str, ...] = ()
    strategy: RingStrategy = "all"
    ring_time: float = 20.0
    prefix: str = ""
    on_failure: ActionsValue | None = None
    missed_call_email: str | None = None
    record: bool = False


@dataclass(frozen=True, slots=True)
class QueueSection:
    agents: tuple[str, ...] = ()
    strategy: QueueStrategy = "ringall"
    max_callers: int = 10
    max_wait: float = 300.0
    ring_time: float = 15.0
    wrapup: float = 5.0
    moh: str = "default"
    agent_announcement: str | None = None
    announce_position: bool = False
    priority: int = 0
    record: bool = False
    missed_call_email: str | None = None
    on_timeout: ActionsValue | None = None
    on_full: ActionsValue | None = None


@dataclass(frozen=True, slots=True)
class MailboxSection:
    greeting: str | None = None
    email: str | None = None
    attach: bool = False
    pin: str | None = None


@dataclass(frozen=True, slots=True)
class BlocklistSection:
    numbers: tuple[str, ...] = ()
