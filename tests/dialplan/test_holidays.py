"""Holiday sets against the holidays package itself: every Spanish autonomous community,
include/exclude/extra, and the `softswitch holidays` command."""

from __future__ import annotations

import dataclasses
import datetime

import holidays
import pytest

from softswitch import cli
from softswitch.config.routing_model import HolidaySet
from softswitch.dialplan.holidays import holiday_dates, is_holiday, list_holidays

COMMUNITIES = (
    *("AN", "AR", "AS", "CB", "CE", "CL", "CM", "CN", "CT", "EX"),
    *("GA", "IB", "MC", "MD", "ML", "NC", "PV", "RI", "VC"),
)


def holiday_set(**changes: object) -> HolidaySet:
    base = HolidaySet(
        name="h",
        country="ES",
        subdivision="MD",
        language="es",
        include_all=True,
        include_dates=frozenset(),
        include_names=frozenset(),
        exclude_dates=frozenset(),
        exclude_names=frozenset(),
        extra=(),
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def package(subdivision: str | None, year: int, language: str = "es") -> dict[datetime.date, str]:
    found = holidays.country_holidays("ES", subdiv=subdivision, years=year, language=language)
    return dict(found.items())


@pytest.mark.parametrize("code", COMMUNITIES)
def test_every_autonomous_community_yields_the_packages_dates(code: str) -> None:
    dates = holiday_dates(holiday_set(subdivision=code), 2027)
    assert dates == package(code, 2027)
    assert datetime.date(2027, 1, 1) in dates  # national days are everyone's
    assert list(dates) == sorted(dates)


def test_madrid_2027_includes_its_own_day() -> None:
    dates = holiday_dates(holiday_set(), 2027)
    madrid_only = set(dates) - set(package(None, 2027))
    # Madrid Day (2 May) falls on a Sunday in 2027; the package moves it to Monday the 3rd.
    assert datetime.date(2027, 5, 3) in madrid_only
    assert "Madrid" in dates[datetime.date(2027, 5, 3)]


def test_include_keeps_only_listed_dates_and_names() -> None:
    chosen = holiday_set(
        include_all=False,
        include_dates=frozenset({datetime.date(2027, 5, 3)}),
        include_names=frozenset({"año nuevo"}),
    )
    dates = holiday_dates(chosen, 2027)
    assert dates == {
        datetime.date(2027, 1, 1): package("MD", 2027)[datetime.date(2027, 1, 1)],
        datetime.date(2027, 5, 3): package("MD", 2027)[datetime.date(2027, 5, 3)],
    }
    # A name is yearless: New Year's Day is kept every year; a listed date only in its year.
    assert list(holiday_dates(chosen, 2028)) == [datetime.date(2028, 1, 1)]


def test_exclude_drops_by_date_and_by_name_case_insensitively() -> None:
    imported = package("MD", 2027)
    epiphany = datetime.date(2027, 1, 6)
    trimmed = holiday_set(
        exclude_dates=frozenset({datetime.date(2027, 12, 8)}),
        exclude_names=frozenset({imported[epiphany].casefold()}),
    )
    dates = holiday_dates(trimmed, 2027)
    assert set(imported) - set(dates) == {epiphany, datetime.date(2027, 12, 8)}
    assert epiphany not in holiday_dates(trimmed, 2030)  # the name applies to every year


def test_extra_days_are_added_in_their_year_only() -> None:
    extra = holiday_set(
        extra=((datetime.date(2027, 5, 15), "San Isidro"), (datetime.date(2028, 9, 9), "Fiesta"))
    )
    dates = holiday_dates(extra, 2027)
    assert dates == dict(
        sorted({**package("MD", 2027), datetime.date(2027, 5, 15): "San Isidro"}.items())
    )
    assert datetime.date(2028, 9, 9) not in dates
    assert is_holiday(extra, datetime.date(2028, 9, 9))
    assert not is_holiday(extra, datetime.date(2028, 9, 8))


def test_extra_beats_exclude_and_include() -> None:
    only_extra = holiday_set(
        include_all=False,
        exclude_dates=frozenset({datetime.date(2027, 1, 1)}),
        extra=((datetime.date(2027, 1, 1), "Año nuevo, por si acaso"),),
    )
    assert holiday_dates(only_extra, 2027) == {datetime.date(2027, 1, 1): "Año nuevo, por si acaso"}


def test_names_follow_the_language() -> None:
    english = holiday_dates(holiday_set(language="en_US"), 2027)
    assert english == package("MD", 2027, language="en_US")
    assert (
        english[datetime.date(2027, 12, 25)]
        != holiday_dates(holiday_set(), 2027)[datetime.date(2027, 12, 25)]
    )


def test_returned_dict_is_a_copy() -> None:
    first = holiday_dates(holiday_set(), 2027)
    first.clear()
    assert holiday_dates(holiday_set(), 2027)


def test_list_holidays_normalises_codes_and_defaults_to_the_countrys_language() -> None:
    assert list_holidays("es", "md", 2027) == dict(sorted(package("MD", 2027).items()))
    assert list_holidays("ES", "Madrid", 2027) == list_holidays("ES", "MD", 2027)
    with pytest.raises(NotImplementedError):
        list_holidays("ES", "ZZ", 2027)


def test_cli_prints_sorted_iso_dates_and_names(capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["holidays", "--country", "ES", "--subdivision", "MD", "--year", "2027"])
    out = capsys.readouterr().out
    expected = [f"{day.isoformat()} {name}" for day, name in sorted(package("MD", 2027).items())]
    assert (code, out.splitlines()) == (0, expected)
    assert "2027-05-03 " in out


def test_cli_language_option(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["holidays", "--country", "ES", "--year", "2027", "--language", "en_US"]
    assert cli.main(args) == 0
    lines = capsys.readouterr().out.splitlines()
    english = package(None, 2027, language="en_US")
    assert lines == [f"{day.isoformat()} {name}" for day, name in sorted(english.items())]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--country", "QQ"], "unknown country 'QQ'"),
        (["--country", "ES", "--subdivision", "XX"], "ES has no subdivision 'XX'"),
    ],
)
def test_cli_unknown_place_exits_2(
    capsys: pytest.CaptureFixture[str], args: list[str], words: str
) -> None:
    assert cli.main(["holidays", *args, "--year", "2027"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert words in captured.err
    if "subdivision" in words:
        assert "MD" in captured.err  # the known codes are listed
