"""``[server]`` and ``[security]``: schema sections to runtime settings, with the checks that
need more than a type (addresses, port ranges, languages, limits). As in compile.py, each
problem is reported and a harmless default returned, so compiling goes on.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Literal

from softswitch.config.checks import (
    absolute,
    check_feature_code,
    is_host,
    is_ip,
    positive,
    q,
    timezone_exists,
)
from softswitch.config.decode import Report
from softswitch.config.dialing import COUNTRIES, dialing_plan
from softswitch.config.linemap import KeyPath
from softswitch.config.model import IpNetwork, ListenSpec, SecurityConfig, ServerConfig
from softswitch.config.schema import (
    TTS_LANGUAGES,
    SecuritySection,
    ServerSection,
    normalize_language,
)

__all__ = ["LANGUAGE", "LANGUAGE_EXAMPLES", "compile_security", "compile_server"]

# transport:host:port, with an IPv6 host in brackets: "udp:[::1]:5060".
_LISTEN = re.compile(
    r"(?P<transport>[A-Za-z]+):(?:\[(?P<v6>[^\]]*)\]|(?P<host>[^:\[\]]*)):(?P<port>[0-9]{1,5})"
)
_RTP_PORTS = re.compile(r"\s*([0-9]{1,5})\s*-\s*([0-9]{1,5})\s*")
LANGUAGE = re.compile(r"[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*")
LANGUAGE_EXAMPLES = '(e.g. "es", "en", "ca", "eu", "gl", "pt-br")'
_MIN_RTP_PORT = 1024
_MIN_MESSAGE_SIZE, _MAX_MESSAGE_SIZE = 1024, 1 << 20


# -- server ----------------------------------------------------------------------------------


def compile_server(section: ServerSection, state_base: Path, report: Report) -> ServerConfig:
    def at(key: str) -> KeyPath:
        return ("server", key)

    if not is_host(section.domain):
        report(at("domain"), f"not a host name or IP address: {q(section.domain)}")
    if section.public_address is not None and not is_host(section.public_address):
        report(at("public_address"), f"not a host name or IP address: {q(section.public_address)}")
    rtp_min, rtp_max = _rtp_ports(section.rtp_ports, at("rtp_ports"), report)
    if not timezone_exists(section.timezone):
        report(at("timezone"), f'unknown time zone {q(section.timezone)} (e.g. "Europe/Madrid")')
    country = section.country.strip().upper()
    if dialing_plan(country) is None:
        known = " ".join(sorted(COUNTRIES))
        report(at("country"), f"no dialling plan for country {q(section.country)} (known: {known})")
    if not LANGUAGE.fullmatch(section.language):
        report(at("language"), f'not a language code: {q(section.language)} (e.g. "es", "en")')
    elif normalize_language(section.language) not in TTS_LANGUAGES:
        message = f"no text-to-speech voice for {q(section.language)} {LANGUAGE_EXAMPLES}"
        report(at("language"), message)
    if not section.state_dir:
        report(at("state_dir"), "must not be empty")
    positive(section.ring_time, at("ring_time"), report)
    _check_expires(section, report)
    # Its clashes with dialable codes are checked once every code is known (compile_routing).
    check_feature_code(section.voicemail_code, at("voicemail_code"), report)
    token = section.click_to_call_token
    if token and (len(token) < 16 or not token.isprintable() or " " in token):
        report(at("click_to_call_token"), "must be 16 or more printable characters, no spaces")
    size = section.max_message_size
    if not _MIN_MESSAGE_SIZE <= size <= _MAX_MESSAGE_SIZE:
        report(at("max_message_size"), f"must be {_MIN_MESSAGE_SIZE}..{_MAX_MESSAGE_SIZE} bytes")
    return ServerConfig(
        domain=section.domain,
        listen=_listen_specs(section.listen, report),
        public_address=section.public_address,
        rtp_port_min=rtp_min,
        rtp_port_max=rtp_max,
        timezone=section.timezone,
        language=section.language,
        state_dir=absolute(state_base, section.state_dir),
        ring_time=section.ring_time,
        min_expires=section.min_expires,
        max_expires=section.max_expires,
        default_expires=section.default_expires,
        max_message_size=section.max_message_size,
        country=country,
        voicemail_code=section.voicemail_code,
        http_listen=_http_listen(section.http_listen, report) if section.http_listen else None,
        click_to_call_token=section.click_to_call_token,
        record_stereo=section.record_stereo,
    )


def _http_listen(text: str, report: Report) -> tuple[str, int] | None:
    """``server.http_listen``: "HOST:PORT", the host an IP address (IPv6 in brackets)."""
    path = ("server", "http_listen")
    match = _LISTEN.fullmatch(f"tcp:{text}")
    if match is None:
        report(path, f'expected "HOST:PORT" (e.g. "127.0.0.1:8080"), got {q(text)}')
        return None
    host = match["v6"] if match["v6"] is not None else match["host"]
    port = int(match["port"])
    if not is_ip(host) or port > 65535:
        report(path, f"{q(text)} is not an IP address and a port (0-65535)")
        return None
    return host, port


def _listen_specs(specs: tuple[str, ...], report: Report) -> tuple[ListenSpec, ...]:
    parsed: list[ListenSpec] = []
    for i, text in enumerate(specs):
        spec = _listen_spec(text, ("server", "listen", i), report)
        if spec is None:
            continue
        if spec in parsed:
            report(("server", "listen", i), f"{q(text)} is listed twice")
            continue
        parsed.append(spec)
    if not specs:
        report(("server", "listen"), "at least one address is needed")
    return tuple(parsed)


def _listen_spec(text: str, path: KeyPath, report: Report) -> ListenSpec | None:
    match = _LISTEN.fullmatch(text)
    if match is None:
        report(path, f'expected "udp:HOST:PORT" or "tcp:HOST:PORT", got {q(text)}')
        return None
    transport = match["transport"].lower()
    host = match["v6"] if match["v6"] is not None else match["host"]
    port = int(match["port"])
    if transport not in ("udp", "tcp"):
        report(path, f"transport must be udp or tcp, not {q(match['transport'])}")
        return None
    if not is_ip(host):
        report(path, f"{q(host)} is not an IP address to listen on")
        return None
    if port > 65535:
        report(path, f"port {port} is out of range (0-65535; 0 = any free port)")
        return None
    kind: Literal["udp", "tcp"] = "udp" if transport == "udp" else "tcp"
    return ListenSpec(kind, host, port)


def _rtp_ports(text: str, path: KeyPath, report: Report) -> tuple[int, int]:
    default = (10000, 20000)
    match = _RTP_PORTS.fullmatch(text)
    if match is None:
        report(path, f'expected "FIRST-LAST", e.g. "10000-20000", got {q(text)}')
        return default
    low, high = int(match[1]), int(match[2])
    if not _MIN_RTP_PORT <= low <= high <= 65535:
        report(path, f"ports must be ordered and within {_MIN_RTP_PORT}-65535, got {q(text)}")
        return default
    if high - low + 1 < 2:
        report(path, "at least 2 ports are needed (RTP and RTCP)")
        return default
    return low, high


def _check_expires(section: ServerSection, report: Report) -> None:
    low, default, high = section.min_expires, section.default_expires, section.max_expires
    positive(low, ("server", "min_expires"), report)
    if high < low:
        report(("server", "max_expires"), f"must not be below min_expires ({low})")
    elif not low <= default <= high:
        message = f"must be within min_expires..max_expires ({low}..{high})"
        report(("server", "default_expires"), message)


# -- security ----------------------------------------------------------------------------


def compile_security(section: SecuritySection, report: Report) -> SecurityConfig:
    for key in ("max_auth_failures", "failure_window", "request_rate", "request_burst"):
        positive(getattr(section, key), ("security", key), report)
    if section.ban_time < 0:
        report(("security", "ban_time"), f"must not be negative, got {section.ban_time:g}")
    return SecurityConfig(
        max_auth_failures=section.max_auth_failures,
        failure_window=section.failure_window,
        ban_time=section.ban_time,
        request_rate=section.request_rate,
        request_burst=section.request_burst,
        trusted=_networks(section.trusted, report),
    )


def _networks(texts: tuple[str, ...], report: Report) -> tuple[IpNetwork, ...]:
    networks: list[IpNetwork] = []
    for i, text in enumerate(texts):
        try:
            networks.append(ipaddress.ip_network(text))
        except ValueError as exc:
            report(("security", "trusted", i), f"not a network in CIDR form: {exc}")
    return tuple(networks)
