"""``server.http_listen`` (where /metrics, /agent and /click-to-call are served) and
``server.click_to_call_token``."""

from __future__ import annotations

from pathlib import Path

import pytest

from softswitch.config import ConfigError, load_config


def _load(tmp_path: Path, value: str | None) -> object:
    line = "" if value is None else f'http_listen = "{value}"\n'
    path = tmp_path / "pbx.toml"
    path.write_text(f"[server]\n{line}[extensions.1001]\n", encoding="utf-8")
    return load_config(path).server.http_listen


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, None), ("127.0.0.1:8080", ("127.0.0.1", 8080)), ("[::1]:0", ("::1", 0))],
)
def test_accepted(tmp_path: Path, value: str | None, expected: object) -> None:
    assert _load(tmp_path, value) == expected


@pytest.mark.parametrize("value", ["8080", "localhost:8080", "127.0.0.1:70000", "::1:80"])
def test_refused_with_its_key_path_and_line(tmp_path: Path, value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, value)
    (issue,) = caught.value.issues
    assert issue.key_path == "server.http_listen"
    assert issue.line == 2
    assert value in issue.message


def test_a_short_click_to_call_token_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "pbx.toml"
    path.write_text('[server]\nclick_to_call_token = "short"\n[extensions.1001]\n', "utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    (issue,) = caught.value.issues
    assert (issue.key_path, issue.line) == ("server.click_to_call_token", 2)
    assert "short" not in issue.message  # a secret, even a bad one, is not echoed
