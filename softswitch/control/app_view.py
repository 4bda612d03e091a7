"""``AppView``: the control commands' view of a running switch, read from its parts.

``softswitch.control`` sits below ``softswitch.app`` (import-linter layers), so it cannot name
``App``: ``SwitchParts`` lists the attributes it reads and ``App`` has them all. Each owner is
asked, never its private state (DESIGN habit 4): live calls from the B2BUA's registry,
bindings from the location service, trunk registrations from each ``TrunkClient.status()``,
waiting callers and agent states from the queue service; holidays and credentials from the
config it runs now (``config_view.ConfigView``).

Every method runs on the switch's event loop (the control server calls them there) and is a
walk over small collections: a company's calls, phones and queues, tens to hundreds.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol

import softswitch
from softswitch.call.b2bua import B2bua
from softswitch.call.calls import Call
from softswitch.call.local import LocalApp
from softswitch.clock import Clock
from softswitch.config import CompiledConfig
from softswitch.control.config_view import ConfigView, registrar_uris
from softswitch.control.views import (
    AgentView,
    CallView,
    CredentialsView,
    DayView,
    HolidaysView,
    QueueView,
    RegistrationView,
    StatusView,
    TrunkView,
    WaitingView,
)
from softswitch.dialplan.actions import ActionApp
from softswitch.dialplan.conference import ConferenceApp
from softswitch.dialplan.queue_app import QueueCallerApp, QueueRunner
from softswitch.dialplan.voicemail import VoicemailApp
from softswitch.dialplan.voicemail_menu import VoicemailMenuApp
from softswitch.sip.endpoint import SipEndpoint
from softswitch.sip.location import Binding, LocationService
from softswitch.sip.trunk_client import TrunkClient

__all__ = ["AppView", "SwitchParts"]

ADMIN_HANGUP = "admin hangup"

# What a call the switch answered is doing, by the app that holds it. ActionApp runs a
# number's action list (IVR menus, announcements, groups rung by the switch); when it hands
# the call to a queue the queue service says so (``_queued``), which wins.
_APP_KINDS: tuple[tuple[type[object], str], ...] = (
    (ActionApp, "actions"),
    (QueueCallerApp, "queue"),
    (VoicemailApp, "voicemail"),
    (VoicemailMenuApp, "voicemail menu"),
    (ConferenceApp, "conference"),
)


class _Media(Protocol):
    @property
    def queues(self) -> QueueRunner: ...


class SwitchParts(Protocol):
    """The attributes of ``softswitch.app.App`` this view reads."""

    @property
    def clock(self) -> Clock: ...
    @property
    def config(self) -> CompiledConfig: ...
    @property
    def b2bua(self) -> B2bua: ...
    @property
    def endpoint(self) -> SipEndpoint: ...
    @property
    def location(self) -> LocationService: ...
    @property
    def trunks(self) -> Sequence[TrunkClient]: ...
    @property
    def media(self) -> _Media: ...
    async def reload(self, dry_run: bool) -> dict[str, Any]: ...


class AppView:
    """A ``ControlView`` over a running switch; uptime counts from ``started`` (monotonic,
    default: when the view is made, i.e. when the app starts its control server)."""

    def __init__(self, switch: SwitchParts, started: float | None = None) -> None:
        self.switch = switch
        self.started = switch.clock.monotonic() if started is None else started

    # --- ControlView ---------------------------------------------------------------------
    def status(self) -> StatusView:
        sw = self.switch
        return StatusView(
            version=softswitch.__version__,
            domain=sw.config.server.domain,
            uptime=sw.clock.monotonic() - self.started,
            calls=sum(1 for call in sw.b2bua.calls if not call.ended),
            registrations=len(self._live_bindings()),
            trunks=tuple(self._trunks()),
        )

    def registrations(self) -> list[RegistrationView]:
        now = self.switch.clock.wall()
        rows = [
            RegistrationView(
                extension=b.aor,
                contact=b.contact,
                source=f"{b.source_host}:{b.source_port}",
                transport=b.transport,
                expires_in=b.expires_at - now,
                user_agent=b.user_agent,
            )
            for b in self._live_bindings()
        ]
        return sorted(rows, key=lambda r: (r.extension, r.contact))

    def calls(self) -> list[CallView]:
        now = self.switch.clock.monotonic()
        queued = self._queued()
        live = sorted(self._live_calls(), key=lambda c: c.started)
        return [_call_view(call, now, queued.get(call.call_id)) for call in live]

    def queues(self) -> list[QueueView]:
        """Waiting callers in queue order. Their wait counts from when the call came in: the
        queue service does not say when a caller joined (an IVR before the queue counts)."""
        runner = self.switch.media.queues
        now = runner.monotonic()
        calls = {call.call_id: call for call in self._live_calls()}
        views = []
        for name in sorted(runner.queues):
            waiting = []
            for position, caller_id in enumerate(runner.service.waiting(name), start=1):
                call = calls.get(_call_id_of(caller_id))
                if call is not None:
                    waiting.append(
                        WaitingView(position, call.caller, call.call_id, now - call.started)
                    )
            agents = tuple(
                AgentView(agent, runner.service.agent_state(agent, now).value)
                for agent in runner.queues[name].agents
            )
            views.append(QueueView(name, tuple(waiting), agents))
        return views

    def hangup(self, call_id: str) -> bool:
        """End the call whose leg A has this Call-ID (the one ``calls`` lists) or one of
        whose forks has it (the Call-ID a callee's phone shows)."""
        for call in self._live_calls():
            if call_id == call.call_id or any(f.dialog.call_id == call_id for f in call.forks):
                self.switch.b2bua.hangup(call, ADMIN_HANGUP)
                self.switch.endpoint.flush()  # the BYE / CANCEL now, not at the next tick
                return True
        return False

    async def reload(self, dry_run: bool) -> dict[str, Any]:
        return await self.switch.reload(dry_run)

    def holidays(self, year: int | None) -> HolidaysView:
        return self._config_view().holidays(year)

    def place_holidays(
        self, country: str, subdivision: str | None, year: int | None, language: str | None
    ) -> list[DayView]:
        return self._config_view().place_holidays(country, subdivision, year, language)

    def credentials(self, extension: str) -> CredentialsView | None:
        return self._config_view().credentials(extension)

    # --- internals -----------------------------------------------------------------------
    def _config_view(self) -> ConfigView:
        """The config running now (a reload replaces ``switch.config``), with the sockets
        the switch really bound: a port 0 in the file is the one the OS chose."""
        sw = self.switch
        bound = sw.endpoint.transport.bound
        return ConfigView(
            sw.config, sw.clock.wall(), registrar_uris(sw.config.server.domain, bound)
        )

    def _live_calls(self) -> Iterable[Call]:
        return [call for call in self.switch.b2bua.calls if not call.ended]

    def _live_bindings(self) -> list[Binding]:
        now = self.switch.clock.wall()
        return [b for b in self.switch.location.all_bindings() if b.expires_at > now]

    def _trunks(self) -> Iterable[TrunkView]:
        registering = {client.trunk.name: client for client in self.switch.trunks}
        for name in sorted(self.switch.config.trunks):
            client = registering.get(name)
            if client is None:
                yield TrunkView(name, "static", "does not register", None, None, None)
                continue
            s = client.status()
            yield TrunkView(name, s.state.value, s.reason, s.changed_at, s.bound_until, s.provider)

    def _queued(self) -> dict[str, str]:
        """Call-ID -> the queue it waits in, from the queue service."""
        runner = self.switch.media.queues
        return {
            _call_id_of(caller_id): name
            for name in runner.queues
            for caller_id in runner.service.waiting(name)
        }


def _call_id_of(caller_id: str) -> str:
    """The queue runner names a stay in a queue ``CALLID#N``."""
    return caller_id.rpartition("#")[0] or caller_id


def _call_view(call: Call, now: float, queue: str | None) -> CallView:
    local = call.local
    if local is not None:
        app = f"queue {queue}" if queue else _app_kind(local.app)
        bridged_to = local.bridged_to
    else:
        app = None
        bridged_to = None if call.b is None else (call.b.target or call.callee)
    return CallView(
        call_id=call.call_id,
        caller=call.caller,
        callee=call.callee,
        state="ringing" if call.answered is None else "answered",
        duration=now - call.started,
        talk=None if call.answered is None else now - call.answered,
        answered_by="phone" if local is None else "switch",
        app=app,
        bridged_to=bridged_to,
    )


def _app_kind(app: LocalApp) -> str:
    for kind, label in _APP_KINDS:
        if isinstance(app, kind):
            return label
    return type(app).__name__
