"""The call history in a real SQLite file: rows survive a crash once flushed, the writer thread
batches and retries, and the filters and the missed-calls view pick the right calls."""

from __future__ import annotations

import logging
import random
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from softswitch.storage import history as history_module
from softswitch.storage.history import (
    FILE_NAME,
    CallHistory,
    CallRecord,
    HistoryError,
    MissedCount,
    history_path,
)

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
REPO = Path(__file__).resolve().parents[2]


def rec(
    call_id: str,
    *,
    at: float = 0.0,  # minutes after T0
    direction: str = "inbound",
    disposition: str = "answered",
    caller: str = "+34611222333",
    callee: str = "1001",
    place: str = "",
    agent: str = "",
    form: str = "",
) -> CallRecord:
    started = T0 + timedelta(minutes=at)
    answered = started + timedelta(seconds=5) if disposition == "answered" else None
    return CallRecord(
        call_id=call_id,
        direction=direction,
        caller=caller,
        caller_name="Ana López",
        callee=callee,
        did="+34910000010" if direction == "inbound" else "",
        started=started,
        answered=answered,
        ended=started + timedelta(seconds=65.5),
        disposition=disposition,
        place=place,
        agent=agent,
        recording="/var/rec/a.wav" if answered else "",
        form=form,
    )


@pytest.fixture
def history(tmp_path: Path) -> Iterator[CallHistory]:
    store = CallHistory(history_path(tmp_path / "state"), retry_interval=0.0)
    yield store
    store.close()


def rows_on_disk(path: Path) -> list[str]:
    """Call-IDs committed in the file, read through a connection of its own."""
    db = sqlite3.connect(path)
    try:
        return [r[0] for r in db.execute("SELECT call_id FROM calls ORDER BY id")]
    finally:
        db.close()


# -- the record ----------------------------------------------------------------------------------


def test_record_derives_duration_and_billed_and_keeps_times_in_utc() -> None:
    madrid = ZoneInfo("Europe/Madrid")
    started = datetime(2026, 11, 2, 10, 0, 0, tzinfo=madrid)  # 09:00 UTC
    r = CallRecord(
        "c1", "inbound", "+34611222333", "", "1001", "+34910000010",
        started, started + timedelta(seconds=7.25), started + timedelta(seconds=70.5), "answered",
    )  # fmt: skip
    assert r.started == T0 and r.started.tzinfo is UTC
    assert r.duration == 70.5
    assert r.billed == 63.25
    unanswered = CallRecord(
        "c2", "internal", "1001", "", "1002", "", T0, None, T0 + timedelta(seconds=20), "busy"
    )
    assert (unanswered.duration, unanswered.billed) == (20.0, 0.0)
    assert unanswered.missed
    assert not rec("c3", direction="outbound", disposition="no answer").missed


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"direction": "sideways"}, "direction"),
        ({"disposition": "lost"}, "disposition"),
        ({"started": datetime(2026, 11, 2, 9, 0)}, "timezone-aware"),
        ({"ended": T0 - timedelta(seconds=1)}, "started <= answered <= ended"),
        ({"answered": T0 + timedelta(hours=1)}, "started <= answered <= ended"),
    ],
)
def test_record_refuses_impossible_values(changes: dict[str, object], message: str) -> None:
    values: dict[str, object] = {
        "call_id": "c",
        "direction": "inbound",
        "caller": "1",
        "caller_name": "",
        "callee": "2",
        "did": "",
        "started": T0,
        "answered": None,
        "ended": T0 + timedelta(seconds=10),
        "disposition": "no answer",
    }
    with pytest.raises(ValueError, match=message):
        CallRecord(**{**values, **changes})  # type: ignore[arg-type]


# -- writing and durability ------------------------------------------------------------------------


def test_added_calls_are_committed_by_flush_and_read_back_equal(tmp_path: Path) -> None:
    path = tmp_path / "state" / FILE_NAME
    store = CallHistory(path)
    records = [
        rec("a", at=0),
        rec("b", at=1, disposition="no answer"),
        rec("c", at=2, direction="outbound"),
    ]
    for r in records:
        store.add(r)
    assert store.flush()
    assert store.pending() == 0
    assert rows_on_disk(path) == ["a", "b", "c"]
    assert store.query() == records
    store.close()
    store.close()  # twice is harmless
    with pytest.raises(HistoryError, match="closed"):
        store.add(rec("late"))
    reopened = CallHistory(path, read_only=True)
    assert reopened.query() == records
    reopened.close()


def test_a_second_connection_sees_flushed_calls_while_the_first_is_still_open(
    tmp_path: Path,
) -> None:
    # The writer never closes (as in a crash); a reader of its own finds the rows anyway.
    path = history_path(tmp_path)
    store = CallHistory(path)
    store.add(rec("kept"))
    store.flush()
    reader = CallHistory(path, read_only=True)
    assert [r.call_id for r in reader.query()] == ["kept"]
    reader.close()
    store.close()


def test_a_process_killed_after_flush_loses_no_call(tmp_path: Path) -> None:
    path = history_path(tmp_path)
    script = f"""
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from softswitch.storage.history import CallHistory, CallRecord
store = CallHistory(Path({str(path)!r}))
t = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
for i in range(50):
    store.add(CallRecord(f"c{{i}}", "inbound", "+34611", "", "1001", "", t, t,
                         t + timedelta(seconds=i), "answered"))
assert store.flush()
os._exit(9)  # no close, no atexit, no sqlite3 cleanup: what a crash leaves behind
"""
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, check=False, timeout=60)
    assert done.returncode == 9
    survivor = CallHistory(path, read_only=True)
    calls = survivor.query()
    survivor.close()
    assert [c.call_id for c in calls] == [f"c{i}" for i in range(50)]
    assert [c.billed for c in calls] == [float(i) for i in range(50)]


def test_a_backlog_larger_than_one_batch_is_written_whole_and_in_order(tmp_path: Path) -> None:
    path = history_path(tmp_path)
    store = CallHistory(path)
    ids = [f"c{i:04d}" for i in range(1234)]  # more than two batches of _BATCH
    for call_id in ids:
        store.add(rec(call_id))
    assert store.flush()
    assert rows_on_disk(path) == ids
    store.close()


def test_hang_ups_close_together_share_commits(
    history: CallHistory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Group commit: at most one transaction per _COMMIT_GAP however fast calls end (each
    costs ~0.3 ms of CPU); a lone call is written at once (flush finds it committed)."""
    real = history_module._write_batch
    commits: list[int] = []

    def counting(db: sqlite3.Connection, batch: list[object]) -> None:
        commits.append(len(batch))
        real(db, batch)  # type: ignore[arg-type]

    monkeypatch.setattr(history_module, "_write_batch", counting)
    history.add(rec("lone"))
    assert history.flush() and commits == [1]
    started = time.monotonic()
    for i in range(40):  # 40 hang-ups 2.5 ms apart: 40 commits without grouping
        history.add(rec(f"c{i}"))
        time.sleep(0.0025)
    assert history.flush()
    elapsed = time.monotonic() - started
    assert sum(commits) == 41
    assert len(commits) - 1 <= elapsed / history_module._COMMIT_GAP + 2, (commits, elapsed)
    assert [r.call_id for r in history.query()] == ["lone", *(f"c{i}" for i in range(40))]


def test_adds_from_many_threads_all_arrive(history: CallHistory) -> None:
    def adder(n: int) -> None:
        for i in range(200):
            history.add(rec(f"t{n}-{i}"))

    threads = [threading.Thread(target=adder, args=(n,)) for n in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert history.flush()
    stored = [r.call_id for r in history.query()]
    assert sorted(stored) == sorted(f"t{n}-{i}" for n in range(5) for i in range(200))
    # Each thread's own calls keep their order.
    assert [c for c in stored if c.startswith("t3-")] == [f"t3-{i}" for i in range(200)]


def test_a_failed_write_is_retried_with_the_same_calls_in_order(
    history: CallHistory, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    real = history_module._write_batch
    failures = iter([True, True, False])

    def flaky(db: sqlite3.Connection, batch: list[object]) -> None:
        if next(failures, False):
            raise sqlite3.OperationalError("database or disk is full")
        real(db, batch)  # type: ignore[arg-type]

    monkeypatch.setattr(history_module, "_write_batch", flaky)
    with caplog.at_level(logging.WARNING, logger="softswitch.storage"):
        history.add(rec("x"))
        history.add(rec("y"))
        assert history.flush()
    assert [r.call_id for r in history.query()] == ["x", "y"]
    assert caplog.text.count("write failed, retrying: database or disk is full") == 2


def test_close_gives_up_on_a_disk_that_stays_broken_and_says_how_much_was_lost(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(db: sqlite3.Connection, batch: list[object]) -> None:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(history_module, "_write_batch", broken)
    store = CallHistory(history_path(tmp_path), retry_interval=3600.0)
    store.add(rec("a"))
    store.add(rec("b"))
    assert not store.flush(timeout=0)  # never committed
    assert store.pending() == 2
    with caplog.at_level(logging.ERROR, logger="softswitch.storage"):
        store.close()  # interrupts the hour-long pause, tries once more, then gives up
    assert "2 row(s) lost at close: disk I/O error" in caplog.text
    assert store.pending() == 0


def test_names_with_undecodable_bytes_are_stored_not_retried_forever(history: CallHistory) -> None:
    bad = "Ana \udcff"  # what surrogateescape makes of a stray byte
    history.add(rec("s", caller=bad))
    history.set_form("s", '{"note": "\udcfe"}')
    assert history.flush()
    [stored] = history.query()
    assert stored.caller == "Ana \ufffd"
    assert stored.form == '{"note": "\ufffd"}'


def test_read_only_needs_an_existing_file_and_refuses_writes(tmp_path: Path) -> None:
    with pytest.raises(HistoryError, match="no call history at"):
        CallHistory(tmp_path / FILE_NAME, read_only=True)
    CallHistory(tmp_path / FILE_NAME).close()
    reader = CallHistory(tmp_path / FILE_NAME, read_only=True)
    with pytest.raises(HistoryError, match="read-only"):
        reader.add(rec("a"))
    reader.close()
    (tmp_path / "junk.sqlite3").write_bytes(b"not a database at all" * 100)
    with pytest.raises(HistoryError, match="cannot read"):
        CallHistory(tmp_path / "junk.sqlite3", read_only=True)


# -- forms ----------------------------------------------------------------------------------------


def test_a_form_saved_before_or_after_the_row_is_joined_to_it(history: CallHistory) -> None:
    history.set_form("early", '{"reason": "factura"}')  # during the call: no row yet
    history.add(rec("early"))
    history.add(rec("late"))
    history.set_form("late", '{"reason": "alta"}')
    history.set_form("late", '{"reason": "baja"}')  # saved again: the last entry wins
    history.add(rec("own", form='{"reason": "own"}'))
    history.add(rec("none"))
    history.flush()
    forms = {r.call_id: r.form for r in history.query()}
    assert forms == {
        "early": '{"reason": "factura"}',
        "late": '{"reason": "baja"}',
        "own": '{"reason": "own"}',
        "none": "",
    }
    # A row without a form never erases an entry saved earlier.
    history.add(rec("early", at=1))
    history.flush()
    assert [r.form for r in history.query() if r.call_id == "early"] == [
        '{"reason": "factura"}'
    ] * 2


# -- queries --------------------------------------------------------------------------------------

MIX = [
    rec("in-answered", at=0, agent="1001"),
    rec("in-noanswer", at=1, disposition="no answer"),
    rec("in-busy", at=2, disposition="busy", callee="1002"),
    rec("in-cancel", at=3, disposition="cancelled", place="group:ventas"),
    rec("in-vm", at=4, disposition="voicemail", place="queue:soporte"),
    rec("in-blocked", at=5, disposition="blocked"),
    rec("in-failed", at=6, disposition="failed"),
    rec("out-noanswer", at=7, direction="outbound", disposition="no answer", caller="1002",
        callee="+34699000111"),
    rec("int-noanswer", at=8, direction="internal", disposition="no answer", caller="1003",
        callee="1002"),
    rec("int-answered", at=9, direction="internal", caller="1001", callee="1003", agent="1003"),
]  # fmt: skip


@pytest.fixture
def mixed(history: CallHistory) -> CallHistory:
    shuffled = MIX[:]
    random.Random(5).shuffle(shuffled)  # stored out of order: queries sort by start
    for r in shuffled:
        history.add(r)
    history.flush()
    return history


def ids(records: list[CallRecord]) -> list[str]:
    return [r.call_id for r in records]


def test_query_orders_by_start_and_bounds_since_inclusive_until_exclusive(
    mixed: CallHistory,
) -> None:
    assert ids(mixed.query()) == ids(MIX)
    since, until = T0 + timedelta(minutes=2), T0 + timedelta(minutes=5)
    assert ids(mixed.query(since=since, until=until)) == ["in-busy", "in-cancel", "in-vm"]
    madrid = since.astimezone(ZoneInfo("Europe/Madrid"))  # the same instant, another zone
    assert ids(mixed.query(since=madrid))[0] == "in-busy"
    with pytest.raises(ValueError, match="timezone-aware"):
        mixed.query(since=datetime(2026, 11, 2))


def test_query_by_direction(mixed: CallHistory) -> None:
    assert ids(mixed.query(direction="outbound")) == ["out-noanswer"]
    assert ids(mixed.query(direction="internal")) == ["int-noanswer", "int-answered"]
    assert len(mixed.query(direction="inbound")) == 7
    with pytest.raises(ValueError, match="direction"):
        mixed.query(direction="upwards")


def test_missed_means_unanswered_inbound_or_internal(mixed: CallHistory) -> None:
    expected = ["in-noanswer", "in-busy", "in-cancel", "in-vm", "int-noanswer"]
    assert ids(mixed.query(direction="missed")) == expected
    assert ids(mixed.query(missed_only=True)) == expected
    assert ids(mixed.query(direction="internal", missed_only=True)) == ["int-noanswer"]
    assert [r.call_id for r in MIX if r.missed] == expected


def test_query_by_extension_finds_calls_it_made_was_called_on_or_answered(
    mixed: CallHistory,
) -> None:
    assert ids(mixed.query(extension="1003")) == ["int-noanswer", "int-answered"]
    assert ids(mixed.query(extension="1002")) == ["in-busy", "out-noanswer", "int-noanswer"]
    assert ids(mixed.query(extension="1002", direction="missed")) == ["in-busy", "int-noanswer"]
    assert mixed.query(extension="9999") == []


def test_missed_calls_view_per_extension_group_and_queue(mixed: CallHistory) -> None:
    # 1001 missed in-noanswer (at 1); 1002 missed in-busy (at 2) and int-noanswer (at 8).
    assert mixed.missed("extension") == [
        MissedCount("1002", 2, T0 + timedelta(minutes=8)),
        MissedCount("1001", 1, T0 + timedelta(minutes=1)),
    ]
    assert mixed.missed("group") == [MissedCount("ventas", 1, T0 + timedelta(minutes=3))]
    assert mixed.missed("queue") == [MissedCount("soporte", 1, T0 + timedelta(minutes=4))]
    assert mixed.missed("extension", since=T0 + timedelta(minutes=2)) == [
        MissedCount("1002", 2, T0 + timedelta(minutes=8))
    ]
    with pytest.raises(ValueError, match="by must be"):
        mixed.missed("room")  # type: ignore[arg-type]
