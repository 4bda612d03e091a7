"""Registrations per second with digest authentication: SIPp -> softswitch's registrar.

    .venv/bin/python bench/bench_register.py            # full: 15 s probes, 90 s confirmation
    .venv/bin/python bench/bench_register.py --quick    # 4 s probes, 10 s confirmation

Each registration is REGISTER, 401, REGISTER with credentials, 200, for the next of --users
distinct extensions (SIPp injection file, SEQUENTIAL), so the registrar keeps --users bindings
and refreshes each one over and over, as a real office's phones do. The same rate search and
pass criteria as bench_calls.py: < 0.1 % failed, no retransmissions, p99 of the whole
two-round registration < 50 ms, every planned registration made at the asked rate.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    PortPicker,
    Verdict,
    best_line,
    cpu_seconds,
    error_excerpt,
    exit_on_sigterm,
    judge,
    log,
    machine_note,
    run_sipp,
    search_both,
    sipp_argv,
    softswitch,
    workdir,
)

LADDER = (500, 1000, 1500, 2000, 3000, 4000, 5000, 6000, 8000, 10000)
FIRST_USER = 20000


def users(count: int) -> dict[str, str]:
    return {str(FIRST_USER + i): f"p{FIRST_USER + i}" for i in range(count)}


def _user_line(user: str, password: str) -> str:
    # the third field carries the whole keyword: see the comment in register_users.xml
    return f"{user};{password};[authentication username={user} password={password}]"


class RegisterProbe:
    def __init__(self, count: int, log_level: str, keep: bool) -> None:
        self.users = users(count)
        self.log_level = log_level
        self.keep = keep
        self.ports = PortPicker()

    def __call__(self, rate: int, seconds: float) -> Verdict:
        with workdir(f"register-{rate}", self.keep) as wd:
            server_port, uac_port = self.ports.take(), self.ports.take()
            (wd / "server").mkdir()
            inf = wd / "users.csv"
            lines = ["SEQUENTIAL", *(_user_line(u, p) for u, p in self.users.items())]
            inf.write_text("\n".join(lines) + "\n")
            with softswitch(
                wd / "server", server_port, self.users, log_level=self.log_level
            ) as server:
                planned = round(rate * seconds)
                extra = [
                    "-inf", str(inf),
                    "-r", str(rate), "-rp", "1000", "-m", str(planned),
                    "-l", str(max(500, rate)),
                    "-timeout", f"{round(seconds + 30)}s", "-timeout_error",
                    "-recv_timeout", "10000",
                ]  # fmt: skip
                cpu0, t0 = cpu_seconds(server.pid), time.monotonic()
                stats = run_sipp(
                    sipp_argv("register_users.xml", uac_port, remote=server.port, extra=extra),
                    wd / "uac",
                    timeout=seconds + 45,
                )
                cpu = (cpu_seconds(server.pid) - cpu0) / (time.monotonic() - t0)
            verdict = judge(rate, seconds, stats, 0, cpu)
            if not verdict.passed and (excerpt := error_excerpt(wd / "uac")):
                log("    errors: " + excerpt.replace("\n", "\n    "))
            return verdict


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="4 s probes, 10 s confirmation")
    parser.add_argument("--users", type=int, default=1000, help="distinct extensions")
    parser.add_argument("--probe-seconds", type=float)
    parser.add_argument("--confirm-seconds", type=float)
    parser.add_argument("--rates", help="comma-separated ladder, overrides the default")
    parser.add_argument("--log-level", default="WARNING", help="softswitch's --log-level")
    parser.add_argument("--keep", action="store_true", help="keep the work directories")
    args = parser.parse_args()
    exit_on_sigterm()
    probe_seconds = args.probe_seconds or (4 if args.quick else 15)
    confirm_seconds = args.confirm_seconds or (10 if args.quick else 90)
    ladder = tuple(int(r) for r in args.rates.split(",")) if args.rates else LADDER
    log(f"bench_register: {machine_note()}")
    log(f"\n--- softswitch, {args.users} users")
    probe = RegisterProbe(args.users, args.log_level, args.keep)
    strict, clean = search_both(probe, ladder, probe_seconds, confirm_seconds)
    log("\n=== authenticated registrations per second")
    log(best_line("all criteria", "reg/s", strict))
    log(best_line("no p99 bound", "reg/s", clean))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
