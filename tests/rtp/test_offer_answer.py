"""Offer/answer rewriting for media anchoring (RFC 3264)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from softswitch.rtp.offer_answer import (
    NoCommonCodec,
    Origin,
    direction,
    event_payload_type,
    media_target,
    negotiated_codec,
    rewrite_answer,
    rewrite_offer,
    rtcp_target,
    voice_codecs,
)
from softswitch.rtp.sdp import SessionDescription, parse_sdp, serialize_sdp

FIXTURES = Path(__file__).parent / "fixtures"
SWITCH = "203.0.113.5"


def sdp_from(formats: str, rtpmaps: tuple[str, ...]) -> bytes:
    lines = [
        "v=0",
        "o=- 1 1 IN IP4 192.0.2.7",
        "s=-",
        "c=IN IP4 192.0.2.7",
        "t=0 0",
        f"m=audio 4000 RTP/AVP {formats}",
        *(f"a=rtpmap:{value}" for value in rtpmaps),
    ]
    return ("\r\n".join(lines) + "\r\n").encode()


def load(name: str) -> SessionDescription:
    return parse_sdp((FIXTURES / name).read_bytes())


def names(attributes: list[tuple[str, str | None]]) -> list[str]:
    return [name for name, _ in attributes]


def answer_from_b(offer_to_b: SessionDescription, formats: str, extra: str = "") -> bytes:
    """What a phone B would answer to ``offer_to_b``: port 0 for every stream but audio."""
    lines = [
        "v=0",
        "o=bob 77 77 IN IP4 198.51.100.7",
        "s=-",
        "c=IN IP4 198.51.100.7",
        "t=0 0",
    ]
    for m in offer_to_b.media:
        if m.port == 0:
            lines.append(f"m={m.media} 0 {m.proto} {' '.join(m.formats)}")
            continue
        lines.append(f"m=audio 30000 {m.proto} {formats}")
        lines.extend(f"a=rtpmap:{a[1]}" for a in m.attributes if a[0] == "rtpmap")
        if extra:
            lines.append(extra)
    return ("\r\n".join(lines) + "\r\n").encode()


# --- offers ----------------------------------------------------------------------------------


def test_pjsua_offer_keeps_supported_codecs_in_order_with_their_numbers() -> None:
    offer = load("pjsua.sdp")
    out = rewrite_offer(offer, SWITCH, 10002, Origin(session_id=42))
    audio = out.media[0]
    assert audio.formats == ["0", "8", "9", "121"]  # G.722 relayed untouched, never decoded
    assert (audio.port, audio.connection, out.connection) == (10002, SWITCH, SWITCH)
    rtpmaps = [v for k, v in audio.attributes if k == "rtpmap"]
    assert rtpmaps == ["0 PCMU/8000", "8 PCMA/8000", "9 G722/8000", "121 telephone-event/8000"]
    assert [v for k, v in audio.attributes if k == "fmtp"] == ["121 0-16"]
    assert "rtcp" not in names(audio.attributes)  # our RTCP is port + 1
    assert ("sendrecv", None) in audio.attributes
    assert ("ssrc", "1020815237 cname:5b38a8d72fd9447f") in audio.attributes  # media untouched
    assert audio.bandwidths == []
    assert out.origin.username == "softswitch"
    assert out.origin.session_id == "42"
    assert out.origin.address == SWITCH
    assert out.session_name == "softswitch"
    assert ("t", "0 0") in out.other


def test_offer_with_video_and_ice_disables_video_and_drops_ice() -> None:
    offer = load("yealink_video_ice.sdp")
    out = rewrite_offer(offer, SWITCH, 10004, Origin())
    assert len(out.media) == len(offer.media)  # m-line counts must keep matching
    audio, video = out.media
    assert audio.formats == ["9", "0", "8", "101"]  # G.729 is not ours to offer
    assert names(audio.attributes) == [
        "rtpmap",
        "rtpmap",
        "rtpmap",
        "ptime",
        "sendrecv",
        "rtpmap",
        "fmtp",
    ]
    assert (video.media, video.port, video.proto) == ("video", 0, "RTP/AVP")
    assert video.formats == ["99", "34"]
    assert video.attributes == [] and video.connection is None
    assert out.attributes == []  # ice-ufrag, ice-pwd
    assert out.bandwidths == []  # b=AS:2048 counted the video
    body = serialize_sdp(out)
    assert b"candidate" not in body and b"ice-" not in body and b"192.168.0.42" not in body


def test_best_effort_srtp_offer_anchors_the_plain_rtp_stream() -> None:
    offer = load("linphone_savp_avp.sdp")
    out = rewrite_offer(offer, SWITCH, 10006, Origin())
    savp, avp = out.media
    assert (savp.port, savp.proto) == (0, "RTP/SAVP")
    assert (avp.port, avp.proto, avp.formats) == (10006, "RTP/AVP", ["0", "8", "101"])
    assert "rtcp-mux" not in names(avp.attributes)  # the relay keeps RTCP on port + 1
    assert b"crypto" not in serialize_sdp(out)
    assert out.attribute("rtcp-xr") is not None  # harmless session attribute passes
    assert media_target(offer) == ("198.51.100.20", 7080)


def test_static_payload_types_without_rtpmap_are_recognised() -> None:
    offer = parse_sdp(
        b"v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\n"
        b"t=0 0\r\nm=audio 6000 RTP/AVP 18 8 0\r\n"
    )
    out = rewrite_offer(offer, SWITCH, 10008, Origin())
    assert out.media[0].formats == ["8", "0"]
    assert out.media[0].attributes == []


def test_hold_offer_keeps_zero_address_and_direction() -> None:
    offer = load("hold_c0.sdp")
    out = rewrite_offer(offer, SWITCH, 10010, Origin())
    audio = out.media[0]
    assert audio.connection == "0.0.0.0"
    assert audio.port == 10010
    assert ("sendonly", None) in audio.attributes
    assert out.connection == SWITCH  # the rejected streams, if any, need a session c=
    assert direction(offer) == direction(out) == "sendonly"
    assert media_target(offer) == ("0.0.0.0", 8000)
    assert media_target(out) == ("0.0.0.0", 10010)


@pytest.mark.parametrize("attribute", ["inactive", "recvonly"])
def test_direction_attributes_pass_through(attribute: str) -> None:
    offer = load("sipp_uac.sdp")
    offer.media[0].attributes.append((attribute, None))
    out = rewrite_offer(offer, SWITCH, 10012, Origin())
    assert direction(out) == attribute
    assert out.media[0].connection == SWITCH


def test_session_level_direction_is_kept() -> None:
    offer = load("sipp_uac.sdp")
    offer.attributes.append(("sendonly", None))
    out = rewrite_offer(offer, SWITCH, 10014, Origin())
    assert out.attributes == [("sendonly", None)]
    assert direction(out) == "sendonly"


def test_offer_with_only_g729_is_rejected_with_488() -> None:
    with pytest.raises(NoCommonCodec) as caught:
        rewrite_offer(load("g729_only.sdp"), SWITCH, 10016, Origin())
    assert caught.value.status == 488
    assert caught.value.extra_headers[0][0] == "Warning"
    assert caught.value.extra_headers[0][1].startswith("305 ")


def test_telephone_event_alone_is_not_enough() -> None:
    offer = load("sipp_uac.sdp")
    offer.media[0].formats = ["101"]
    with pytest.raises(NoCommonCodec):
        rewrite_offer(offer, SWITCH, 10018, Origin())


def test_rewrite_does_not_touch_its_input() -> None:
    offer = load("yealink_video_ice.sdp")
    before = copy.deepcopy(offer)
    rewrite_offer(offer, SWITCH, 10020, Origin())
    assert offer == before


def test_offer_without_timing_gets_t_line() -> None:
    offer = parse_sdp(
        b"v=0\no=- 1 1 IN IP4 10.0.0.1\ns=-\nc=IN IP4 10.0.0.1\nm=audio 6000 RTP/AVP 0\n"
    )
    out = rewrite_offer(offer, SWITCH, 10022, Origin())
    assert out.other == [("t", "0 0")]


def test_ipv6_switch_address() -> None:
    out = rewrite_offer(load("sipp_uac.sdp"), "2001:db8::5", 10024, Origin())
    body = serialize_sdp(out)
    assert b"c=IN IP6 2001:db8::5\r\n" in body
    assert b" IN IP6 2001:db8::5\r\n" in body.split(b"\r\n")[1] + b"\r\n"


# --- answers ---------------------------------------------------------------------------------


def test_full_exchange_pjsua_to_sipp_like_callee() -> None:
    offer_a = load("pjsua.sdp")
    origin_a, origin_b = Origin(), Origin()
    offer_b = rewrite_offer(offer_a, SWITCH, 10102, origin_b)
    answer_b = parse_sdp(answer_from_b(offer_b, "0 121"))
    answer_a = rewrite_answer(answer_b, SWITCH, 10100, origin_a)
    audio = answer_a.media[0]
    assert (audio.port, audio.connection, audio.formats) == (10100, SWITCH, ["0", "121"])
    assert media_target(offer_a) == ("192.168.1.10", 4000)
    assert rtcp_target(offer_a) == ("192.168.1.10", 4001)
    assert media_target(answer_b) == ("198.51.100.7", 30000)
    assert rtcp_target(answer_b) == ("198.51.100.7", 30001)
    assert negotiated_codec(offer_b, answer_b) == "PCMU"
    assert origin_a.session_id != origin_b.session_id


def test_answer_with_rejected_video_keeps_the_m_line_count() -> None:
    offer_b = rewrite_offer(load("yealink_video_ice.sdp"), SWITCH, 10104, Origin())
    answer = rewrite_answer(parse_sdp(answer_from_b(offer_b, "8 101")), SWITCH, 10106, Origin())
    assert [(m.media, m.port) for m in answer.media] == [("audio", 10106), ("video", 0)]
    assert answer.media[0].formats == ["8", "101"]
    assert negotiated_codec(offer_b, parse_sdp(answer_from_b(offer_b, "8 101"))) == "PCMA"


def test_answer_rejecting_audio_disables_everything() -> None:
    body = b"v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 0 RTP/AVP 0\r\n"
    answer = parse_sdp(body)
    out = rewrite_answer(answer, SWITCH, 10108, Origin())
    assert out.media[0].port == 0
    assert media_target(answer) is None
    assert negotiated_codec(answer, answer) is None


def test_answer_with_no_supported_codec_raises() -> None:
    with pytest.raises(NoCommonCodec):
        rewrite_answer(load("g729_only.sdp"), SWITCH, 10110, Origin())


def test_negotiated_codec_uses_the_offer_rtpmap_when_the_answer_omits_it() -> None:
    offer = parse_sdp(
        b"v=0\no=- 1 1 IN IP4 10.0.0.1\ns=-\nc=IN IP4 10.0.0.1\nt=0 0\n"
        b"m=audio 6000 RTP/AVP 96 0\na=rtpmap:96 PCMA/8000\n"
    )
    answer = parse_sdp(
        b"v=0\no=- 2 2 IN IP4 10.0.0.2\ns=-\nc=IN IP4 10.0.0.2\nt=0 0\nm=audio 7000 RTP/AVP 96\n"
    )
    answer.media[0].formats = ["96", "0"]
    assert negotiated_codec(offer, answer) == "PCMA"  # 96 is PCMA by the offer's rtpmap
    assert negotiated_codec(answer, answer) == "PCMU"  # without it, 96 names nothing


# --- origin ----------------------------------------------------------------------------------


def test_origin_version_changes_only_when_the_body_changes() -> None:
    origin = Origin(session_id=7, version=3)
    first = rewrite_offer(load("sipp_uac.sdp"), SWITCH, 10200, origin)
    assert (first.origin.session_id, first.origin.version) == ("7", "3")
    again = rewrite_offer(load("sipp_uac.sdp"), SWITCH, 10200, origin)
    assert again.origin.version == "3"  # a session refresh re-INVITE: same body, same version
    assert serialize_sdp(again) == serialize_sdp(first)

    hold = load("sipp_uac.sdp")
    hold.media[0].attributes.append(("sendonly", None))
    assert rewrite_offer(hold, SWITCH, 10200, origin).origin.version == "4"
    resumed = rewrite_offer(load("sipp_uac.sdp"), SWITCH, 10200, origin)
    assert (resumed.origin.session_id, resumed.origin.version) == ("7", "5")


def test_origin_changes_when_the_other_side_changes_its_origin_only() -> None:
    # The phone bumped its own version without changing media: our body is unchanged.
    origin = Origin(session_id=9)
    offer = load("sipp_uac.sdp")
    v1 = rewrite_offer(offer, SWITCH, 10202, origin).origin.version
    offer.origin = type(offer.origin)("user1", "53655765", "2353687638", "127.0.0.1")
    assert rewrite_offer(offer, SWITCH, 10202, origin).origin.version == v1


def test_random_session_ids_are_62_bit() -> None:
    ids = {Origin().session_id for _ in range(20)}
    assert len(ids) == 20
    assert all(0 <= i < 2**62 for i in ids)


# --- G.722 and transcoding between the G.711 laws -------------------------------------------


def test_g722_only_offer_is_relayed() -> None:
    offer = parse_sdp(sdp_from("9 101", rtpmaps=("9 G722/8000", "101 telephone-event/8000")))
    out = rewrite_offer(offer, SWITCH, 10010, Origin())
    assert out.media[0].formats == ["9", "101"]
    assert voice_codecs(out) == {"9": "G722"}


def test_add_g711_offers_the_missing_law_after_the_callers_codecs() -> None:
    offer = parse_sdp(sdp_from("0 101", rtpmaps=("0 PCMU/8000", "101 telephone-event/8000")))
    out = rewrite_offer(offer, SWITCH, 10012, Origin(), add_g711=True)
    audio = out.media[0]
    assert audio.formats == ["0", "8", "101"]
    assert ("rtpmap", "8 PCMA/8000") in audio.attributes
    assert event_payload_type(out) == 101
    both = parse_sdp(sdp_from("8 0", rtpmaps=()))
    assert rewrite_offer(both, SWITCH, 10014, Origin(), add_g711=True).media[0].formats == [
        "8",
        "0",
    ]


def test_add_g711_leaves_an_offer_without_g711_alone() -> None:
    offer = parse_sdp(sdp_from("9", rtpmaps=("9 G722/8000",)))
    assert rewrite_offer(offer, SWITCH, 10016, Origin(), add_g711=True).media[0].formats == ["9"]


def test_answer_with_the_offerers_codec_when_transcoding() -> None:
    answer = parse_sdp(sdp_from("8 101", rtpmaps=("8 PCMA/8000", "101 telephone-event/8000")))
    out = rewrite_answer(answer, SWITCH, 10018, Origin(), codec=("0", "PCMU"))
    audio = out.media[0]
    assert audio.formats == ["0", "101"]
    assert [v for k, v in audio.attributes if k == "rtpmap"] == [
        "0 PCMU/8000",
        "101 telephone-event/8000",
    ]
