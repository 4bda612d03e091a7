"""The outside world: ``[email]``, ``[trunks.*]``, ``[[outbound_routes]]`` and
``[external_destinations.*]`` to their runtime objects.

Outbound route patterns use the dial-plan letters admins know from Asterisk: ``X`` any digit,
``N`` 2-9, ``Z`` 1-9, ``[1-5,8]``-style classes, literal digits, ``+``, ``*`` and ``#``; a final
``.`` means "one or more digits more" and a final ``!`` "zero or more". They compile to one
anchored regular expression each, so choosing a route is a ``fullmatch`` per route in order.
"""

from __future__ import annotations

import ipaddress
import re
import urllib.parse
from collections.abc import Mapping
from types import MappingProxyType
from typing import Literal

from softswitch.config.checks import (
    USERNAME,
    check_email,
    check_name,
    claim_code,
    dialable,
    is_host,
    is_ip,
    q,
    suggest,
)
from softswitch.config.decode import Report
from softswitch.config.dialing import DialingPlan, to_e164
from softswitch.config.linemap import KeyPath
from softswitch.config.routing_model import (
    EmailConfig,
    ExternalDestination,
    IpNetwork,
    OutboundRoute,
    Trunk,
)
from softswitch.config.routing_schema import (
    EmailSection,
    ExternalDestinationSection,
    OutboundRouteSection,
    TrunkSection,
)

__all__ = [
    "compile_email",
    "compile_external_destinations",
    "compile_outbound_routes",
    "compile_trunks",
    "pattern_regex",
]

SmtpScheme = Literal["smtp", "smtps"]
_DEFAULT_PORTS: dict[str, int] = {"smtp": 587, "smtps": 465}
_LETTERS = {"X": "[0-9]", "N": "[2-9]", "Z": "[1-9]"}
_CLASS = re.compile(r"\[((?:[0-9](?:-[0-9])?,?)+)\]")
_PREPEND = re.compile(r"\+?[0-9*#]*")


# -- email ---------------------------------------------------------------------------------


def compile_email(section: EmailSection | None, domain: str, report: Report) -> EmailConfig | None:
    if section is None:
        return None
    path: KeyPath = ("email",)
    scheme, host, port = _smtp_url(section.server, path, report)
    sender = section.from_ or f"softswitch@{domain}"
    check_email(sender, (*path, "from"), report)
    if section.password is not None and section.username is None:
        report((*path, "password"), "a password needs a username")
    if section.username is not None and not section.password:
        report((*path, "username"), "a username needs a password")
    return EmailConfig(scheme, host, port, sender, section.username, section.password)


def _smtp_url(url: str | None, path: KeyPath, report: Report) -> tuple[SmtpScheme, str, int]:
    if url is None:
        report(path, 'needs a server ("smtp://host:587" or "smtps://host:465")')
        return "smtp", "", _DEFAULT_PORTS["smtp"]
    parts = urllib.parse.urlsplit(url.strip())
    try:
        port = parts.port
    except ValueError:
        port = -1
    scheme: SmtpScheme = "smtps" if parts.scheme.lower() == "smtps" else "smtp"
    host = parts.hostname or ""
    bad_scheme = parts.scheme.lower() not in _DEFAULT_PORTS
    if bad_scheme or not is_host(host) or port == -1 or parts.path.strip("/"):
        expected = '"smtp://host:port" or "smtps://host:port"'
        report((*path, "server"), f"expected {expected}, got {q(url)}")
        return "smtp", host, _DEFAULT_PORTS["smtp"]
    return scheme, host, port or _DEFAULT_PORTS[scheme]


# -- trunks ----------------------------------------------------------------------------------


def compile_trunks(sections: Mapping[str, TrunkSection], report: Report) -> Mapping[str, Trunk]:
    return MappingProxyType({name: _trunk(name, s, report) for name, s in sections.items()})


def _trunk(name: str, section: TrunkSection, report: Report) -> Trunk:
    def at(*key: str) -> KeyPath:
        return ("trunks", name, *key)

    check_name(at(), name, report)
    host = section.host or ""
    if section.host is None:
        report(at(), "needs a host (the provider's SIP server)")
    elif not is_host(host):
        report(at("host"), f"not a host name or IP address: {q(host)}")
    if not 1 <= section.port <= 65535:
        report(at("port"), f"must be 1-65535, got {section.port}")
    if section.password == "":
        report(at("password"), "must not be empty")
    if section.register and not (section.username and section.password):
        report(at("register"), "registering needs a username and a password")
    networks = _networks(section.inbound_from, at("inbound_from"), report)
    if not section.inbound_from and is_ip(host):
        networks = (ipaddress.ip_network(host),)
    return Trunk(
        name=name,
        host=host,
        port=section.port,
        transport=section.transport,
        username=section.username,
        password=section.password,
        register=section.register,
        inbound_from=networks,
    )


def _networks(texts: tuple[str, ...], path: KeyPath, report: Report) -> tuple[IpNetwork, ...]:
    networks: list[IpNetwork] = []
    for i, text in enumerate(texts):
        try:
            networks.append(ipaddress.ip_network(text))
        except ValueError as exc:
            report((*path, i), f"not an address or network in CIDR form: {exc}")
    return tuple(networks)


# -- outbound routes -------------------------------------------------------------------------


def compile_outbound_routes(
    sections: tuple[OutboundRouteSection, ...], trunks: Mapping[str, Trunk], report: Report
) -> tuple[OutboundRoute, ...]:
    routes = (_route(i, s, trunks, report) for i, s in enumerate(sections))
    return tuple(route for route in routes if route is not None)


def _route(
    index: int, section: OutboundRouteSection, trunks: Mapping[str, Trunk], report: Report
) -> OutboundRoute | None:
    path: KeyPath = ("outbound_routes", index)
    if section.trunk is None:
        report(path, "needs a trunk")
    elif section.trunk not in trunks:
        message = f"no trunk named {q(section.trunk)} in [trunks]" + suggest(section.trunk, trunks)
        report((*path, "trunk"), message)
    if section.match is None:
        report(path, 'needs a match pattern (e.g. "+34[6-9]XXXXXXXX")')
        return None
    compiled = pattern_regex(section.match)
    if isinstance(compiled, str):
        report((*path, "match"), compiled)
        return None
    regex, shortest = compiled
    if section.strip < 0:
        report((*path, "strip"), f"must not be negative, got {section.strip}")
    elif section.strip > shortest:
        message = f"strips {section.strip} characters, but the shortest match has {shortest}"
        report((*path, "strip"), message)
    if not _PREPEND.fullmatch(section.prepend):
        message = f"may hold only digits, * and # after an optional +, not {q(section.prepend)}"
        report((*path, "prepend"), message)
    return OutboundRoute(
        pattern=section.match,
        regex=regex,
        trunk=section.trunk or "",
        strip=max(section.strip, 0),
        prepend=section.prepend,
    )


def pattern_regex(pattern: str) -> tuple[re.Pattern[str], int] | str:
    """(regex, length of the shortest number it matches), or why the pattern is wrong."""
    parts: list[str] = []
    shortest, pos = 0, 0
    text = pattern.strip()
    while pos < len(text):
        char = text[pos]
        last = pos == len(text) - 1
        if char.upper() in _LETTERS:
            parts.append(_LETTERS[char.upper()])
        elif char.isdigit() or char in "*#" or (char == "+" and pos == 0):
            parts.append(re.escape(char))
        elif char in ".!" and last:
            parts.append("[0-9]+" if char == "." else "[0-9]*")
            shortest += char == "."
            break
        elif char == "[":
            match = _CLASS.match(text, pos)
            if match is None:
                return f'a class is digits and ranges in brackets, like "[2-5,8]": {q(pattern)}'
            parts.append(f"[{match[1].replace(',', '')}]")
            pos = match.end()
            shortest += 1
            continue
        else:
            allowed = "digits, X, N, Z, [..], * and #, + first, . or ! last"
            return f"unexpected {q(char)} in {q(pattern)}: use {allowed}"
        shortest += 1
        pos += 1
    if not parts:
        return "must not be empty"
    return re.compile("".join(parts)), shortest


# -- external destinations -----------------------------------------------------------------


def compile_external_destinations(
    sections: Mapping[str, ExternalDestinationSection],
    owners: dict[str, str],
    usernames: set[str],
    plan: DialingPlan,
    report: Report,
) -> Mapping[str, ExternalDestination]:
    """``owners`` maps each dialable code already taken to its owner ("extension 1001"), and
    ``usernames`` holds the SIP usernames taken; both are extended with this section's."""
    destinations: dict[str, ExternalDestination] = {}
    for name, section in sections.items():
        destination = _destination(name, section, plan, report)
        path: KeyPath = ("external_destinations", name)
        clash = False
        if destination.code:
            owner = f"external destination {name}"
            clash = not claim_code(owners, destination.code, owner, (*path, "code"), "code", report)
        # A username defaulted to a clashing code is the same mistake: report it once.
        if destination.username in usernames and not (clash and section.username is None):
            where = (*path, "username") if section.username is not None else (*path, "code")
            report(where, f"username {q(destination.username)} is already used by another phone")
        usernames.add(destination.username)
        destinations[name] = destination
    return MappingProxyType(destinations)


def _destination(
    name: str, section: ExternalDestinationSection, plan: DialingPlan, report: Report
) -> ExternalDestination:
    def at(*key: str) -> KeyPath:
        return ("external_destinations", name, *key)

    check_name(at(), name, report)
    code = dialable(
        section.code,
        at(),
        "code",
        "a code",
        "needs a code (the internal number that dials it)",
        report,
    )
    number = ""
    if section.number is None:
        report(at(), "needs a number (where calls go)")
    else:
        number = to_e164(section.number, plan) or ""
        if not number:
            example = f'e.g. "+{plan.country_code}..."'
            report(at("number"), f"not a phone number: {q(section.number)} ({example})")
    check_email(section.email, at("email"), report)
    username = code if section.username is None else section.username
    if section.username is not None and not USERNAME.fullmatch(username):
        report(at("username"), "use 1-64 letters, digits or . _ ~ + -")
    if section.password == "":
        report(at("password"), "must not be empty (omit it to get a generated one)")
    return ExternalDestination(
        name=name,
        code=code,
        display_name=section.name,
        number=number,
        email=section.email,
        username=username,
        password=section.password,
    )
