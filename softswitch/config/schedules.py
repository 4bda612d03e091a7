"""``[schedules.*]`` to ``Schedule``: opening hours as minute ranges per day.

Times are "HH:MM" local to ``server.timezone``; "24:00" may end a range. A range never crosses
midnight: "22:00" to "06:00" is reported, with the two ranges to write instead. We chose that
over accepting overnight ranges because a range belongs to one day's ``days``/``monthdays``, and
whether Friday 22:00-06:00 is open on Saturday morning is a question the file should answer
explicitly. Weekday and month spans wrap ("fri-mon", "sep-jun"); day-of-month spans do not
("25-31,1-5").
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType

from softswitch.config.checks import check_name, q, suggest
from softswitch.config.decode import Report
from softswitch.config.linemap import KeyPath
from softswitch.config.routing_model import HolidaySet, Schedule, TimeRange
from softswitch.config.routing_schema import ScheduleSection, TimeRangeSection

__all__ = ["compile_schedules"]

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_WHOLE = """monday tuesday wednesday thursday friday saturday sunday january february march april
    may june july august september october november december"""
_FULL_NAMES = dict(zip(_DAYS + _MONTHS, _WHOLE.split(), strict=True))
_TIME = re.compile(r"([01]?[0-9]|2[0-3]):([0-5][0-9])|(24):(00)")
_MINUTES_PER_DAY = 24 * 60


# -- schedules -------------------------------------------------------------------------------


def compile_schedules(
    sections: Mapping[str, ScheduleSection],
    holiday_sets: Mapping[str, HolidaySet],
    timezone: str,
    report: Report,
) -> Mapping[str, Schedule]:
    schedules: dict[str, Schedule] = {}
    for name, section in sections.items():
        path: KeyPath = ("schedules", name)
        check_name(path, name, report)
        if not section.ranges:
            report(path, "needs at least one range (a schedule without ranges is always closed)")
        ranges = (
            _time_range(r, (*path, "ranges", i), report) for i, r in enumerate(section.ranges)
        )
        schedules[name] = Schedule(
            name=name,
            timezone=timezone,
            ranges=tuple(r for r in ranges if r is not None),
            holidays=_lookup(section.holidays, holiday_sets, (*path, "holidays"), report),
        )
    return MappingProxyType(schedules)


def _lookup(
    name: str | None, holiday_sets: Mapping[str, HolidaySet], path: KeyPath, report: Report
) -> HolidaySet | None:
    if name is None:
        return None
    found = holiday_sets.get(name)
    if found is None:
        report(path, f"no holidays named {q(name)} in [holidays]" + suggest(name, holiday_sets))
    return found


def _time_range(section: TimeRangeSection, path: KeyPath, report: Report) -> TimeRange | None:
    start = _minutes(section.start, "start", path, report)
    end = _minutes(section.end, "end", path, report)
    days = _span(section.days, _DAYS, 0, (*path, "days"), report)
    months = _span(section.months, _MONTHS, 1, (*path, "months"), report)
    monthdays = _monthdays(section.monthdays, (*path, "monthdays"), report)
    if start is None or end is None or days is None or months is None or monthdays is None:
        return None
    if start == _MINUTES_PER_DAY:
        report((*path, "start"), "24:00 can only end a range")
        return None
    if end <= start:
        report((*path, "end"), _reversed(section, start, end))
        return None
    return TimeRange(start, end, days, months, monthdays)


def _reversed(section: TimeRangeSection, start: int, end: int) -> str:
    if end == start:
        return f"the range {section.start}-{section.end} is empty: end must be after start"
    return (
        f"ends before it starts; ranges do not cross midnight: write two, "
        f"{section.start}-24:00 and 00:00-{section.end}"
    )


def _minutes(text: str | None, key: str, path: KeyPath, report: Report) -> int | None:
    if text is None:
        report(path, f'needs a {key} time ("HH:MM")')
        return None
    match = _TIME.fullmatch(text.strip())
    if match is None:
        report((*path, key), f'expected a time "HH:MM" from 00:00 to 24:00, got {q(text)}')
        return None
    hours, minutes = (match[1], match[2]) if match[1] is not None else (match[3], match[4])
    return int(hours) * 60 + int(minutes)


def _span(
    text: str | None, names: tuple[str, ...], first: int, path: KeyPath, report: Report
) -> frozenset[int] | None:
    """ "mon-fri", "mon,wed", "sep-jun" (wrapping) as the numbers first.. of the names."""
    if text is None:
        return frozenset(range(first, first + len(names)))
    chosen: set[int] = set()
    for part in text.split(","):
        ends = [_index(word, names) for word in part.split("-")]
        if len(ends) > 2 or None in ends or not part.strip():
            example = f"{names[0]}-{names[4]}" if first == 0 else f"{names[8]}-{names[5]}"
            listed = q(f"{names[0]},{names[2]}")
            report(path, f"expected names like {q(example)} or {listed}, got {q(text)}")
            return None
        low, high = ends[0], ends[-1]
        assert low is not None and high is not None
        count = (high - low) % len(names) + 1  # wraps past the end: "sep-jun", "fri-mon"
        chosen.update(first + (low + k) % len(names) for k in range(count))
    return frozenset(chosen)


def _index(word: str, names: tuple[str, ...]) -> int | None:
    """Position of a day or month name, written short or whole ("mon", "Monday", "Sept" no)."""
    key = word.strip().lower()
    for i, name in enumerate(names):
        if key in (name, _FULL_NAMES[name]):
            return i
    return None


def _monthdays(text: str | None, path: KeyPath, report: Report) -> frozenset[int] | None:
    if text is None:
        return frozenset(range(1, 32))
    chosen: set[int] = set()
    for part in text.split(","):
        ends = part.strip().split("-")
        if len(ends) > 2 or not all(e.strip().isdigit() for e in ends):
            report(path, f'expected days of the month like "1-7" or "1,15", got {q(text)}')
            return None
        low, high = int(ends[0]), int(ends[-1])
        if not 1 <= low <= high <= 31:
            report(
                path, f'days of the month run 1-31, low to high (write "25-31,1-5"), got {q(text)}'
            )
            return None
        chosen.update(range(low, high + 1))
    return frozenset(chosen)
