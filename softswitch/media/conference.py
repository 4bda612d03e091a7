"""The conference bridge: every room's participants, mixed on the ticker in one pass.

One ``ConferenceBridge`` job serves every room. Each tick it pulls each participant's frame
from its port's jitter buffer into one ``(P, 160)`` array, lets the ``Mixer`` form all the
"everyone but me" mixes at once, adds the room's join/leave tone (if one is playing), encodes
every output with one table lookup per G.711 law, and sends each participant its row. A
participant alone in a room hears the room's music on hold instead, if it has one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from softswitch.media.codecs import CODECS, FRAME_SAMPLES
from softswitch.media.mixer import Mixer
from softswitch.media.moh import MohStream
from softswitch.media.port import MediaPort
from softswitch.media.tones import TonePlan

__all__ = ["ConferenceBridge", "Participant"]

Pcm = npt.NDArray[np.int16]


@dataclass(eq=False, slots=True)
class _Room:
    name: str
    moh: MohStream | None
    tone: TonePlan | None = None
    tone_at: int = 0  # frames of the tone played so far
    slots: set[int] = field(default_factory=set)


@dataclass(eq=False, slots=True)
class Participant:
    room: str
    slot: int
    port: MediaPort
    # A prompt for this participant only ("you are the only participant"): it replaces the
    # room's audio for them until it ends.
    overlay: Pcm | None = None
    overlay_at: int = 0

    def announce(self, samples: Pcm) -> None:
        self.overlay, self.overlay_at = samples, 0


class ConferenceBridge:
    """All rooms and their participants; a job on the ticker while anyone is in a room."""

    def __init__(self, wake: Callable[[], None]) -> None:
        self._mixer: Mixer[str] = Mixer(FRAME_SAMPLES)
        self._rooms: dict[str, _Room] = {}
        self._by_slot: dict[int, Participant] = {}
        self._frames = np.zeros((0, FRAME_SAMPLES), np.int16)
        self._sent = np.zeros(0, np.bool_)
        self._wake = wake

    def __len__(self) -> int:
        return len(self._by_slot)

    def members(self, room: str) -> int:
        found = self._rooms.get(room)
        return 0 if found is None else len(found.slots)

    def join(
        self, room: str, port: MediaPort, *, moh: MohStream | None = None, tone: TonePlan | None
    ) -> Participant:
        found = self._rooms.get(room)
        if found is None:
            found = self._rooms[room] = _Room(room, moh)
        slot = self._mixer.add(room)
        found.slots.add(slot)
        participant = Participant(room, slot, port)
        self._by_slot[slot] = participant
        if len(found.slots) > 1:
            # Nobody is alone any more: "you are the only participant" stops mid-sentence.
            for slot in found.slots:
                self._by_slot[slot].overlay = None
            if tone is not None:
                found.tone, found.tone_at = tone, 0
        self._wake()
        return participant

    def leave(self, participant: Participant, *, tone: TonePlan | None) -> None:
        if self._by_slot.get(participant.slot) is not participant:
            return
        del self._by_slot[participant.slot]
        self._mixer.remove(participant.slot)
        room = self._rooms[participant.room]
        room.slots.discard(participant.slot)
        if not room.slots:
            del self._rooms[participant.room]
        elif tone is not None:
            room.tone, room.tone_at = tone, 0

    def set_muted(self, participant: Participant, muted: bool) -> None:
        self._mixer.set_muted(participant.slot, muted)

    def is_muted(self, participant: Participant) -> bool:
        return self._mixer.is_muted(participant.slot)

    @property
    def active(self) -> bool:
        return bool(self._by_slot)

    def tick(self, n: int, now: float) -> None:
        # Pulled first: a digit heard in a pull may make someone leave (or join) mid-tick.
        heard = [(slot, p, p.port.pull(now)) for slot, p in list(self._by_slot.items())]
        rows = self._mixer.rows
        if rows > len(self._frames):
            self._frames = np.zeros((max(rows, 2 * len(self._frames)), FRAME_SAMPLES), np.int16)
            self._sent = np.zeros(len(self._frames), np.bool_)
        frames, sent = self._frames, self._sent
        sent[:] = False
        for slot, participant, pcm in heard:
            if pcm is not None and self._by_slot.get(slot) is participant:
                frames[slot] = pcm
                sent[slot] = True
        out = self._mixer.mix(frames, sent).per_participant
        for room in self._rooms.values():
            self._room_extras(room, out, n)
        for participant in self._by_slot.values():
            if participant.overlay is not None:
                _overlay(participant, out)
        self._send(out)

    def _room_extras(self, room: _Room, out: Pcm, n: int) -> None:
        """The join/leave tone on top of everyone's mix; the music for someone alone."""
        slots = list(room.slots)
        if len(slots) == 1 and room.moh is not None:
            out[slots[0]] = room.moh.frame(n)  # then the leave tone, if any, on top
        if room.tone is not None:
            tone = room.tone.frame(room.tone_at).astype(np.int32)
            mixed = out[slots].astype(np.int32) + tone
            out[slots] = np.clip(mixed, -32768, 32767).astype(np.int16)
            room.tone_at += 1
            count = room.tone.frame_count
            if count is not None and room.tone_at >= count:
                room.tone = None

    def _send(self, out: Pcm) -> None:
        by_codec: dict[str, list[Participant]] = {}
        for participant in self._by_slot.values():
            by_codec.setdefault(participant.port.codec.name, []).append(participant)
        for name, participants in by_codec.items():
            slots = [p.slot for p in participants]
            encoded = CODECS[name].encode_many(out[slots])  # one gather for every listener
            for participant, row in zip(participants, encoded, strict=True):
                participant.port.emit_payload(row.tobytes())


def _overlay(participant: Participant, out: Pcm) -> None:
    samples = participant.overlay
    assert samples is not None
    start = participant.overlay_at * FRAME_SAMPLES
    chunk = samples[start : start + FRAME_SAMPLES]
    out[participant.slot] = 0
    out[participant.slot, : len(chunk)] = chunk
    participant.overlay_at += 1
    if start + FRAME_SAMPLES >= len(samples):
        participant.overlay = None
