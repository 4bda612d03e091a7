"""A call's media: one RTP endpoint per side on the switch, relayed to each other.

Normally the two endpoints are linked and packets go straight through the relay (the fast
path: no parsing, no copy). Three things take a direction off that path, each through the
endpoint's sink:

- transcoding, when the two phones ended up on different G.711 laws (``set_codecs``): each
  voice packet gets the other law's payload type and its payload translated byte by byte;
- hold (``hold``): the side that put the other on hold is not heard; the held side hears the
  music-on-hold class instead, from a ``MediaPort`` on its endpoint;
- recording (``record``): each side's packets are copied into a recorder's jitter buffers on
  their way through.
"""

from __future__ import annotations

from collections.abc import Callable

from softswitch.media.codecs import CODECS, transcode_table
from softswitch.media.moh import MohStream, MusicOnHold
from softswitch.media.port import MediaPort
from softswitch.media.recording import CallRecording
from softswitch.rtp.offer_answer import media_target, rtcp_target
from softswitch.rtp.sdp import SessionDescription
from softswitch.rtp.transport import RtpEndpoint, RtpRelay

Sink = Callable[[bytes], None]


class CallMedia:
    """Leg A's and leg B's port pairs, linked so each side's packets reach the other."""

    def __init__(self, relay: RtpRelay, a: RtpEndpoint, b: RtpEndpoint) -> None:
        self._relay = relay
        self.a = a
        self.b = b
        self._closed = False
        relay.link(a, b)
        # side -> (payload type, codec name) that side's phone sends and expects
        self.codecs: dict[str, tuple[int, str]] = {}
        self._held: str | None = None  # the side hearing music on hold
        self._moh: tuple[MusicOnHold, MohStream, MediaPort] | None = None
        self.recording: CallRecording | None = None

    @classmethod
    async def open(cls, relay: RtpRelay) -> CallMedia:
        a = await relay.open_endpoint()
        try:
            b = await relay.open_endpoint()
        except BaseException:
            relay.close_endpoint(a)
            raise
        return cls(relay, a, b)

    @classmethod
    def open_now(cls, relay: RtpRelay) -> CallMedia | None:
        """Media from parked endpoints without awaiting, or None if two are not ready."""
        a = relay.take_parked()
        if a is None:
            return None
        b = relay.take_parked()
        if b is None:
            relay.close_endpoint(a)  # back to the pool
            return None
        return cls(relay, a, b)

    @property
    def a_port(self) -> int:
        return self.a.local_port

    @property
    def b_port(self) -> int:
        return self.b.local_port

    def port(self, side: str) -> int:
        return self.a.local_port if side == "a" else self.b.local_port

    def endpoint(self, side: str) -> RtpEndpoint:
        return self.a if side == "a" else self.b

    def set_remote(self, side: str, sdp: SessionDescription) -> None:
        """Point one side at where its phone wants RTP/RTCP, from an SDP it sent."""
        endpoint = self.endpoint(side)
        target = media_target(sdp)
        if target is None:
            endpoint.set_remote("0.0.0.0", None)  # stream disabled: send nothing
        else:
            endpoint.set_remote(target[0], target[1], rtcp=rtcp_target(sdp))

    # --- what takes packets off the fast path ----------------------------------------------
    def set_codecs(self, a: tuple[int, str], b: tuple[int, str]) -> None:
        """The voice codec each phone uses; different G.711 laws are transcoded."""
        self.codecs = {"a": a, "b": b}
        self._rewire()

    @property
    def transcoding(self) -> bool:
        a, b = self.codecs.get("a"), self.codecs.get("b")
        return a is not None and b is not None and a[1] != b[1]

    def hold(self, held: str, moh: MusicOnHold, music_class: str) -> None:
        """``held`` hears music; the other side (who put it on hold) is not heard."""
        self.unhold()
        name = self.codecs.get(held, (0, "PCMU"))[1]
        codec = CODECS.get(name)
        self._held = held
        if codec is not None:  # G.722: no encoder here, the held side hears silence
            endpoint = self.endpoint(held)
            port = MediaPort(endpoint.rtp.send, codec, None, lambda: 0.0)
            self._moh = (moh, moh.listen(music_class, port), port)
        self._rewire()

    def unhold(self) -> None:
        if self._moh is not None:
            moh, stream, port = self._moh
            moh.stop(stream, port)
            self._moh = None
        self._held = None
        self._rewire()

    @property
    def held(self) -> str | None:
        return self._held

    def record(self, recording: CallRecording) -> None:
        self.recording = recording
        self._rewire()

    def _rewire(self) -> None:
        for src, dst in (("a", "b"), ("b", "a")):
            self._relay.set_sink(self.endpoint(src), self._sink(src, dst))

    def _sink(self, src: str, dst: str) -> Sink | None:
        """What to do with packets from ``src`` (None: the relay's plain fast path)."""
        tap = self.recording.tap(src) if self.recording is not None else None
        if self._held == dst:  # dst is on hold: src is not heard, only recorded
            return tap if tap is not None else _drop
        send = self.endpoint(dst).rtp.send
        forward: Sink | None = None
        if self.transcoding:
            forward = _transcoder(self.codecs[src], self.codecs[dst], send)
        if tap is None:
            return forward
        through = forward or send
        return _tee(tap, through)

    def close_b(self) -> None:
        """Free leg B's endpoint only: nobody answered a call the switch had answered, whose
        caller's endpoint stays with its session."""
        self._closed = True
        self._relay.close_endpoint(self.b)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._moh is not None:
            moh, stream, port = self._moh
            moh.stop(stream, port)
            self._moh = None
        if self.recording is not None:
            self.recording.close()
        self._relay.close_endpoint(self.a)
        self._relay.close_endpoint(self.b)


def _drop(data: bytes) -> None:
    return None


def _tee(tap: Sink, send: Sink) -> Sink:
    def both(data: bytes) -> None:
        tap(data)
        send(data)

    return both


def _transcoder(src: tuple[int, str], dst: tuple[int, str], send: Sink) -> Sink:
    """Voice packets of ``src``'s law re-labelled and translated to ``dst``'s; others as is."""
    table = transcode_table(src[1], dst[1])
    src_pt, dst_pt = src[0], dst[0]

    def transcode(data: bytes) -> None:
        if len(data) > 12 and data[1] & 0x7F == src_pt and not data[0] & 0x3F:
            # No CSRC, extension or padding (what phones send): the payload starts at 12.
            second = (data[1] & 0x80) | dst_pt
            send(bytes((data[0], second)) + data[2:12] + data[12:].translate(table))
        else:
            send(data)  # telephone-event, comfort noise, or an unusual header: untouched

    return transcode
