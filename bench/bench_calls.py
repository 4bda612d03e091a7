"""Calls per second: SIPp uac -> B2BUA -> SIPp uas, softswitch and sippy in the same run.

    .venv/bin/python bench/bench_calls.py            # full: 15 s probes, 90 s confirmation
    .venv/bin/python bench/bench_calls.py --quick    # 4 s probes, 10 s confirmation
    .venv/bin/python bench/bench_calls.py --only softswitch --profile 600   # py-spy at 600/s
    .venv/bin/python bench/bench_calls.py --caller trunk   # softswitch's caller is a trunk

Each call is INVITE, 180, 200, ACK, BYE, 200 (no media flows, no pause). For each server a
ladder of rates is probed (a fresh server per probe) until one fails; the gap is bisected, then
the best passing rate must hold for a full run. A run passes with < 0.1 % failed calls, no
retransmissions on either SIPp side, p99 call-setup time (first INVITE to 200, SIPp's rtd)
under 50 ms, and every planned call created at the asked rate.

Differences between the two servers, by design of each: every softswitch call authenticates
(INVITE, 407, ACK, INVITE with digest) and anchors RTP (two port pairs bound per call); sippy's
b2bua_radius runs with -u (no authentication) and without an RTP proxy, so its calls are three
messages shorter and bind no sockets. Both run one Python process with logging quiet.
``--caller trunk`` makes softswitch's caller a provider trusted by its address (inbound_from),
dialling a number routed to extension 1002: the same six messages as sippy's calls, through
the inbound routing (number, action, history as an inbound call).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    HOST,
    REPO,
    TRUNK_DID,
    PortPicker,
    Proc,
    SearchResult,
    Server,
    Verdict,
    best_line,
    cpu_seconds,
    error_excerpt,
    exit_on_sigterm,
    judge,
    log,
    machine_note,
    read_stats,
    run_sipp,
    search_both,
    sipp_argv,
    sippy,
    softswitch,
    spawn,
    start_sipp,
    udp_bound,
    workdir,
)

EXTENSIONS = {"1001": "bench1001", "1002": "bench1002"}
MAX_CONCURRENT = 1900  # softswitch binds 4 RTP ports per call; 42000-49999 holds 2,000 calls
# sippy sends from a pool of threads, so a 180 sometimes leaves after the 200 that followed it
# (measured: 7 calls in 300 at 200/s); a phone drops such a stray provisional response, SIPp
# aborts the call unless told not to.
SIPPY_UAC = ["-default_behaviors", "all,-abortunexp"]
LADDERS = {
    "softswitch": (200, 400, 600, 800, 1000, 1200, 1400, 1600, 2000, 2500, 3000),
    "sippy": (100, 150, 200, 250, 300, 350, 400, 500, 600, 800, 1000),
}


@dataclass(frozen=True, slots=True)
class Options:
    probe_seconds: float
    confirm_seconds: float
    log_level: str
    keep: bool
    caller: str = "extension"  # or "trunk": no digest round (see the module docstring)


Attach = Callable[[int, float, Path], Proc]


class CallProbe:
    """One load run against a fresh server: uas, server, uac at a fixed rate."""

    def __init__(
        self, kind: str, options: Options, ports: PortPicker, attach: Attach | None = None
    ) -> None:
        self.kind = kind
        self.options = options
        self.ports = ports
        self.attach = attach  # e.g. a profiler, started on the server as the load begins

    def __call__(self, rate: int, seconds: float) -> Verdict:
        with workdir(f"calls-{self.kind}-{rate}", self.options.keep) as wd:
            server_port, uas_port, uac_port = (self.ports.take() for _ in range(3))
            (wd / "server").mkdir()
            if self.kind == "sippy":
                with sippy(wd / "server", server_port, (HOST, uas_port)) as server:
                    return self._load(server, wd, rate, seconds, uas_port, uac_port)
            with softswitch(
                wd / "server",
                server_port,
                EXTENSIONS,
                log_level=self.options.log_level,
                trunk=self.options.caller == "trunk",
            ) as server:
                register_callee(server.port, uas_port, wd)
                return self._load(server, wd, rate, seconds, uas_port, uac_port)

    def _load(
        self, server: Server, wd: Path, rate: int, seconds: float, uas_port: int, uac_port: int
    ) -> Verdict:
        planned = round(rate * seconds)
        uas = start_sipp(
            sipp_argv(
                "uas.xml", uas_port, extra=["-m", str(planned), "-timeout", _s(seconds + 60)]
            ),
            wd / "uas",
        )
        try:
            _wait_bound(uas_port)
            scenario, target, auth = self._caller(server.kind)
            limit = min(max(200, rate * 2), MAX_CONCURRENT)
            extra = [
                "-s", target, *auth,
                "-r", str(rate), "-rp", "1000", "-m", str(planned), "-l", str(limit),
                "-timeout", _s(seconds + 30), "-timeout_error", "-recv_timeout", "10000",
            ]  # fmt: skip
            cpu0, t0 = cpu_seconds(server.pid), time.monotonic()
            spy = self.attach(server.pid, seconds, wd) if self.attach else None
            stats = run_sipp(
                sipp_argv(scenario, uac_port, remote=server.port, extra=extra),
                wd / "uac",
                timeout=seconds + 45,
            )
            cpu = (cpu_seconds(server.pid) - cpu0) / (time.monotonic() - t0)
            if spy is not None:
                spy.popen.wait(30)
        finally:
            # the uas ends by itself after its last call's 4 s timewait
            try:
                rc = uas.popen.wait(10)
            except Exception:
                rc = uas.stop()
        callee = read_stats(wd / "uas", rc)
        verdict = judge(rate, seconds, stats, callee.retransmissions, cpu)
        if not verdict.passed and (excerpt := error_excerpt(wd / "uac")):
            log("    uac errors: " + excerpt.replace("\n", "\n    "))
        return verdict

    def _caller(self, kind: str) -> tuple[str, str, list[str]]:
        """The uac's scenario, the number it dials, and its extra arguments."""
        if kind == "sippy":
            return "uac_plain.xml", "1002", SIPPY_UAC
        if self.options.caller == "trunk":
            return "uac_plain.xml", TRUNK_DID, []
        return "uac_auth.xml", "1002", ["-au", "1001", "-ap", EXTENSIONS["1001"]]


def register_callee(server_port: int, uas_port: int, wd: Path) -> None:
    """The callee registers as 1002 from the port its uas will listen on."""
    credentials = ["-s", "1002", "-au", "1002", "-ap", EXTENSIONS["1002"]]
    extra = [*credentials, "-m", "1", "-timeout", "10s", "-timeout_error"]
    argv = sipp_argv("register_auth.xml", uas_port, remote=server_port, extra=extra)
    stats = run_sipp(argv, wd / "register", timeout=20)
    if stats.successful != 1:
        raise RuntimeError(f"callee registration failed (rc {stats.rc})")


def _wait_bound(port: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not udp_bound(port):
        if time.monotonic() > deadline:
            raise RuntimeError(f"nothing listening on {port}")
        time.sleep(0.02)


def _s(seconds: float) -> str:
    return f"{round(seconds)}s"


PY_SPY = REPO / ".venv" / "bin" / "py-spy"
SPY_RATE = 250  # samples per second


def start_py_spy(pid: int, seconds: float, out: Path) -> Proc:
    """Sample a running server with py-spy (--nonblocking: the server is never paused)."""
    argv = [
        str(PY_SPY), "record", "-p", str(pid), "-d", str(math.ceil(seconds)),
        "-r", str(SPY_RATE), "-f", "raw", "-o", str(out), "--nonblocking",
    ]  # fmt: skip
    return spawn("py-spy", argv, out.parent)


def summarize_stacks(path: Path, seconds: float, top: int = 25) -> str:
    """Self and inclusive time per function from py-spy's collapsed stacks, as shares of
    one core (samples over the samples a fully busy core would give)."""
    own: dict[str, int] = {}
    inclusive: dict[str, int] = {}
    by_file: dict[str, int] = {}
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = [_frame_name(f) for f in stack.split(";")]
        own[frames[-1]] = own.get(frames[-1], 0) + count
        module = frames[-1].partition(" (")[2].rstrip(")") or "?"
        by_file[module] = by_file.get(module, 0) + count
        for name in set(frames):
            inclusive[name] = inclusive.get(name, 0) + count
    full = SPY_RATE * seconds
    out = [f"{total} samples = {total / full:.0%} of one core over {seconds:.0f} s"]
    for title, table in (("self", own), ("inclusive", inclusive), ("file (self)", by_file)):
        out.append(f"-- top {top} by {title} time (share of one core)")
        ranked = sorted(table.items(), key=lambda item: -item[1])[:top]
        out += [f"  {count / full:6.1%}  {name}" for name, count in ranked]
    return "\n".join(out)


def _frame_name(frame: str) -> str:
    # "handle (softswitch/sip/endpoint.py:120)" -> "handle (softswitch/sip/endpoint.py)"
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", "/work/main/", "lib/python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{name} ({path})" if path else name


def profile_at(kind: str, rate: int, seconds: float, options: Options) -> None:
    """One run with py-spy sampling the server: where its time goes at this rate."""
    with workdir(f"profile-{kind}", keep=True) as wd:
        out = wd / "stacks.txt"

        def attach(pid: int, run_seconds: float, _: Path) -> Proc:
            return start_py_spy(pid, run_seconds, out)

        verdict = CallProbe(kind, options, PortPicker(), attach)(rate, seconds)
        log("  " + verdict.line())
        log(summarize_stacks(out, seconds))


def summary(results: dict[str, tuple[SearchResult, SearchResult]]) -> None:
    titles = (
        "sustained, < 0.1 % failed, no retransmissions, p99 setup < 50 ms",
        "latency aside: < 0.1 % failed, no retransmissions",
    )
    for index, title in enumerate(titles):
        log(f"\n=== calls per second ({title})")
        for kind, pair in results.items():
            log(best_line(kind, "calls/s", pair[index]))
        if {"softswitch", "sippy"} <= results.keys() and results["sippy"][index].best:
            # 0 when softswitch had no passing 90 s run: see the probes above
            ratio = results["softswitch"][index].best / results["sippy"][index].best
            log(f"ratio softswitch / sippy = {ratio:.2f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="4 s probes, 10 s confirmation")
    parser.add_argument("--only", choices=sorted(LADDERS), help="measure one server only")
    parser.add_argument("--probe-seconds", type=float)
    parser.add_argument("--confirm-seconds", type=float)
    parser.add_argument("--log-level", default="WARNING", help="softswitch's --log-level")
    parser.add_argument("--rates", help="comma-separated ladder, overrides the default")
    parser.add_argument("--profile", type=int, metavar="RATE", help="py-spy one run at RATE")
    parser.add_argument("--keep", action="store_true", help="keep the work directories")
    parser.add_argument(
        "--caller",
        choices=("extension", "trunk"),
        default="extension",
        help="softswitch's caller: extension 1001 with digest, or a trusted trunk",
    )
    args = parser.parse_args()
    exit_on_sigterm()
    options = Options(
        probe_seconds=args.probe_seconds or (4 if args.quick else 15),
        confirm_seconds=args.confirm_seconds or (10 if args.quick else 90),
        log_level=args.log_level,
        keep=args.keep,
        caller=args.caller,
    )
    log(f"bench_calls: {machine_note()}, softswitch caller: {args.caller}")
    if args.profile:
        profile_at(args.only or "softswitch", args.profile, options.probe_seconds, options)
        return 0
    ports = PortPicker()
    results: dict[str, tuple[SearchResult, SearchResult]] = {}
    for kind in [args.only] if args.only else ["softswitch", "sippy"]:
        log(f"\n--- {kind}")
        ladder = tuple(int(r) for r in args.rates.split(",")) if args.rates else LADDERS[kind]
        probe = CallProbe(kind, options, ports)
        results[kind] = search_both(probe, ladder, options.probe_seconds, options.confirm_seconds)
    summary(results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
