"""Phone numbers as people and providers spell them, and E.164 as the one spelling we keep.

A trunk may deliver the company's number as ``+34910000000``, ``0034910000000``,
``34910000000`` or plain national ``910000000``; callers' numbers arrive just as varied. Config
keys (``[numbers."+34910000000"]``, blocklist entries) are normalised to E.164 once at compile
time, and an incoming number is turned into the few E.164 spellings it could mean and looked up:
a dict lookup per candidate, no pattern matching on the call path.

The country (``server.country``) says what "national" means. The table below holds the dialling
prefixes of the countries we know; a country missing from it is a config error that names this
file, rather than a guess.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TypeVar

__all__ = [
    "COUNTRIES",
    "DialingPlan",
    "dialing_plan",
    "did_candidates",
    "match_number",
    "to_e164",
]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class DialingPlan:
    country: str  # ISO 3166 alpha-2, upper case
    country_code: str  # E.164 calling code without "+": "34"
    international_prefix: str  # dialled before a country code: "00" ("011" in North America)
    trunk_prefix: str  # dialled before a national number: "0" in most of Europe, "" in Spain


# ISO code, calling code, international prefix, trunk prefix ("-" = none). Italy, Spain,
# Portugal and a few others have no trunk prefix: the national number is dialled whole.
_TABLE = """
    AD 376 00 -    AR 54 00 0     AT 43 00 0     AU 61 0011 0   BE 32 00 0     BG 359 00 0
    BR 55 00 0     CA 1 011 1     CH 41 00 0     CN 86 00 0     CY 357 00 -    CZ 420 00 -
    DE 49 00 0     DK 45 00 -     EE 372 00 -    ES 34 00 -     FI 358 00 0    FR 33 00 0
    GB 44 00 0     GR 30 00 -     HR 385 00 0    HU 36 00 06    IE 353 00 0    IL 972 00 0
    IN 91 00 0     IT 39 00 -     JP 81 010 0    LU 352 00 -    LV 371 00 -    MA 212 00 0
    MC 377 00 -    MT 356 00 -    MX 52 00 -     NL 31 00 0     NO 47 00 -     NZ 64 00 0
    PE 51 00 0     PL 48 00 -     PT 351 00 -    RO 40 00 0     SE 46 00 0     SI 386 00 0
    SK 421 00 0    TR 90 00 0     US 1 011 1     UY 598 00 0    ZA 27 00 0
"""


def _parse_table(text: str) -> dict[str, DialingPlan]:
    words = text.split()
    plans: dict[str, DialingPlan] = {}
    for i in range(0, len(words), 4):
        country, code, international, trunk = words[i : i + 4]
        plans[country] = DialingPlan(country, code, international, "" if trunk == "-" else trunk)
    return plans


COUNTRIES: Mapping[str, DialingPlan] = _parse_table(_TABLE)
# What separates digit groups when people write numbers down; never part of the number.
_SEPARATORS = re.compile(r"[\s().-]")
_DIGITS = re.compile(r"\+?[0-9]+")
# Shorter than this after the country code, a digit string is not a whole national number.
_MIN_NATIONAL = 4


def dialing_plan(country: str) -> DialingPlan | None:
    return COUNTRIES.get(country.upper())


def _clean(number: str) -> str | None:
    text = _SEPARATORS.sub("", number)
    return text if _DIGITS.fullmatch(text) else None


def did_candidates(number: str, plan: DialingPlan) -> Iterator[str]:
    """The E.164 numbers ``number`` may mean, most explicit first. Nothing for non-numbers."""
    text = _clean(number)
    if text is None:
        return
    if text.startswith("+"):
        yield text
        return
    if text.startswith(plan.international_prefix):
        yield "+" + text[len(plan.international_prefix) :]
        return
    cc = plan.country_code
    if plan.trunk_prefix:
        if text.startswith(plan.trunk_prefix):
            yield f"+{cc}{text[len(plan.trunk_prefix) :]}"
    else:
        yield f"+{cc}{text}"
    # The country code written without "+" or prefix ("34910000000"): only when enough digits
    # follow it to be a whole national number.
    if text.startswith(cc) and len(text) - len(cc) >= _MIN_NATIONAL:
        yield "+" + text


def to_e164(number: str, plan: DialingPlan) -> str | None:
    """The one E.164 form of a number as an admin writes it in config, or None if not a number.

    Unlike ``did_candidates`` this must pick one: "+..." and "00..." are international, a
    number starting with the trunk prefix (where there is one) is national; anything else is a
    national number in countries without a trunk prefix, and ambiguous (None) elsewhere.
    """
    text = _clean(number)
    if text is None:
        return None
    if text.startswith("+"):
        return text
    if text.startswith(plan.international_prefix):
        return "+" + text[len(plan.international_prefix) :]
    if plan.trunk_prefix:
        if text.startswith(plan.trunk_prefix):
            return f"+{plan.country_code}{text[len(plan.trunk_prefix) :]}"
        return None
    return f"+{plan.country_code}{text}"


def match_number(called: str, numbers: Mapping[str, T], plan: DialingPlan) -> T | None:
    """The entry of ``numbers`` (keyed by E.164) that ``called`` is a spelling of, if any.

    Hot path (one per inbound INVITE): at most three dict lookups; the exact key is tried first
    so that a trunk that already sends E.164 costs one.
    """
    found = numbers.get(called)
    if found is not None:
        return found
    for candidate in did_candidates(called, plan):
        found = numbers.get(candidate)
        if found is not None:
            return found
    return None
