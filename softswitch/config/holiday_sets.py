"""``[holidays.*]`` to ``HolidaySet``, checked against the ``holidays`` package.

The country and subdivision must be known to the package, and every date or name listed in
``include``/``exclude`` must be a holiday it imports, so a misspelt name is reported instead of
becoming a day the office silently opens. Names are stored in the set's language (the server's
language when the package has it, else the country's own); a name written in another language
the package knows for that country ("Sant Esteve" for Catalonia, in a Spanish-language config)
is translated here, once, so that evaluating a day compares plain strings.
"""

from __future__ import annotations

import datetime
import functools
import re
from collections.abc import Iterable, Mapping
from types import MappingProxyType

import holidays

from softswitch.config.checks import check_name, q, suggest
from softswitch.config.decode import Report
from softswitch.config.linemap import KeyPath
from softswitch.config.routing_model import HolidaySet
from softswitch.config.routing_schema import DateValue, HolidaysSection

__all__ = ["compile_holidays", "package_holidays", "subdivision_code", "subdivisions"]

_DATE = re.compile(r"([0-9]{4}-[0-9]{2}-[0-9]{2})(?:\s+(\S.*))?")
# Names are looked for in these years: 28 of them repeat every weekday/leap-year combination,
# so "Monday following Madrid Day" and its like appear at least once.
_NAME_YEARS = range(2024, 2052)
_EXTRA_NAME = "Local holiday"
Place = tuple[str, str | None, str]  # country, subdivision, language


def package_holidays(
    country: str, subdivision: str | None, language: str | None, years: int | Iterable[int]
) -> dict[datetime.date, str]:
    """What the ``holidays`` package says, as a plain dict. ``language`` None is the country's
    own (the package would otherwise follow the environment's locale). Raises
    NotImplementedError for an unknown country or subdivision (the package's own signal)."""
    if language is None:
        language = getattr(_entity(country), "default_language", None)
    found = holidays.country_holidays(country, subdiv=subdivision, years=years, language=language)
    return dict(found.items())


def subdivisions(country: str) -> tuple[str, ...]:
    """The subdivision codes the package knows for ``country``; NotImplementedError for an
    unknown country."""
    return tuple(getattr(_entity(country), "subdivisions", ()))


def subdivision_code(country: str, subdivision: str) -> str:
    """``subdivision`` as the package spells it: "md" and "Madrid" are "MD". Names the package
    lists beside the codes ("Barcelona") are kept as written."""
    aliases: dict[str, str] = getattr(_entity(country), "subdivisions_aliases", {})
    code = aliases.get(subdivision.strip(), subdivision.strip().upper())
    return code if code in subdivisions(country) else subdivision.strip()


def _entity(country: str) -> type[holidays.HolidayBase]:
    return type(holidays.country_holidays(country.upper()))


def compile_holidays(
    sections: Mapping[str, HolidaysSection], server_language: str, report: Report
) -> Mapping[str, HolidaySet]:
    sets = {
        name: _holiday_set(name, section, server_language, report)
        for name, section in sections.items()
    }
    return MappingProxyType(sets)


def _holiday_set(
    name: str, section: HolidaysSection, server_language: str, report: Report
) -> HolidaySet:
    path: KeyPath = ("holidays", name)
    check_name(path, name, report)
    country, subdivision, known = _locate(section, path, report)
    place = (country, subdivision, _language(country, server_language)) if known else None
    include_all = section.include == "all"
    if isinstance(section.include, str) and not include_all:
        message = f'must be "all" or a list of dates and names, not {q(section.include)}'
        report((*path, "include"), message)
    include = () if isinstance(section.include, str) else section.include
    include_dates, include_names = _listed(include, place, (*path, "include"), report)
    exclude_dates, exclude_names = _listed(section.exclude, place, (*path, "exclude"), report)
    return HolidaySet(
        name=name,
        country=country,
        subdivision=subdivision,
        language=None if place is None else place[2],
        include_all=include_all,
        include_dates=include_dates,
        include_names=include_names,
        exclude_dates=exclude_dates,
        exclude_names=exclude_names,
        extra=_extra(section.extra, (*path, "extra"), report),
    )


def _locate(
    section: HolidaysSection, path: KeyPath, report: Report
) -> tuple[str, str | None, bool]:
    """(country, subdivision code, whether the package knows them)."""
    if section.country is None:
        report(path, 'needs a country (an ISO code, e.g. "ES")')
        return "", None, False
    country = section.country.strip().upper()
    try:
        codes = subdivisions(country)
    except NotImplementedError:
        report((*path, "country"), f"the holidays package does not know the country {q(country)}")
        return country, None, False
    if section.subdivision is None:
        return country, None, True
    subdivision = subdivision_code(country, section.subdivision)
    try:
        holidays.country_holidays(country, subdiv=subdivision)
    except NotImplementedError:
        known = ", ".join(codes) or "none"
        message = f"{country} has no subdivision {q(section.subdivision)} (known: {known})"
        report((*path, "subdivision"), message)
        return country, None, False
    return country, subdivision, True


def _language(country: str, server_language: str) -> str:
    """The package's spelling of server.language for this country, else the country's own."""
    entity = _entity(country)
    supported: tuple[str, ...] = getattr(entity, "supported_languages", ())
    wanted = server_language.replace("-", "_").lower()
    by_lower = {code.lower(): code for code in supported}
    if wanted in by_lower:
        return by_lower[wanted]
    base = wanted.split("_")[0]
    same_base = (code for code in supported if code.lower().split("_")[0] == base)
    return next(same_base, None) or str(getattr(entity, "default_language", None) or "en_US")


# -- include / exclude -----------------------------------------------------------------------


def _listed(
    values: Iterable[DateValue], place: Place | None, path: KeyPath, report: Report
) -> tuple[frozenset[datetime.date], frozenset[str]]:
    """The dates and (case-folded, in the set's language) names of an include/exclude list,
    each checked to be an imported holiday when the place is known."""
    dates: set[datetime.date] = set()
    names: list[str] = []
    for i, value in enumerate(values):
        if isinstance(value, str) and not _DATE.fullmatch(value.strip()):
            if not value.strip():
                report((*path, i), "must not be empty")
            names.append(value.strip())
            continue
        day = _date(value, (*path, i), report)
        if day is not None:
            dates.add(day)
    if place is None:
        return frozenset(dates), frozenset(n.casefold() for n in names if n)
    for day in sorted(dates):
        if day not in package_holidays(*place, day.year):
            message = f"{day.isoformat()} is not a public holiday in {_where(place)}"
            report(path, message + " (for a local day, use extra)")
    return frozenset(dates), _canonical_names([n for n in names if n], place, path, report)


def _canonical_names(
    names: list[str], place: Place, path: KeyPath, report: Report
) -> frozenset[str]:
    found: set[str] = set()
    own = _names_in(place)
    for name in names:
        key = name.casefold()
        if key in own:
            found.add(key)
        elif key in _translations(place):
            found.update(_translations(place)[key])
        else:
            country, subdivision, language = place
            listing = f"softswitch holidays --country {country}"
            listing += f" --subdivision {subdivision}" if subdivision else ""
            hint = f" (names are in {language}: `{listing} --language {language}` lists them)"
            message = f"no holiday named {q(name)} in {_where(place)}"
            report(path, message + suggest(key, own) + hint)
    return frozenset(found)


def _where(place: Place) -> str:
    country, subdivision, _ = place
    return country + (f"-{subdivision}" if subdivision else "")


@functools.lru_cache(maxsize=64)
def _names_in(place: Place) -> frozenset[str]:
    """Every case-folded holiday name of the place over the name window; the package joins
    two holidays on one day with "; "."""
    days = package_holidays(*place, _NAME_YEARS)
    return frozenset(part.casefold() for value in days.values() for part in value.split("; "))


@functools.lru_cache(maxsize=64)
def _translations(place: Place) -> Mapping[str, frozenset[str]]:
    """Case-folded name in any other language the package has for the country -> the
    case-folded name(s) of the same day in the place's language. Built only when a listed
    name is not in the place's language (it costs one name window per language)."""
    country, subdivision, language = place
    ours = package_holidays(country, subdivision, language, _NAME_YEARS)
    translations: dict[str, set[str]] = {}
    for other in getattr(_entity(country), "supported_languages", ()):
        if other == language:
            continue
        for day, name in package_holidays(country, subdivision, other, _NAME_YEARS).items():
            theirs, mine = name.split("; "), ours.get(day, "").split("; ")
            # Two holidays on one day: pair them by position if both name two, else map each
            # of theirs to all of ours (the day is what matters).
            paired = dict(zip(theirs, mine, strict=True)) if len(theirs) == len(mine) else {}
            for part in theirs:
                targets = [paired[part]] if part in paired else mine
                translated = translations.setdefault(part.casefold(), set())
                translated.update(target.casefold() for target in targets)
    return MappingProxyType({key: frozenset(value) for key, value in translations.items()})


# -- dates ----------------------------------------------------------------------------------


def _date(value: DateValue, path: KeyPath, report: Report) -> datetime.date | None:
    if isinstance(value, datetime.datetime):
        report(path, "a day has no time of day: write it as YYYY-MM-DD")
        return None
    if isinstance(value, datetime.date):
        return value
    match = _DATE.fullmatch(value.strip())
    try:
        return datetime.date.fromisoformat(match[1] if match else value)
    except ValueError:
        report(path, f"not a date (YYYY-MM-DD): {q(value)}")
        return None


def _extra(
    values: Iterable[DateValue], path: KeyPath, report: Report
) -> tuple[tuple[datetime.date, str], ...]:
    """``extra`` as (day, name) in file order; "YYYY-MM-DD Name" names the day."""
    extra: dict[datetime.date, str] = {}
    for i, value in enumerate(values):
        day = _date(value, (*path, i), report)
        if day is None:
            continue
        if day in extra:
            report((*path, i), f"{day.isoformat()} is listed twice")
        match = _DATE.fullmatch(value.strip()) if isinstance(value, str) else None
        extra[day] = (match[2] if match and match[2] else None) or _EXTRA_NAME
    return tuple(extra.items())
