"""`--json` of the offline admin commands (`holidays`, `credentials`): one JSON document a
script can read, with the same facts as the plain output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from softswitch.cli import main


def test_holidays_json(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["holidays", "--country", "ES", "--subdivision", "MD", "--year", "2027", "--json"])
    days = json.loads(capsys.readouterr().out)
    assert code == 0
    dates = [day["date"] for day in days]
    assert "2027-01-01" in dates and "2027-05-03" in dates  # New Year; Madrid (moved Monday)
    assert dates == sorted(dates) and all(day["name"] for day in days)


def test_credentials_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "pbx.toml"
    config.write_text(
        '[server]\nstate_dir = "state"\n[extensions.1001]\nusername = "ana"\n', "utf-8"
    )
    assert main(["credentials", "1001", "--config", str(config), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["extension"], shown["username"]) == ("1001", "ana")
    assert len(shown["password"]) >= 16  # generated, and the same the next time
    assert main(["credentials", "ana", "--config", str(config), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["password"] == shown["password"]
