"""RFC 3264 offer/answer for an anchoring B2BUA.

The switch sits in the media path of every call: each leg is told to send RTP to the switch,
and the relay forwards packets untouched. So the SDP we send on a leg is the SDP the other leg
sent us, rewritten:

- the first usable audio stream (``m=audio``, port not 0, RTP/AVP or RTP/AVPF, with PCMU, PCMA
  or G.722) keeps only PCMU/8000, PCMA/8000, G722/8000 and telephone-event/8000, in the
  sender's order, with their rtpmap/fmtp/rtcp-fb lines. Payload type numbers are never
  renumbered: RFC 3264 §6.1 has the answerer reuse the offer's numbers, so both legs agree and
  the relay needs no rewrite. The one exception is transcoding: a caller with one G.711 law
  and a callee with only the other (``add_g711`` / ``codec`` below);
- every other m-line (video, a second audio, RTP/SAVP...) is disabled with port 0, so the
  m-line count still matches the offer (RFC 3264 §6, §8.2);
- the audio points at our address and the leg's port; hold is preserved (direction attributes
  kept as they are, ``c=0.0.0.0`` of RFC 2543 hold kept as 0.0.0.0);
- what describes the phone's own transport rather than the media (ICE, a=rtcp, rtcp-mux,
  SRTP keys, DTLS, BUNDLE, capability negotiation) is dropped: the switch terminates transport.

Each leg has its own o= line (``Origin``): same session id for the life of the dialog, version
incremented by exactly one whenever the body we send on that leg changes (RFC 3264 §8).

Known limit: a dynamic telephone-event number that the answerer changes (against §6.1's SHOULD)
reaches the offerer unchanged; the relay does not renumber payload types.
"""

from __future__ import annotations

from dataclasses import dataclass

from softswitch.errors import SipError
from softswitch.ids import POOL
from softswitch.rtp.sdp import Attribute, MediaDescription, SdpOrigin, SessionDescription
from softswitch.rtp.sdp import serialize_sdp as _serialize

__all__ = [
    "G711",
    "SUPPORTED",
    "Codec",
    "NoCommonCodec",
    "Origin",
    "direction",
    "event_payload_type",
    "media_target",
    "negotiated_codec",
    "rewrite_answer",
    "rewrite_offer",
    "rtcp_target",
    "set_direction",
    "voice_codecs",
]


@dataclass(frozen=True, slots=True)
class Codec:
    name: str
    clock_rate: int
    channels: int = 1


SUPPORTED: tuple[Codec, ...] = (
    Codec("PCMU", 8000),
    Codec("PCMA", 8000),
    # Relayed untouched when both phones have it (HD voice between desk phones); the switch
    # never decodes it, so a stream the switch must hear is answered with G.711 only. Its
    # rtpmap says 8000 although it samples at 16 kHz (RFC 3551 §4.5.2).
    Codec("G722", 8000),
    Codec("telephone-event", 8000),
)
G711 = ("PCMU", "PCMA")
# The static payload type of each G.711 law, offered to a callee when the caller has only the
# other one: the switch then transcodes (a byte-to-byte table, see media/transcode.py).
_G711_PT = {"PCMU": "0", "PCMA": "8"}
_EVENTS = "telephone-event"
_CANONICAL = {c.name.lower(): c.name for c in SUPPORTED}  # all at 8000 Hz, mono
# RFC 3551 table 4: static payload types may come without an rtpmap line.
_STATIC = {"0": "PCMU", "8": "PCMA", "9": "G722"}
_RTP_PROTOS = frozenset({"RTP/AVP", "RTP/AVPF"})
_HOLD_ADDRESSES = frozenset({"0.0.0.0", "::"})
_DIRECTIONS = frozenset({"sendrecv", "sendonly", "recvonly", "inactive"})
_PER_FORMAT = frozenset({"rtpmap", "fmtp", "rtcp-fb"})
# Attributes that describe the phone's own transport or keys; they mean nothing once the
# switch terminates the media transport, and some (ICE, crypto) would break the call.
_DROPPED_ATTRIBUTES = frozenset(
    {
        "candidate",
        "end-of-candidates",
        "remote-candidates",
        "ice-ufrag",
        "ice-pwd",
        "ice-options",
        "ice-lite",
        "ice-mismatch",
        "ice-pacing",
        "rtcp",
        "rtcp-mux",
        "rtcp-mux-only",
        "crypto",
        "fingerprint",
        "setup",
        "connection",
        "tls-id",
        "key-mgmt",
        "zrtp-hash",
        "group",
        "tcap",
        "pcfg",
        "acap",
        "acfg",
    }
)
# b=RS/RR (RFC 3556) say how much RTCP the phone wants, which still holds through the relay;
# AS/CT/TIAS described codecs and streams that we may just have removed.
_KEPT_BANDWIDTHS = frozenset({"RS", "RR"})
# Session-level lines worth keeping: timing. i=/u=/e=/p=/k= describe the caller.
_KEPT_SESSION_LINES = frozenset("trz")
_SESSION_NAME = "softswitch"
_PLACEHOLDER = SdpOrigin("-", "0", "0", "0.0.0.0")


class NoCommonCodec(SipError):
    """No audio stream with PCMU or PCMA: the INVITE is answered 488 (RFC 3261 §21.4.26)."""

    def __init__(self) -> None:
        super().__init__(
            488,
            "Not Acceptable Here",
            (("Warning", '305 softswitch "Incompatible media format"'),),
        )


def _random_session_id() -> int:
    # From the buffered identifier pool (one getrandom per few hundred), not secrets.randbits.
    return int.from_bytes(POOL.take(8), "big") >> 2


class Origin:
    """One leg's o= line: fixed session id, version bumped when the body sent on it changes."""

    __slots__ = ("_last", "session_id", "username", "version")

    def __init__(
        self, session_id: int | None = None, version: int = 1, username: str = "softswitch"
    ) -> None:
        # 62 bits: stays positive and well inside what every stack parses as a 64-bit integer.
        self.session_id = _random_session_id() if session_id is None else session_id
        self.version = version
        self.username = username
        self._last: bytes | None = None

    def stamp(self, sdp: SessionDescription, address: str) -> SessionDescription:
        """Give ``sdp`` this leg's o= line, with the version bumped if the content changed."""
        session_id, addr_type = str(self.session_id), _addr_type(address)
        # Compared with the version fixed at 0, so that only the content counts.
        sdp.origin = SdpOrigin(self.username, session_id, "0", address, "IN", addr_type)
        content = _serialize(sdp)
        if self._last is not None and content != self._last:
            self.version += 1
        self._last = content
        sdp.origin = SdpOrigin(
            self.username, session_id, str(self.version), address, "IN", addr_type
        )
        return sdp


def _addr_type(address: str) -> str:
    return "IP6" if ":" in address else "IP4"


# --- codecs ------------------------------------------------------------------------------
# Run for every offer and answer, so written for speed: one pass over the rtpmap lines.


def _rtpmap(value: str) -> tuple[str, str | None]:
    """(payload type, our name for the codec if we support it) from an rtpmap value."""
    pt, _, encoding = value.strip().partition(" ")
    parts = encoding.strip().lower().split("/")
    name = _CANONICAL.get(parts[0])
    if name is None or len(parts) < 2 or parts[1] != "8000":
        return pt, None
    if len(parts) > 2 and parts[2] != "1":
        return pt, None
    return pt, name


def _supported(media: MediaDescription, fallback: MediaDescription | None = None) -> dict[str, str]:
    """Payload type -> codec name for the formats of ``media`` we support, in its order.

    ``fallback`` lends its rtpmap lines (an answer may leave out those of the offer).
    """
    named: dict[str, str | None] = {}
    for source in (fallback, media):
        if source is None:
            continue
        for name, value in source.attributes:
            if name == "rtpmap" and value:
                pt, codec = _rtpmap(value)
                named[pt] = codec  # also None: an rtpmap overrides the static meaning
    supported: dict[str, str] = {}
    for pt in media.formats:
        codec = named[pt] if pt in named else _STATIC.get(pt)
        if codec is not None:
            supported[pt] = codec
    return supported


def _has_voice(supported: dict[str, str]) -> bool:
    return any(name != _EVENTS for name in supported.values())


def _is_enabled_audio(media: MediaDescription) -> bool:
    return media.media == "audio" and media.port != 0 and media.proto.upper() in _RTP_PROTOS


def _pick_audio(sdp: SessionDescription) -> tuple[int, dict[str, str]] | None:
    """The stream we anchor: the first enabled RTP audio stream with PCMU or PCMA.

    Returns its index and its supported formats.
    """
    for index, media in enumerate(sdp.media):
        if _is_enabled_audio(media):
            supported = _supported(media)
            if _has_voice(supported):
                return index, supported
    return None


# --- rewriting ---------------------------------------------------------------------------


def rewrite_offer(
    offer: SessionDescription,
    address: str,
    port: int,
    origin: Origin,
    *,
    add_g711: bool = False,
) -> SessionDescription:
    """The offer we send to the other leg; raises NoCommonCodec (488) if nothing fits.

    ``add_g711``: also offer the G.711 law the offerer lacks (after its own codecs), so a
    callee that has only the other law still gets the call, transcoded by the switch.
    """
    picked = _pick_audio(offer)
    if picked is None:
        raise NoCommonCodec()
    if add_g711:
        index, supported = picked
        extra = {pt: name for name, pt in _G711_PT.items() if name not in supported.values()}
        if any(name in G711 for name in supported.values()) and extra.keys().isdisjoint(
            offer.media[index].formats
        ):
            picked = index, _voice_first(supported, extra)
    return _rewrite(offer, picked, address, port, origin)


def _voice_first(supported: dict[str, str], extra: dict[str, str]) -> dict[str, str]:
    """``supported`` with ``extra`` inserted after its voice codecs, before telephone-event."""
    voice = {pt: name for pt, name in supported.items() if name != _EVENTS}
    events = {pt: name for pt, name in supported.items() if name == _EVENTS}
    return voice | extra | events


def rewrite_answer(
    answer: SessionDescription,
    address: str,
    port: int,
    origin: Origin,
    *,
    codec: tuple[str, str] | None = None,
) -> SessionDescription:
    """The answer we send back to the offering leg.

    An answer that rejected the audio (port 0) gives an answer with every stream disabled; an
    answer that accepted audio without a codec we relay raises NoCommonCodec. ``codec``
    (payload type, name): answer with that voice codec instead of the answerer's, because the
    switch transcodes between them.
    """
    picked = _pick_audio(answer)
    if picked is None and any(_is_enabled_audio(m) for m in answer.media):
        raise NoCommonCodec()
    if picked is not None and codec is not None:
        index, supported = picked
        events = {pt: name for pt, name in supported.items() if name == _EVENTS}
        picked = index, {codec[0]: codec[1]} | events
    return _rewrite(answer, picked, address, port, origin)


def _rewrite(
    sdp: SessionDescription,
    picked: tuple[int, dict[str, str]] | None,
    address: str,
    port: int,
    origin: Origin,
) -> SessionDescription:
    index, supported = picked if picked is not None else (-1, {})
    media = [
        _rewrite_audio(sdp, m, supported, address, port) if i == index else _disabled(m)
        for i, m in enumerate(sdp.media)
    ]
    other = [line for line in sdp.other if line[0] in _KEPT_SESSION_LINES]
    if not any(kind == "t" for kind, _ in other):
        other.insert(0, ("t", "0 0"))  # t= is mandatory (RFC 4566 §5.9)
    out = SessionDescription(
        origin=_PLACEHOLDER,  # stamp() below writes this leg's o= line
        session_name=_SESSION_NAME,
        connection=address,
        media=media,
        attributes=[a for a in sdp.attributes if a[0] not in _DROPPED_ATTRIBUTES],
        other=other,
    )
    return origin.stamp(out, address)


def _rewrite_audio(
    sdp: SessionDescription,
    media: MediaDescription,
    supported: dict[str, str],
    address: str,
    port: int,
) -> MediaDescription:
    kept = list(supported)
    held = _connection(sdp, media) in _HOLD_ADDRESSES
    attributes = [a for a in media.attributes if _keep_attribute(a, supported)]
    # Codecs the switch added (not in the sender's m-line) get their rtpmap line.
    added = [pt for pt in kept if pt not in media.formats]
    attributes[:0] = [("rtpmap", f"{pt} {supported[pt]}/8000") for pt in added]
    return MediaDescription(
        media="audio",
        port=port,
        proto=media.proto,
        formats=kept,
        connection=("::" if ":" in address else "0.0.0.0") if held else address,
        attributes=attributes,
        bandwidths=[b for b in media.bandwidths if b[0] in _KEPT_BANDWIDTHS],
        other=[line for line in media.other if line[0] == "i"],
    )


def _keep_attribute(attribute: Attribute, formats: dict[str, str]) -> bool:
    name, value = attribute
    if name in _DROPPED_ATTRIBUTES:
        return False
    if name in _PER_FORMAT:
        pt = (value or "").strip().partition(" ")[0]
        return pt == "*" or pt in formats
    return True


def _disabled(media: MediaDescription) -> MediaDescription:
    # RFC 3264 §6: a disabled stream keeps its media type, proto and formats, with port 0.
    return MediaDescription(media.media, 0, media.proto, list(media.formats))


def _connection(sdp: SessionDescription, media: MediaDescription) -> str | None:
    address = media.connection if media.connection is not None else sdp.connection
    # A multicast "addr/ttl" is not something we relay to, but keep the host part usable.
    return None if address is None else address.partition("/")[0]


# --- reading what a side wants -----------------------------------------------------------


def media_target(sdp: SessionDescription) -> tuple[str, int] | None:
    """Where this side wants RTP: (address, port) of its anchored audio stream.

    None if it has no usable audio stream. A held stream gives ("0.0.0.0", port): the relay
    treats that address as "send nothing".
    """
    picked = _pick_audio(sdp)
    if picked is None:
        return None
    media = sdp.media[picked[0]]
    address = _connection(sdp, media)
    return None if address is None else (address, media.port)


def rtcp_target(sdp: SessionDescription) -> tuple[str, int] | None:
    """Where this side wants RTCP: a=rtcp (RFC 3605) if present, else RTP port + 1."""
    picked = _pick_audio(sdp)
    if picked is None:
        return None
    media = sdp.media[picked[0]]
    address = _connection(sdp, media)
    if address is None:
        return None
    value = media.attribute("rtcp")
    if value:
        parts = value.split()
        port = int(parts[0]) if parts[0].isdigit() else 0
        if 0 < port <= 65535:
            return (parts[3] if len(parts) == 4 else address, port)
    return (address, media.port + 1) if media.port < 65535 else None


def negotiated_codec(offer: SessionDescription, answer: SessionDescription) -> str | None:
    """The voice codec the answer picked (its first one), e.g. "PCMU"; for logs and CDRs."""
    picked = _pick_audio(answer)
    if picked is None:
        return None
    index = picked[0]
    fallback = offer.media[index] if index < len(offer.media) else None
    for name in _supported(answer.media[index], fallback).values():
        if name != _EVENTS:
            return name
    return None


def voice_codecs(sdp: SessionDescription) -> dict[str, str]:
    """Payload type -> name of the voice codecs of the anchored stream, in the sender's order."""
    picked = _pick_audio(sdp)
    if picked is None:
        return {}
    return {pt: name for pt, name in picked[1].items() if name != _EVENTS}


def event_payload_type(sdp: SessionDescription) -> int | None:
    """The telephone-event payload type of the anchored stream, if it has one."""
    picked = _pick_audio(sdp)
    if picked is not None:
        for pt, name in picked[1].items():
            if name == _EVENTS and pt.isdigit():
                return int(pt)
    return None


def set_direction(sdp: SessionDescription, value: str) -> SessionDescription:
    """``sdp`` (changed in place) with its anchored audio stream's direction set to ``value``."""
    if value not in _DIRECTIONS:
        raise ValueError(f"not an SDP direction: {value!r}")
    picked = _pick_audio(sdp)
    if picked is None:
        return sdp
    sdp.attributes = [a for a in sdp.attributes if a[0] not in _DIRECTIONS]
    media = sdp.media[picked[0]]
    media.attributes = [a for a in media.attributes if a[0] not in _DIRECTIONS]
    media.attributes.append((value, None))
    return sdp


def direction(sdp: SessionDescription) -> str:
    """sendrecv, sendonly, recvonly or inactive for the anchored audio (RFC 3264 §5.1)."""
    picked = _pick_audio(sdp)
    if picked is not None:
        for name, _ in sdp.media[picked[0]].attributes:
            if name in _DIRECTIONS:
                return name
    for name, _ in sdp.attributes:
        if name in _DIRECTIONS:
            return name
    return "sendrecv"
