"""Dialable codes beyond extensions: ``[ivrs.NAME] number`` and ``[server] voicemail_code``.

An IVR number is one more dialable code (unique with extension numbers, external destination
codes, conference numbers and the other IVRs', each clash at the later key and its line) and
``dial_code`` maps it to the menu. The voicemail feature code may hold * and #, defaults to
"*97" and must not be any dialable code.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from softswitch.config import ConfigError, ConfigIssue, load_config
from softswitch.config.model import CompiledConfig
from softswitch.config.routing_model import Action

# Codes taken in BASE: extension, external destination, conference, IVR.
BASE = """\
[extensions.1001]
[external_destinations.movil]
code = "2001"
number = "+34600111222"
[conferences.sala]
number = "3000"
[prompts.hola]
text = "Hola."
[ivrs.menu]
number = "8000"
prompt = "hola"
direct_dial = true
"""
BASE_LINES = BASE.count("\n")
TAKEN = {"1001", "2001", "3000", "8000"}


def load(tmp_path: Path, text: str) -> CompiledConfig:
    path = tmp_path / "pbx.toml"
    path.write_text(text, encoding="utf-8")
    return load_config(path)


def issues_of(tmp_path: Path, text: str) -> list[ConfigIssue]:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text)
    return list(caught.value.issues)


def located(issues: list[ConfigIssue]) -> list[tuple[str, int | None, str]]:
    """(key path, line counted from the text after BASE, message) of each issue."""
    return [
        (i.key_path, None if i.line is None else i.line - BASE_LINES, i.message) for i in issues
    ]


# -- accepted values ---------------------------------------------------------------------------


def test_ivr_number_and_voicemail_code_reach_the_compiled_config(tmp_path: Path) -> None:
    extra = '[ivrs.otro]\nprompt = "hola"\ndirect_dial = true\n[server]\nvoicemail_code = "#9*"\n'
    config = load(tmp_path, BASE + extra)
    assert config.ivrs["menu"].number == "8000"
    assert config.ivrs["otro"].number is None  # optional: reached only through actions
    assert config.server.voicemail_code == "#9*"


def test_voicemail_code_defaults_to_star_97(tmp_path: Path) -> None:
    assert load(tmp_path, BASE).server.voicemail_code == "*97"


def test_dial_code_maps_the_ivr_number_to_the_menu(tmp_path: Path) -> None:
    extra = '[ivrs.noche]\nnumber = "8001"\nprompt = "hola"\ndirect_dial = true\n'
    config = load(tmp_path, BASE + extra)
    assert config.dial_code("8000") == Action("ivr", "menu")
    assert config.dial_code("8001") == Action("ivr", "noche")
    # The other kinds still resolve beside it; the feature code is no dialable code.
    assert config.dial_code("1001") == Action("extension", "1001")
    assert config.dial_code("2001") == Action("external", "movil")
    assert config.dial_code("3000") == Action("conference", "sala")
    assert config.dial_code("*97") is None
    assert config.dial_code("8002") is None


def test_a_digits_only_voicemail_code_is_fine_when_free(tmp_path: Path) -> None:
    config = load(tmp_path, BASE + '[server]\nvoicemail_code = "9999"\n')
    assert config.server.voicemail_code == "9999"
    assert config.dial_code("9999") is None


# -- clashes, each at the later key and its line -------------------------------------------------


@pytest.mark.parametrize(
    ("number", "holder"),
    [
        ("1001", "extension 1001"),
        ("3000", "conference sala"),
        ("2001", "external destination movil"),
        ("8000", "IVR menu"),
    ],
)
def test_ivr_number_already_taken_is_reported_at_the_ivr(
    tmp_path: Path, number: str, holder: str
) -> None:
    text = BASE + f'[ivrs.dup]\nprompt = "hola"\nnumber = "{number}"\ndirect_dial = true\n'
    assert located(issues_of(tmp_path, text)) == [
        ("ivrs.dup.number", 3, f'number "{number}" is already used by {holder}')
    ]


def test_ivr_written_before_a_conference_still_clashes(tmp_path: Path) -> None:
    """Order in the file does not matter: the IVR holds the clash, the conference keeps its
    number (conferences compile first)."""
    text = '[prompts.p]\ntext = "x"\n[ivrs.a]\nnumber = "3000"\nprompt = "p"\ndirect_dial = true\n'
    text += '[conferences.sala]\nnumber = "3000"\n'
    found = issues_of(tmp_path, text)
    assert [(i.key_path, i.line, i.message) for i in found] == [
        ("ivrs.a.number", 4, 'number "3000" is already used by conference sala')
    ]


@pytest.mark.parametrize(
    ("code", "holder"),
    [
        ("1001", "extension 1001"),
        ("2001", "external destination movil"),
        ("3000", "conference sala"),
        ("8000", "IVR menu"),
    ],
)
def test_voicemail_code_clashing_with_a_dialable_code(
    tmp_path: Path, code: str, holder: str
) -> None:
    text = BASE + f'[server]\nvoicemail_code = "{code}"\n'
    assert located(issues_of(tmp_path, text)) == [
        ("server.voicemail_code", 2, f'code "{code}" is already used by {holder}')
    ]


# -- bad values -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ('"8"', "2 to 8 digits"),
        ('"123456789"', "2 to 8 digits"),
        ('"*80"', "2 to 8 digits"),
        ('"80 0"', "2 to 8 digits"),
        ("8000", 'write it in quotes: "8000"'),
    ],
)
def test_bad_ivr_number(tmp_path: Path, value: str, words: str) -> None:
    text = BASE + f'[ivrs.x]\nprompt = "hola"\ndirect_dial = true\nnumber = {value}\n'
    [(path, line, message)] = located(issues_of(tmp_path, text))
    assert (path, line) == ("ivrs.x.number", 4)
    assert words in message


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ('"*"', "2 to 8 digits, * or #"),
        ('""', "2 to 8 digits, * or #"),
        ('"*97*97*97"', "2 to 8 digits, * or #"),
        ('"*9a"', 'not "*9a"'),
        ('"+97"', 'not "+97"'),
        ("97", 'write it in quotes: "97"'),
    ],
)
def test_bad_voicemail_code(tmp_path: Path, value: str, words: str) -> None:
    text = BASE + f"[server]\nvoicemail_code = {value}\n"
    [(path, line, message)] = located(issues_of(tmp_path, text))
    assert (path, line) == ("server.voicemail_code", 2)
    assert words in message


def test_every_code_mistake_reported_at_once(tmp_path: Path) -> None:
    text = BASE + (
        '[server]\nvoicemail_code = "3000"\n'
        '[ivrs.a]\nnumber = "1001"\nprompt = "hola"\ndirect_dial = true\n'
        '[ivrs.b]\nnumber = "x"\nprompt = "hola"\ndirect_dial = true\n'
    )
    assert [issue.key_path for issue in issues_of(tmp_path, text)] == [
        "server.voicemail_code",
        "ivrs.a.number",
        "ivrs.b.number",
    ]


# -- the feature code rule, over many generated codes -------------------------------------------

_FEATURE_CODE = re.compile(r"[0-9*#]{2,8}")


@settings(
    max_examples=80,
    derandomize=True,  # seeded: the same codes on every run
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(st.text(alphabet="0123456789*#a+ ", max_size=10))
@example("*97")
@example("1001")
@example("12345678")
def test_voicemail_code_accepted_exactly_when_well_formed_and_free(
    tmp_path: Path, code: str
) -> None:
    text = BASE + f'[server]\nvoicemail_code = "{code}"\n'
    if _FEATURE_CODE.fullmatch(code) and code not in TAKEN:
        assert load(tmp_path, text).server.voicemail_code == code
    else:
        paths = [issue.key_path for issue in issues_of(tmp_path, text)]
        assert paths == ["server.voicemail_code"]
