"""What the control commands report: frozen snapshots, and the ``ControlView`` that makes them.

The server only knows ``ControlView``; ``AppView`` (app_view.py) builds these values from the
running switch, tests may build them from anything. Every field is a plain JSON value (str,
float, int, None, tuples of those), so ``dataclasses.asdict`` is the whole encoding and a
script reading ``--json`` sees exactly these field names. Times: durations in seconds, points
in time as wall-clock Unix seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

__all__ = [
    "AgentView",
    "CallView",
    "ControlView",
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


class ControlView(Protocol):
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
