"""What the control commands report: frozen snapshots, and the ``ControlView`` that makes them.

The server only knows ``ControlView``; ``AppView`` (app_view.py) builds these values from the
running switch, tests may build them from anything. Every field is a plain JSON value (str,
float, int, None, tuples of those), so ``dataclasses.asdict`` is the whole encoding and a
script reading ``--json`` sees exactly these field names. Times: durations in seconds, points
in time as wall-clock Unix seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = [
    "AgentView",
    "CallView",
    "ConfigQueries",
    "ControlView",
    "CredentialsView",
    "DayView",
    "HolidaySetView",
    "HolidayView",
    "HolidaysView",
    "QueueView",
    "RegistrationView",
    "StatusView",
    "TrunkView",
    "WaitingView",
]


@dataclass(frozen=True, slots=True)
class TrunkView:
    name: str
    state: str  # "registered", "failed" … or "static" for a trunk that does not register
    reason: str
    since: float | None  # when the state last changed
    bound_until: float | None  # when the provider's binding lapses, if one is alive
    provider: str | None  # where the REGISTERs go, once resolved


@dataclass(frozen=True, slots=True)
class StatusView:
    version: str
    domain: str
    uptime: float
    calls: int
    registrations: int
    trunks: tuple[TrunkView, ...]


@dataclass(frozen=True, slots=True)
class RegistrationView:
    extension: str
    contact: str
    source: str  # "host:port" the phone's packets come from
    transport: str
    expires_in: float
    user_agent: str


@dataclass(frozen=True, slots=True)
class CallView:
    call_id: str  # the caller's Call-ID: what ``hangup`` takes
    caller: str
    callee: str
    state: str  # "ringing" or "answered"
    duration: float  # since the INVITE
    talk: float | None  # since the answer
    answered_by: str  # "switch" (IVR, queue, voicemail, conference) or "phone" (bridged)
    app: str | None  # for "switch": which feature holds the call
    bridged_to: str | None  # the extension or number leg A is joined to


@dataclass(frozen=True, slots=True)
class WaitingView:
    position: int
    caller: str
    call_id: str
    waited: float  # seconds since the call came in (see AppView.queues)


@dataclass(frozen=True, slots=True)
class AgentView:
    extension: str
    state: str  # "free", "ringing", "on call", "wrapup", "away"


@dataclass(frozen=True, slots=True)
class QueueView:
    name: str
    waiting: tuple[WaitingView, ...]
    agents: tuple[AgentView, ...]


@dataclass(frozen=True, slots=True)
class DayView:
    """A public holiday of a place, as the ``holidays`` package names it."""

    date: str  # ISO, YYYY-MM-DD
    name: str


@dataclass(frozen=True, slots=True)
class HolidayView:
    date: str  # ISO, YYYY-MM-DD
    name: str
    closed: bool  # False: a package holiday the config removes, so the office opens
    source: str  # "package" (imported), "extra" (the config adds it), "removed" (see closed)


@dataclass(frozen=True, slots=True)
class HolidaySetView:
    """A ``[holidays.*]`` set of the config and where it applies."""

    name: str
    country: str
    subdivision: str | None
    language: str | None  # of the names
    schedules: tuple[str, ...]  # the schedules closed on its days
    numbers: tuple[str, ...]  # the numbers on those schedules
    days: tuple[HolidayView, ...]  # by date, over ``HolidaysView.years``


@dataclass(frozen=True, slots=True)
class HolidaysView:
    years: tuple[int, ...]
    sets: tuple[HolidaySetView, ...]  # in file order


@dataclass(frozen=True, slots=True)
class CredentialsView:
    """What a phone needs to register as an extension."""

    extension: str
    name: str
    username: str
    password: str = field(repr=False)  # never in a log line, even by accident
    domain: str  # the SIP domain (digest realm)
    registrars: tuple[str, ...]  # SIP URIs of the listening sockets, one per transport


class ConfigQueries(Protocol):
    """The commands a config answers by itself: the running server from the config it runs,
    the CLI from the file when no server runs (``config_view.ConfigView``)."""

    def holidays(self, year: int | None) -> HolidaysView:
        """Every holiday set's days in ``year``, or this year and the next (server time)."""
        ...

    def place_holidays(
        self, country: str, subdivision: str | None, year: int | None, language: str | None
    ) -> list[DayView]:
        """The package's holidays of a place (this year by default); ControlError for a place
        the package does not know."""
        ...

    def credentials(self, extension: str) -> CredentialsView | None:
        """By extension number or username; None when there is no such extension."""
        ...


class ControlView(ConfigQueries, Protocol):
    """What the control server asks the switch. Called on the switch's event loop."""

    def status(self) -> StatusView: ...
    def registrations(self) -> list[RegistrationView]: ...
    def calls(self) -> list[CallView]: ...
    def queues(self) -> list[QueueView]: ...
    def hangup(self, call_id: str) -> bool:
        """End the live call with this Call-ID; False when there is none."""
        ...

    async def reload(self, dry_run: bool) -> dict[str, Any]:
        """Read the config files again: what changed, applied unless ``dry_run``. Raises
        ControlError listing every problem when the files are not a valid config."""
        ...
