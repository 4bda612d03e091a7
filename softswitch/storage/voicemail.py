"""Voicemail messages: one WAV file each, per mailbox, indexed in SQLite.

Layout under ``state_dir/voicemail/``: ``index.sqlite3`` and one directory per mailbox holding
``<UTC time>-<random>.wav`` files (8 kHz mono 16-bit, what every player and ``soundfile`` read).

A caller who heard "message saved" must find the message there after any crash, and nobody
must ever find half a message. So storing is ordered: the WAV is written under a temporary
name and fsynced, renamed into place (and the directory fsynced), and only then the row is
inserted, in one transaction, with ``synchronous=FULL`` so the commit itself is durable. A
crash before the commit leaves a file without a row; at start the store removes every WAV or
temporary file that no live row names (and the files of messages deleted just before a
crash), so what is left is either nothing or a complete message. The sweep runs only in the
store that holds ``.lock``: an admin command opening the store while the server runs must
not delete the file of a message being saved.

Messages are deleted softly: the row stays (``deleted = 1``, for reports) and the file goes.
A message may also wait for its e-mail: ``pending_mail()`` lists those not yet sent, so a
mail server that is down at the time, or a restart, never loses the notification.

Blocking I/O throughout: the caller runs it in a worker thread. One connection, guarded by a
lock, so several threads may use one store.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import sqlite3
import sys
import tempfile
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import numpy as np
import soundfile
from numpy.typing import NDArray

if sys.platform != "win32":
    import fcntl

__all__ = ["RATE", "Message", "VoicemailError", "VoicemailStore"]

RATE = 8000
DIRECTORY = "voicemail"
INDEX = "index.sqlite3"
_LOCK = ".lock"
_TEMP_SUFFIX = ".tmp"
# One path component and nothing special: a mailbox name never climbs out of its directory.
_MAILBOX_RE = re.compile(r"^[\w+-]+$")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    -- AUTOINCREMENT: ids are never reused, so a late mail retry cannot hit a newer message
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    mailbox TEXT NOT NULL,
    caller_number TEXT NOT NULL,
    caller_name TEXT NOT NULL,
    called_number TEXT NOT NULL,
    received_at TEXT NOT NULL,  -- UTC, ISO 8601 with microseconds: exact and sortable as text
    duration REAL NOT NULL,     -- seconds
    path TEXT NOT NULL,         -- relative to the voicemail directory, so state_dir may move
    heard INTEGER NOT NULL DEFAULT 0,
    deleted INTEGER NOT NULL DEFAULT 0,
    mail_pending INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS messages_mailbox ON messages (mailbox, deleted, received_at);
CREATE INDEX IF NOT EXISTS messages_mail ON messages (mail_pending) WHERE mail_pending = 1;
"""
_COLUMNS = (
    "id, mailbox, caller_number, caller_name, called_number, received_at, duration, path, heard"
)
_SELECT = f"SELECT {_COLUMNS} FROM messages WHERE deleted = 0"
_INSERT = (
    "INSERT INTO messages (mailbox, caller_number, caller_name, called_number, received_at, "
    "duration, path, mail_pending) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)

Audio = NDArray[np.int16] | Path


class VoicemailError(Exception):
    """A message that cannot be stored or a store that cannot be opened, and why."""


@dataclass(frozen=True, slots=True)
class Message:
    """One live voicemail message."""

    id: int
    mailbox: str
    caller_number: str
    caller_name: str
    called_number: str
    received_at: datetime  # aware, UTC
    duration: float  # seconds
    path: Path  # absolute
    heard: bool


_Messages = list[Message]  # spelled once: inside the class, ``list`` is the method


class VoicemailStore:
    def __init__(self, state_dir: Path) -> None:
        self._root = Path(state_dir) / DIRECTORY
        try:
            self._root.mkdir(parents=True, exist_ok=True)
            self._db = _open_index(self._root / INDEX)
        except (OSError, sqlite3.Error) as exc:
            raise VoicemailError(f"cannot open the voicemail store in {self._root}: {exc}") from exc
        self._lock = threading.Lock()
        self._owner = _acquire_owner_lock(self._root / _LOCK)
        if self._owner is not None:
            self._recover()

    # -- storing ----------------------------------------------------------------------------

    def save(
        self,
        mailbox: str,
        audio: Audio,
        *,
        caller_number: str,
        received_at: datetime,
        caller_name: str = "",
        called_number: str = "",
        mail: bool = False,
    ) -> Message:
        """Store a message; ``audio`` is int16 8 kHz mono samples, or a finished WAV file.

        A file is moved in: it is removed once the message is stored, and left untouched if
        storing fails. With ``mail``, the message waits in ``pending_mail()`` until
        ``mark_mailed``.
        """
        _check_mailbox(mailbox)
        if received_at.tzinfo is None:
            raise ValueError("received_at must be timezone-aware")
        received = received_at.astimezone(UTC)
        try:
            final, duration = self._store_file(mailbox, received, audio)
            values = (mailbox, caller_number, caller_name, called_number)
            stamp = received.isoformat(timespec="microseconds")
            try:
                message_id = self._insert(
                    (*values, stamp, duration, f"{mailbox}/{final.name}", int(mail))
                )
            except BaseException:
                final.unlink(missing_ok=True)  # no row names it: nobody may find half a save
                raise
        except (OSError, sqlite3.Error, soundfile.SoundFileError) as exc:
            raise VoicemailError(f"cannot store a message in {mailbox}: {exc}") from exc
        if isinstance(audio, Path):
            audio.unlink(missing_ok=True)
        return Message(
            message_id, mailbox, caller_number, caller_name, called_number, received,
            duration, final, heard=False,
        )  # fmt: skip

    def _store_file(self, mailbox: str, received: datetime, audio: Audio) -> tuple[Path, float]:
        """The audio durably under its final name, and its duration; nothing left on failure."""
        directory = self._mailbox_dir(mailbox)
        # Random suffix: two messages in the same second never share a name.
        final = directory / f"{received:%Y%m%dT%H%M%S}Z-{secrets.token_hex(4)}.wav"
        temporary, duration = _write_temporary(directory, audio)
        try:
            _publish(temporary, final)
        except BaseException:
            temporary.unlink(missing_ok=True)
            final.unlink(missing_ok=True)  # the rename may have happened before the failure
            raise
        return final, duration

    def _insert(self, values: tuple[object, ...]) -> int:
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                message_id = db.execute(_INSERT, values).lastrowid
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        assert message_id is not None
        return message_id

    def _mailbox_dir(self, mailbox: str) -> Path:
        directory = self._root / mailbox
        if not directory.is_dir():
            directory.mkdir(exist_ok=True)
            _fsync_dir(self._root)  # the new directory entry must survive a crash too
        return directory

    # -- reading ----------------------------------------------------------------------------

    def list(self, mailbox: str, include_heard: bool = True) -> _Messages:
        """The mailbox's messages, oldest first."""
        query = _SELECT + " AND mailbox = ?" + ("" if include_heard else " AND heard = 0")
        with self._lock:
            rows = self._db.execute(query + " ORDER BY received_at, id", (mailbox,)).fetchall()
        return [self._message(row) for row in rows]

    def get(self, message_id: int) -> Message | None:
        with self._lock:
            row = self._db.execute(_SELECT + " AND id = ?", (message_id,)).fetchone()
        return None if row is None else self._message(row)

    def counts(self, mailbox: str) -> tuple[int, int]:
        """(new, old): unheard and heard live messages, what the MWI lamp shows."""
        with self._lock:
            new, old = self._db.execute(
                "SELECT COALESCE(SUM(heard = 0), 0), COALESCE(SUM(heard = 1), 0) FROM messages"
                " WHERE mailbox = ? AND deleted = 0",
                (mailbox,),
            ).fetchone()
        return int(new), int(old)

    def pending_mail(self) -> _Messages:
        """Live messages whose e-mail has not gone out yet, oldest first."""
        with self._lock:
            rows = self._db.execute(_SELECT + " AND mail_pending = 1 ORDER BY id").fetchall()
        return [self._message(row) for row in rows]

    def _message(self, row: tuple[Any, ...]) -> Message:
        mid, mailbox, number, name, called, received, duration, path, heard = row
        return Message(
            id=int(mid),
            mailbox=str(mailbox),
            caller_number=str(number),
            caller_name=str(name),
            called_number=str(called),
            received_at=datetime.fromisoformat(str(received)),
            duration=float(duration),
            path=self._root / str(path),
            heard=bool(heard),
        )

    # -- changing ---------------------------------------------------------------------------

    def mark_heard(self, message_id: int, heard: bool = True) -> bool:
        """Mark a message heard (or new again); False if there is no such live message."""
        return self._update("UPDATE messages SET heard = ?", (int(heard),), message_id)

    def mark_mailed(self, message_id: int) -> bool:
        return self._update("UPDATE messages SET mail_pending = 0", (), message_id)

    def delete(self, message_id: int) -> bool:
        """Delete a message and its file; False if there is no such live message."""
        with self._lock:
            row = self._db.execute(
                "SELECT path FROM messages WHERE id = ? AND deleted = 0", (message_id,)
            ).fetchone()
            if row is None:
                return False
            # Row first, file second: a crash in between leaves a file that the next start
            # sweeps, never a listed message without its audio.
            self._db.execute("UPDATE messages SET deleted = 1 WHERE id = ?", (message_id,))
        (self._root / row[0]).unlink(missing_ok=True)
        return True

    def _update(self, statement: str, params: tuple[object, ...], message_id: int) -> bool:
        with self._lock:
            cursor = self._db.execute(
                statement + " WHERE id = ? AND deleted = 0", (*params, message_id)
            )
        return cursor.rowcount > 0

    def close(self) -> None:
        with self._lock:
            self._db.close()
        if self._owner is not None:
            self._owner.close()  # releases the lock
            self._owner = None

    # -- recovery ---------------------------------------------------------------------------

    def _recover(self) -> None:
        """Remove what a crash left half done; forget messages whose file is gone."""
        with self._lock:
            live = {
                path: mid
                for mid, path in self._db.execute("SELECT id, path FROM messages WHERE deleted = 0")
            }
            for directory in self._root.iterdir():
                if directory.is_dir():
                    _sweep(directory, live)
            missing = [(mid,) for path, mid in live.items() if not (self._root / path).is_file()]
            self._db.executemany("UPDATE messages SET deleted = 1 WHERE id = ?", missing)


def _open_index(path: Path) -> sqlite3.Connection:
    # Autocommit mode: the one multi-statement write (save) opens its transaction itself.
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    # FULL: a commit is on disk before save() returns; voicemail writes are rare.
    db.execute("PRAGMA synchronous=FULL")
    db.executescript(_SCHEMA)
    return db


def _sweep(directory: Path, live: dict[str, int]) -> None:
    for entry in directory.iterdir():
        # Only our own kinds of file: anything else in there is the admin's business.
        if entry.suffix not in (".wav", _TEMP_SUFFIX) or not entry.is_file():
            continue
        if f"{directory.name}/{entry.name}" not in live:
            entry.unlink(missing_ok=True)


def _check_mailbox(mailbox: str) -> None:
    if not _MAILBOX_RE.match(mailbox):
        raise ValueError(f"not a usable mailbox name: {mailbox!r}")


def _acquire_owner_lock(path: Path) -> IO[bytes] | None:
    """The open lock file if this store is the only owner of the directory, else None."""
    if sys.platform == "win32":  # pragma: no cover - the server runs on POSIX
        return None
    file = path.open("ab")
    try:
        fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        file.close()
        return None
    return file


# -- the steps of a save, module functions so a test can fail (or crash) between them ----------


def _write_temporary(directory: Path, audio: Audio) -> tuple[Path, float]:
    """A durable copy of the audio under a temporary name, and its duration in seconds."""
    if isinstance(audio, Path):
        return _adopt_file(directory, audio)
    if not isinstance(audio, np.ndarray) or audio.ndim != 1 or audio.dtype != np.int16:
        raise ValueError("samples must be a one-dimensional int16 array (8 kHz mono)")
    fd, name = tempfile.mkstemp(dir=directory, prefix=".", suffix=_TEMP_SUFFIX)
    temporary = Path(name)
    try:
        with os.fdopen(fd, "wb") as file:
            soundfile.write(file, audio, RATE, format="WAV", subtype="PCM_16")
            file.flush()
            os.fsync(file.fileno())
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return temporary, audio.size / RATE


def _adopt_file(directory: Path, source: Path) -> tuple[Path, float]:
    try:
        info = soundfile.info(str(source))
    except (soundfile.SoundFileError, RuntimeError) as exc:
        raise VoicemailError(f"{source}: not a readable audio file: {exc}") from exc
    temporary = directory / f".{secrets.token_hex(8)}{_TEMP_SUFFIX}"
    try:
        try:
            os.link(source, temporary)  # same file system: no copy, and the source stays intact
        except OSError:
            shutil.copyfile(source, temporary)
        with temporary.open("rb") as file:
            os.fsync(file.fileno())  # the recorder flushed it, but never fsynced it
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return temporary, info.frames / info.samplerate


def _publish(temporary: Path, final: Path) -> None:
    os.replace(temporary, final)
    _fsync_dir(final.parent)


def _fsync_dir(directory: Path) -> None:
    if sys.platform == "win32":  # pragma: no cover - directories cannot be opened there
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
