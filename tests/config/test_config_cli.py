"""The `check` command body, and `credentials` answered from the file when no server runs."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from softswitch.cli import main
from softswitch.config.cli import run_check

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


def credentials(config: Path, ext: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """``softswitch credentials`` with no server running: the config file answers."""
    code = main(["credentials", ext, "--config", str(config)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_credentials_given_password_by_number_or_username(
    config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for ext in ("1001", "ana"):
        code, out, err = credentials(config_path, ext, capsys)
        assert code == 0
        assert out.splitlines()[:2] == ["username: ana", "password: secret1001"]
        assert "no server is running" in err


def test_credentials_generated_password_is_stable_and_stored(
    config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, output, _ = credentials(config_path, "1002", capsys)
    assert code == 0
    username_line, password_line = output.splitlines()[:2]
    assert username_line == "username: 1002"
    password = password_line.removeprefix("password: ")
    assert len(password) >= 22
    assert credentials(config_path, "1002", capsys)[:2] == (0, output)
    # The other generated password differs, and both live in state_dir.
    code, other, _ = credentials(config_path, "1003", capsys)
    assert code == 0 and other.splitlines()[1] != password_line
    stored = json.loads((config_path.parent / "state" / "secrets.json").read_text())
    assert stored["extensions.1002.password"] == password


def test_credentials_unknown_extension(
    config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = credentials(config_path, "1009", capsys)
    assert (code, out) == (1, "")
    assert "unknown extension '1009'" in err


def test_credentials_with_invalid_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[extensions.1001]\nname = 5\n")
    code, out, err = credentials(path, "1001", capsys)
    assert (code, out) == (1, "")
    assert err.startswith(f"{path}:2: extensions.1001.name:")


def test_credentials_with_corrupt_secret_file(
    config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = config_path.parent / "state"
    state.mkdir()
    (state / "secrets.json").write_text("{not json")
    code, out, err = credentials(config_path, "1002", capsys)
    assert code == 1
    assert "secrets.json" in err
    assert "password:" not in out
