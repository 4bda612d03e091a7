"""[prompts], [music_on_hold] and [conferences]: compiled objects, every mistake located, and the
`check` and `prompts` commands that look at the audio itself."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import soundfile

from softswitch import cli
from softswitch.config import ConfigError, ConfigIssue, load_config
from softswitch.config.model import Conference, MusicClass, Prompt


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def write_audio(path: Path, seconds: float = 0.3) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(round(16000 * seconds)) / 16000
    soundfile.write(path, (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), 16000)
    return path


def issues_of(path: Path) -> list[ConfigIssue]:
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    return list(caught.value.issues)


FULL = """\
include = ["sounds/sounds.toml"]

[server]
language = "ca"

[extensions.1001]
password = "secret1001"

[prompts.bienvenida]
description = "Saludo principal"
file = "prompts/bienvenida.mp3"

[prompts.cerrado]
text = "Nuestro horario es de lunes a viernes de nueve a seis."
language = "es"
voice = "male"

[prompts.aviso]
text = "Bon dia."

[conferences.sala1]
number = "3001"
pin = "4321"
admin_pin = "9999"
max_members = 20
record = true
announce_join_leave = false
moh_when_alone = "default"

[conferences.sala2]
number = "3002"
moh_when_alone = ""
"""

SOUNDS = """\
[music_on_hold.default]
directory = "moh/default"
shuffle = true

[conferences.sala3]
number = "3003"
moh_when_alone = "default"
"""


@pytest.fixture
def full(tmp_path: Path) -> Path:
    write_audio(tmp_path / "prompts" / "bienvenida.mp3")
    write_audio(tmp_path / "sounds" / "moh" / "default" / "track.wav")
    write(tmp_path, "sounds/sounds.toml", SOUNDS)
    return write(tmp_path, "pbx.toml", FULL)


def test_sounds_compile_to_runtime_objects(full: Path) -> None:
    config = load_config(full)
    root = full.parent
    assert config.prompts == {
        "bienvenida": Prompt(
            "bienvenida",
            "Saludo principal",
            root / "prompts" / "bienvenida.mp3",
            None,
            "ca",
            "female",
        ),
        "cerrado": Prompt(
            "cerrado",
            "",
            None,
            "Nuestro horario es de lunes a viernes de nueve a seis.",
            "es",
            "male",
        ),
        # Defaults: the server's language, a female voice.
        "aviso": Prompt("aviso", "", None, "Bon dia.", "ca", "female"),
    }
    # Relative to the file that declares it: the included one, in sounds/.
    assert config.music_on_hold == {
        "default": MusicClass("default", root / "sounds" / "moh" / "default", shuffle=True)
    }
    assert list(config.conferences) == ["sala1", "sala2", "sala3"]
    assert config.conferences["sala1"] == Conference(
        name="sala1",
        number="3001",
        pin="4321",
        admin_pin="9999",
        max_members=20,
        record=True,
        announce_join_leave=False,
        moh_when_alone="default",
    )
    sala2 = config.conferences["sala2"]
    assert (sala2.pin, sala2.admin_pin, sala2.max_members, sala2.record) == (None, None, 10, False)
    assert (sala2.announce_join_leave, sala2.moh_when_alone) == (True, None)
    assert "4321" not in repr(config.conferences["sala1"])  # PINs stay out of logs
    for section in ("prompts", "music_on_hold", "conferences"):
        assert section not in config.raw_sections


def test_sound_mappings_are_read_only(full: Path) -> None:
    config = load_config(full)
    with pytest.raises(TypeError):
        config.prompts["x"] = config.prompts["aviso"]  # type: ignore[index]
    with pytest.raises(TypeError):
        config.conferences["x"] = config.conferences["sala1"]  # type: ignore[index]
    with pytest.raises(AttributeError):
        config.prompts["aviso"].text = "other"  # type: ignore[misc]


def test_a_config_without_sounds_has_empty_mappings(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "pbx.toml", "[extensions.1001]\n"))
    assert (dict(config.prompts), dict(config.music_on_hold), dict(config.conferences)) == (
        {},
        {},
        {},
    )


def test_moh_default_needs_no_configured_class(tmp_path: Path) -> None:
    text = '[conferences.sala]\nnumber = "3001"\nmoh_when_alone = "default"\n'
    config = load_config(write(tmp_path, "pbx.toml", text))
    assert config.conferences["sala"].moh_when_alone == "default"  # the built-in tune


def test_language_spelling_is_normalised(tmp_path: Path) -> None:
    text = (
        '[server]\nlanguage = "pt_BR"\n'
        '[prompts.a]\ntext = "Olá"\n[prompts.b]\ntext = "Hi"\nlanguage = "EN-us"\n'
    )
    config = load_config(write(tmp_path, "pbx.toml", text))
    assert (config.prompts["a"].language, config.prompts["b"].language) == ("pt-br", "en-us")


def test_a_recording_may_be_in_any_language(tmp_path: Path) -> None:
    write_audio(tmp_path / "hola.wav")
    text = '[prompts.a]\nfile = "hola.wav"\nlanguage = "ast"\n'  # Asturian: no eSpeak voice
    assert load_config(write(tmp_path, "pbx.toml", text)).prompts["a"].language == "ast"


# Each case: the file, then the key path, line and words of its one issue.
ERRORS = [
    pytest.param(
        '[prompts.a]\nfile = "a.wav"\ntext = "Hola"\n',
        "prompts.a",
        1,
        ["both", "exactly one"],
        id="both",
    ),
    pytest.param('[prompts.a]\ndescription = "x"\n', "prompts.a", 1, ["neither"], id="neither"),
    pytest.param(
        '[prompts.a]\n\nfile = "nope.wav"\n',
        "prompts.a.file",
        3,
        ["no such file", "nope.wav"],
        id="missing-file",
    ),
    pytest.param(
        '[prompts.a]\nfile = "moh"\n', "prompts.a.file", 2, ["is a directory"], id="file-is-dir"
    ),
    pytest.param('[prompts.a]\ntext = "  "\n', "prompts.a.text", 2, ["empty"], id="empty-text"),
    pytest.param(
        '[prompts.a]\ntext = "Hola"\nlanguage = "xx"\n',
        "prompts.a.language",
        3,
        ["no text-to-speech", '"xx"'],
        id="language",
    ),
    pytest.param(
        '[prompts.a]\ntext = "Hola"\nlanguage = "e s"\n',
        "prompts.a.language",
        3,
        ["not a language code"],
        id="language-shape",
    ),
    pytest.param(
        '[server]\nlanguage = "tlh"\n',
        "server.language",
        2,
        ["no text-to-speech"],
        id="server-language",
    ),
    pytest.param(
        '[prompts.a]\ntext = "Hola"\nvoice = "robot"\n',
        "prompts.a.voice",
        3,
        ['"female", "male"', '"robot"'],
        id="voice",
    ),
    pytest.param(
        '[prompts.a]\nfile = "a.wav"\nvoice = "male"\n',
        "prompts.a.voice",
        3,
        ["only a text prompt"],
        id="voice-on-file",
    ),
    pytest.param(
        '[prompts.a]\ntext = "x"\nspeed = 2\n',
        "prompts.a.speed",
        3,
        ["unknown key"],
        id="unknown-key",
    ),
    pytest.param('[prompts."a b"]\ntext = "x"\n', 'prompts."a b"', 1, ["name"], id="bad-name"),
    pytest.param(
        "[music_on_hold.jazz]\nshuffle = true\n",
        "music_on_hold.jazz",
        1,
        ["needs a directory"],
        id="no-dir-key",
    ),
    pytest.param(
        '[music_on_hold.jazz]\ndirectory = "nowhere"\n',
        "music_on_hold.jazz.directory",
        2,
        ["no such directory"],
        id="missing-dir",
    ),
    pytest.param(
        '[music_on_hold.jazz]\ndirectory = "a.wav"\n',
        "music_on_hold.jazz.directory",
        2,
        ["not a directory"],
        id="dir-is-file",
    ),
    pytest.param(
        '[music_on_hold.jazz]\ndirectory = "empty"\n',
        "music_on_hold.jazz.directory",
        2,
        ["no WAV or MP3"],
        id="no-music",
    ),
    pytest.param(
        '[conferences.sala]\nnumber = "1001"\n',
        "conferences.sala.number",
        2,
        ['"1001"', "extension 1001"],
        id="clash-ext",
    ),
    pytest.param(
        '[conferences.s1]\nnumber = "3001"\n[conferences.s2]\nnumber = "3001"\n',
        "conferences.s2.number",
        4,
        ["conference s1"],
        id="clash-conf",
    ),
    pytest.param(
        '[conferences.sala]\nnumber = "3001"\nmoh_when_alone = "jazz"\n',
        "conferences.sala.moh_when_alone",
        3,
        ['"jazz"', "known: default"],
        id="moh",
    ),
    pytest.param(
        '[conferences.sala]\npin = "1234"\n',
        "conferences.sala",
        1,
        ["needs a number"],
        id="no-number",
    ),
    pytest.param(
        '[conferences.sala]\nnumber = "30a1"\n',
        "conferences.sala.number",
        2,
        ["2 to 8 digits"],
        id="number",
    ),
    pytest.param(
        '[conferences.sala]\nnumber = "3001"\npin = "12x4"\n',
        "conferences.sala.pin",
        3,
        ["digits"],
        id="pin",
    ),
    pytest.param(
        '[conferences.sala]\nnumber = "3001"\npin = 1234\n',
        "conferences.sala.pin",
        3,
        ['"1234"'],
        id="pin-bare",
    ),
    pytest.param(
        '[conferences.sala]\nnumber = "3001"\nadmin_pin = "12"\n',
        "conferences.sala.admin_pin",
        3,
        ["4 to 12"],
        id="admin-pin",
    ),
    pytest.param(
        '[conferences.sala]\nnumber = "3001"\npin = "1234"\nadmin_pin = "1234"\n',
        "conferences.sala.admin_pin",
        4,
        ["same as pin"],
        id="same-pins",
    ),
    pytest.param(
        '[conferences.sala]\nnumber = "3001"\nmax_members = 1\n',
        "conferences.sala.max_members",
        3,
        ["at least 2"],
        id="members",
    ),
]


@pytest.mark.parametrize(("text", "key_path", "line", "words"), ERRORS)
def test_each_mistake_is_reported_with_key_path_and_line(
    tmp_path: Path, text: str, key_path: str, line: int, words: list[str]
) -> None:
    write_audio(tmp_path / "a.wav")
    (tmp_path / "moh").mkdir()
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no music here")
    path = write(tmp_path, "pbx.toml", '[extensions.1001]\npassword = "secret1001"\n\n' + text)
    issues = issues_of(path)
    assert len(issues) == 1, [str(issue) for issue in issues]
    (issue,) = issues
    assert (issue.file, issue.key_path, issue.line) == (str(path), key_path, line + 3)
    for word in words:
        assert word in issue.message


def test_a_section_that_is_not_a_table(tmp_path: Path) -> None:
    path = write(tmp_path, "pbx.toml", 'prompts = 3\n[conferences]\nsala = "x"\n')
    assert [str(issue) for issue in issues_of(path)] == [
        f"{path}:1: prompts: expected a table of prompts, got number 3",
        f'{path}:3: conferences.sala: expected a table, got string "x"',
    ]


def test_all_sound_mistakes_are_reported_in_one_run(tmp_path: Path) -> None:
    text = (
        '[prompts.a]\nfile = "x.wav"\n'
        '[prompts.b]\ntext = "Hola"\nlanguage = "xx"\n'
        '[music_on_hold.m]\ndirectory = "nowhere"\n'
        '[conferences.c]\nnumber = "3001"\nmoh_when_alone = "jazz"\n'
    )
    issues = issues_of(write(tmp_path, "pbx.toml", text))
    assert [issue.key_path for issue in issues] == [
        "prompts.a.file",
        "prompts.b.language",
        "music_on_hold.m.directory",
        "conferences.c.moh_when_alone",
    ]


# -- the commands -------------------------------------------------------------------------------


def test_check_names_an_unreadable_prompt_and_music_track(
    full: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (full.parent / "prompts" / "bienvenida.mp3").write_text("this is not an MP3")
    (full.parent / "sounds" / "moh" / "default" / "broken.wav").write_bytes(b"RIFF....WAVE")
    assert cli.main(["check", "--config", str(full)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2, lines
    assert lines[0].startswith(f"{full}:11: prompts.bienvenida.file: not a readable audio file")
    assert lines[0].endswith("bienvenida.mp3")
    sounds = full.parent / "sounds" / "sounds.toml"
    assert lines[1].startswith(f"{sounds}:2: music_on_hold.default.directory: not a readable")
    assert lines[1].endswith("broken.wav")


def test_check_passes_real_audio(full: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["check", "--config", str(full)]) == 0
    assert capsys.readouterr().out == "OK: 1 extensions\n"


def test_prompts_command_renders_everything_with_a_progress_bar(
    full: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["prompts", "--config", str(full)]) == 0
    captured = capsys.readouterr()
    steps = re.findall(r"\r\[([# ]{10})\] (\d+)/(\d+) (\S+)", captured.err)
    names = [name for _, _, _, name in steps]
    assert names[:4] == ["bienvenida", "cerrado", "aviso", "music_on_hold.default"]
    total = int(steps[0][2])
    assert [int(done) for _, done, _, _ in steps] == list(range(1, total + 1))
    assert steps[-1][0] == "#" * 10 and captured.err.endswith("\n")
    state = full.parent / "var" / "prompts"
    assert captured.out == f"OK: {total} rendered into {state}\n"
    assert len(list(state.glob("*.wav"))) == total  # one file per prompt, track and system text


def test_prompts_command_lists_failures(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path, "roto.wav", "not audio")
    path = write(
        tmp_path, "pbx.toml", '[prompts.roto]\nfile = "roto.wav"\n[prompts.ok]\ntext = "Hi"\n'
    )
    assert cli.main(["prompts", "--config", str(path)]) == 1
    err = capsys.readouterr().err
    failures = [line for line in err.splitlines() if line.startswith("failed:")]
    assert len(failures) == 1 and failures[0].startswith("failed: roto: ")
    assert "not a readable audio file" in failures[0]


def test_prompts_command_reports_config_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "pbx.toml", '[prompts.a]\nfile = "gone.wav"\n')
    assert cli.main(["prompts", "--config", str(path)]) == 1
    assert f"{path}:2: prompts.a.file: no such file" in capsys.readouterr().err
