"""Registrations persisted in SQLite so that phones stay reachable across a restart.

Write batching: ``save``/``delete``/``delete_aor`` only record the wanted final state in memory
(the last write per binding wins, so a phone refreshing every minute costs one row update per
flush, not one per REGISTER). ``flush()`` applies everything in one transaction. The owner
(LocationService) calls ``flush()`` after loading; the application calls it every second or so
and at shutdown. The queue flushes itself past ``autoflush_at`` pending bindings so memory
stays bounded even if nobody calls it. A crash loses at most the registrations since the last
flush, which the phones restore with their next refresh.

The database runs in WAL mode with ``synchronous=NORMAL``: a commit does not wait for fsync
(only checkpoints do), which keeps ``flush()`` cheap. The connection is opened with
``check_same_thread=False`` and guarded by a lock, so ``flush()`` may be run in a worker thread
(``asyncio.to_thread``) while the event loop keeps queueing writes.
"""

from __future__ import annotations

import pathlib
import sqlite3
import threading
from dataclasses import dataclass, fields

__all__ = ["BindingRow", "RegistrationStore"]


@dataclass(frozen=True, slots=True)
class BindingRow:
    """One stored binding: plain values mirroring ``softswitch.sip.location.Binding``."""

    aor: str
    contact: str
    transport: str
    source_host: str
    source_port: int
    expires_at: float  # wall time, seconds since the epoch
    call_id: str
    cseq: int
    q: float | None
    user_agent: str
    instance: str | None


_COLUMNS = tuple(f.name for f in fields(BindingRow))
_SCHEMA = """
CREATE TABLE IF NOT EXISTS registrations (
    aor TEXT NOT NULL,
    contact TEXT NOT NULL,
    transport TEXT NOT NULL,
    source_host TEXT NOT NULL,
    source_port INTEGER NOT NULL,
    expires_at REAL NOT NULL,
    call_id TEXT NOT NULL,
    cseq INTEGER NOT NULL,
    q REAL,
    user_agent TEXT NOT NULL,
    instance TEXT,
    PRIMARY KEY (aor, contact)
) WITHOUT ROWID
"""
_UPSERT = (
    f"INSERT OR REPLACE INTO registrations ({', '.join(_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(_COLUMNS))})"
)
_SELECT = f"SELECT {', '.join(_COLUMNS)} FROM registrations"


def _params(row: BindingRow) -> tuple[object, ...]:
    # Spelled out: dataclasses.astuple deep-copies every field, which is slow on a hot path.
    return (
        row.aor,
        row.contact,
        row.transport,
        row.source_host,
        row.source_port,
        row.expires_at,
        row.call_id,
        row.cseq,
        row.q,
        row.user_agent,
        row.instance,
    )


# aor → contact → row to write, or None to delete.
_Pending = dict[str, dict[str, BindingRow | None]]


class RegistrationStore:
    def __init__(self, path: pathlib.Path, autoflush_at: int = 10_000) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Autocommit mode: transactions are opened explicitly in flush().
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(_SCHEMA)
        self._autoflush_at = autoflush_at
        self._pending: _Pending = {}
        self._pending_count = 0
        self._dropped_aors: set[str] = set()
        self._queue_lock = threading.Lock()  # guards _pending/_dropped_aors
        self._db_lock = threading.Lock()  # one writer on the connection at a time

    def load(self, now: float | None = None) -> list[BindingRow]:
        """Every stored binding; with ``now``, expired rows are deleted instead of returned."""
        with self._db_lock:
            if now is not None:
                self._db.execute("DELETE FROM registrations WHERE expires_at <= ?", (now,))
                rows = self._db.execute(_SELECT + " WHERE expires_at > ?", (now,)).fetchall()
            else:
                rows = self._db.execute(_SELECT).fetchall()
        return [BindingRow(*row) for row in rows]

    def save(self, row: BindingRow) -> None:
        """Queue an insert-or-replace of the binding (aor, contact)."""
        self._queue(row.aor, row.contact, row)

    def delete(self, aor: str, contact: str) -> None:
        self._queue(aor, contact, None)

    def delete_aor(self, aor: str) -> None:
        with self._queue_lock:
            dropped = self._pending.pop(aor, None)
            if dropped:
                self._pending_count -= len(dropped)
            self._dropped_aors.add(aor)

    def _queue(self, aor: str, contact: str, row: BindingRow | None) -> None:
        with self._queue_lock:
            per_aor = self._pending.setdefault(aor, {})
            if contact not in per_aor:
                self._pending_count += 1
            per_aor[contact] = row
            full = self._pending_count >= self._autoflush_at
        if full:
            self.flush()

    def pending(self) -> int:
        """Binding writes waiting for the next flush."""
        return self._pending_count

    def flush(self) -> None:
        """Write everything queued so far in one transaction."""
        # The database lock is taken first, so concurrent flushes commit in the order in which
        # they took their batch: an older batch can never overwrite a newer one.
        with self._db_lock:
            with self._queue_lock:
                pending, self._pending, self._pending_count = self._pending, {}, 0
                dropped, self._dropped_aors = self._dropped_aors, set()
            if pending or dropped:
                self._write(pending, dropped)

    def _write(self, pending: _Pending, dropped: set[str]) -> None:
        upserts: list[tuple[object, ...]] = []
        deletes: list[tuple[str, str]] = []
        for aor, per_aor in pending.items():
            for contact, row in per_aor.items():
                if row is None:
                    deletes.append((aor, contact))
                else:
                    upserts.append(_params(row))
        db = self._db
        db.execute("BEGIN")
        try:
            # Whole-AOR deletions were queued before any write still pending for that AOR.
            db.executemany("DELETE FROM registrations WHERE aor = ?", [(a,) for a in dropped])
            db.executemany("DELETE FROM registrations WHERE aor = ? AND contact = ?", deletes)
            db.executemany(_UPSERT, upserts)
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def close(self) -> None:
        """Flush what is queued and close the database."""
        self.flush()
        with self._db_lock:
            self._db.close()
