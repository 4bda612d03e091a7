"""The shape of the files: one dataclass per TOML table, field names = TOML keys.

The decoder reads these declarations (names, types, defaults) to reject unknown keys and wrong
types, so adding a key is adding a field here. Values stay as written (``rtp_ports`` is still the
string "10000-20000"); turning them into runtime objects, and checks that need more than a type,
happen in ``compile``. Defaults live here and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from softswitch.config.model import DEFAULT_VOICEMAIL_CODE, Voice

# Tables of later issues: known names, kept raw until their compilers exist.
RAW_SECTIONS = frozenset({"forms"})
COMPILED_SECTIONS = frozenset(
    {
        "server",
        "security",
        "extensions",
        "prompts",
        "music_on_hold",
        "conferences",
        "email",
        "external_destinations",
        "trunks",
        "outbound_routes",
        "schedules",
        "holidays",
        "numbers",
        "ivrs",
        "ring_groups",
        "queues",
        "voicemail",
        "blocklist",
    }
)
INCLUDE_KEY = "include"


@dataclass(frozen=True, slots=True)
class ServerSection:
    domain: str = "softswitch.local"
    listen: tuple[str, ...] = ("udp:0.0.0.0:5060", "tcp:0.0.0.0:5060")
    public_address: str | None = None
    rtp_ports: str = "10000-20000"
    timezone: str = "UTC"
    # ISO country of the company's numbers: what "national" means in a called or calling
    # number (config/dialing.py).
    country: str = "ES"
    language: str = "en"
    state_dir: str = "var"
    ring_time: float = 30.0
    min_expires: int = 60
    max_expires: int = 3600
    default_expires: int = 600
    # Big enough for any INVITE with a rich SDP, small enough that a TCP peer cannot make us
    # buffer without bound; UDP datagrams cannot exceed it anyway.
    max_message_size: int = 65535
    # Dialled by an extension for its own mailbox (PIN asked): 2-8 digits, * or #.
    voicemail_code: str = DEFAULT_VOICEMAIL_CODE
    # "HOST:PORT" of the HTTP server (/metrics without login, /agent with the extension's
    # SIP credentials); "" = none. Plain HTTP: keep it on a trusted network.
    http_listen: str = ""
    # Click-to-call (POST /click-to-call): the Bearer token it needs; "" = off.
    click_to_call_token: str = ""
    # Call recordings: caller left and callee right (true), or both mixed to mono (false).
    record_stereo: bool = True


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


# -- sounds ------------------------------------------------------------------------------------

# The languages text-to-speech prompts may be written in: those the bundled eSpeak NG speaks
# (tests/media/test_tts.py renders every one of them, so this list cannot drift from the
# library). A static list, because config must not import the media package. "gl" has no
# eSpeak voice of its own; media.tts speaks it with the Spanish one.
_ESPEAK_LANGUAGES = """
    af am an ar as az ba be bg bn bpy bs ca ca-ba ca-nw ca-va cmn cmn-latn-pinyin cs cy da de
    el en en-029 en-gb en-gb-scotland en-gb-x-gbclan en-gb-x-gbcwmd en-gb-x-rp en-shaw en-us
    en-us-nyc eo es es-419 es-mx et eu fa fa-latn fi fr fr-be fr-ch fr-fr ga gd gl gn grc gu hak
    haw hbs he hi hr ht hu hy hy-arevela hy-arevmda hyw ia id io is it ja jbo ka kk kl kn ko kok
    ku ky la lb lfn lt ltg lv mi mk ml mr ms mt mto my nb nci ne nl no nog om or pa pap piqd pl
    pt pt-br pt-pt py qdb qu quc qya ro ru ru-cl ru-lv sd shn si sk sl smj sq sr sv sw ta te th
    ti tk tn tr tt ug uk ur uz vi vi-vn-x-central vi-vn-x-south yue zh zh-cmn zh-yue
"""
TTS_LANGUAGES = frozenset(_ESPEAK_LANGUAGES.split())
# What a music-on-hold directory is searched for (lower case; matched case-insensitively).
MUSIC_SUFFIXES = frozenset({".wav", ".mp3"})


def normalize_language(code: str) -> str:
    """``pt_BR`` and ``PT-br`` are ``pt-br``: the spelling TTS_LANGUAGES uses."""
    return code.strip().lower().replace("_", "-")


@dataclass(frozen=True, slots=True)
class PromptSection:
    description: str = ""
    file: str | None = None  # exactly one of file and text
    text: str | None = None
    language: str | None = None  # None = server.language
    voice: Voice | None = None  # None = female; only for text


@dataclass(frozen=True, slots=True)
class MusicOnHoldSection:
    directory: str | None = None  # required
    shuffle: bool = False


@dataclass(frozen=True, slots=True)
class ConferenceSection:
    number: str | None = None  # required
    pin: str | None = None
    admin_pin: str | None = None
    # A meeting room's worth; the mixer is not the limit (1,000 parties cost 4 % of a core).
    max_members: int = 10
    record: bool = False
    announce_join_leave: bool = True
    moh_when_alone: str | None = None  # a music_on_hold class; None or "" = silence
