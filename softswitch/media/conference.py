"""The conference bridge: every room's participants, mixed on the ticker in one pass.

One ``ConferenceBridge`` job serves every room. Each tick it pulls each participant's frame
from its port's jitter buffer into one ``(P, 160)`` array, lets the ``Mixer`` form all the
"everyone but me" mixes at once, adds the room's join/leave tone (if one is playing), encodes
every output with one table lookup per G.711 law, and sends each participant its row. A
participant alone in a room hears the room's music on hold instead, if it has one.

A room that waits for an administrator (``wait_for_admin``, ConfBridge's ``wait_marked``)
keeps the members who come before the first administrator muted in the mixer, so nobody hears
them, and gives each of them the room's music (or silence) instead of the mix, so they hear
nobody: they stay in the mixer all along, so the administrator's arrival only unmutes them
(the mute each chose with ``*`` is kept apart). From then on the session is live until the
room empties, administrator or not.

A room with a recording factory records its full mix (everyone, plus the tones: what a silent
listener hears) from the first tick it mixes two members until it empties, a new file per
session (see ``conference_recording``). A recording whose disk fails is closed and logged;
the room goes on unrecorded (an exception here would take the whole bridge off the ticker).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt

from softswitch.media.codecs import CODECS, FRAME_SAMPLES
from softswitch.media.mixer import Mixer, MixResult
from softswitch.media.moh import MohStream
from softswitch.media.port import MediaPort
from softswitch.media.tones import TonePlan

__all__ = ["ConferenceBridge", "Participant", "RecordingFactory", "RoomRecording"]

log = logging.getLogger("softswitch.media")

Pcm = npt.NDArray[np.int16]


class RoomRecording(Protocol):
    """Where a room's mix goes, one frame a tick (a ``WavRecorder``)."""

    @property
    def path(self) -> Path: ...
    @property
    def duration(self) -> float: ...
    def write(self, frame_a: Pcm | None, frame_b: Pcm | None = None) -> None: ...
    def close(self) -> None: ...


# A new recording for a session of the named room (a ``ConferenceRecorder``).
RecordingFactory = Callable[[str], RoomRecording]


@dataclass(eq=False, slots=True)
class _Room:
    name: str
    moh: MohStream | None
    waiting: bool = False  # members are held (music, unmixed) until an administrator comes
    record: RecordingFactory | None = None
    recording: RoomRecording | None = None
    tone: TonePlan | None = None
    tone_at: int = 0  # frames of the tone played so far
    slots: set[int] = field(default_factory=set)


@dataclass(eq=False, slots=True)
class Participant:
    room: str
    slot: int
    port: MediaPort
    admin: bool = False
    muted: bool = False  # by the member's own choice (waiting for an administrator is apart)
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

    def is_waiting(self, room: str) -> bool:
        """True while ``room``'s members wait for an administrator."""
        found = self._rooms.get(room)
        return found is not None and found.waiting

    def recording(self, room: str) -> Path | None:
        """The file ``room``'s current session is recorded to, if it is."""
        found = self._rooms.get(room)
        return None if found is None or found.recording is None else found.recording.path

    def join(
        self,
        room: str,
        port: MediaPort,
        *,
        moh: MohStream | None = None,
        tone: TonePlan | None,
        admin: bool = False,
        wait_for_admin: bool = False,
        record: RecordingFactory | None = None,
    ) -> Participant:
        """Add ``port`` to ``room``. ``moh``, ``wait_for_admin`` and ``record`` describe the
        room: they count when it is created (the first member of a session joins)."""
        found = self._rooms.get(room)
        if found is None:
            found = self._rooms[room] = _Room(room, moh, waiting=wait_for_admin, record=record)
        slot = self._mixer.add(room)
        found.slots.add(slot)
        participant = Participant(room, slot, port, admin=admin)
        self._by_slot[slot] = participant
        if found.waiting and admin:
            found.waiting = False  # the session starts: everyone is heard as they chose
            for member in found.slots:
                self._mixer.set_muted(member, self._by_slot[member].muted)
        if found.waiting:
            self._mixer.set_muted(slot, True)
        elif len(found.slots) > 1:
            # Nobody is alone any more: "you are the only participant" (or "wait for the
            # organiser") stops mid-sentence.
            for member in found.slots:
                self._by_slot[member].overlay = None
        if tone is not None and len(found.slots) > 1:
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
            _stop_recording(room)  # the session is over
            del self._rooms[participant.room]
        elif tone is not None:
            room.tone, room.tone_at = tone, 0

    def set_muted(self, participant: Participant, muted: bool) -> None:
        if self._by_slot.get(participant.slot) is not participant:
            return
        participant.muted = muted
        waiting = self._rooms[participant.room].waiting
        self._mixer.set_muted(participant.slot, muted or waiting)

    def is_muted(self, participant: Participant) -> bool:
        """The member's own mute (``*``), whether or not the room still waits."""
        return participant.muted

    def close(self) -> None:
        """Finish every recording (at shutdown); the rooms are not recorded any more."""
        for room in self._rooms.values():
            _stop_recording(room)
            room.record = None

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
        result = self._mixer.mix(frames, sent)
        out = result.per_participant
        for room in self._rooms.values():
            self._room_extras(room, result, n)
        for participant in self._by_slot.values():
            if participant.overlay is not None:
                _overlay(participant, out)
        self._send(out)

    def _room_extras(self, room: _Room, result: MixResult, n: int) -> None:
        """Music for those waiting or alone, the join/leave tone on top, the recording."""
        out = result.per_participant
        slots = list(room.slots)
        if room.moh is not None and (room.waiting or len(slots) == 1):
            out[slots] = room.moh.frame(n)  # then the tone, if any, on top
        # (Waiting without music is silence already: every waiting member is muted.)
        tone: npt.NDArray[np.int32] | None = None
        if room.tone is not None:
            tone = room.tone.frame(room.tone_at).astype(np.int32)
            mixed = out[slots].astype(np.int32) + tone
            out[slots] = np.clip(mixed, -32768, 32767).astype(np.int16)
            room.tone_at += 1
            count = room.tone.frame_count
            if count is not None and room.tone_at >= count:
                room.tone = None
        if room.record is not None and not room.waiting:
            self._record(room, result, tone)

    def _record(self, room: _Room, result: MixResult, tone: npt.NDArray[np.int32] | None) -> None:
        if room.recording is None:
            if len(room.slots) < 2 or room.record is None:
                return  # the session starts when two members are mixed
            try:
                room.recording = room.record(room.name)
            except OSError:
                log.exception("conference %s: cannot record, going on without", room.name)
                room.record = None
                return
        frame = result.per_conference[self._mixer.conference_row(room.name)]
        if tone is not None:
            frame = np.clip(frame.astype(np.int32) + tone, -32768, 32767).astype(np.int16)
        try:
            room.recording.write(frame)  # a copy into its buffer; a write once a second
        except OSError:
            log.exception("conference %s: recording failed, going on without", room.name)
            _stop_recording(room)
            room.record = None

    def _send(self, out: Pcm) -> None:
        by_codec: dict[str, list[Participant]] = {}
        for participant in self._by_slot.values():
            by_codec.setdefault(participant.port.codec.name, []).append(participant)
        for name, participants in by_codec.items():
            slots = [p.slot for p in participants]
            encoded = CODECS[name].encode_many(out[slots])  # one gather for every listener
            for participant, row in zip(participants, encoded, strict=True):
                participant.port.emit_payload(row.tobytes())


def _stop_recording(room: _Room) -> None:
    recording, room.recording = room.recording, None
    if recording is None:
        return
    try:
        recording.close()
    except OSError:
        log.exception("conference %s: recording %s not finished", room.name, recording.path)
        return
    log.info(
        "conference %s recording ended: %s (%.1f s)", room.name, recording.path, recording.duration
    )


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
