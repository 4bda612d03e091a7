"""The compiled configuration: immutable runtime objects, and the error that lists every issue.

Everything here is built once by ``load_config`` and never mutated; a reload builds a new
``CompiledConfig`` and swaps it in, so calls in progress keep the one they started with.
"""

from __future__ import annotations

import ipaddress
import pathlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal

from softswitch.config.dialing import COUNTRIES, DialingPlan, match_number, to_e164
from softswitch.config.routing_model import (
    Action,
    Blocklist,
    EmailConfig,
    ExternalDestination,
    HolidaySet,
    Ivr,
    Mailbox,
    Number,
    OutboundRoute,
    Queue,
    RingGroup,
    Schedule,
    Trunk,
)

if TYPE_CHECKING:  # forms.py imports the decoder, which imports this module
    from softswitch.config.forms import Form

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
RecordMode = Literal["none", "inbound", "outbound", "all"]
# What an extension dials to reach its own mailbox (server.voicemail_code); here rather than in
# schema so that hand-built ServerConfigs (tests) get the same default.
DEFAULT_VOICEMAIL_CODE = "*97"
Voice = Literal["female", "male"]


@dataclass(frozen=True, slots=True)
class ConfigIssue:
    """One problem in the configuration, located as precisely as we can."""

    file: str
    key_path: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        if self.key_path:
            return f"{where}: {self.key_path}: {self.message}"
        return f"{where}: {self.message}"


class ConfigError(Exception):
    """The configuration is unusable; ``issues`` holds every problem found, not just the first."""

    def __init__(self, issues: tuple[ConfigIssue, ...]) -> None:
        super().__init__("\n".join(str(issue) for issue in issues))
        self.issues = issues


@dataclass(frozen=True, slots=True)
class ListenSpec:
    transport: Literal["udp", "tcp"]
    host: str
    port: int  # 0 = an ephemeral port chosen by the OS


@dataclass(frozen=True, slots=True)
class SecurityConfig:
    max_auth_failures: int
    failure_window: float
    ban_time: float
    request_rate: float
    request_burst: int
    trusted: tuple[IpNetwork, ...]


@dataclass(frozen=True, slots=True)
class ServerConfig:
    domain: str
    listen: tuple[ListenSpec, ...]
    public_address: str | None
    rtp_port_min: int
    rtp_port_max: int
    timezone: str
    language: str
    state_dir: pathlib.Path  # always absolute
    ring_time: float
    min_expires: int
    max_expires: int
    default_expires: int
    max_message_size: int
    country: str = "ES"  # ISO code, upper case; its dialling prefixes are CompiledConfig.dialing
    # The feature code an extension dials for its own mailbox's menu: digits, * and #, never
    # one of the dialable codes of CompiledConfig.dial_code.
    voicemail_code: str = DEFAULT_VOICEMAIL_CODE
    http_listen: tuple[str, int] | None = None  # (host, port) of /metrics; None = no server
    click_to_call_token: str = field(default="", repr=False)  # "" = click-to-call is off
    record_stereo: bool = True  # a call's recording: A left, B right; False = mixed, mono


@dataclass(frozen=True, slots=True)
class VoicemailSettings:
    """An extension's mailbox; ``email`` defaults to the extension's own address."""

    pin: str | None
    email: str | None
    attach: bool


@dataclass(frozen=True, slots=True)
class Extension:
    number: str
    name: str  # display name; "" when the file gives none
    username: str
    # None until resolve_passwords fills in the generated one. Kept out of repr so that an
    # Extension logged by accident never leaks its credential.
    password: str | None = field(repr=False)
    caller_ids: tuple[str, ...]
    outbound: bool
    custom_caller_id: bool
    record: RecordMode
    email: str | None
    ring_time: float | None  # None = the server's ring_time
    groups: tuple[str, ...]
    voicemail: VoicemailSettings | None  # None = no mailbox
    form: str | None


@dataclass(frozen=True, slots=True)
class Prompt:
    """A recording (``file``) or a text spoken by text-to-speech (``text``): exactly one is set."""

    name: str
    description: str
    file: pathlib.Path | None  # absolute
    text: str | None
    language: str  # normalised ("pt-br"); for a text, one of schema.TTS_LANGUAGES
    voice: Voice


@dataclass(frozen=True, slots=True)
class MusicClass:
    """A music-on-hold class: every WAV/MP3 in ``directory``, played in a loop."""

    name: str
    directory: pathlib.Path  # absolute; held at least one WAV/MP3 when the config was compiled
    shuffle: bool


@dataclass(frozen=True, slots=True)
class Conference:
    name: str
    number: str  # dialable; unique across extensions and conferences
    pin: str | None = field(repr=False)
    admin_pin: str | None = field(repr=False)
    max_members: int
    record: bool
    announce_join_leave: bool
    # A music_on_hold class, played to a member alone in the room; None = silence. "default"
    # always exists: the configured class of that name, or the built-in tune.
    moh_when_alone: str | None


def _empty() -> Mapping[str, Any]:
    return MappingProxyType({})


def _username_index(extensions: Mapping[str, Extension]) -> Mapping[str, Extension]:
    return MappingProxyType({ext.username: ext for ext in extensions.values()})


def _code_index(
    extensions: Mapping[str, Extension],
    externals: Mapping[str, ExternalDestination],
    conferences: Mapping[str, Conference],
    ivrs: Mapping[str, Ivr],
) -> Mapping[str, Action]:
    """Every dialable internal code -> the action that dialling it means (codes are unique)."""
    index = {number: Action("extension", number) for number in extensions}
    index.update((dest.code, Action("external", name)) for name, dest in externals.items())
    index.update((room.number, Action("conference", name)) for name, room in conferences.items())
    index.update((ivr.number, Action("ivr", name)) for name, ivr in ivrs.items() if ivr.number)
    return MappingProxyType(index)


@dataclass(frozen=True, slots=True)
class CompiledConfig:
    server: ServerConfig
    security: SecurityConfig
    extensions: Mapping[str, Extension]  # read-only, by number, in file order
    files: tuple[str, ...]  # every file read, root first
    raw_sections: Mapping[str, object]  # top-level tables not compiled yet, as TOML gave them
    # Read-only, by name, in file order. Defaults keep hand-built configs (tests) short.
    prompts: Mapping[str, Prompt] = field(default_factory=_empty)
    music_on_hold: Mapping[str, MusicClass] = field(default_factory=_empty)
    conferences: Mapping[str, Conference] = field(default_factory=_empty)
    # Routing (routing_model.py). Read-only, by table name in file order, except numbers: by
    # E.164 number (find one from any spelling with number_for).
    email: EmailConfig | None = None  # None = no [email]: no mail is sent
    external_destinations: Mapping[str, ExternalDestination] = field(default_factory=_empty)
    trunks: Mapping[str, Trunk] = field(default_factory=_empty)
    outbound_routes: tuple[OutboundRoute, ...] = ()  # tried in order
    numbers: Mapping[str, Number] = field(default_factory=_empty)
    schedules: Mapping[str, Schedule] = field(default_factory=_empty)
    holiday_sets: Mapping[str, HolidaySet] = field(default_factory=_empty)
    ivrs: Mapping[str, Ivr] = field(default_factory=_empty)
    ring_groups: Mapping[str, RingGroup] = field(default_factory=_empty)
    queues: Mapping[str, Queue] = field(default_factory=_empty)
    mailboxes: Mapping[str, Mailbox] = field(default_factory=_empty)  # [voicemail.*]
    blocklist: Blocklist = field(default_factory=Blocklist)
    dialing: DialingPlan = COUNTRIES["ES"]  # server.country's prefixes
    # [forms.*], by name. Not compared: diff.py reports [forms] from raw_sections (still raw
    # for the decoder), and comparing it here too would report every change twice.
    forms: Mapping[str, Form] = field(default_factory=_empty, compare=False)
    _by_username: Mapping[str, Extension] = field(init=False, repr=False, compare=False)
    _by_code: Mapping[str, Action] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Derived once here so that dataclasses.replace() keeps the indexes in step.
        object.__setattr__(self, "_by_username", _username_index(self.extensions))
        codes = _code_index(
            self.extensions, self.external_destinations, self.conferences, self.ivrs
        )
        object.__setattr__(self, "_by_code", codes)

    def extension_by_username(self, username: str) -> Extension | None:
        return self._by_username.get(username)

    def dial_code(self, code: str) -> Action | None:
        """What dialling an internal code means: an extension, an external destination, a
        conference room or an IVR menu; None when no such code exists."""
        return self._by_code.get(code)

    def number_for(self, called: str) -> Number | None:
        """The configured DID that ``called`` (+34910000000, 0034910000000, 34910000000 or
        910000000 in Spain) is a spelling of."""
        return match_number(called, self.numbers, self.dialing)

    def is_blocked(self, caller: str) -> bool:
        return self.blocklist.blocks(caller, self.dialing)

    def outbound_route(self, dialled: str) -> tuple[OutboundRoute, str] | None:
        """The first route matching ``dialled`` as dialled or in its E.164 form, with the number
        to send to that route's trunk."""
        e164 = to_e164(dialled, self.dialing)
        spellings = (dialled,) if e164 in (None, dialled) else (dialled, e164)
        for route in self.outbound_routes:  # route order is the admin's priority
            for number in spellings:
                rewritten = route.rewrite(number)
                if rewritten is not None:
                    return route, rewritten
        return None
