"""Config values as an admin would write them in the TOML, for ``reload --dry-run``'s report
(diff.py): true/false, 8 not 8.0, lists comma-separated, schedule ranges as "09:00-14:00 mon-fri".
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from typing import Any

from softswitch.config.model import ListenSpec
from softswitch.config.routing_model import Action, TimeRange

__all__ = ["host_port", "show"]

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_MONTHDAYS = tuple(str(day) for day in range(1, 32))


def show(value: object) -> str:
    """A value as an admin would write it: true/false, 8 not 8.0, lists comma-separated."""
    if value is None:
        return "(none)"
    if isinstance(value, Action):  # a NamedTuple, but one step: "group:ventas"
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, str):
        return value if value else '""'
    if isinstance(value, (tuple, list, frozenset, set)):
        return _show_many(value)
    return _show_special(value)


def _show_many(values: tuple[Any, ...] | list[Any] | frozenset[Any] | set[Any]) -> str:
    if not values:
        return "[]"
    shown = [_show_part(v) for v in values]
    if isinstance(values, (frozenset, set)):
        shown.sort()
    # A schedule's ranges hold commas of their own ("mon,wed"); keep them apart.
    return ("; " if isinstance(next(iter(values)), TimeRange) else ", ").join(shown)


def _show_part(value: object) -> str:
    """An element of a list: a nested pair (a holiday's date and name) joined by a space."""
    if isinstance(value, (tuple, list)) and not isinstance(value, Action):
        return " ".join(show(v) for v in value)
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}={show(v)}" for k, v in value.items()) + "}"
    return show(value)


def _show_special(value: object) -> str:
    if isinstance(value, ListenSpec):
        return f"{value.transport}:{host_port(value.host, value.port)}"
    if isinstance(value, TimeRange):
        return _show_range(value)
    if isinstance(value, re.Pattern):
        return str(value.pattern)
    return str(value)  # numbers, networks, paths, dates (ISO)


def _show_range(time_range: TimeRange) -> str:
    """As the TOML writes one: "16:00-18:00 mon-thu months jan-jun,sep-dec"; all = left out."""
    text = f"{_clock(time_range.start)}-{_clock(time_range.end)}"
    for label, values, names, first in (
        ("", time_range.days, _DAYS, 0),  # weekday() counts from 0, months and days from 1
        ("months ", time_range.months, _MONTHS, 1),
        ("monthdays ", time_range.monthdays, _MONTHDAYS, 1),
    ):
        if len(values) < len(names):
            text += f" {label}{_runs(values, names, first)}"
    return text


def _runs(values: frozenset[int], names: tuple[str, ...], first: int) -> str:
    """Consecutive values as one run: {0, 1, 2, 3, 4, 6} -> "mon-fri,sun"."""
    runs: list[str] = []
    # value - position is the same all along a run of consecutive values
    for _, run in itertools.groupby(enumerate(sorted(values)), lambda pair: pair[1] - pair[0]):
        ends = [value for _, value in run]
        low, high = names[ends[0] - first], names[ends[-1] - first]
        runs.append(low if low == high else f"{low}-{high}")
    return ",".join(runs)


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
