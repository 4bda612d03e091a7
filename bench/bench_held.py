"""Calls held: the most concurrent calls kept up without failures, and memory per held call.

    .venv/bin/python bench/bench_held.py               # softswitch and sippy, up to 9,000 calls
    .venv/bin/python bench/bench_held.py --quick       # up to 1,000 calls
    .venv/bin/python bench/bench_held.py --only softswitch --max-calls 6000

SIPp places calls at --ramp calls/s, each held (SIPp -d) long enough that none ends before the
ramp does. Every second the harness samples the server's RSS (/proc/PID/status) and SIPp's
current and failed calls; it stops at the first failed call or when all --max-calls are up and
have stayed up for --plateau seconds. Memory per held call is the least-squares slope of RSS
over concurrent calls (so the fixed start-up memory and the allocator's steps average out).

softswitch anchors RTP: each call binds four UDP sockets (two port pairs) from rtp_ports, here
20000-60000 (10,000 calls), and each socket is a file descriptor, so the process's open-file
limit (`ulimit -n`) bounds the calls it can hold: about (limit - 30) / 4.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_calls import EXTENSIONS, SIPPY_UAC, register_callee
from common import (
    HOST,
    PortPicker,
    Proc,
    Server,
    current_row,
    error_excerpt,
    exit_on_sigterm,
    log,
    machine_note,
    rss_kib,
    sipp_argv,
    sippy,
    softswitch,
    start_sipp,
    udp_bound,
    wait_quiet,
    workdir,
)

RTP_PORTS = "20000-60000"


@dataclass(frozen=True, slots=True)
class Sample:
    seconds: float
    calls: int  # SIPp's CurrentCall on the caller side
    failed: int
    rss_kib: int


@dataclass(frozen=True, slots=True)
class Held:
    kind: str
    idle_rss_kib: int
    samples: tuple[Sample, ...]
    stopped_by: str

    @property
    def most_held(self) -> int:
        clean = [s.calls for s in self.samples if s.failed == 0]
        return max(clean, default=0)

    @property
    def bytes_per_call(self) -> float:
        return slope([(s.calls, s.rss_kib * 1024) for s in self.samples if s.failed == 0])

    @property
    def bytes_per_call_overall(self) -> float:
        """(RSS with the most calls up - RSS idle) / calls: includes start-up growth."""
        clean = [s for s in self.samples if s.failed == 0 and s.calls]
        if not clean:
            return 0.0
        top = max(clean, key=lambda s: s.calls)
        return (top.rss_kib - self.idle_rss_kib) * 1024 / top.calls

    def line(self) -> str:
        peak = max((s.rss_kib for s in self.samples), default=self.idle_rss_kib)
        return (
            f"{self.kind:11} held {self.most_held:6} calls without failures; "
            f"{self.bytes_per_call / 1024:5.1f} KiB per held call (slope; "
            f"{self.bytes_per_call_overall / 1024:.1f} KiB from idle), "
            f"RSS {self.idle_rss_kib / 1024:.0f} MiB idle, {peak / 1024:.0f} MiB peak; "
            f"stopped: {self.stopped_by}"
        )


def slope(points: Sequence[tuple[float, float]]) -> float:
    """Least-squares slope of y over x (0 when x does not vary)."""
    n = len(points)
    if n < 2:
        return 0.0
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    var = sum((x - mean_x) ** 2 for x, _ in points)
    cov = sum((x - mean_x) * (y - mean_y) for x, y in points)
    return cov / var if var else 0.0


@dataclass(frozen=True, slots=True)
class Plan:
    max_calls: int
    ramp: int  # calls per second
    plateau: float  # seconds all calls must stay up

    @property
    def hold_ms(self) -> int:
        # every call outlives the ramp and the plateau, with margin for a slow ramp
        return int((self.max_calls / self.ramp * 1.5 + self.plateau + 20) * 1000)


def hold(kind: str, plan: Plan, keep: bool) -> Held:
    ports = PortPicker()
    with workdir(f"held-{kind}", keep) as wd:
        server_port, uas_port, uac_port = ports.take(), ports.take(), ports.take()
        (wd / "server").mkdir()
        if kind == "sippy":
            with sippy(wd / "server", server_port, (HOST, uas_port)) as server:
                return _ramp(server, plan, wd, uas_port, uac_port)
        with softswitch(wd / "server", server_port, EXTENSIONS, rtp_ports=RTP_PORTS) as server:
            register_callee(server.port, uas_port, wd)
            return _ramp(server, plan, wd, uas_port, uac_port)


def _ramp(server: Server, plan: Plan, wd: Path, uas_port: int, uac_port: int) -> Held:
    limit = f"{round(plan.hold_ms / 1000 + 60)}s"
    uas = start_sipp(sipp_argv("uas.xml", uas_port, extra=["-timeout", limit]), wd / "uas")
    uac: Proc | None = None
    try:
        while not udp_bound(uas_port):
            time.sleep(0.02)
        time.sleep(1)
        idle = rss_kib(server.pid)
        scenario = "uac_plain.xml" if server.kind == "sippy" else "uac_auth.xml"
        auth = SIPPY_UAC if server.kind == "sippy" else ["-au", "1001", "-ap", EXTENSIONS["1001"]]
        extra = [
            "-s", "1002", *auth, "-d", str(plan.hold_ms),
            "-r", str(plan.ramp), "-rp", "1000",
            "-m", str(plan.max_calls), "-l", str(plan.max_calls),
            "-timeout", limit, "-recv_timeout", "10000",
        ]  # fmt: skip
        uac = start_sipp(sipp_argv(scenario, uac_port, remote=server.port, extra=extra), wd / "uac")
        samples, stopped_by = _watch(server, plan, wd / "uac", uac)
    finally:
        # SIGUSR1 would wait for the held calls to end: these are killed outright.
        for proc in (uac, uas):
            if proc is not None:
                proc.stop(grace=2)
    if stopped_by.startswith("failure") and (excerpt := error_excerpt(wd / "uac")):
        log("    uac errors: " + excerpt.replace("\n", "\n    "))
    return Held(server.kind, idle, tuple(samples), stopped_by)


def _watch(server: Server, plan: Plan, uac_dir: Path, uac: Proc) -> tuple[list[Sample], str]:
    samples: list[Sample] = []
    start = time.monotonic()
    full_since: float | None = None
    deadline = start + plan.hold_ms / 1000
    while time.monotonic() < deadline:
        time.sleep(1)
        if not server.proc.alive():
            return samples, "server exited:\n" + server.proc.stderr_tail()
        row = current_row(uac_dir)
        if row is None:
            continue
        now = time.monotonic()
        sample = Sample(
            now - start, int(row["CurrentCall"]), int(row["FailedCall(C)"]), rss_kib(server.pid)
        )
        samples.append(sample)
        if len(samples) % 5 == 0:
            log(f"    {sample.seconds:5.0f} s: {sample.calls:6} calls, RSS {sample.rss_kib} KiB")
        if sample.failed:
            return samples, f"failure at {sample.calls} calls ({sample.failed} failed)"
        if not uac.alive():
            return samples, f"SIPp ended (rc {uac.popen.returncode})"
        if sample.calls >= plan.max_calls:
            full_since = full_since or now
            if now - full_since >= plan.plateau:
                return samples, f"all {plan.max_calls} calls up for {plan.plateau:.0f} s"
    return samples, "hold time over"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="up to 1,000 calls")
    parser.add_argument("--only", choices=["softswitch", "sippy"])
    parser.add_argument("--max-calls", type=int, help="default 9000 (--quick: 1000)")
    parser.add_argument("--ramp", type=int, default=200, help="calls per second while ramping")
    parser.add_argument("--plateau", type=float, default=10.0)
    parser.add_argument("--keep", action="store_true", help="keep the work directories")
    args = parser.parse_args()
    exit_on_sigterm()
    plan = Plan(args.max_calls or (1000 if args.quick else 9000), args.ramp, args.plateau)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    log(f"bench_held: {machine_note()}")
    log(f"open files limit {soft} (hard {hard}); ramp {plan.ramp}/s to {plan.max_calls} calls")
    results = []
    for kind in [args.only] if args.only else ["softswitch", "sippy"]:
        log(f"\n--- {kind}")
        wait_quiet()
        results.append(hold(kind, plan, args.keep))
        log("  " + results[-1].line())
    log("\n=== calls held")
    for held in results:
        log(held.line())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
