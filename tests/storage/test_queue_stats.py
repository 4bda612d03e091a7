"""The queue statistics file: round trip, atomic replacement, unusable files ignored."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from softswitch.dialplan.queues import AgentStats, QueueStats, StatsSnapshot
from softswitch.storage.queue_stats import VERSION, QueueStatsFile

SNAPSHOT = StatsSnapshot(
    {
        "soporte": QueueStats(
            {"1001": AgentStats(3, 412.5), "1002": AgentStats(1, 30.0)}, last_offered="1002"
        ),
        "ventas": QueueStats({}, None),
    }
)


def test_missing_file_means_no_statistics(tmp_path: Path) -> None:
    assert QueueStatsFile(tmp_path / "nothing.json").load() == {}


def test_round_trip_through_a_new_directory(tmp_path: Path) -> None:
    path = tmp_path / "state" / "queue_stats.json"
    QueueStatsFile(path).save(SNAPSHOT.to_dict())
    assert StatsSnapshot.from_dict(QueueStatsFile(path).load()) == SNAPSHOT
    assert json.loads(path.read_text())["version"] == VERSION


def test_a_save_replaces_the_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "queue_stats.json"
    store = QueueStatsFile(path)
    store.save({"old": {"agents": {}, "last_offered": None}})
    store.save(SNAPSHOT.to_dict())
    assert os.listdir(tmp_path) == ["queue_stats.json"]
    assert set(store.load()) == {"soporte", "ventas"}


def test_a_failed_save_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "queue_stats.json"
    store = QueueStatsFile(path)
    store.save(SNAPSHOT.to_dict())
    before = path.read_bytes()

    def crash(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        store.save({})
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["queue_stats.json"]  # the temporary is gone too


def test_an_unwritable_place_raises(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(OSError):
        QueueStatsFile(tmp_path / "file" / "queue_stats.json").save({})


@pytest.mark.parametrize(
    "content",
    [
        "{not json",
        "",
        "[1, 2]",
        '{"queues": {}}',  # no version
        '{"version": 99, "queues": {}}',
        '{"version": 1, "queues": [1]}',
        '{"version": 1}',
    ],
)
def test_unusable_files_are_logged_and_ignored(
    tmp_path: Path, content: str, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "queue_stats.json"
    path.write_text(content)
    assert QueueStatsFile(path).load() == {}
    assert "queue statistics" in caplog.text and "starting afresh" in caplog.text


def test_undecodable_bytes_are_ignored(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "queue_stats.json"
    path.write_bytes(b"\xff\xfe\x00garbage")
    assert QueueStatsFile(path).load() == {}
    assert "unreadable" in caplog.text


def test_save_soon_writes_only_the_newest_of_what_queued_meanwhile(tmp_path: Path) -> None:
    jobs: list[Callable[[], None]] = []
    path = tmp_path / "queue_stats.json"
    store = QueueStatsFile(path, background=jobs.append)
    store.save_soon({"a": {"agents": {}, "last_offered": None}})
    store.save_soon(SNAPSHOT.to_dict())
    assert len(jobs) == 2 and not path.exists()  # nothing written on the caller's thread
    jobs[0]()
    assert StatsSnapshot.from_dict(store.load()) == SNAPSHOT
    path.unlink()
    jobs[1]()  # its snapshot went out with the first job
    assert not path.exists()


def test_save_soon_failures_are_logged_not_raised(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "file").write_text("")
    store = QueueStatsFile(tmp_path / "file" / "queue_stats.json", background=lambda job: job())
    store.save_soon(SNAPSHOT.to_dict())
    assert "not saved" in caplog.text


def test_the_default_worker_writes_and_close_waits_for_it(tmp_path: Path) -> None:
    path = tmp_path / "queue_stats.json"
    store = QueueStatsFile(path)
    for calls in range(1, 51):
        store.save_soon({"q": {"agents": {"1001": {"calls": calls, "talk_time": 1.0}}}})
    store.close()
    assert store.load()["q"]["agents"]["1001"]["calls"] == 50
    store.save_soon({"r": {}})  # after close: written at once
    assert json.loads(path.read_text())["queues"] == {"r": {}}
