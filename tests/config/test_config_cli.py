"""The `check` and `credentials` command bodies."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from softswitch.config.cli import run_check, run_credentials

CONFIG = """\
[server]
state_dir = "state"

[extensions.1001]
name = "Ana"
username = "ana"
password = "secret1001"

[extensions.1002]
name = "Bruno"

[extensions.1003]
"""


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    path = tmp_path / "pbx.toml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


def run(function: Callable[..., int], *args: object) -> tuple[int, str]:
    out = io.StringIO()
    code = function(*args, out)
    return code, out.getvalue()


def test_check_ok(config_path: Path) -> None:
    assert run(run_check, config_path) == (0, "OK: 3 extensions\n")
    assert not (config_path.parent / "state").exists()  # checking writes nothing


def test_check_bundled_example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert run(run_check, None) == (0, "OK: 3 extensions\n")


def test_check_prints_every_issue(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[server]\ntimezone = "X/Y"\n[extensions.1001]\npasword = "x"\n')
    code, output = run(run_check, path)
    assert code == 1
    assert output.splitlines() == [
        f'{path}:2: server.timezone: unknown time zone "X/Y" (e.g. "Europe/Madrid")',
        f'{path}:4: extensions.1001.pasword: unknown key (did you mean "password"?)',
    ]


def test_credentials_given_password_by_number_or_username(config_path: Path) -> None:
    expected = (0, "username: ana\npassword: secret1001\n")
    assert run(run_credentials, config_path, "1001") == expected
    assert run(run_credentials, config_path, "ana") == expected


def test_credentials_generated_password_is_stable_and_stored(config_path: Path) -> None:
    code, output = run(run_credentials, config_path, "1002")
    assert code == 0
    username_line, password_line = output.splitlines()
    assert username_line == "username: 1002"
    password = password_line.removeprefix("password: ")
    assert len(password) >= 22
    assert run(run_credentials, config_path, "1002") == (0, output)
    # The other generated password differs, and both live in state_dir.
    code, other = run(run_credentials, config_path, "1003")
    assert code == 0 and other.splitlines()[1] != password_line
    stored = json.loads((config_path.parent / "state" / "secrets.json").read_text())
    assert stored["extensions.1002.password"] == password


def test_credentials_unknown_extension(config_path: Path) -> None:
    assert run(run_credentials, config_path, "1009") == (1, "unknown extension '1009'\n")


def test_credentials_with_invalid_config(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[extensions.1001]\nname = 5\n")
    code, output = run(run_credentials, path, "1001")
    assert code == 1
    assert output.startswith(f"{path}:2: extensions.1001.name:")


def test_credentials_with_corrupt_secret_file(config_path: Path) -> None:
    state = config_path.parent / "state"
    state.mkdir()
    (state / "secrets.json").write_text("{not json")
    code, output = run(run_credentials, config_path, "1002")
    assert code == 1
    assert "secrets.json" in output
    assert not any(line.startswith("password:") for line in output.splitlines())
