"""Flood and brute-force protection, and the fail2ban-compatible log line."""

from __future__ import annotations

import os
import shutil
import subprocess
from ipaddress import ip_network
from pathlib import Path

import pytest

from softswitch.sip.guard import (
    LOG_LEVEL_FOR_AUTH_FAILURE,
    Guard,
    Verdict,
    auth_failure_log_line,
)

ATTACKER = "198.51.100.7"
PHONE = "192.0.2.10"


def fail(guard: Guard, ip: str, times: int, start: float, step: float) -> list[bool]:
    return [guard.record_auth_failure(ip, start + i * step) for i in range(times)]


def test_ban_after_max_failures_within_window() -> None:
    guard = Guard(max_auth_failures=10, failure_window=60.0, ban_time=600.0)
    results = fail(guard, ATTACKER, 10, start=100.0, step=6.0)  # 10 failures over 54 s
    assert results == [False] * 9 + [True]
    assert guard.is_banned(ATTACKER, 154.0)
    assert guard.check_request(ATTACKER, 154.0) is Verdict.DROP
    assert guard.retry_after(ATTACKER, 154.0) == 600


def test_failures_spread_beyond_the_window_do_not_ban() -> None:
    guard = Guard(max_auth_failures=10, failure_window=60.0)
    assert not any(fail(guard, ATTACKER, 30, start=100.0, step=7.0))  # 10 span 63 s
    assert not guard.is_banned(ATTACKER, 400.0)
    assert guard.check_request(ATTACKER, 400.0) is Verdict.ALLOW


def test_ban_affects_only_the_offending_address() -> None:
    guard = Guard(max_auth_failures=3, failure_window=60.0, ban_time=600.0)
    guard.record_auth_failure(PHONE, 100.0)  # one honest typo from the phone
    assert fail(guard, ATTACKER, 3, start=100.0, step=1.0)[-1]
    assert guard.check_request(ATTACKER, 103.0) is Verdict.DROP
    assert guard.check_request(PHONE, 103.0) is Verdict.ALLOW
    assert not guard.is_banned(PHONE, 103.0)
    # The phone's own count was untouched by the attacker's failures.
    assert not guard.record_auth_failure(PHONE, 104.0)


def test_ban_expires() -> None:
    guard = Guard(max_auth_failures=2, failure_window=60.0, ban_time=600.0)
    assert fail(guard, ATTACKER, 2, start=100.0, step=1.0) == [False, True]
    assert guard.is_banned(ATTACKER, 700.9)
    assert guard.retry_after(ATTACKER, 700.5) == 1
    assert not guard.is_banned(ATTACKER, 701.0)
    assert guard.check_request(ATTACKER, 701.0) is Verdict.ALLOW
    # After a ban the count starts again from zero.
    assert not guard.record_auth_failure(ATTACKER, 702.0)
    assert guard.record_auth_failure(ATTACKER, 703.0)


def test_flood_is_throttled_once_per_second_then_dropped() -> None:
    guard = Guard(request_rate=100.0, request_burst=50)
    now = 10.0
    verdicts = [guard.check_request(ATTACKER, now) for _ in range(60)]
    assert verdicts[:50] == [Verdict.ALLOW] * 50
    assert verdicts[50] is Verdict.THROTTLE
    assert verdicts[51:] == [Verdict.DROP] * 9
    assert guard.retry_after(ATTACKER, now) >= 1
    # 0.5 s later the bucket holds 50 tokens again but the 503 budget is still spent.
    now += 0.5
    verdicts = [guard.check_request(ATTACKER, now) for _ in range(52)]
    assert verdicts[:50] == [Verdict.ALLOW] * 50
    assert verdicts[50:] == [Verdict.DROP] * 2
    # A second after the first 503, the next excess request gets a 503 again.
    now += 0.5
    verdicts = [guard.check_request(ATTACKER, now) for _ in range(52)]
    assert verdicts[50] is Verdict.THROTTLE
    assert guard.check_request(PHONE, now) is Verdict.ALLOW


def test_steady_rate_below_the_limit_is_never_throttled() -> None:
    guard = Guard(request_rate=100.0, request_burst=10)
    verdicts = {guard.check_request(PHONE, 5.0 + i * 0.011) for i in range(2000)}
    assert verdicts == {Verdict.ALLOW}


def test_trusted_networks_are_never_throttled_or_banned() -> None:
    guard = Guard(
        max_auth_failures=2,
        request_rate=1.0,
        request_burst=1,
        trusted=[ip_network("10.0.0.0/8"), ip_network("2001:db8::/32")],
    )
    for ip in ("10.1.2.3", "::ffff:10.1.2.3", "2001:db8::5"):
        assert {guard.check_request(ip, 1.0) for _ in range(100)} == {Verdict.ALLOW}
        assert not any(fail(guard, ip, 5, start=1.0, step=0.1))
        assert not guard.is_banned(ip, 2.0)
    # An untrusted neighbour is limited as usual.
    assert [guard.check_request("11.0.0.1", 1.0) for _ in range(2)] == [
        Verdict.ALLOW,
        Verdict.THROTTLE,
    ]


def test_memory_stays_bounded_under_a_flood_of_distinct_sources() -> None:
    cap = 1000
    guard = Guard(max_auth_failures=2, max_tracked=cap)
    for i in range(5 * cap):
        ip = f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}"
        guard.check_request(ip, 1.0 + i * 1e-3)
        guard.record_auth_failure(ip, 1.0 + i * 1e-3)
        guard.record_auth_failure(ip, 1.0 + i * 1e-3)  # bans it
        assert max(guard.tracked()) <= cap
    assert guard.tracked() == (cap, 0, cap)
    # The latest bans survived the flood.
    assert guard.is_banned(f"10.0.{(5 * cap - 1) >> 8 & 255}.{(5 * cap - 1) & 255}", 6.0)


def test_a_flood_of_new_sources_does_not_lift_a_ban() -> None:
    guard = Guard(max_auth_failures=1, max_tracked=100)
    assert guard.record_auth_failure(ATTACKER, 1.0)
    for i in range(1000):
        guard.check_request(f"10.0.{i >> 8}.{i & 255}", 2.0)
    assert guard.check_request(ATTACKER, 3.0) is Verdict.DROP


# ------------------------------------------------------------------- totals for /metrics


def test_failures_and_bans_are_counted_and_bans_seen_to_expire() -> None:
    guard = Guard(max_auth_failures=3, failure_window=60, ban_time=10)
    now = 100.0
    assert fail(guard, ATTACKER, 3, start=now, step=0.0) == [False, False, True]
    assert guard.record_auth_failure(ATTACKER, now + 1) is False  # banned: no second ban ...
    guard.record_auth_failure(PHONE, now + 2)
    assert (guard.auth_failures, guard.bans) == (5, 1)  # ... but still a failure
    assert guard.active_bans(now + 5) == 1
    assert guard.active_bans(now + 10.5) == 0  # the ban ran out; the totals stay
    assert (guard.auth_failures, guard.bans) == (5, 1)
    # Banned again once the ban is over: the total counts the address twice.
    assert fail(guard, ATTACKER, 3, start=now + 11, step=1.0)[-1]
    assert (guard.auth_failures, guard.bans, guard.active_bans(now + 13)) == (8, 2, 1)


def test_a_trusted_network_fails_without_a_ban() -> None:
    guard = Guard(max_auth_failures=1, trusted=[ip_network("10.0.0.0/8")])
    assert guard.record_auth_failure("10.1.2.3", 0.0) is False
    assert (guard.auth_failures, guard.bans, guard.active_bans(0.0)) == (1, 0, 0)


def test_active_bans_count_only_those_in_force_as_they_expire_in_turn() -> None:
    guard = Guard(max_auth_failures=1, ban_time=10)
    for i in range(5):
        assert guard.record_auth_failure(f"198.51.100.{i}", 100.0 + i)  # banned until 110 + i
    assert [guard.active_bans(t) for t in (109.0, 110.0, 112.5, 114.0)] == [5, 4, 2, 0]
    assert guard.tracked()[2] == 0  # counting forgot the expired bans
    assert guard.bans == 5


def test_active_bans_stay_within_the_tables_bound() -> None:
    cap = 100
    guard = Guard(max_auth_failures=1, max_tracked=cap)
    for i in range(3 * cap):
        assert guard.record_auth_failure(f"10.0.{i >> 8}.{i & 255}", 1.0)
    assert (guard.bans, guard.active_bans(1.0)) == (3 * cap, cap)
    # Those counted are the latest, really banned; the oldest were let go to make room.
    assert guard.is_banned(f"10.0.1.{(3 * cap - 1) & 255}", 1.0)
    assert not guard.is_banned("10.0.0.0", 1.0)


# ------------------------------------------------------------------- the log line


def log_line(message: str) -> str:
    # The lead's logger: f"{timestamp} {LEVEL} {message}".
    return f"2024-05-01 12:00:00.123 {LOG_LEVEL_FOR_AUTH_FAILURE} {message}"


def test_log_line_shape_keeps_call_id_early() -> None:
    line = auth_failure_log_line(
        "REGISTER", "<sip:1001@pbx.example.com>", "192.0.2.7", 5060, "abc@host", "wrong password"
    )
    assert line.startswith(f"[{os.getpid()}] [abc@host] ")
    assert "Request 'REGISTER' from '<sip:1001@pbx.example.com>' failed for '192.0.2.7:5060'" in (
        line
    )
    assert line.endswith("(callid: abc@host) - Failed to authenticate")
    bracketed = auth_failure_log_line("R", "<sip:a@b>", "[2001:db8::1]", 5060, "c", "r")
    assert "failed for '[2001:db8::1]:5060'" in bracketed
    assert "\n" not in auth_failure_log_line("R\nX", "a\r\nb", "192.0.2.7", 1, "c\nd", "e\nf")


FAIL2BAN_REGEX = shutil.which("fail2ban-regex")
ASTERISK_FILTER = Path("/etc/fail2ban/filter.d/asterisk.conf")


@pytest.mark.skipif(
    FAIL2BAN_REGEX is None or not ASTERISK_FILTER.exists(),
    reason="fail2ban-regex or its stock asterisk filter is not installed (Debian: fail2ban)",
)
def test_stock_fail2ban_asterisk_filter_bans_exactly_the_source(tmp_path: Path) -> None:
    cases = [
        # (line fields, the address fail2ban must extract)
        (("REGISTER", "<sip:1001@pbx.example.com>", "192.0.2.7", 5060, "a84b4c76@pc33", "x"),
         "192.0.2.7"),
        (("INVITE", '"Ana" <sip:1001@pbx>;tag=9', "2001:db8::7", 5062, "cid:[::1]", "unknown user"),
         "2001:db8::7"),
        # Hostile fields that try to point the ban elsewhere or to slip past the filter.
        (("REGISTER", "<sip:x>' failed for '203.0.113.99:5060' (callid: z) - Failed to "
          "authenticate", "192.0.2.8", 5060, "q) - Failed to authenticate", "r"), "192.0.2.8"),
        (("REGISTER", '"Evil: " <sip:a@b>', "192.0.2.9", 5060, "x", "y"), "192.0.2.9"),
        (("OPTIONS\n2024-05-01 12:00:00 WARNING [1] x: Request 'R' from 'a' failed for "
          "'203.0.113.5:1' (callid: c) - Failed to authenticate", "<sip:a@b>", "192.0.2.10",
          5060, "c\n", "r\n"), "192.0.2.10"),
    ]  # fmt: skip
    log = tmp_path / "softswitch.log"
    log.write_text("".join(log_line(auth_failure_log_line(*f)) + "\n" for f, _ in cases))
    assert len(log.read_text().splitlines()) == len(cases)  # no line was forged
    out = subprocess.run(
        [FAIL2BAN_REGEX or "", "-o", "ip", str(log), str(ASTERISK_FILTER)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert out.stdout.split() == [ip for _, ip in cases]
