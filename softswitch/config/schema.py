"""The shape of the files: one dataclass per TOML table, field names = TOML keys.

The decoder reads these declarations (names, types, defaults) to reject unknown keys and wrong
types, so adding a key is adding a field here. Values stay as written (``rtp_ports`` is still the
string "10000-20000"); turning them into runtime objects, and checks that need more than a type,
happen in ``compile``. Defaults live here and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# Tables of later issues: known names, kept raw until their compilers exist.
RAW_SECTIONS = frozenset(
    {
        "email",
        "external_destinations",
        "trunks",
        "outbound_routes",
        "prompts",
        "music_on_hold",
        "schedules",
        "holidays",
        "numbers",
        "ivrs",
        "ring_groups",
        "queues",
        "voicemail",
        "conferences",
        "forms",
        "blocklist",
    }
)
COMPILED_SECTIONS = frozenset({"server", "security", "extensions"})
INCLUDE_KEY = "include"


@dataclass(frozen=True, slots=True)
class ServerSection:
    domain: str = "softswitch.local"
    listen: tuple[str, ...] = ("udp:0.0.0.0:5060", "tcp:0.0.0.0:5060")
    public_address: str | None = None
    rtp_ports: str = "10000-20000"
    timezone: str = "UTC"
    language: str = "en"
    state_dir: str = "var"
    ring_time: float = 30.0
    min_expires: int = 60
    max_expires: int = 3600
    default_expires: int = 600
    # Big enough for any INVITE with a rich SDP, small enough that a TCP peer cannot make us
    # buffer without bound; UDP datagrams cannot exceed it anyway.
    max_message_size: int = 65535


@dataclass(frozen=True, slots=True)
class SecuritySection:
    max_auth_failures: int = 10
    failure_window: float = 60.0
    ban_time: float = 600.0
    request_rate: float = 200.0
    request_burst: int = 400
    # Empty by default: trusting loopback would make bans untestable on one machine.
    trusted: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class VoicemailSection:
    pin: str | None = None
    email: str | None = None
    attach: bool = False


@dataclass(frozen=True, slots=True)
class ExtensionSection:
    name: str = ""
    username: str | None = None  # None = the extension number
    password: str | None = None  # None = generated once and kept in state_dir
    caller_ids: tuple[str, ...] = ()
    outbound: bool = False
    custom_caller_id: bool = False
    record: Literal["none", "inbound", "outbound", "all"] = "none"
    voicemail: bool | VoicemailSection = False
    email: str | None = None
    form: str | None = None
    groups: tuple[str, ...] = ()
    ring_time: float | None = None  # None = server.ring_time
