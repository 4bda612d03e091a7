"""What the B2BUA adds to a relayed call's media: transcoding, music on hold, recording.

Reading the SDP is done here (which law each phone ended up with, whether an offer puts the
other party on hold); acting on it is ``CallMedia``'s. Hold works as in Asterisk: the re-INVITE
still goes through to the other phone (so it shows "on hold"), and the switch plays the music
to the held party itself instead of relaying whatever the holding phone sends.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from softswitch.media.codecs import CODECS
from softswitch.media.engine import MediaEngine
from softswitch.media.moh import MusicOnHold
from softswitch.media.recording import CallRecording
from softswitch.rtp.offer_answer import direction, media_target, voice_codecs
from softswitch.rtp.sdp import SessionDescription

if TYPE_CHECKING:
    from softswitch.call.calls import Call

__all__ = ["Codec", "MediaFeatures", "codecs_of", "hold_requested", "transcode_plan"]

log = logging.getLogger("softswitch.call")

Codec = tuple[int, str]  # (payload type, name)
_HOLD_DIRECTIONS = frozenset({"sendonly", "inactive"})
_HOLD_HOSTS = frozenset({"0.0.0.0", "::"})


def hold_requested(offer: SessionDescription) -> bool:
    """Whether an offer puts the other party on hold (RFC 3264 §8.4, or RFC 2543's 0.0.0.0)."""
    if direction(offer) in _HOLD_DIRECTIONS:
        return True
    target = media_target(offer)
    return target is not None and target[0] in _HOLD_HOSTS


def codecs_of(
    offer: SessionDescription | None, answer: SessionDescription
) -> tuple[Codec, Codec] | None:
    """(the offerer's codec, the answerer's codec) for the voice of an exchange.

    The answerer's is the first voice codec of its answer. The offerer's is the same one if
    it offered it; otherwise (the switch added the other G.711 law to the offer) its first
    G.711 law, and the switch transcodes. None when either side has no codec we can name.
    """
    answered = voice_codecs(answer)
    if not answered:
        return None
    pt, name = next(iter(answered.items()))
    theirs: Codec = (int(pt), name)
    if offer is None:
        return theirs, theirs
    offered = voice_codecs(offer)
    if name in offered.values():
        mine = next(int(p) for p, n in offered.items() if n == name)
        return (mine, name), theirs
    for p, n in offered.items():
        if n in CODECS and name in CODECS:
            return (int(p), n), theirs
    return None


def transcode_plan(
    offer: SessionDescription | None, answer: SessionDescription
) -> tuple[Codec, Codec] | None:
    """``codecs_of``, when the two differ (the offerer must be answered with its own)."""
    pair = codecs_of(offer, answer)
    if pair is None or pair[0][1] == pair[1][1]:
        return None
    return pair


class MediaFeatures:
    """Music on hold and recording for relayed calls."""

    def __init__(
        self,
        moh: MusicOnHold,
        engine: MediaEngine,
        monotonic: Callable[[], float],
        recordings: Path,
        wake: Callable[[], None],
        music_class: str = "default",
        stereo: bool = True,
    ) -> None:
        self.wake = wake
        self.moh = moh
        self.engine = engine
        self.monotonic = monotonic
        self.recordings = recordings
        self.music_class = music_class
        self.stereo = stereo  # of the recordings started from now on (a reload may change it)

    def on_offer(self, call: Call, offerer: str, other: str, hold: bool) -> None:
        """A re-INVITE from ``offerer``: start or stop the music for ``other``."""
        media = call.media
        if media is None:
            return
        if hold and media.held != other:
            media.hold(other, self.moh, self.music_class)
            log.info("%s %s put on hold: music on hold", call.call_id, _who(other))
        elif not hold and media.held == other:
            media.unhold()
            log.info("%s %s taken off hold", call.call_id, _who(other))

    def start_recording(self, call: Call) -> None:
        media = call.media
        if media is None or media.recording is not None or len(media.codecs) < 2:
            return
        if any(name not in CODECS for _, name in media.codecs.values()):
            log.warning("%s not recorded: the call is not G.711", call.call_id)
            return
        day = time.strftime("%Y/%m/%d", time.gmtime())
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in call.call_id)
        path = self.recordings / day / f"{safe}.wav"
        recording = CallRecording(
            path, dict(media.codecs), self.engine, self.monotonic, stereo=self.stereo
        )
        media.record(recording)
        call.recording_path = path
        self.wake()
        log.info("%s recording to %s", call.call_id, path)


def _who(side: str) -> str:
    return "the caller" if side == "a" else "the callee"
