"""The location service: the one owner of registration bindings (AOR → contacts).

Everyone else asks: the registrar changes bindings through ``update``/``remove``; the B2BUA
reads them with ``lookup``; the application's timer calls ``expire(now)`` at
``next_deadline()`` and ``flush()`` every second or so (see ``storage.registrations`` for why
writes are batched). All times are wall-clock seconds, so stored expiries mean the same thing
after a restart.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import NewType

from softswitch.storage.registrations import BindingRow, RegistrationStore

__all__ = ["Aor", "Binding", "LocationService"]

Aor = NewType("Aor", str)  # the extension number a phone registers for


@dataclass(frozen=True, slots=True)
class Binding:
    aor: Aor
    contact: str  # Contact URI exactly as the phone sent it
    transport: str  # "udp" / "tcp"
    source_host: str  # where its packets came from (received/rport, RFC 3581): we reach it there
    source_port: int
    expires_at: float  # wall time
    call_id: str
    cseq: int
    q: float | None
    user_agent: str
    instance: str | None  # +sip.instance, when the phone sends one (RFC 5626)

    def to_row(self) -> BindingRow:
        return BindingRow(
            self.aor,
            self.contact,
            self.transport,
            self.source_host,
            self.source_port,
            self.expires_at,
            self.call_id,
            self.cseq,
            self.q,
            self.user_agent,
            self.instance,
        )

    @classmethod
    def from_row(cls, row: BindingRow) -> Binding:
        return cls(
            Aor(row.aor),
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


class LocationService:
    """Bindings per AOR, their expiry schedule, and their persistence."""

    def __init__(
        self,
        store: RegistrationStore | None,
        max_contacts_per_aor: int = 10,
        now: float | None = None,
    ) -> None:
        """Load the persisted bindings; with ``now`` (wall time) expired ones are dropped."""
        if max_contacts_per_aor < 1:
            raise ValueError("max_contacts_per_aor must be at least 1")
        self._store = store
        self.max_contacts_per_aor = max_contacts_per_aor
        # aor → contact → binding, in order of last update (the first is the oldest).
        self._by_aor: dict[Aor, dict[str, Binding]] = {}
        self._count = 0
        # (expires_at, aor, contact), possibly stale. Every live binding has an entry at or
        # before its expiry: a refresh that moves the expiry later pushes nothing (a phone
        # refreshes far more often than it expires), and an entry found early is moved on to
        # its binding's real expiry when it reaches the top. An entry whose binding is gone
        # is dropped. Rebuilt when stale entries outnumber live ones.
        self._deadlines: list[tuple[float, Aor, str]] = []
        if store is not None:
            for row in sorted(store.load(now), key=lambda r: r.expires_at):
                self._put(Binding.from_row(row))
            store.flush()  # persists the purge of expired rows, and of any over a lowered cap

    # ------------------------------------------------------------------ queries

    def lookup(self, aor: Aor, now: float) -> list[Binding]:
        """Unexpired bindings of ``aor``, oldest registration first."""
        per_aor = self._by_aor.get(aor)
        if not per_aor:
            return []
        return [b for b in per_aor.values() if b.expires_at > now]

    def all_bindings(self) -> list[Binding]:
        """Every binding held, including any past expiry that ``expire`` has not removed yet."""
        return [b for per_aor in self._by_aor.values() for b in per_aor.values()]

    def __len__(self) -> int:
        return self._count

    def next_deadline(self) -> float | None:
        """When the earliest binding expires (call ``expire`` then), or None if none is held."""
        deadlines = self._deadlines
        while deadlines:
            expires_at, aor, contact = deadlines[0]
            binding = self._binding(aor, contact)
            if binding is None:
                heapq.heappop(deadlines)
            elif binding.expires_at != expires_at:  # refreshed since: its real expiry
                heapq.heapreplace(deadlines, (binding.expires_at, aor, contact))
            else:
                return expires_at
        return None

    def _binding(self, aor: Aor, contact: str) -> Binding | None:
        per_aor = self._by_aor.get(aor)
        return None if per_aor is None else per_aor.get(contact)

    # ------------------------------------------------------------------ changes

    def update(self, binding: Binding, replaces: str | None = None) -> list[Binding]:
        """Add or refresh ``binding`` (keyed by AOR and contact URI).

        ``replaces`` names another contact of the same AOR that this binding supersedes (the
        same phone, by +sip.instance, now at a new address). Returns the bindings removed to
        make room: ``replaces`` and, past max_contacts_per_aor, the oldest registrations.
        """
        removed: list[Binding] = []
        if replaces is not None and replaces != binding.contact:
            old = self.remove(binding.aor, replaces)
            if old is not None:
                removed.append(old)
        removed += self._put(binding)
        if self._store is not None:
            self._store.save(binding.to_row())
        return removed

    def _put(self, binding: Binding) -> list[Binding]:
        """Hold ``binding`` as the newest of its AOR; returns the oldest evicted past the cap."""
        removed: list[Binding] = []
        per_aor = self._by_aor.setdefault(binding.aor, {})
        previous = per_aor.pop(binding.contact, None)
        if previous is None:
            self._count += 1
        per_aor[binding.contact] = binding  # re-inserted: now the newest of the AOR
        while len(per_aor) > self.max_contacts_per_aor:
            oldest = next(iter(per_aor.values()))
            self.remove(oldest.aor, oldest.contact)
            removed.append(oldest)
        if previous is None or binding.expires_at < previous.expires_at:
            self._schedule(binding)  # else the previous expiry's entry stands for this one
        return removed

    def _schedule(self, binding: Binding) -> None:
        deadlines = self._deadlines
        heapq.heappush(deadlines, (binding.expires_at, binding.aor, binding.contact))
        # Refreshes leave stale entries behind; compact once they dominate so a phone that
        # re-registers in a tight loop cannot grow the heap without bound.
        if len(deadlines) > 2 * self._count + 64:
            self._deadlines = [(b.expires_at, b.aor, b.contact) for b in self.all_bindings()]
            heapq.heapify(self._deadlines)

    def remove(self, aor: Aor, contact: str) -> Binding | None:
        """Remove one binding; returns it, or None if there was none."""
        per_aor = self._by_aor.get(aor)
        if per_aor is None:
            return None
        binding = per_aor.pop(contact, None)
        if binding is None:
            return None
        self._count -= 1
        if not per_aor:
            del self._by_aor[aor]
        if self._store is not None:
            self._store.delete(aor, contact)
        return binding  # its heap entry is now stale and is skipped when reached

    def remove_aor(self, aor: Aor) -> list[Binding]:
        """Remove every binding of ``aor``; returns them."""
        per_aor = self._by_aor.pop(aor, None)
        if not per_aor:
            return []
        self._count -= len(per_aor)
        if self._store is not None:
            self._store.delete_aor(aor)
        return list(per_aor.values())

    def expire(self, now: float) -> list[Binding]:
        """Remove and return every binding whose expiry has passed."""
        expired: list[Binding] = []
        deadlines = self._deadlines
        while deadlines and deadlines[0][0] <= now:
            _, aor, contact = heapq.heappop(deadlines)
            binding = self._binding(aor, contact)
            if binding is None:
                continue  # removed or replaced since
            if binding.expires_at <= now:
                self.remove(aor, contact)
                expired.append(binding)
            else:  # refreshed since: wait for its real expiry
                heapq.heappush(deadlines, (binding.expires_at, aor, contact))
        return expired

    def flush(self) -> None:
        """Write queued changes to the store (cheap when nothing changed)."""
        if self._store is not None:
            self._store.flush()
