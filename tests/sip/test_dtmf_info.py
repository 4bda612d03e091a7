"""DTMF in SIP INFO bodies: both content types, the variants phones send, malformed bodies."""

from __future__ import annotations

import pytest

from softswitch.sip.dtmf_info import DTMF_RELAY, build_dtmf_relay, parse_dtmf_info

DIGITS = "0123456789*#ABCD"


@pytest.mark.parametrize("digit", list(DIGITS))
def test_dtmf_relay_every_digit(digit: str) -> None:
    body = f"Signal={digit}\r\nDuration=160\r\n".encode()
    assert parse_dtmf_info("application/dtmf-relay", body) == (digit, 160)


@pytest.mark.parametrize(("code", "digit"), list(enumerate(DIGITS)))
def test_dtmf_relay_event_codes(code: int, digit: str) -> None:
    body = f"Signal={code}\r\nDuration=250\r\n".encode()
    assert parse_dtmf_info("application/dtmf-relay", body) == (digit, 250)


@pytest.mark.parametrize("digit", list(DIGITS))
def test_dtmf_every_digit(digit: str) -> None:
    assert parse_dtmf_info("application/dtmf", digit.encode()) == (digit, None)


@pytest.mark.parametrize(("code", "digit"), list(enumerate(DIGITS)))
def test_dtmf_event_codes(code: int, digit: str) -> None:
    assert parse_dtmf_info("application/dtmf", f"{code}\r\n".encode()) == (digit, None)


@pytest.mark.parametrize(
    "body",
    [
        b"Signal=5\r\nDuration=160\r\n",
        b"Signal=5\nDuration=160\n",
        b"signal = 5\r\nduration = 160",
        b"SIGNAL=5\r\nDURATION=160\r\n",
        b"  Signal=\t5  \r\n Duration= 160\r\n",
        b"Duration=160\r\nSignal=5\r\n",
        b"Signal=5\r\nDuration=160\r\nVolume=10\r\n",
        b"\r\nSignal=5\r\n\r\nDuration=160\r\n\r\n",
    ],
)
def test_dtmf_relay_tolerates_layout_variants(body: bytes) -> None:
    assert parse_dtmf_info("application/dtmf-relay", body) == ("5", 160)


@pytest.mark.parametrize(
    "content_type",
    [
        "application/dtmf-relay",
        "Application/DTMF-Relay",
        "application/dtmf-relay; charset=us-ascii",
        "  application/dtmf-relay ;foo=bar",
    ],
)
def test_content_type_case_and_parameters_ignored(content_type: str) -> None:
    assert parse_dtmf_info(content_type, b"Signal=#\r\nDuration=100\r\n") == ("#", 100)


def test_lower_case_letters_are_the_digits() -> None:
    assert parse_dtmf_info("application/dtmf-relay", b"Signal=b\r\n") == ("B", None)
    assert parse_dtmf_info("application/dtmf", b"d") == ("D", None)


@pytest.mark.parametrize(
    "duration", [b"", b"Duration=\r\n", b"Duration=abc\r\n", b"Duration=-5\r\n", b"Duration=1e3"]
)
def test_unreadable_duration_still_gives_the_digit(duration: bytes) -> None:
    assert parse_dtmf_info("application/dtmf-relay", b"Signal=3\r\n" + duration) == ("3", None)


def test_absurd_duration_is_dropped() -> None:
    body = b"Signal=3\r\nDuration=99999999\r\n"
    assert parse_dtmf_info("application/dtmf-relay", body) == ("3", None)


def test_first_signal_counts() -> None:
    body = b"Signal=1\r\nSignal=2\r\n"
    assert parse_dtmf_info("application/dtmf-relay", body) == ("1", None)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"\r\n",
        b"Duration=160\r\n",  # no signal
        b"Signal=\r\nDuration=160\r\n",
        b"Signal=E\r\n",
        b"Signal=16\r\n",  # flash, not DTMF
        b"Signal=55\r\n",
        b"Signal=123\r\n",
        b"Signal=-1\r\n",
        b"Signal 5\r\n",  # no '='
        b"Signal=\xd9\xa5\r\n",  # an Arabic-Indic digit five in UTF-8
        b"Signal=5" + b" " * 2000,  # far too big for a DTMF body
    ],
)
def test_malformed_dtmf_relay_bodies(body: bytes) -> None:
    assert parse_dtmf_info("application/dtmf-relay", body) is None


@pytest.mark.parametrize("body", [b"", b" ", b"16", b"55", b"E", b"12 3", b"\xff", b"Signal=5"])
def test_malformed_dtmf_bodies(body: bytes) -> None:
    assert parse_dtmf_info("application/dtmf", body) is None


@pytest.mark.parametrize(
    "content_type", ["application/sdp", "text/plain", "application/dtmf-relayx", ""]
)
def test_other_content_types_are_not_dtmf(content_type: str) -> None:
    assert parse_dtmf_info(content_type, b"Signal=5\r\nDuration=160\r\n") is None


@pytest.mark.parametrize("digit", list(DIGITS))
def test_built_body_parses_back(digit: str) -> None:
    assert parse_dtmf_info(DTMF_RELAY, build_dtmf_relay(digit.lower(), 120)) == (digit, 120)


def test_build_refuses_non_digits() -> None:
    for digit in ("", "12", "E", "x"):
        with pytest.raises(ValueError):
            build_dtmf_relay(digit)
