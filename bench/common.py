"""Shared harness for the SIPp load benchmarks: servers, SIPp runs, statistics, rate search.

Everything runs on 127.0.0.1 with ports from a private range (36000-36999), every process is
started here, bounded by a timeout and stopped by its own pid. Each run gets its own work
directory (SIPp writes its CSV files into its cwd), removed at the end unless ``--keep``.
"""

from __future__ import annotations

import contextlib
import csv
import math
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PYTHON = REPO / ".venv" / "bin" / "python"
SIPPY_B2BUA = REPO / ".venv" / "bin" / "b2bua_radius"
SCENARIOS = REPO / "bench" / "scenarios"
HOST = "127.0.0.1"
PORT_RANGE = range(36000, 37000)
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

# Pass criteria from the issue: < 0.1 % failed calls, no retransmissions, p99 setup < 50 ms.
MAX_FAILED_RATIO = 0.001
MAX_P99_MS = 50.0


def log(message: str) -> None:
    print(message, flush=True)


# --- ports -----------------------------------------------------------------------------------


class PortPicker:
    """Hands out UDP ports from the private range, skipping any that something else holds."""

    def __init__(self, ports: range = PORT_RANGE) -> None:
        self._ports = ports
        self._next = ports.start

    def take(self) -> int:
        for _ in range(len(self._ports)):
            port = self._next
            self._next = port + 1 if port + 1 < self._ports.stop else self._ports.start
            if _udp_free(port):
                return port
        raise RuntimeError(f"no free UDP port in {self._ports}")


def _udp_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def udp_bound(port: int) -> bool:
    """True once some process listens on HOST:port (read from /proc/net/udp, no traffic)."""
    wanted = f"0100007F:{port:04X}"
    with open("/proc/net/udp") as table:
        return any(line.split()[1] == wanted for line in table.readlines()[1:])


# --- processes -------------------------------------------------------------------------------


@dataclass(slots=True)
class Proc:
    """A child process we started; stopped by its pid only."""

    name: str
    popen: subprocess.Popen[bytes]
    stderr_path: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, sig: int = signal.SIGTERM, grace: float = 10.0) -> int:
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.popen.send_signal(sig)
            try:
                self.popen.wait(grace)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)
        return self.popen.returncode

    def stderr_tail(self, lines: int = 15) -> str:
        try:
            text = self.stderr_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def spawn(name: str, argv: Sequence[str], cwd: Path, env: dict[str, str] | None = None) -> Proc:
    stderr_path = cwd / f"{name}.stderr"
    with open(stderr_path, "wb") as err:
        popen = subprocess.Popen(
            list(argv),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
            env={**os.environ, **(env or {})},
        )
    return Proc(name, popen, stderr_path)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (utime/stime in /proc/PID/stat)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


@contextlib.contextmanager
def workdir(prefix: str, keep: bool = False) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix=f"bench-{prefix}-"))
    try:
        yield path
    finally:
        if keep:
            log(f"  (kept {path})")
        else:
            shutil.rmtree(path, ignore_errors=True)


# --- servers ---------------------------------------------------------------------------------


@dataclass(slots=True)
class Server:
    """A running server under test: its process and SIP port."""

    kind: str
    proc: Proc
    port: int

    @property
    def pid(self) -> int:
        return self.proc.pid


# The number a trunk delivers in `bench_calls.py --caller trunk`, routed to extension 1002.
TRUNK_DID = "+34910000000"


def softswitch_config(
    port: int, extensions: dict[str, str], rtp_ports: str = "10000-29999", trunk: bool = False
) -> str:
    lines = [
        "[server]",
        f'domain = "{HOST}"',
        f'listen = ["udp:{HOST}:{port}"]',
        f'rtp_ports = "{rtp_ports}"',
        'state_dir = "state"',
        "ring_time = 30",
        "[security]",
        "# the load generator is one address: no flood limit in a bench",
        "request_rate = 1000000",
        "request_burst = 1000000",
    ]
    for number, password in extensions.items():
        lines += [f"[extensions.{number}]", f'password = "{password}"']
    if trunk:  # the caller is a provider trusted by address: no digest, as for sippy
        lines += [
            "[trunks.carrier]",
            f'host = "{HOST}"',
            "port = 9  # never called: the bench only receives from it",
            "register = false",
            f'inbound_from = ["{HOST}/32"]',
            f'[numbers."{TRUNK_DID}"]',
            'action = "extension:1002"',
        ]
    return "\n".join(lines) + "\n"


@contextlib.contextmanager
def softswitch(
    cwd: Path,
    port: int,
    extensions: dict[str, str],
    rtp_ports: str = "10000-29999",
    log_level: str = "WARNING",
    profile: Path | None = None,
    trunk: bool = False,
) -> Iterator[Server]:
    """``python -m softswitch serve`` with a config written for this run.

    ``log_level`` WARNING by default: at INFO the switch writes three lines per call, and
    sippy runs with its logging off (SIPLOG_BEND=none); the README records both.
    """
    config = cwd / "softswitch.toml"
    config.write_text(softswitch_config(port, extensions, rtp_ports, trunk))
    runner = ["-m", "cProfile", "-o", str(profile)] if profile else []
    argv = [str(PYTHON), *runner, "-m", "softswitch", "serve", "--config", str(config)]
    proc = spawn("softswitch", [*argv, "--log-level", log_level], cwd)
    with _running("softswitch", proc, port) as server:
        yield server


@contextlib.contextmanager
def sippy(cwd: Path, port: int, route: tuple[str, int]) -> Iterator[Server]:
    """sippy's ``b2bua_radius`` without RADIUS (-u), without accounting (-A 0), in the
    foreground (-f), sending every INVITE to ``route`` (-s host:port)."""
    argv = [
        str(SIPPY_B2BUA), "-f", "-u", "-A", "0",
        "-l", HOST, "-p", str(port),
        "-s", f"{route[0]}:{route[1]}",
        "-c", str(cwd / "b2bua.sock"),
    ]  # fmt: skip
    proc = spawn("sippy", argv, cwd, env={"SIPLOG_BEND": "none"})
    with _running("sippy", proc, port) as server:
        yield server


@contextlib.contextmanager
def _running(kind: str, proc: Proc, port: int) -> Iterator[Server]:
    try:
        deadline = time.monotonic() + 20
        while not udp_bound(port):
            if not proc.alive() or time.monotonic() > deadline:
                raise RuntimeError(f"{kind} did not start:\n{proc.stderr_tail()}")
            time.sleep(0.05)
        yield Server(kind, proc, port)
    finally:
        # SIGTERM: softswitch shuts down cleanly (so cProfile can write its file).
        proc.stop(signal.SIGTERM, grace=15)


# --- SIPp ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SippStats:
    """The last row of a SIPp ``-trace_stat`` CSV, plus the per-call response times."""

    rc: int
    created: int
    successful: int
    failed: int
    retransmissions: int
    unexpected: int  # out-of-call + dead-call messages: a sign of lost state
    elapsed: float  # seconds the SIPp run lasted
    creation_time: float  # seconds until the last call was created (rate check)
    peak_current: int
    rtts_ms: tuple[float, ...] = field(repr=False)

    @property
    def failed_ratio(self) -> float:
        return self.failed / self.created if self.created else 1.0

    def percentile(self, q: float) -> float:
        if not self.rtts_ms:
            return math.inf
        ordered = sorted(self.rtts_ms)
        return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


def sipp_argv(
    scenario: str, port: int, *, remote: int | None = None, extra: Sequence[str] = ()
) -> list[str]:
    """The common SIPp flags (see the clients README): pinned to loopback, no stdin,
    statistics every second and every response time traced."""
    scen = ["-sn", scenario] if "." not in scenario else ["-sf", str(SCENARIOS / scenario)]
    target = [f"{HOST}:{remote}"] if remote is not None else []
    return [
        "sipp", *target, *scen,
        "-i", HOST, "-mi", HOST, "-p", str(port), "-nostdin",
        "-trace_stat", "-fd", "1", "-stf", "stats.csv",
        "-trace_rtt", "-rtt_freq", "50",
        "-trace_err", "-max_log_size", "1000000",
        # 4 MB socket buffers (net.core.rmem_max): a drop in SIPp's own socket would show
        # up as a retransmission and be blamed on the server
        "-buff_size", "4194304",
        *extra,
    ]  # fmt: skip


def run_sipp(argv: Sequence[str], cwd: Path, timeout: float) -> SippStats:
    cwd.mkdir(parents=True, exist_ok=True)
    proc = spawn("sipp", argv, cwd)
    try:
        rc = proc.popen.wait(timeout)
    except subprocess.TimeoutExpired:
        rc = proc.stop(signal.SIGUSR1, grace=5)  # SIGUSR1: SIPp's graceful quit
    return read_stats(cwd, rc)


def start_sipp(argv: Sequence[str], cwd: Path) -> Proc:
    cwd.mkdir(parents=True, exist_ok=True)
    return spawn("sipp", argv, cwd)


def read_stats(cwd: Path, rc: int) -> SippStats:
    rows = _stat_rows(cwd / "stats.csv")
    if not rows:
        return SippStats(rc, 0, 0, 0, 0, 0, 0.0, 0.0, 0, ())
    last = rows[-1]
    created = int(last["TotalCallCreated"])
    done = next((r for r in rows if int(r["TotalCallCreated"]) >= created), last)
    return SippStats(
        rc=rc,
        created=created,
        successful=int(last["SuccessfulCall(C)"]),
        failed=int(last["FailedCall(C)"]),
        retransmissions=int(last["Retransmissions(C)"]),
        unexpected=int(last["OutOfCallMsgs(C)"]) + int(last["DeadCallMsgs(C)"]),
        elapsed=_seconds(last["ElapsedTime(C)"]),
        creation_time=_seconds(done["ElapsedTime(C)"]),
        peak_current=max(int(r["CurrentCall"]) for r in rows),
        rtts_ms=tuple(_rtts(cwd)),
    )


def current_row(cwd: Path) -> dict[str, str] | None:
    rows = _stat_rows(cwd / "stats.csv")
    return rows[-1] if rows else None


def _stat_rows(path: Path) -> list[dict[str, str]]:
    try:
        with open(path, newline="") as f:
            return [row for row in csv.DictReader(f, delimiter=";") if row.get("CurrentCall")]
    except FileNotFoundError:
        return []


def _seconds(elapsed: str) -> float:
    # SIPp writes "HH:MM:SS:micro" (or "HH:MM:SS.micro" in some builds)
    parts = elapsed.replace(".", ":").split(":")
    hours, minutes, secs = int(parts[0]), int(parts[1]), int(parts[2])
    micro = int(parts[3]) if len(parts) > 3 else 0
    return hours * 3600 + minutes * 60 + secs + micro / 1e6


def _rtts(cwd: Path) -> Iterator[float]:
    for path in cwd.glob("*_rtt.csv"):
        with open(path) as f:
            next(f, None)
            for line in f:
                parts = line.split(";")
                if len(parts) >= 2:
                    yield float(parts[1])


def error_excerpt(cwd: Path, lines: int = 6) -> str:
    for path in cwd.glob("*_errors.log"):
        text = path.read_text(errors="replace").splitlines()
        return "\n".join(text[:lines])
    return ""


# --- verdicts and rate search ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Verdict:
    """One load run at a fixed rate, judged by the issue's criteria."""

    rate: int
    seconds: float
    stats: SippStats
    callee_retransmissions: int
    server_cpu: float  # share of one core the server used during the run
    reasons: tuple[str, ...]  # hard failures: failed calls, retransmissions, rate not held
    slow: bool  # p99 setup time >= 50 ms
    ours_load: float = 0.0  # cores used by the server, SIPp and this harness (whole probe)
    other_load: float = 0.0  # cores used by processes not ours during the run (noise)

    @property
    def clean(self) -> bool:
        """No failed call, no retransmission, the rate held: latency aside."""
        return not self.reasons

    @property
    def passed(self) -> bool:
        return self.clean and not self.slow

    def line(self) -> str:
        s = self.stats
        why = [*self.reasons, *([f"p99 >= {MAX_P99_MS:.0f} ms"] if self.slow else [])]
        verdict = "PASS" if self.passed else "FAIL (" + "; ".join(why) + ")"
        return (
            f"rate {self.rate:5}/s x {self.seconds:3.0f}s: created {s.created:6} "
            f"ok {s.successful:6} failed {s.failed:4} "
            f"retrans {s.retransmissions}+{self.callee_retransmissions} "
            f"p50 {s.percentile(0.5):4.0f} ms p99 {s.percentile(0.99):5.0f} ms "
            f"cpu {self.server_cpu:4.0%} (all ours {self.ours_load:3.1f}, "
            f"other {self.other_load:3.1f} cores)  {verdict}"
        )


def judge(
    rate: int, seconds: float, stats: SippStats, callee_retrans: int, server_cpu: float
) -> Verdict:
    planned = round(rate * seconds)
    reasons: list[str] = []
    if stats.created < planned:
        reasons.append(f"only {stats.created}/{planned} calls created")
    if stats.failed_ratio >= MAX_FAILED_RATIO:
        reasons.append(f"{stats.failed_ratio:.2%} failed")
    if stats.successful + stats.failed < stats.created:
        reasons.append(f"{stats.created - stats.successful - stats.failed} unfinished")
    if stats.retransmissions or callee_retrans:
        reasons.append("retransmissions")
    # Sustained: SIPp created the calls at the asked rate (it slows down when -l is reached).
    if stats.creation_time > seconds * 1.05 + 1.5:
        reasons.append(f"rate not sustained ({stats.created / stats.creation_time:.0f}/s)")
    slow = stats.percentile(0.99) >= MAX_P99_MS
    return Verdict(rate, seconds, stats, callee_retrans, server_cpu, tuple(reasons), slow)


Probe = Callable[[int, float], Verdict]
Accept = Callable[[Verdict], bool]


@dataclass(frozen=True, slots=True)
class SearchResult:
    probes: tuple[Verdict, ...]
    confirmed: Verdict | None  # the full-length run at the best accepted rate
    accepted: bool

    @property
    def best(self) -> int:
        return self.confirmed.rate if self.confirmed and self.accepted else 0


class RateSearch:
    """Finds the highest rate a probe accepts; runs are remembered, so a second search with
    looser criteria (e.g. latency aside) reuses the first one's runs."""

    def __init__(self, probe: Probe, probe_seconds: float, confirm_seconds: float) -> None:
        self.probe = probe
        self.probe_seconds = probe_seconds
        self.confirm_seconds = confirm_seconds
        self.runs: dict[tuple[int, float], Verdict] = {}

    def run(self, rate: int, seconds: float) -> Verdict:
        if (rate, seconds) in self.runs:
            return self.runs[rate, seconds]
        for attempt in (1, 2):
            wait_quiet()
            meter = LoadMeter()
            verdict = self.probe(rate, seconds)
            ours, other = meter.cores()
            verdict = replace(verdict, ours_load=ours, other_load=other)
            log("  " + verdict.line())
            if verdict.passed or verdict.other_load < DISTURBED or attempt == 2:
                break
            log("  (other processes loaded the machine during that run: once more)")
        self.runs[rate, seconds] = verdict
        return verdict

    def search(self, ladder: Sequence[int], accept: Accept, refine_steps: int = 2) -> SearchResult:
        """Climb the ladder with short probes until one is refused, bisect the gap a few
        times, then confirm the best rate with a full-length run (stepping down if that
        fails)."""
        probe = self.probe_seconds
        passing: list[int] = []
        failing: int | None = None
        for rate in ladder:
            if not accept(self.run(rate, probe)):
                failing = rate
                break
            passing.append(rate)
        low = passing[-1] if passing else 0
        for _ in range(refine_steps):
            if failing is None or failing - low <= max(50, low // 10):
                break
            middle = (low + failing) // 2 // 25 * 25 or (low + failing) // 2
            if accept(self.run(middle, probe)):
                low = middle
                passing.append(middle)
            else:
                failing = middle
        confirmed: Verdict | None = None
        for rate in sorted(set(passing), reverse=True)[:3]:
            confirmed = self.run(rate, self.confirm_seconds)
            if accept(confirmed):
                break
        accepted = confirmed is not None and accept(confirmed)
        probes = tuple(v for (_, secs), v in self.runs.items() if secs == probe)
        return SearchResult(probes, confirmed, accepted)


def search_both(
    probe: Probe, ladder: Sequence[int], probe_seconds: float, confirm_seconds: float
) -> tuple[SearchResult, SearchResult]:
    """The best rate by the issue's criteria, then the best with latency aside ("clean":
    no failures or retransmissions, as the DESIGN figures for sippy were measured)."""
    searcher = RateSearch(probe, probe_seconds, confirm_seconds)
    log("  [all criteria]")
    strict = searcher.search(ladder, lambda v: v.passed)
    log("  [latency aside]")
    clean = searcher.search(ladder, lambda v: v.clean)
    return strict, clean


def best_line(name: str, unit: str, result: SearchResult) -> str:
    confirmed = result.confirmed
    detail = confirmed.line() if confirmed else "no run passed"
    return f"{name:11} {result.best:6} {unit}   [{detail}]"


DISTURBED = 0.25  # cores of foreign load during a run that make a failure suspect
QUIET = 0.15  # cores of foreign load under which a run may start


class LoadMeter:
    """CPU used on the machine since creation by processes other than our children.

    The whole machine's busy time (/proc/stat) minus what our reaped children used
    (RUSAGE_CHILDREN: the servers and SIPp processes, all waited for within a probe).
    """

    def __init__(self) -> None:
        self._start = self._sample()

    @staticmethod
    def _sample() -> tuple[float, float, float]:
        with open("/proc/stat") as stat:
            values = [int(v) for v in stat.readline().split()[1:]]
        # user + nice + system only: the loopback's softirq time is charged to no process
        busy = sum(values[:3]) / CLOCK_TICKS
        ours = 0.0
        for who in (resource.RUSAGE_CHILDREN, resource.RUSAGE_SELF):
            usage = resource.getrusage(who)
            ours += usage.ru_utime + usage.ru_stime
        return time.monotonic(), busy, ours

    def cores(self) -> tuple[float, float]:
        """(ours, other): cores used by our processes and by everything else."""
        t0, busy0, ours0 = self._start
        t1, busy1, ours1 = self._sample()
        wall = max(1e-9, t1 - t0)
        ours = (ours1 - ours0) / wall
        return ours, max(0.0, (busy1 - busy0) / wall - ours)


def wait_quiet(max_wait: float = 300.0) -> None:
    """Start a run only when other processes leave the machine idle (bounded wait)."""
    deadline = time.monotonic() + max_wait
    warned = False
    while (busy := busy_cores()) > QUIET:
        if time.monotonic() > deadline:
            log(f"  (machine still busy, {busy:.2f} cores: running anyway)")
            return
        if not warned:
            log(f"  (waiting for the machine to be idle: {busy:.2f} cores busy)")
            warned = True
        time.sleep(2)


def exit_on_sigterm() -> None:
    """SIGTERM unwinds like an exception, so every started process is stopped on the way."""

    def handler(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)


def machine_note() -> str:
    busy = busy_cores()
    note = (
        f"{time.strftime('%Y-%m-%d %H:%M %Z')}, {os.cpu_count()} cores, "
        f"{busy:.2f} cores busy before start, Python {sys.version.split()[0]}"
    )
    if busy > 0.2:
        note += "\nWARNING: the machine is not idle; other load skews every figure below"
    return note


def busy_cores(seconds: float = 1.0) -> float:
    """Cores' worth of CPU in use system-wide over a short window (from /proc/stat)."""

    def sample() -> tuple[int, int]:
        with open("/proc/stat") as stat:
            values = [int(v) for v in stat.readline().split()[1:]]
        idle = values[3] + values[4]  # idle + iowait
        return sum(values) - idle, sum(values)

    busy0, total0 = sample()
    time.sleep(seconds)
    busy1, total1 = sample()
    share = (busy1 - busy0) / max(1, total1 - total0)
    return share * (os.cpu_count() or 1)
