"""Voicemail store on a real file system and SQLite: round trips, atomic saves, crash recovery."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
import threading
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
import soundfile
from numpy.typing import NDArray

from softswitch.storage import voicemail
from softswitch.storage.voicemail import RATE, Message, VoicemailError, VoicemailStore

T0 = datetime(2026, 1, 15, 10, 30, 5, 250_000, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[2]


def tone(seconds: float, seed: int = 1) -> NDArray[np.int16]:
    rng = np.random.default_rng(seed)
    return rng.integers(-20_000, 20_000, int(seconds * RATE), dtype=np.int16)


def wavs(state: Path, mailbox: str = "1001") -> list[str]:
    directory = state / "voicemail" / mailbox
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


def rows(state: Path) -> list[tuple[int, str, int]]:
    with sqlite3.connect(state / "voicemail" / "index.sqlite3") as db:
        return db.execute("SELECT id, mailbox, deleted FROM messages ORDER BY id").fetchall()


def save(store: VoicemailStore, seconds: float = 1.0, seed: int = 1, **kw: object) -> Message:
    fields: dict[str, object] = {
        "caller_number": "+34600111222",
        "caller_name": "Ana García",
        "called_number": "+34910000000",
        "received_at": T0,
    }
    fields.update(kw)
    mailbox = str(fields.pop("mailbox", "1001"))
    return store.save(mailbox, tone(seconds, seed), **fields)  # type: ignore[arg-type]


def test_samples_round_trip_to_a_wav_and_a_row(tmp_path: Path) -> None:
    store = VoicemailStore(tmp_path)
    samples = tone(2.5)
    madrid = timezone(timedelta(hours=1))
    message = store.save(
        "1001",
        samples,
        caller_number="+34600111222",
        caller_name="Ana García",
        called_number="+34910000000",
        received_at=T0.astimezone(madrid),
    )
    assert message.received_at == T0 and message.received_at.tzinfo == UTC
    assert message.duration == 2.5
    assert not message.heard
    assert message.path.parent == tmp_path / "voicemail" / "1001"
    assert message.path.name.startswith("20260115T103005Z-")
    read, rate = soundfile.read(message.path, dtype="int16")
    assert rate == RATE
    np.testing.assert_array_equal(read, samples)
    assert store.list("1001") == [message]
    assert store.get(message.id) == message
    assert store.counts("1001") == (1, 0)
    assert store.counts("1002") == (0, 0)
    assert wavs(tmp_path) == [message.path.name]  # no temporary left behind
    store.close()
    reopened = VoicemailStore(tmp_path)
    assert reopened.list("1001") == [message]
    reopened.close()


def test_a_finished_wav_is_moved_in(tmp_path: Path) -> None:
    source = tmp_path / "recording.wav"
    samples = tone(1.2, seed=7)
    soundfile.write(source, samples, RATE, subtype="PCM_16")
    store = VoicemailStore(tmp_path / "state")
    message = store.save("general", source, caller_number="600", received_at=T0)
    assert not source.exists()
    assert message.duration == pytest.approx(1.2)
    assert message.caller_name == "" and message.called_number == ""
    np.testing.assert_array_equal(soundfile.read(message.path, dtype="int16")[0], samples)
    store.close()


def test_listing_order_heard_flag_and_counts(tmp_path: Path) -> None:
    store = VoicemailStore(tmp_path)
    late = save(store, received_at=T0 + timedelta(minutes=5), seed=2)
    early = save(store, received_at=T0, seed=3)
    other = save(store, mailbox="1002")
    assert [m.id for m in store.list("1001")] == [early.id, late.id]
    assert store.mark_heard(early.id)
    assert store.counts("1001") == (1, 1)
    assert [m.id for m in store.list("1001", include_heard=False)] == [late.id]
    heard = store.get(early.id)
    assert heard is not None and heard.heard
    assert store.mark_heard(early.id, heard=False)
    assert store.counts("1001") == (2, 0)
    assert not store.mark_heard(9999)
    assert store.counts("1002") == (1, 0)
    assert store.list("1002") == [other]
    store.close()


def test_delete_removes_the_file_and_keeps_the_row_marked(tmp_path: Path) -> None:
    store = VoicemailStore(tmp_path)
    keep, gone = save(store, seed=1), save(store, seed=2)
    assert store.delete(gone.id)
    assert not gone.path.exists() and keep.path.exists()
    assert store.list("1001") == [keep]
    assert store.counts("1001") == (1, 0)
    assert store.get(gone.id) is None
    assert not store.delete(gone.id)
    assert not store.mark_heard(gone.id)
    assert rows(tmp_path) == [(keep.id, "1001", 0), (gone.id, "1001", 1)]
    # Ids are never reused, so a stale reference can never reach a newer message.
    assert save(store, seed=3).id > gone.id
    store.close()


def test_pending_mail_survives_a_restart_until_marked(tmp_path: Path) -> None:
    store = VoicemailStore(tmp_path)
    quiet = save(store, mail=False)
    first = save(store, mail=True, seed=2)
    second = save(store, mail=True, seed=3)
    deleted = save(store, mail=True, seed=4)
    store.delete(deleted.id)
    assert [m.id for m in store.pending_mail()] == [first.id, second.id]
    assert store.mark_mailed(first.id)
    store.close()
    store = VoicemailStore(tmp_path)
    assert [m.id for m in store.pending_mail()] == [second.id]
    assert quiet.id not in [m.id for m in store.pending_mail()]
    assert not store.mark_mailed(deleted.id)
    store.close()


@pytest.mark.parametrize("name", ["", "../etc", "a/b", "x.y", ".hidden", "a b"])
def test_mailbox_names_stay_inside_the_store(tmp_path: Path, name: str) -> None:
    store = VoicemailStore(tmp_path)
    with pytest.raises(ValueError):
        save(store, mailbox=name)
    assert rows(tmp_path) == []
    store.close()


def test_bad_input_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    store = VoicemailStore(tmp_path)
    with pytest.raises(ValueError, match="timezone"):
        save(store, received_at=datetime(2026, 1, 15, 10, 30))  # naive
    with pytest.raises(ValueError, match="int16"):
        store.save("1001", tone(1).astype(np.float32), caller_number="1", received_at=T0)
    not_audio = tmp_path / "notes.wav"
    not_audio.write_bytes(b"this is not audio")
    with pytest.raises(VoicemailError):
        store.save("1001", not_audio, caller_number="1", received_at=T0)
    assert not_audio.read_bytes() == b"this is not audio"
    assert wavs(tmp_path) == [] and rows(tmp_path) == []
    store.close()


def test_failure_after_the_rename_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = VoicemailStore(tmp_path)
    real_publish = voicemail._publish

    def publish_then_fail(temporary: Path, final: Path) -> None:
        real_publish(temporary, final)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(voicemail, "_publish", publish_then_fail)
    with pytest.raises(VoicemailError, match="No space left"):
        save(store)
    assert wavs(tmp_path) == [] and rows(tmp_path) == []
    assert store.counts("1001") == (0, 0)
    store.close()


def test_failed_insert_leaves_nothing_and_the_source_file_intact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "rec.wav"
    soundfile.write(source, tone(0.5), RATE, subtype="PCM_16")
    before = source.read_bytes()
    store = VoicemailStore(tmp_path / "state")

    def broken_insert(values: tuple[object, ...]) -> int:
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(store, "_insert", broken_insert)
    with pytest.raises(VoicemailError, match="locked"):
        store.save("1001", source, caller_number="1", received_at=T0)
    assert source.read_bytes() == before
    assert wavs(tmp_path / "state") == [] and rows(tmp_path / "state") == []
    store.close()


def test_failed_fsync_of_the_temporary_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = VoicemailStore(tmp_path)
    first = save(store)  # the mailbox directory exists: the next fsync is the new WAV's
    synced: list[int] = []

    def failing_fsync(fd: int) -> None:
        synced.append(fd)
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(VoicemailError, match="Input/output"):
        save(store, seed=2)
    monkeypatch.undo()
    assert len(synced) == 1
    assert wavs(tmp_path) == [first.path.name]
    assert [m.id for m in store.list("1001")] == [first.id]
    store.close()


# A real crash runs no cleanup, so it is simulated in a child process that dies with
# os._exit() at the chosen step; the parent then "restarts" by opening the store.
_CRASH = """
import os, sys
from datetime import datetime, UTC
from pathlib import Path
import numpy as np
from softswitch.storage import voicemail

point = sys.argv[2]
real_publish, real_insert = voicemail._publish, voicemail.VoicemailStore._insert

def publish(temporary, final):
    if point == "before_rename":
        os._exit(70)
    real_publish(temporary, final)
    if point == "after_rename":
        os._exit(70)

def insert(self, values):
    message_id = real_insert(self, values)
    if point == "after_commit":
        os._exit(70)
    return message_id

voicemail._publish = publish
voicemail.VoicemailStore._insert = insert
store = voicemail.VoicemailStore(Path(sys.argv[1]))
samples = np.arange(-4000, 4000, dtype=np.int16)
store.save("1001", samples, caller_number="600", received_at=datetime(2026, 1, 15, tzinfo=UTC))
"""


@pytest.mark.parametrize(
    ("point", "debris", "survives"),
    [
        ("before_rename", ".tmp", False),
        ("after_rename", ".wav", False),
        ("after_commit", ".wav", True),
    ],
)
def test_a_crash_leaves_nothing_or_a_complete_message(
    tmp_path: Path, point: str, debris: str, survives: bool
) -> None:
    child = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_CRASH), str(tmp_path), point],
        cwd=ROOT,
        capture_output=True,
        check=False,
    )
    assert child.returncode == 70, child.stderr.decode()
    left = wavs(tmp_path)
    assert len(left) == 1 and left[0].endswith(debris)  # the crash really left a file
    store = VoicemailStore(tmp_path)
    messages = store.list("1001")
    if survives:
        assert len(messages) == 1 and wavs(tmp_path) == [messages[0].path.name]
        read = soundfile.read(messages[0].path, dtype="int16")[0]
        np.testing.assert_array_equal(read, np.arange(-4000, 4000, dtype=np.int16))
        assert messages[0].duration == 1.0
    else:
        assert messages == [] and wavs(tmp_path) == [] and rows(tmp_path) == []
    store.close()


def test_a_crash_between_deleting_the_row_and_the_file_is_finished_at_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = VoicemailStore(tmp_path)
    message = save(store)
    monkeypatch.setattr(Path, "unlink", lambda self, missing_ok=False: None)  # "crash"
    assert store.delete(message.id)
    monkeypatch.undo()
    assert message.path.exists()
    store.close()
    VoicemailStore(tmp_path).close()
    assert not message.path.exists()


def test_only_the_owning_store_sweeps(tmp_path: Path) -> None:
    server = VoicemailStore(tmp_path)
    save(server)
    in_progress = tmp_path / "voicemail" / "1001" / ".abc.tmp"
    in_progress.write_bytes(b"half a message being written by the server")
    admin = VoicemailStore(tmp_path)  # e.g. a CLI command while the server runs
    assert in_progress.exists()
    assert admin.counts("1001") == (1, 0)  # it still reads the index
    admin.close()
    server.close()
    VoicemailStore(tmp_path).close()
    assert not in_progress.exists()


def test_a_message_whose_file_vanished_is_not_counted_after_restart(tmp_path: Path) -> None:
    store = VoicemailStore(tmp_path)
    lost, kept = save(store, seed=1), save(store, seed=2)
    store.close()
    lost.path.unlink()
    (tmp_path / "voicemail" / "1001" / "readme.txt").write_text("admin's note")
    store = VoicemailStore(tmp_path)
    assert store.list("1001") == [kept]
    assert (tmp_path / "voicemail" / "1001" / "readme.txt").exists()  # not ours to delete
    store.close()


def test_concurrent_threads_share_one_store(tmp_path: Path) -> None:
    store = VoicemailStore(tmp_path)
    errors: list[BaseException] = []

    def worker(index: int) -> None:
        try:
            for n in range(5):
                message = save(store, seconds=0.1, seed=index * 10 + n, mailbox=f"m{index}")
                if n % 2:
                    store.mark_heard(message.id)
                store.counts(f"m{index}")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    for index in range(6):
        assert store.counts(f"m{index}") == (3, 2)
        assert len(wavs(tmp_path, f"m{index}")) == 5
    assert len({m.id for i in range(6) for m in store.list(f"m{i}")}) == 30
    store.close()


def test_an_unusable_state_dir_is_a_clear_error(tmp_path: Path) -> None:
    occupied = tmp_path / "state"
    occupied.write_text("a file where the state directory should be")
    with pytest.raises(VoicemailError, match="cannot open the voicemail store"):
        VoicemailStore(occupied)
