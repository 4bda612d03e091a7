"""Registrations in a real SQLite file survive closing, reopening and a new LocationService."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from softswitch.sip.location import Aor, LocationService
from softswitch.sip.registrar import ContactRequest, Registrar
from softswitch.storage.registrations import BindingRow, RegistrationStore

T0 = 1_700_000_000.0


def row(contact: str, expires_at: float, aor: str = "1001", cseq: int = 1) -> BindingRow:
    return BindingRow(
        aor=aor,
        contact=contact,
        transport="udp",
        source_host="203.0.113.5",
        source_port=40000,
        expires_at=expires_at,
        call_id="cid",
        cseq=cseq,
        q=None,
        user_agent="UA",
        instance=None,
    )


def rows_on_disk(path: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(path) as db:
        return sorted(db.execute("SELECT aor, contact FROM registrations").fetchall())


def test_rows_round_trip_and_writes_wait_for_flush(tmp_path: Path) -> None:
    path = tmp_path / "state" / "softswitch.db"
    store = RegistrationStore(path)
    full = BindingRow("1001", "sip:a@x", "tcp", "::1", 5, T0 + 60, "c", 7, 0.25, "UA é", "<i>")
    store.save(full)
    assert store.pending() == 1
    assert rows_on_disk(path) == []  # batched: nothing written yet
    store.flush()
    assert store.pending() == 0
    assert rows_on_disk(path) == [("1001", "sip:a@x")]
    store.close()
    reopened = RegistrationStore(path)
    assert reopened.load() == [full]
    reopened.close()


def test_last_write_per_binding_wins_within_a_batch(tmp_path: Path) -> None:
    path = tmp_path / "r.db"
    store = RegistrationStore(path)
    for cseq in range(1, 101):
        store.save(row("sip:a@x", T0 + cseq, cseq=cseq))
    assert store.pending() == 1
    store.save(row("sip:b@x", T0 + 5))
    store.delete("1001", "sip:b@x")
    store.save(row("sip:c@x", T0 + 5, aor="1002"))
    store.flush()
    assert [(r.contact, r.cseq) for r in store.load()] == [("sip:a@x", 100), ("sip:c@x", 1)]
    # delete_aor drops earlier queued writes for that AOR, but not later ones.
    store.save(row("sip:d@x", T0 + 5, aor="1002"))
    store.delete_aor("1002")
    store.save(row("sip:e@x", T0 + 5, aor="1002"))
    store.close()
    assert rows_on_disk(path) == [("1001", "sip:a@x"), ("1002", "sip:e@x")]


def test_autoflush_bounds_the_queue(tmp_path: Path) -> None:
    path = tmp_path / "r.db"
    store = RegistrationStore(path, autoflush_at=10)
    for i in range(25):
        store.save(row(f"sip:{i}@x", T0 + 60))
        assert store.pending() < 10
    assert len(rows_on_disk(path)) == 20
    store.close()


def test_expired_rows_are_not_loaded_and_are_purged(tmp_path: Path) -> None:
    path = tmp_path / "r.db"
    store = RegistrationStore(path)
    store.save(row("sip:old@x", T0 - 1))
    store.save(row("sip:new@x", T0 + 100))
    store.close()
    store = RegistrationStore(path)
    assert [r.contact for r in store.load(now=T0)] == ["sip:new@x"]
    assert rows_on_disk(path) == [("1001", "sip:new@x")]
    store.close()


def test_bindings_survive_a_restart_through_the_location_service(tmp_path: Path) -> None:
    path = tmp_path / "r.db"
    store = RegistrationStore(path)
    location = LocationService(store, now=T0)
    registrar = Registrar(location, min_expires=60, max_expires=3600, default_expires=600)

    def register(uri: str, expires: int, call_id: str, now: float) -> None:
        contacts = [ContactRequest(uri, None, None, None)]
        result = registrar.register(
            Aor("1001"), contacts, expires, call_id, 1, "udp", "198.51.100.1", 5060, "UA", now
        )
        assert result.code == 200

    register("sip:1001@10.0.0.1", 3600, "a", T0)
    register("sip:1001@10.0.0.2", 60, "b", T0)
    register("sip:1001@10.0.0.3", 3600, "c", T0)
    registrar.register(Aor("1001"), [ContactRequest("sip:1001@10.0.0.3", 0, None, None)],
                       None, "c", 2, "udp", "198.51.100.1", 5060, "UA", T0 + 1)  # fmt: skip
    before = location.lookup(Aor("1001"), T0 + 1)
    store.close()  # shutdown flushes

    # Restart 2 minutes later: the 60 s binding has expired meanwhile, the other survived.
    store = RegistrationStore(path)
    revived = LocationService(store, now=T0 + 120)
    assert revived.lookup(Aor("1001"), T0 + 120) == [before[0]]
    assert revived.next_deadline() == T0 + 3600
    assert rows_on_disk(path) == [("1001", "sip:1001@10.0.0.1")]
    # Expiry is persisted too.
    assert [b.contact for b in revived.expire(T0 + 3600)] == ["sip:1001@10.0.0.1"]
    revived.flush()
    assert rows_on_disk(path) == []
    store.close()


def test_lowered_contact_cap_is_applied_on_load(tmp_path: Path) -> None:
    path = tmp_path / "r.db"
    store = RegistrationStore(path)
    for i in range(5):
        store.save(row(f"sip:{i}@x", T0 + 100 + i))
    store.close()
    store = RegistrationStore(path)
    location = LocationService(store, max_contacts_per_aor=2, now=T0)
    assert [b.contact for b in location.lookup(Aor("1001"), T0)] == ["sip:3@x", "sip:4@x"]
    assert rows_on_disk(path) == [("1001", "sip:3@x"), ("1001", "sip:4@x")]
    store.close()


def test_flush_from_a_worker_thread_while_writes_continue(tmp_path: Path) -> None:
    path = tmp_path / "r.db"
    store = RegistrationStore(path)
    done = threading.Event()

    def flusher() -> None:
        while not done.is_set():
            store.flush()

    worker = threading.Thread(target=flusher)
    worker.start()
    try:
        for i in range(2000):
            store.save(row(f"sip:{i % 50}@x", T0 + i, cseq=i))
    finally:
        done.set()
        worker.join()
    store.close()
    reopened = RegistrationStore(path)
    loaded = {r.contact: r.cseq for r in reopened.load()}
    reopened.close()
    # Whatever the interleaving, each binding ends at its latest write.
    assert loaded == {f"sip:{k}@x": 1950 + k for k in range(50)}
