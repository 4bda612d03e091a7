"""RFC 3842 message-summary bodies, both directions, and the NOTIFY headers that carry them."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from softswitch.errors import SipParseError
from softswitch.sip.message import SipRequest, parse_message
from softswitch.sip.mwi import (
    CONTENT_TYPE,
    MessageCounts,
    message_summary,
    notify_headers,
    parse_message_summary,
)

ACCOUNT = "sip:1001@pbx.example.com"


def test_body_is_exactly_the_rfc_shape() -> None:
    assert message_summary(2, 8, ACCOUNT) == (
        b"Messages-Waiting: yes\r\n"
        b"Message-Account: sip:1001@pbx.example.com\r\n"
        b"Voice-Message: 2/8 (0/0)\r\n"
    )


def test_no_messages_means_no() -> None:
    assert message_summary(0, 0, ACCOUNT).startswith(b"Messages-Waiting: no\r\n")
    assert b"Voice-Message: 0/0 (0/0)\r\n" in message_summary(0, 0, ACCOUNT)


def test_old_messages_alone_do_not_light_the_lamp() -> None:
    summary = parse_message_summary(message_summary(0, 5, ACCOUNT))
    assert not summary.waiting
    assert summary.voice == MessageCounts(0, 5)


def test_urgent_counts_and_no_account() -> None:
    body = message_summary(3, 1, None, new_urgent=1, old_urgent=1)
    assert body == b"Messages-Waiting: yes\r\nVoice-Message: 3/1 (1/1)\r\n"
    summary = parse_message_summary(body)
    assert summary.account is None
    assert summary.voice == MessageCounts(3, 1, 1, 1)


@pytest.mark.parametrize(
    ("new", "old", "urgent"), [(-1, 0, 0), (0, -1, 0), (1, 0, 2)], ids=["neg-new", "neg-old", "urg"]
)
def test_impossible_counts_are_refused(new: int, old: int, urgent: int) -> None:
    with pytest.raises(ValueError):
        message_summary(new, old, ACCOUNT, new_urgent=urgent)


def test_account_cannot_inject_lines() -> None:
    with pytest.raises(ValueError):
        message_summary(1, 0, "sip:a@b\r\nMessages-Waiting: no")


@given(
    new=st.integers(0, 10_000),
    old=st.integers(0, 10_000),
    data=st.data(),
)
def test_round_trip(new: int, old: int, data: st.DataObject) -> None:
    new_urgent = data.draw(st.integers(0, new))
    old_urgent = data.draw(st.integers(0, old))
    body = message_summary(new, old, ACCOUNT, new_urgent=new_urgent, old_urgent=old_urgent)
    summary = parse_message_summary(body)
    assert summary.waiting is (new > 0)
    assert summary.account == ACCOUNT
    assert summary.voice == MessageCounts(new, old, new_urgent, old_urgent)
    assert summary.extra_headers == ()


def test_parser_reads_rfc_3842_example_with_other_classes_and_extra_headers() -> None:
    # RFC 3842 §6 example, with LF line ends and odd spacing as some servers send.
    body = (
        b"Messages-Waiting: yes\n"
        b"Message-Account: sip:alice@vmail.example.com\n"
        b"Voice-Message: 4/8 (1/2)\n"
        b"fax-message :  1 / 0\n"
        b"\n"
        b"Message-ID: <1234@vmail.example.com>\n"
        b"Subject: Lunch\n"
    )
    summary = parse_message_summary(body)
    assert summary.waiting
    assert summary.account == "sip:alice@vmail.example.com"
    assert summary.voice == MessageCounts(4, 8, 1, 2)
    assert summary.counts["fax-message"] == MessageCounts(1, 0)
    assert summary.extra_headers == (
        ("message-id", "<1234@vmail.example.com>"),
        ("subject", "Lunch"),
    )


def test_parser_is_case_insensitive_on_names_and_status() -> None:
    summary = parse_message_summary(b"messages-waiting: NO\r\nVOICE-MESSAGE: 0/3\r\n")
    assert not summary.waiting
    assert summary.voice == MessageCounts(0, 3)


def test_unreadable_count_lines_are_kept_not_fatal() -> None:
    summary = parse_message_summary(b"Messages-Waiting: yes\r\nVoice-Message: lots\r\n")
    assert summary.waiting
    assert summary.voice is None
    assert summary.extra_headers == (("voice-message", "lots"),)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"\r\n\r\n",
        b"Voice-Message: 1/0\r\n",  # the status line must come first
        b"Messages-Waiting: maybe\r\n",
        b"Messages-Waiting yes\r\n",
        b"Messages-Waiting: yes\r\nnot a header line\r\n",
        b"Messages-Waiting: yes\r\n\xff\xfe: 1/0\r\n",
    ],
)
def test_malformed_bodies_are_400(body: bytes) -> None:
    with pytest.raises(SipParseError) as info:
        parse_message_summary(body)
    assert info.value.status == 400


def test_non_ascii_digits_are_not_counts() -> None:
    summary = parse_message_summary("Messages-Waiting: yes\r\nVoice-Message: ٣/0\r\n".encode())
    assert summary.voice is None


def test_unsolicited_notify_headers_terminated() -> None:
    assert notify_headers() == [
        ("event", "message-summary"),
        ("subscription-state", "terminated;reason=noresource"),
        ("content-type", "application/simple-message-summary"),
    ]
    assert dict(notify_headers(reason="timeout"))["subscription-state"] == (
        "terminated;reason=timeout"
    )


def test_notify_headers_active() -> None:
    headers = dict(notify_headers(expires=3600))
    assert headers["subscription-state"] == "active;expires=3600"
    assert headers["content-type"] == CONTENT_TYPE


@pytest.mark.parametrize("kwargs", [{"expires": -1}, {"reason": "bad reason"}, {"reason": ""}])
def test_notify_headers_reject_bad_values(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        notify_headers(**kwargs)  # type: ignore[arg-type]


def test_a_whole_notify_serializes_and_parses_back() -> None:
    body = message_summary(1, 2, ACCOUNT)
    headers = [
        ("via", "SIP/2.0/UDP pbx.example.com;branch=z9hG4bK-mwi1"),
        ("from", "<sip:1001@pbx.example.com>;tag=mwi"),
        ("to", "<sip:1001@pbx.example.com>"),
        ("call-id", "mwi-1"),
        ("cseq", "1 NOTIFY"),
        ("max-forwards", "70"),
        *notify_headers(),
    ]
    wire = SipRequest("NOTIFY", "sip:1001@203.0.113.5:5060", headers, body).to_bytes()
    assert b"\r\nEvent: message-summary\r\n" in wire
    assert b"\r\nContent-Type: application/simple-message-summary\r\n" in wire
    parsed = parse_message(wire)
    assert parsed.get("subscription-state") == "terminated;reason=noresource"
    summary = parse_message_summary(parsed.body)
    assert summary.waiting
    assert summary.voice == MessageCounts(1, 2)
