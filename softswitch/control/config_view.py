"""``ConfigView``: the admin commands a config answers by itself, ``holidays`` and
``credentials``, for the running server and for the CLI when no server runs.

One class for both, so that the answer has the same shape and follows the same rules whoever
gives it; only where its inputs come from differs. The running switch (``AppView``) passes the
config it runs (the reloaded one after a ``reload``; passwords already resolved), its clock and
the addresses it actually bound. The CLI (``offline_view``) passes the file's config, the
machine's clock, the listen addresses as written, and a way to read a generated password from
state_dir, creating it as the server would at start.

Sans-IO apart from ``offline_view``: "now" is an input (``wall``), and which year is "this year"
is decided in ``server.timezone``, where the schedules are evaluated.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from softswitch.clock import RealClock
from softswitch.config import CompiledConfig
from softswitch.config.holiday_sets import package_holidays, subdivision_code, subdivisions
from softswitch.config.loader import password_key
from softswitch.config.model import Extension
from softswitch.config.routing_model import HolidaySet
from softswitch.control.protocol import ControlError
from softswitch.control.views import (
    CredentialsView,
    DayView,
    HolidaySetView,
    HolidaysView,
    HolidayView,
)
from softswitch.dialplan.holidays import holiday_dates, list_holidays
from softswitch.storage.secrets import SecretStore, SecretStoreError

__all__ = ["ConfigView", "offline_view", "place_problem", "registrar_uris"]

# A socket bound to every interface is reached at the SIP domain's address.
_WILDCARDS = frozenset({"", "0.0.0.0", "::"})


@dataclass(frozen=True, slots=True)
class ConfigView:
    """A ``ConfigQueries`` over one config at one moment."""

    config: CompiledConfig
    wall: float  # now, Unix seconds
    registrars: tuple[str, ...]  # see registrar_uris
    # extension number -> its generated password, for a config whose passwords are not
    # resolved yet (the CLI's); None: every extension has its password (the server's)
    generated: Callable[[str], str] | None = None

    def this_year(self) -> int:
        zone = ZoneInfo(self.config.server.timezone)
        return datetime.datetime.fromtimestamp(self.wall, zone).year

    def holidays(self, year: int | None) -> HolidaysView:
        first = self.this_year() if year is None else year
        years = (first,) if year is not None else (first, first + 1)
        sets = self.config.holiday_sets.values()
        return HolidaysView(years, tuple(self._set_view(hs, years) for hs in sets))

    def place_holidays(
        self, country: str, subdivision: str | None, year: int | None, language: str | None
    ) -> list[DayView]:
        problem = place_problem(country, subdivision)
        if problem is not None:
            raise ControlError(problem)
        days = list_holidays(country, subdivision, year or self.this_year(), language)
        return [DayView(day.isoformat(), name) for day, name in days.items()]

    def credentials(self, extension: str) -> CredentialsView | None:
        config = self.config
        found = config.extensions.get(extension) or config.extension_by_username(extension)
        if found is None:
            return None
        return CredentialsView(
            extension=found.number,
            name=found.name,
            username=found.username,
            password=self._password(found),
            domain=config.server.domain,
            registrars=self.registrars,
        )

    def _password(self, extension: Extension) -> str:
        if extension.password is not None:
            return extension.password
        if self.generated is None:  # the server resolved them all: a bug if it did not
            raise ControlError(f"extension {extension.number} has no password")
        try:
            return self.generated(extension.number)
        except (OSError, SecretStoreError) as exc:
            raise ControlError(f"cannot get the generated password: {exc}") from None

    def _set_view(self, holiday_set: HolidaySet, years: tuple[int, ...]) -> HolidaySetView:
        schedules = tuple(
            schedule.name
            for schedule in self.config.schedules.values()
            if schedule.holidays is not None and schedule.holidays.name == holiday_set.name
        )
        numbers = tuple(
            number.did
            for number in self.config.numbers.values()
            if number.schedule is not None and number.schedule.name in schedules
        )
        days = tuple(view for year in years for view in _year_days(holiday_set, year))
        return HolidaySetView(
            name=holiday_set.name,
            country=holiday_set.country,
            subdivision=holiday_set.subdivision,
            language=holiday_set.language,
            schedules=schedules,
            numbers=numbers,
            days=days,
        )


def _year_days(holiday_set: HolidaySet, year: int) -> list[HolidayView]:
    """The set's closed days of ``year`` and, so that an admin sees why the office opens on
    one, the package's holidays its ``include``/``exclude`` leave out."""
    closed = holiday_dates(holiday_set, year)
    imported = package_holidays(
        holiday_set.country, holiday_set.subdivision, holiday_set.language, year
    )
    extra = {day for day, _ in holiday_set.extra}
    views = []
    for day in sorted(closed.keys() | imported.keys()):
        if day in closed:
            source = "extra" if day in extra else "package"
            views.append(HolidayView(day.isoformat(), closed[day], True, source))
        else:
            views.append(HolidayView(day.isoformat(), imported[day], False, "removed"))
    return views


def place_problem(country: str, subdivision: str | None) -> str | None:
    """Why the ``holidays`` package cannot list this place, or None when it can."""
    country = country.strip().upper()
    try:
        known = subdivisions(country)
    except NotImplementedError:
        return f"unknown country {country!r} (use an ISO code such as ES)"
    if subdivision is None:
        return None
    try:  # no years: the package only checks the place
        package_holidays(country, subdivision_code(country, subdivision), None, ())
    except NotImplementedError:
        listed = ", ".join(known) or "none"
        return f"{country} has no subdivision {subdivision!r} ({listed})"
    return None


def registrar_uris(domain: str, bound: Iterable[tuple[str, str, int]]) -> tuple[str, ...]:
    """``sip:host:port;transport=udp`` per (transport, host, port) socket; a socket on every
    interface is given the SIP domain's name, which is what phones are told to use."""
    uris = []
    for transport, bound_host, port in bound:
        host = domain if bound_host in _WILDCARDS else bound_host
        if ":" in host:  # an IPv6 address
            host = f"[{host}]"
        uris.append(f"sip:{host}:{port};transport={transport}")
    return tuple(uris)


def offline_view(config: CompiledConfig) -> ConfigView:
    """The CLI's ``ConfigView`` when no server runs: the file's listen addresses, and generated
    passwords read from (or created in) state_dir's secret store, the one the server uses."""

    def generated(number: str) -> str:
        return SecretStore(config.server.state_dir).get_or_create(password_key(number))

    # A port 0 is the one the OS picks at start: only the running server knows it.
    listen = ((s.transport, s.host, s.port) for s in config.server.listen if s.port)
    registrars = registrar_uris(config.server.domain, listen)
    return ConfigView(config, RealClock().wall(), registrars, generated)
