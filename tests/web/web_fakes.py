"""Stand-ins for what the agents' web page reads from the switch: its live calls (the
B2BUA's ``calls``), its config, its call history and its clock. Shared by the web tests."""

from __future__ import annotations

from dataclasses import dataclass, field

from softswitch.clock import VirtualClock
from softswitch.config import CompiledConfig
from softswitch.storage.history import CallHistory


@dataclass
class FakeCall:
    call_id: str
    caller: str = "+34611222333"
    caller_name: str = ""
    callee: str = "+34910000020"
    agent: str = ""
    place: str = ""
    did: str = ""
    started: float = 1000.0
    answered: float | None = None
    ended: bool = False


@dataclass
class FakeCalls:
    calls: list[FakeCall] = field(default_factory=list)


@dataclass
class FakeSwitch:
    config: CompiledConfig
    history: CallHistory
    b2bua: FakeCalls = field(default_factory=FakeCalls)
    clock: VirtualClock = field(default_factory=VirtualClock)
