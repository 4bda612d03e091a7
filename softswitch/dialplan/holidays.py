"""The days a holiday set closes the company: the ``holidays`` package, adjusted by the admin.

The package knows every country's and region's public holidays (each Spanish autonomous
community included); the config keeps all of them or a chosen few (``include``), drops some
(``exclude``) and adds local ones (``extra``). A year's result is cached: schedules ask on every
inbound call, and the package takes about a millisecond to build a year.
"""

from __future__ import annotations

import datetime
import functools
from collections.abc import Mapping
from types import MappingProxyType

from softswitch.config.holiday_sets import package_holidays, subdivision_code, subdivisions
from softswitch.config.routing_model import HolidaySet

__all__ = ["holiday_dates", "is_holiday", "list_holidays", "subdivisions"]

# Years per set kept: this one and its neighbours for many sets, with room to spare.
_CACHE_SIZE = 256


def holiday_dates(holiday_set: HolidaySet, year: int) -> dict[datetime.date, str]:
    """Every holiday of ``holiday_set`` in ``year``, date -> name, sorted by date."""
    return dict(_year(holiday_set, year))


def is_holiday(holiday_set: HolidaySet, day: datetime.date) -> bool:
    """Hot path: one cached mapping per (set, year), then a dict lookup."""
    return day in _year(holiday_set, day.year)


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _year(holiday_set: HolidaySet, year: int) -> Mapping[datetime.date, str]:
    imported = package_holidays(
        holiday_set.country, holiday_set.subdivision, holiday_set.language, year
    )
    kept = {day: name for day, name in imported.items() if _kept(holiday_set, day, name)}
    kept.update((day, name) for day, name in holiday_set.extra if day.year == year)
    return MappingProxyType(dict(sorted(kept.items())))


def _kept(holiday_set: HolidaySet, day: datetime.date, name: str) -> bool:
    # The package joins two holidays on one day with "; ": either one's name selects the day.
    names = {part.casefold() for part in name.split("; ")}
    included = (
        holiday_set.include_all
        or day in holiday_set.include_dates
        or not names.isdisjoint(holiday_set.include_names)
    )
    excluded = day in holiday_set.exclude_dates or not names.isdisjoint(holiday_set.exclude_names)
    return included and not excluded


def list_holidays(
    country: str, subdivision: str | None, year: int, language: str | None = None
) -> dict[datetime.date, str]:
    """The package's holidays for a place and year, sorted: what ``softswitch holidays``
    prints. Names are in ``language``, or the country's own. Raises NotImplementedError for an
    unknown country or subdivision."""
    country = country.strip().upper()
    if subdivision is not None:
        subdivision = subdivision_code(country, subdivision)
    return dict(sorted(package_holidays(country, subdivision, language, year).items()))
