"""Is the company open? A schedule and its holidays, evaluated at an instant passed in.

Sans-IO: nothing here reads a clock. ``now`` is an aware datetime (the caller's clock, in any
zone); it is converted to the schedule's zone (``server.timezone``) and only then split into
weekday, month, day and minute, so daylight-saving changes need no special case: on the
spring-forward day a local time that does not exist is never reached, and a range that lies
entirely inside the skipped hour is never open.

Precedence: a holiday closes the whole day, whatever the ranges say ("holiday"); otherwise a
matching range opens ("open"); otherwise "closed".
"""

from __future__ import annotations

import datetime
import zoneinfo
from typing import Literal

from softswitch.config.routing_model import Actions, HolidaySet, Number, Schedule, TimeRange
from softswitch.dialplan.holidays import is_holiday

__all__ = ["ScheduleState", "number_actions", "schedule_state"]

ScheduleState = Literal["open", "holiday", "closed"]


def schedule_state(
    schedule: Schedule, holidays_set: HolidaySet | None, now: datetime.datetime
) -> ScheduleState:
    """The state of ``schedule`` at ``now`` (aware), with ``holidays_set`` as its holidays
    (normally ``schedule.holidays``; passed apart so that a caller may evaluate another)."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be an aware datetime: schedules are local to a time zone")
    local = now.astimezone(zoneinfo.ZoneInfo(schedule.timezone))
    if holidays_set is not None and is_holiday(holidays_set, local.date()):
        return "holiday"
    minute = local.hour * 60 + local.minute
    weekday, month, day = local.weekday(), local.month, local.day
    if any(_contains(r, weekday, month, day, minute) for r in schedule.ranges):
        return "open"
    return "closed"


def _contains(time_range: TimeRange, weekday: int, month: int, day: int, minute: int) -> bool:
    # Cheapest test first: most ranges fail on the time of day or the weekday.
    return (
        time_range.start <= minute < time_range.end
        and weekday in time_range.days
        and month in time_range.months
        and day in time_range.monthdays
    )


def number_actions(number: Number, now: datetime.datetime) -> Actions | None:
    """What to run for a call to ``number`` at ``now``; None means reject the call.

    A number without a schedule is always open. On a holiday, ``on_holiday`` applies, or
    ``on_closed`` when there is none (a holiday is a closed day).
    """
    if not number.enabled:
        return None
    if number.schedule is None:
        return number.action or None
    state = schedule_state(number.schedule, number.schedule.holidays, now)
    if state == "open":
        actions = number.action
    elif state == "holiday" and number.on_holiday is not None:
        actions = number.on_holiday
    else:
        actions = number.on_closed
    return actions or None  # () only in a config that failed to compile; still: reject
