"""Call history: one SQLite row per finished call, written so that no finished call is lost.

The file is ``state_dir/history.sqlite3``. Rows are written when a call ends, from the event
loop, so ``add`` must cost next to nothing there: it only appends the record to an in-memory
queue. One writer thread of this store takes everything queued, inserts it in one transaction
and commits with ``synchronous=FULL``, so a commit is on disk before the writer moves on; a burst
of hang-ups costs one fsync, not one per call. Commits are at least ``_COMMIT_GAP`` (50 ms)
apart: a lone call's row is written at once, and under load a row waits at most that long
for the others of its gap (one transaction costs ~0.3 ms of CPU whatever its size).
``flush()`` waits until everything added before it is committed (``close()`` flushes, then
stops the writer). A crash of the process loses only what was still queued, never a
committed row; the app flushes at shutdown.

A write that fails for a reason that may pass (a full disk, an I/O error, a locked file) is
logged and retried after ``retry_interval`` seconds with the same batch, so the order of rows
is kept and nothing is dropped while the server runs; ``close()`` tries once more, then gives
up, logging how many rows were lost. A failure that cannot pass (a corrupt file) loses that
batch, logged, rather than stopping the writer and every later ``flush()`` with it.

Agent forms (``set_form``) live in their own table keyed by Call-ID: the agent may save the
form during the call, before its row exists, or after it. Queries join the two. ``set_form``
goes through the same queue, so the last entry saved wins.

``CallHistory(path, read_only=True)`` is what ``softswitch calls --history`` opens: no writer,
a read-only connection (WAL lets it read while the server writes), and an error if there is no
history file yet. Queries see committed rows only.

Times are stored as UTC ISO 8601 text with microseconds: exact, and sortable as text.
"""

from __future__ import annotations

import collections
import logging
import math
import sqlite3
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from softswitch.storage.call_record import (
    DIRECTIONS,
    DISPOSITIONS,
    MISSED,
    MISSED_DIRECTIONS,
    CallRecord,
    MissedCount,
    stamp,
    utc,
)

__all__ = [
    "DIRECTIONS",
    "DISPOSITIONS",
    "FILE_NAME",
    "MISSED",
    "CallHistory",
    "CallRecord",
    "HistoryError",
    "MissedCount",
    "history_path",
]

log = logging.getLogger("softswitch.storage")

FILE_NAME = "history.sqlite3"
_BATCH = 500  # rows per transaction at most: a huge backlog never holds the file for long
_COMMIT_GAP = 0.05  # seconds between two commits at least: the most a row waits for company
_SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS calls (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    call_id TEXT NOT NULL,
    direction TEXT NOT NULL,
    caller TEXT NOT NULL,
    caller_name TEXT NOT NULL,
    callee TEXT NOT NULL,
    did TEXT NOT NULL,
    started TEXT NOT NULL,   -- UTC, ISO 8601 with microseconds
    answered TEXT,
    ended TEXT NOT NULL,
    duration REAL NOT NULL,  -- seconds; derived, kept for people who query the file directly
    billed REAL NOT NULL,
    disposition TEXT NOT NULL,
    place TEXT NOT NULL,     -- "", "group:NAME" or "queue:NAME"
    agent TEXT NOT NULL,
    recording TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS calls_started ON calls (started);
CREATE INDEX IF NOT EXISTS calls_call_id ON calls (call_id);
CREATE TABLE IF NOT EXISTS forms (
    call_id TEXT PRIMARY KEY,
    form TEXT NOT NULL
) WITHOUT ROWID;
"""
_INSERT = (
    "INSERT INTO calls (call_id, direction, caller, caller_name, callee, did, started, answered,"
    " ended, duration, billed, disposition, place, agent, recording)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_UPSERT_FORM = "INSERT OR REPLACE INTO forms (call_id, form) VALUES (?, ?)"
_SELECT = (
    "SELECT c.call_id, c.direction, c.caller, c.caller_name, c.callee, c.did, c.started,"
    " c.answered, c.ended, c.disposition, c.place, c.agent, c.recording, COALESCE(f.form, '')"
    " FROM calls c LEFT JOIN forms f ON f.call_id = c.call_id"
)


class HistoryError(Exception):
    """A history file that cannot be opened or read, and why."""


def history_path(state_dir: Path) -> Path:
    return Path(state_dir) / FILE_NAME


def _params(r: CallRecord) -> tuple[object, ...]:
    answered = None if r.answered is None else stamp(r.answered)
    return (
        _text(r.call_id), r.direction, _text(r.caller), _text(r.caller_name), _text(r.callee),
        _text(r.did), stamp(r.started), answered, stamp(r.ended), r.duration, r.billed,
        r.disposition, _text(r.place), _text(r.agent), _text(r.recording),
    )  # fmt: skip


def _text(value: str) -> str:
    """``value`` as SQLite can store it: names and numbers from the wire may carry lone
    surrogates (undecodable bytes), which would make the whole batch fail again and again."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "".join("\ufffd" if "\ud800" <= c <= "\udfff" else c for c in value)
    return value


_FIELDS = tuple(f.name for f in fields(CallRecord) if f.init)  # the columns of _SELECT, in order


def _record(row: tuple[Any, ...]) -> CallRecord:
    values = dict(zip(_FIELDS, row, strict=True))
    for name in ("started", "answered", "ended"):
        if values[name] is not None:
            values[name] = datetime.fromisoformat(values[name])
    return CallRecord(**values)


@dataclass(frozen=True, slots=True)
class _FormEntry:
    call_id: str
    form: str


# What the writer thread is asked to do, in order: store a call, or store a form entry.
_Job = CallRecord | _FormEntry


class CallHistory:
    """The call history at ``path``; see the module docstring for the write path."""

    def __init__(self, path: Path, *, read_only: bool = False, retry_interval: float = 1.0) -> None:
        self.path = Path(path)
        self._read_lock = threading.Lock()
        self._cond = threading.Condition()  # guards everything below; wakes writer and flushers
        self._queue: collections.deque[_Job] = collections.deque()
        self._queued = 0  # jobs ever queued
        self._done = 0  # jobs ever committed (or, at close, given up)
        self._closing = False
        self._idle = False  # the writer waits for a job (not committing, not in its gap)
        self._retry_interval = retry_interval
        self._writer: threading.Thread | None = None
        self._read_only = read_only
        if read_only:
            self._reader = _open_read_only(self.path)
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = _open_writer(self.path)
            self._reader = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        except (OSError, sqlite3.Error) as exc:
            raise HistoryError(f"cannot open the call history {self.path}: {exc}") from exc
        self._writer = threading.Thread(target=self._write_loop, name="call-history", daemon=True)
        self._writer.start()

    # -- writing (from the event loop: no I/O here) -----------------------------------------

    def add(self, record: CallRecord) -> None:
        """Queue a finished call's row; it is durable once the writer commits it."""
        self._submit(record)

    def set_form(self, call_id: str, json_text: str) -> None:
        """Queue the agent's form entry for a call (before or after its row is written)."""
        self._submit(_FormEntry(call_id, json_text))

    def _submit(self, job: _Job) -> None:
        with self._cond:
            if self._closing:
                raise HistoryError("the call history is closed")
            if self._read_only:
                raise HistoryError(f"{self.path} is open read-only")
            self._queue.append(job)
            self._queued += 1
            if self._idle:  # else the writer is busy or in its gap, and takes the job then:
                self._cond.notify_all()  # waking it per job cost a thread switch each

    def pending(self) -> int:
        """Rows and form entries queued and not committed yet."""
        with self._cond:
            return self._queued - self._done

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything added so far is committed; False if ``timeout`` ran out."""
        with self._cond:
            target = self._queued
            return self._cond.wait_for(lambda: self._done >= target, timeout)

    def close(self) -> None:
        """Commit what is queued, stop the writer, close the file. Idempotent."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        writer = self._writer
        if writer is not None:
            writer.join()
            self._writer = None
            self._db.close()
        with self._read_lock:
            self._reader.close()

    # -- the writer thread --------------------------------------------------------------------

    def _write_loop(self) -> None:
        last_commit = -math.inf
        while True:
            with self._cond:
                self._idle = True
                self._cond.wait_for(lambda: bool(self._queue) or self._closing)
                self._idle = False
                # Group commit: at most one transaction per _COMMIT_GAP. A lone call's row is
                # written at once; under a burst of hang-ups the rows of the gap share one
                # commit (a transaction costs ~0.3 ms of CPU here whatever its size, which at
                # hundreds of calls a second took as much of the interpreter as SIP parsing).
                wait = last_commit + _COMMIT_GAP - time.monotonic()
                if wait > 0:
                    self._cond.wait_for(lambda: self._closing, wait)
                if not self._queue:
                    return  # closing, and everything is written
                batch = [self._queue[i] for i in range(min(len(self._queue), _BATCH))]
                closing = self._closing
            last_commit = time.monotonic()
            if not self._commit(batch, closing):
                continue  # kept in the queue: tried again after the pause
            with self._cond:
                for _ in batch:
                    self._queue.popleft()
                self._done += len(batch)
                self._cond.notify_all()

    def _commit(self, batch: list[_Job], closing: bool) -> bool:
        """Write one batch; True when it is done with (committed, or given up)."""
        try:
            _write_batch(self._db, batch)
        except sqlite3.OperationalError as exc:  # disk full, I/O error, locked: may pass
            if closing:
                log.error(
                    "call history %s: %d row(s) lost at close: %s", self.path, len(batch), exc
                )
                return True
            log.warning("call history %s: write failed, retrying: %s", self.path, exc)
            with self._cond:  # the pause ends early if close() is called meanwhile
                self._cond.wait_for(lambda: self._closing, self._retry_interval)
            return False
        except Exception:  # a corrupt file, or a bug: retrying cannot help, and the thread
            # must live on, or every later flush() would wait forever
            log.exception("call history %s: %d row(s) lost", self.path, len(batch))
        return True

    # -- reading ------------------------------------------------------------------------------

    def query(
        self,
        since: datetime | None = None,
        until: datetime | None = None,
        direction: str | None = None,
        missed_only: bool = False,
        extension: str | None = None,
    ) -> list[CallRecord]:
        """Committed calls that started in [since, until), oldest first.

        ``direction`` is one of DIRECTIONS, or "missed" (the same as ``missed_only``: a
        missed disposition on an inbound or internal call). ``extension`` keeps the calls it
        made, was dialled on, or answered.
        """
        where, params = _time_filter(since, until)
        if direction == "missed":
            missed_only = True
        elif direction is not None:
            if direction not in DIRECTIONS:
                raise ValueError(f"direction must be one of {DIRECTIONS} or 'missed'")
            where.append("c.direction = ?")
            params.append(direction)
        if missed_only:
            where.append(_missed_clause())
        if extension is not None:
            where.append("? IN (c.caller, c.callee, c.agent)")
            params.append(extension)
        rows = self._read(_SELECT + _where(where) + " ORDER BY c.started, c.id", params)
        return [_record(row) for row in rows]

    def missed(
        self,
        by: Literal["extension", "group", "queue"] = "extension",
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[MissedCount]:
        """Missed calls counted per extension (calls that rang one extension), per ring
        group or per queue; the most missed first."""
        where, params = _time_filter(since, until)
        where.append(_missed_clause())
        if by == "extension":
            name = "c.callee"
            where.append("c.place = ''")
        elif by in ("group", "queue"):
            name = f"substr(c.place, {len(by) + 2})"
            where.append("c.place LIKE ?")
            params.append(f"{by}:%")
        else:
            raise ValueError(f"by must be extension, group or queue, not {by!r}")
        sql = (
            f"SELECT {name}, COUNT(*), MAX(c.started) FROM calls c{_where(where)}"
            f" GROUP BY {name} ORDER BY COUNT(*) DESC, {name}"
        )
        rows = self._read(sql, params)
        return [MissedCount(n, int(k), datetime.fromisoformat(last)) for n, k, last in rows]

    def _read(self, sql: str, params: list[object]) -> list[tuple[Any, ...]]:
        try:
            with self._read_lock:
                return self._reader.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise HistoryError(f"cannot read the call history {self.path}: {exc}") from exc


def _time_filter(since: datetime | None, until: datetime | None) -> tuple[list[str], list[object]]:
    where: list[str] = []
    params: list[object] = []
    if since is not None:
        where.append("c.started >= ?")
        params.append(stamp(utc(since, "since")))
    if until is not None:
        where.append("c.started < ?")
        params.append(stamp(utc(until, "until")))
    return where, params


def _missed_clause() -> str:
    # Constants from this module, never user input: safe to spell into the SQL.
    dispositions = ", ".join(f"'{d}'" for d in MISSED)
    directions = ", ".join(f"'{d}'" for d in MISSED_DIRECTIONS)
    return f"c.disposition IN ({dispositions}) AND c.direction IN ({directions})"


def _where(clauses: list[str]) -> str:
    return " WHERE " + " AND ".join(clauses) if clauses else ""


def _write_batch(db: sqlite3.Connection, batch: Iterable[_Job]) -> None:
    """One transaction: every call row and form entry of the batch, in order, or none."""
    db.execute("BEGIN IMMEDIATE")
    try:
        for job in batch:
            if isinstance(job, CallRecord):
                db.execute(_INSERT, _params(job))
            # A call's row may bring its form entry along; an empty one never erases a saved one.
            if isinstance(job, _FormEntry) or job.form:
                db.execute(_UPSERT_FORM, (_text(job.call_id), _text(job.form)))
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def _open_writer(path: Path) -> sqlite3.Connection:
    # Autocommit mode: _write_batch opens its transactions itself.
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    # FULL: a commit is on disk (WAL fsynced) before the writer counts the row as done.
    db.execute("PRAGMA synchronous=FULL")
    db.executescript(_SCHEMA)
    db.execute(f"PRAGMA user_version = {_SCHEMA_VERSION}")
    return db


def _open_read_only(path: Path) -> sqlite3.Connection:
    if not path.is_file():
        raise HistoryError(f"no call history at {path} (has the server run with this config?)")
    try:
        uri = path.resolve().as_uri() + "?mode=ro"
        db = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
        db.execute("SELECT 1 FROM calls LIMIT 1")
    except sqlite3.Error as exc:
        raise HistoryError(f"cannot read the call history {path}: {exc}") from exc
    return db
