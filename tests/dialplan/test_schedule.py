"""Schedules evaluated at injected instants: days, months, monthdays, exclusive ends, daylight
saving days in Europe/Madrid, holidays before open hours, and the actions a number runs."""

from __future__ import annotations

import dataclasses
import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from softswitch.config import load_config
from softswitch.config.model import CompiledConfig
from softswitch.config.routing_model import Action, Schedule
from softswitch.dialplan.schedule import number_actions, schedule_state

MADRID = ZoneInfo("Europe/Madrid")
UTC = datetime.UTC


def compile_routing(tmp_path: Path, text: str) -> CompiledConfig:
    path = tmp_path / "pbx.toml"
    path.write_text('[server]\ntimezone = "Europe/Madrid"\nlanguage = "es"\n' + text, "utf-8")
    return load_config(path)


def schedule_of(tmp_path: Path, ranges: str, holidays: str = "") -> Schedule:
    text = f"[schedules.s]\nranges = [{ranges}]\n"
    if holidays:
        text += f'holidays = "h"\n[holidays.h]\n{holidays}'
    return compile_routing(tmp_path, text).schedules["s"]


def local(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text).replace(tzinfo=MADRID)


def state(schedule: Schedule, when: datetime.datetime) -> str:
    return schedule_state(schedule, schedule.holidays, when)


def test_weekdays_and_exclusive_end(tmp_path: Path) -> None:
    schedule = schedule_of(tmp_path, '{ start = "09:00", end = "14:00", days = "mon-fri" }')
    # 2026-06-01 is a Monday.
    assert state(schedule, local("2026-06-01T08:59:59")) == "closed"
    assert state(schedule, local("2026-06-01T09:00")) == "open"
    assert state(schedule, local("2026-06-05T13:59:59")) == "open"  # Friday
    assert state(schedule, local("2026-06-05T14:00")) == "closed"  # the end is exclusive
    assert state(schedule, local("2026-06-06T10:00")) == "closed"  # Saturday
    assert state(schedule, local("2026-06-07T10:00")) == "closed"  # Sunday


def test_listed_days_and_wrapping_day_span(tmp_path: Path) -> None:
    schedule = schedule_of(
        tmp_path,
        '{ start = "10:00", end = "11:00", days = "mon,wed" },'
        '{ start = "20:00", end = "21:00", days = "fri-mon" }',
    )
    monday = datetime.date(2026, 6, 1)
    opened = [
        (monday + datetime.timedelta(days=i)).strftime("%a")
        for i in range(7)
        if state(schedule, local(f"{monday + datetime.timedelta(days=i)}T10:30")) == "open"
    ]
    assert opened == ["Mon", "Wed"]
    evenings = [
        (monday + datetime.timedelta(days=i)).strftime("%a")
        for i in range(7)
        if state(schedule, local(f"{monday + datetime.timedelta(days=i)}T20:30")) == "open"
    ]
    assert evenings == ["Mon", "Fri", "Sat", "Sun"]


def test_months_wrap_over_the_new_year(tmp_path: Path) -> None:
    schedule = schedule_of(tmp_path, '{ start = "16:00", end = "18:00", months = "sep-jun" }')
    open_months = [
        m for m in range(1, 13) if state(schedule, local(f"2026-{m:02}-15T17:00")) == "open"
    ]
    assert open_months == [1, 2, 3, 4, 5, 6, 9, 10, 11, 12]


def test_monthdays(tmp_path: Path) -> None:
    # The first Saturday of each month: Saturdays that fall on days 1-7.
    schedule = schedule_of(
        tmp_path, '{ start = "09:00", end = "13:00", days = "sat", monthdays = "1-7" }'
    )
    saturdays = [datetime.date(2026, 8, 1) + datetime.timedelta(weeks=w) for w in range(5)]
    opened = [d.day for d in saturdays if state(schedule, local(f"{d}T10:00")) == "open"]
    assert opened == [1]


def test_range_to_midnight(tmp_path: Path) -> None:
    schedule = schedule_of(
        tmp_path, '{ start = "22:00", end = "24:00" }, { start = "00:00", end = "06:00" }'
    )
    assert state(schedule, local("2026-06-01T23:59:59")) == "open"
    assert state(schedule, local("2026-06-02T00:00")) == "open"
    assert state(schedule, local("2026-06-02T06:00")) == "closed"
    assert state(schedule, local("2026-06-02T21:59")) == "closed"


def test_now_in_any_zone_is_converted_to_the_schedule_zone(tmp_path: Path) -> None:
    schedule = schedule_of(tmp_path, '{ start = "09:00", end = "10:00" }')
    # 09:30 in Madrid (CEST, UTC+2) is 07:30 UTC and 03:30 in New York.
    assert state(schedule, datetime.datetime(2026, 6, 1, 7, 30, tzinfo=UTC)) == "open"
    new_york = datetime.datetime(2026, 6, 1, 3, 30, tzinfo=ZoneInfo("America/New_York"))
    assert state(schedule, new_york) == "open"
    assert state(schedule, datetime.datetime(2026, 6, 1, 9, 30, tzinfo=UTC)) == "closed"


def test_naive_now_is_refused(tmp_path: Path) -> None:
    schedule = schedule_of(tmp_path, '{ start = "09:00", end = "10:00" }')
    with pytest.raises(ValueError, match="aware"):
        state(schedule, datetime.datetime(2026, 6, 1, 9, 30))


# -- daylight saving: 2026-03-29 (02:00 -> 03:00) and 2026-10-25 (03:00 -> 02:00), Sundays -----


def test_nine_o_clock_is_open_on_both_change_days(tmp_path: Path) -> None:
    schedule = schedule_of(tmp_path, '{ start = "09:00", end = "14:00", days = "sun" }')
    # Spring: local time is UTC+2 from 01:00 UTC, so 09:00 local is 07:00 UTC.
    assert state(schedule, datetime.datetime(2026, 3, 29, 7, 0, tzinfo=UTC)) == "open"
    assert state(schedule, datetime.datetime(2026, 3, 29, 6, 59, tzinfo=UTC)) == "closed"
    # Autumn: local time is UTC+1 from 01:00 UTC, so 09:00 local is 08:00 UTC.
    assert state(schedule, datetime.datetime(2026, 10, 25, 8, 0, tzinfo=UTC)) == "open"
    assert state(schedule, datetime.datetime(2026, 10, 25, 7, 59, tzinfo=UTC)) == "closed"
    assert state(schedule, datetime.datetime(2026, 10, 25, 12, 59, tzinfo=UTC)) == "open"
    assert state(schedule, datetime.datetime(2026, 10, 25, 13, 0, tzinfo=UTC)) == "closed"


def minutes_open(schedule: Schedule, day: datetime.date) -> list[datetime.datetime]:
    """Every UTC minute from local midnight to local midnight of ``day`` that is open."""
    start = datetime.datetime.combine(day, datetime.time(), MADRID).astimezone(UTC)
    end = datetime.datetime.combine(day + datetime.timedelta(days=1), datetime.time(), MADRID)
    minutes = int((end.astimezone(UTC) - start).total_seconds() // 60)
    instants = (start + datetime.timedelta(minutes=m) for m in range(minutes))
    return [t for t in instants if state(schedule, t) == "open"]


def test_a_range_inside_the_skipped_hour_never_happens(tmp_path: Path) -> None:
    schedule = schedule_of(tmp_path, '{ start = "02:30", end = "02:45" }')
    assert minutes_open(schedule, datetime.date(2026, 3, 29)) == []
    # An ordinary Sunday a week earlier: 15 minutes, from 01:30 UTC (02:30 CET).
    normal = minutes_open(schedule, datetime.date(2026, 3, 22))
    assert (len(normal), normal[0]) == (15, datetime.datetime(2026, 3, 22, 1, 30, tzinfo=UTC))


def test_the_repeated_hour_is_open_twice(tmp_path: Path) -> None:
    schedule = schedule_of(tmp_path, '{ start = "02:30", end = "02:45" }')
    opened = minutes_open(schedule, datetime.date(2026, 10, 25))
    assert len(opened) == 30  # 02:30-02:45 in summer time, then again in winter time
    assert opened[0] == datetime.datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    assert opened[15] == datetime.datetime(2026, 10, 25, 1, 30, tzinfo=UTC)


# -- holidays --------------------------------------------------------------------------------

MADRID_HOLIDAYS = 'country = "ES"\nsubdivision = "MD"\nextra = ["2026-05-15"]\n'


def test_holidays_take_precedence_over_open_hours(tmp_path: Path) -> None:
    schedule = schedule_of(
        tmp_path,
        '{ start = "09:00", end = "14:00", days = "mon-sat" }',
        MADRID_HOLIDAYS,
    )
    # 2026-05-02 (Saturday) is Madrid's day; 2026-05-15 (Friday) an extra local day.
    assert state(schedule, local("2026-05-02T10:00")) == "holiday"
    assert state(schedule, local("2026-05-15T10:00")) == "holiday"
    assert state(schedule, local("2026-05-15T20:00")) == "holiday"  # the whole day
    assert state(schedule, local("2026-05-14T10:00")) == "open"
    assert state(schedule, local("2026-05-14T20:00")) == "closed"
    # A holiday is a local date: 2026-05-14 23:30 UTC is already the 15th in Madrid.
    assert state(schedule, datetime.datetime(2026, 5, 14, 23, 30, tzinfo=UTC)) == "holiday"
    # Evaluated without its holidays, the same instant is an ordinary open Friday morning.
    assert schedule_state(schedule, None, local("2026-05-15T10:00")) == "open"


NUMBER = """\
[prompts.festivo]
text = "Festivo."
[prompts.cerrado]
text = "Cerrado."
[extensions.1001]
voicemail = true
[schedules.oficina]
ranges = [{ start = "09:00", end = "14:00", days = "mon-fri" }]
holidays = "madrid"
[holidays.madrid]
country = "ES"
subdivision = "MD"
[numbers."+34910000000"]
schedule = "oficina"
action = "extension:1001"
on_holiday = "prompt:festivo"
on_closed = ["prompt:cerrado", "voicemail:1001"]
[numbers."+34910000001"]
schedule = "oficina"
action = "extension:1001"
on_closed = "voicemail:1001"
[numbers."+34910000002"]
action = "extension:1001"
[numbers."+34910000003"]
action = "extension:1001"
enabled = false
[numbers."+34910000004"]
schedule = "oficina"
"""


def test_number_actions_follow_the_schedule(tmp_path: Path) -> None:
    numbers = compile_routing(tmp_path, NUMBER).numbers
    main = numbers["+34910000000"]
    assert number_actions(main, local("2026-05-14T10:00")) == (Action("extension", "1001"),)
    assert number_actions(main, local("2026-05-02T10:00")) == (Action("prompt", "festivo"),)
    assert number_actions(main, local("2026-05-14T15:00")) == (
        Action("prompt", "cerrado"),
        Action("voicemail", "1001"),
    )


def test_number_without_on_holiday_is_closed_on_holidays(tmp_path: Path) -> None:
    number = compile_routing(tmp_path, NUMBER).numbers["+34910000001"]
    # 2026-05-01 is a Friday and a national holiday.
    assert number_actions(number, local("2026-05-01T10:00")) == (Action("voicemail", "1001"),)


def test_number_without_schedule_is_always_open(tmp_path: Path) -> None:
    number = compile_routing(tmp_path, NUMBER).numbers["+34910000002"]
    for when in ("2026-05-01T10:00", "2026-05-03T03:00", "2026-12-25T23:59"):
        assert number_actions(number, local(when)) == (Action("extension", "1001"),)


def test_disabled_or_actionless_numbers_reject(tmp_path: Path) -> None:
    numbers = compile_routing(tmp_path, NUMBER).numbers
    assert number_actions(numbers["+34910000003"], local("2026-05-14T10:00")) is None
    # In hours with no action: reject; closed with no on_closed: reject too.
    assert number_actions(numbers["+34910000004"], local("2026-05-14T10:00")) is None
    assert number_actions(numbers["+34910000004"], local("2026-05-14T20:00")) is None
    enabled_again = dataclasses.replace(numbers["+34910000003"], enabled=True)
    assert number_actions(enabled_again, local("2026-05-14T10:00")) == (
        Action("extension", "1001"),
    )
