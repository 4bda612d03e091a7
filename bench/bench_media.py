"""Concurrent relayed calls: the most G.711 calls the switch relays with < 0.1 % packet loss
and p99 added jitter < 5 ms, beside the machine's raw UDP packet rate.

    .venv/bin/python bench/bench_media.py              # ladder 100 ... 3500 calls, 30 s each
    .venv/bin/python bench/bench_media.py --quick      # 10 s steps, ladder 100, 250, 500, 1000
    .venv/bin/python bench/bench_media.py --calls 1000 # one step
    .venv/bin/python bench/bench_media.py --pin        # the switch on CPU 0, the load on CPU 1

Each step starts a fresh `softswitch serve` (loopback, rtp_ports 20000-35999) and one load
process (bench/rtpload.py, ports 40000-59999) that registers 1002, places N authenticated calls
1001 -> 1002 at --setup-rate, then sends a 172-byte PCMU packet every 20 ms in each direction of
every call: 100 packets/s into the switch and 100 out per call, 2 s of warm-up (all streams
start together, a burst no real traffic has) then --seconds measured. A step passes with
every call set up, < 0.1 % of packets lost and p99 added jitter < 5 ms (per stream, transit -
the stream's least transit, pooled over all packets; see rtpload.py). The ladder stops at the
first failure; the gap to the last pass is bisected twice (not with --quick).

CPU is measured over the measured window: the switch (/proc/PID/stat), the load process (its
rusage; sending on loopback charges the sender for the delivery) and the machine (all CPUs'
time minus idle, /proc/stat); "other" is what neither used (other processes, ksoftirqd). The
load process needs about 2/3 of the CPU the switch does, so on two cores the harness and the
switch compete (--pin gives each its own core; measured: no better), and a step is only as
clean as the machine is quiet: one that fails while others used >= 0.2 cores is run again.
Drops counted by the kernel at full receive buffers (/proc/net/udp) tell where loss happened;
each step also prints its p99 per second, which tells a steady queue from a pause.

The raw rates, measured first in the same run: (1) loopback UDP with batched syscalls, a
sendmmsg process to a recvmmsg process, 172-byte datagrams, 3 s: the kernel's ceiling for two
processes; (2) a bare Python relay loop (recvfrom + sendto per packet, like the switch's hot
path without the event loop), fed by a batched blaster: one core's ceiling for Python.

The batched-syscall engine (numpy buffers, sendmmsg/recvmmsg through ctypes) lives here and is
shared with rtpload.py.
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import ctypes
import errno
import json
import multiprocessing
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_calls import EXTENSIONS
from common import (
    HOST,
    PYTHON,
    PortPicker,
    exit_on_sigterm,
    log,
    machine_note,
    softswitch,
    spawn,
    wait_quiet,
    workdir,
)

PACKET = 172  # bytes: RTP header + 160 bytes of PCMU (20 ms)
TX_STRIDE = 176  # bytes between packets in a send buffer
RX_STRIDE = 192  # room per received packet: larger than PACKET, so a truncation shows
RX_CAPACITY = 4096  # packets read before numpy folds them into the results
CMSG_LEN = 32  # CMSG_SPACE(sizeof(struct timespec)) on 64-bit Linux
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
MSG_DONTWAIT = 0x40
UIO_MAXIOV = 1024  # most messages one sendmmsg/recvmmsg takes
RCVBUF = 4 << 20  # the kernel doubles it (net.core.rmem_max is 4 MiB here)
RCVBUF_FORCED = 32 << 20
SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)

SWITCH_CPU, LOAD_CPU = 0, 1
SWITCH_RTP = "20000-35999"  # 4,000 calls; below common.PORT_RANGE (36000-36999)
RTPLOAD = Path(__file__).resolve().parent / "rtpload.py"
LADDER = (100, 250, 500, 750, 1000, 1250, 1500, 2000, 2500, 3000, 3500)
QUICK_LADDER = (100, 250, 500, 1000)
MAX_LOSS = 0.001
MAX_P99_MS = 5.0

# --- batched UDP I/O: sendmmsg / recvmmsg through ctypes, fields read and written by numpy --

_LIBC = ctypes.CDLL(None, use_errno=True)
_LIBC.sendmmsg.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_uint, ctypes.c_int]
_LIBC.recvmmsg.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_uint, ctypes.c_int]
_LIBC.recvmmsg.argtypes.append(ctypes.c_void_p)
# struct mmsghdr and struct iovec on 64-bit Linux (checked by check_platform)
MMSG = np.dtype(
    {
        "names": ["name", "namelen", "iov", "iovlen", "control", "controllen", "flags", "len"],
        "formats": ["<u8", "<u4", "<u8", "<u8", "<u8", "<u8", "<i4", "<u4"],
        "offsets": [0, 8, 16, 24, 32, 40, 48, 56],
        "itemsize": 64,
    }
)
IOV = np.dtype({"names": ["base", "len"], "formats": ["<u8", "<u8"], "itemsize": 16})


def check_platform() -> None:
    if not sys.platform.startswith("linux") or ctypes.sizeof(ctypes.c_void_p) != 8:
        raise SystemExit("bench_media needs 64-bit Linux (sendmmsg/recvmmsg layouts)")


def udp_socket(port: int, *, receive: bool = False) -> socket.socket:
    """A blocking UDP socket on HOST:port; for media, a big buffer and kernel timestamps."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    if receive:
        try:  # beyond net.core.rmem_max where allowed (root): rides out a stall of this process
            sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, RCVBUF_FORCED)
        except PermissionError:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    sock.bind((HOST, port))
    return sock


def _column(buf: np.ndarray, dtype: str, offset: int) -> np.ndarray:
    """A strided view of one field in every row of ``buf`` (rows of bytes)."""
    rows, stride = buf.shape[0], buf.strides[0]
    return np.ndarray((rows,), dtype=dtype, buffer=buf, offset=offset, strides=(stride,))


def _addresses(base: int, count: int, stride: int) -> np.ndarray:
    return base + np.arange(count, dtype=np.uint64) * stride


def _messages(buffers: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """mmsghdr and iovec arrays, message i pointing at row i of ``buffers``."""
    count = buffers.shape[0]
    iov = np.zeros(count, IOV)
    iov["base"] = _addresses(buffers.ctypes.data, count, buffers.strides[0])
    iov["len"] = size
    mm = np.zeros(count, MMSG)
    mm["iov"] = _addresses(iov.ctypes.data, count, IOV.itemsize)
    mm["iovlen"] = 1
    return mm, iov


@dataclass(frozen=True, slots=True)
class Stream:
    number: int  # 2 * call (A -> B) or 2 * call + 1 (B -> A)
    fd: int  # our socket it leaves from
    port: int  # the switch's port it goes to
    slot: int  # its place in the 20 ms
    ssrc: int


class Sender:
    """Every stream's next packet, laid out so that one sendmmsg sends a slot of one socket.

    Packet: RTP header (seq, timestamp, SSRC), then at 16 the send time (float64, CLOCK_REALTIME),
    at 24 the stream number, at 28 the tick; the rest is µ-law silence.
    """

    def __init__(self, streams: list[Stream], slots: int) -> None:
        streams = sorted(streams, key=lambda s: (s.slot, s.fd))
        count = len(streams)
        self.packets = np.full((count, TX_STRIDE), 0xFF, np.uint8)
        self.packets[:, 0], self.packets[:, 1] = 0x80, 0  # RTP version 2, PT 0 (PCMU)
        _column(self.packets, ">u4", 8)[:] = [s.ssrc for s in streams]
        _column(self.packets, "<u4", 24)[:] = [s.number for s in streams]
        self.seq = _column(self.packets, ">u2", 2)
        self.timestamp = _column(self.packets, ">u4", 4)
        self.sent_at = _column(self.packets, "<f8", 16)
        self.tick = _column(self.packets, "<u4", 28)
        self.names = np.zeros((count, 16), np.uint8)  # struct sockaddr_in per stream
        _column(self.names, "<u2", 0)[:] = socket.AF_INET
        _column(self.names, ">u2", 2)[:] = [s.port for s in streams]
        self.names[:, 4:8] = list(socket.inet_aton(HOST))
        self.mm, self.iov = _messages(self.packets, PACKET)
        self.mm["name"] = _addresses(self.names.ctypes.data, count, 16)
        self.mm["namelen"] = 16
        # per slot: its rows (first, end), then runs of one socket within them
        self.slots: list[tuple[int, int, list[tuple[int, int, int]]]] = []
        rows = [(s.slot, s.fd) for s in streams]
        for slot in range(slots):
            first, end = bisect.bisect_left(rows, (slot,)), bisect.bisect_left(rows, (slot + 1,))
            runs = [
                (fd, bisect.bisect_left(rows, (slot, fd)), bisect.bisect_right(rows, (slot, fd)))
                for fd in sorted({fd for _, fd in rows[first:end]})
            ]
            self.slots.append((first, end, runs))
        self.unsent = 0

    def send(self, slot: int, tick: int) -> int:
        """Send one slot's packets for ``tick``; numpy writes each field once per slot, the
        send time once per socket (just before its sendmmsg)."""
        first, end, runs = self.slots[slot]
        self.seq[first:end] = tick & 0xFFFF
        self.timestamp[first:end] = (tick * 160) & 0xFFFFFFFF
        self.tick[first:end] = tick
        sent = 0
        for fd, start, stop in runs:
            self.sent_at[start:stop] = time.time()
            sent += self._send_run(fd, start, stop)
        return sent

    def _send_run(self, fd: int, first: int, end: int) -> int:
        at, base = first, self.mm.ctypes.data
        while at < end:
            done = _LIBC.sendmmsg(fd, base + at * MMSG.itemsize, min(end - at, UIO_MAXIOV), 0)
            if done <= 0:
                if ctypes.get_errno() == errno.EINTR:
                    continue
                self.unsent += end - at  # counted as lost by the harness, and reported
                break
            at += done
        return at - first


class Receiver:
    """Reads sockets with recvmmsg; numpy folds each batch into (stream, tick, transit)."""

    def __init__(self, fds: list[int]) -> None:
        self.fds = fds
        self.buffers = np.zeros((RX_CAPACITY, RX_STRIDE), np.uint8)
        self.control = np.zeros((RX_CAPACITY, CMSG_LEN), np.uint8)
        self.mm, self.iov = _messages(self.buffers, RX_STRIDE)
        self.mm["control"] = _addresses(self.control.ctypes.data, RX_CAPACITY, CMSG_LEN)
        self.mm["controllen"] = CMSG_LEN
        self.sent_at = _column(self.buffers, "<f8", 16)
        self.stream = _column(self.buffers, "<u4", 24)
        self.tick = _column(self.buffers, "<u4", 28)
        self.cmsg_level = _column(self.control, "<i4", 8)
        self.cmsg_type = _column(self.control, "<i4", 12)
        self.seconds = _column(self.control, "<i8", 16)
        self.nanos = _column(self.control, "<i8", 24)
        self.count = 0  # read, not yet folded
        self.bad = 0  # wrong size or without a kernel timestamp
        self.chunks: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

    @property
    def total(self) -> int:
        return self.count + self.bad + sum(len(chunk[2]) for chunk in self.chunks)

    def drain(self) -> None:
        base = self.mm.ctypes.data
        for fd in self.fds:
            while True:
                room = min(RX_CAPACITY - self.count, UIO_MAXIOV)
                at = base + self.count * MMSG.itemsize
                got = _LIBC.recvmmsg(fd, at, room, MSG_DONTWAIT, None)
                if got <= 0:
                    break
                self.count += got
                if self.count == RX_CAPACITY:
                    self.flush()
                elif got < room:
                    break  # the socket is empty: spare the EAGAIN call

    def flush(self) -> None:
        n, self.count = self.count, 0
        if not n:
            return
        good = (self.mm["len"][:n] == PACKET) & (self.cmsg_level[:n] == socket.SOL_SOCKET)
        good &= self.cmsg_type[:n] == SO_TIMESTAMPNS
        arrived = self.seconds[:n] + self.nanos[:n] * 1e-9
        transit = (arrived - self.sent_at[:n])[good]
        self.chunks.append((self.stream[:n][good], self.tick[:n][good], transit))
        self.bad += n - int(good.sum())
        self.mm["controllen"][:n] = CMSG_LEN  # the kernel wrote back what it used


# --- the raw rates -----------------------------------------------------------------------------

WARMUP = 0.5  # seconds both sides run before the window that is counted
LOAD_PORTS = range(40000, 60000)


@dataclass(frozen=True, slots=True)
class RawRate:
    what: str
    who: str  # the measured process
    rate: float  # packets per second through it
    cpu: float  # share of one core it used in the window

    def line(self) -> str:
        per_packet = self.cpu / self.rate * 1e6 if self.rate else 0.0
        return (
            f"{self.what:46} {self.rate:9,.0f} pkt/s  ({self.who} cpu {self.cpu:4.0%}, "
            f"{per_packet:4.1f} us/pkt)"
        )


def _blast(target: int, seconds: float, sink: socket.socket | None) -> None:
    """Send datagrams to HOST:target flat out, 64 per sendmmsg; keep ``sink`` read."""
    with udp_socket(0) as out:
        sender = Sender([Stream(i, out.fileno(), target, 0, i) for i in range(64)], 1)
        reader = Receiver([sink.fileno()]) if sink is not None else None
        deadline = time.monotonic() + seconds
        tick = 0
        while time.monotonic() < deadline:
            sender.send(0, tick)
            tick += 1
            if reader is not None:
                reader.drain()
                reader.chunks.clear()


def _window(seconds: float) -> tuple[float, float]:
    start = time.monotonic() + WARMUP
    return start, start + seconds


def _count(sock: socket.socket, seconds: float, conn: Connection) -> None:
    """Read with recvmmsg as fast as datagrams come; packets/s within the window."""
    reader = Receiver([sock.fileno()])
    start, end = _window(seconds)
    while time.monotonic() < start:
        reader.drain()
    count0, cpu0, t0 = reader.total, time.process_time(), time.monotonic()
    while time.monotonic() < end:
        reader.drain()
    wall = time.monotonic() - t0
    conn.send(((reader.total - count0) / wall, (time.process_time() - cpu0) / wall))


def _relay(
    inp: socket.socket, out: socket.socket, port: int, seconds: float, conn: Connection
) -> None:
    """The switch's hot path without the event loop: recvfrom, sendto out of the other socket."""
    recvfrom, sendto, dest = inp.recvfrom, out.sendto, (HOST, port)
    start, end = _window(seconds)
    relayed, mark = 0, (0.0, 0, 0.0)
    while True:
        for _ in range(256):
            data, _ = recvfrom(2048)
            sendto(data, dest)
        relayed += 256
        now = time.monotonic()
        if not mark[0] and now >= start:
            mark = (now, relayed, time.process_time())
        if now >= end:
            break
    wall = now - mark[0]
    conn.send(((relayed - mark[1]) / wall, (time.process_time() - mark[2]) / wall))


def _measure(
    target: Any, args: tuple[Any, ...], blast: tuple[Any, ...], what: str, who: str
) -> RawRate:
    ctx = multiprocessing.get_context("fork")
    receive, send = ctx.Pipe(duplex=False)
    measured = ctx.Process(target=target, args=(*args, send))
    blaster = ctx.Process(target=_blast, args=blast)
    measured.start()
    blaster.start()
    try:
        rate, cpu = receive.recv() if receive.poll(blast[1] + 10) else (0.0, 0.0)
    finally:
        for proc in (blaster, measured):
            proc.join(blast[1] + 5)
            if proc.is_alive():
                proc.terminate()  # our own child, by its pid
                proc.join(5)
    return RawRate(what, who, rate, cpu)


def raw_rates(seconds: float = 3.0) -> list[RawRate]:
    picker = PortPicker(LOAD_PORTS)
    span = WARMUP + seconds + 1.0  # the blaster outlasts the window
    with udp_socket(picker.take(), receive=True) as sink:
        one_way = _measure(
            _count,
            (sink, seconds),
            (sink.getsockname()[1], span, None),
            "loopback UDP, sendmmsg -> recvmmsg (kernel)",
            "receiver",
        )
    with (
        udp_socket(picker.take()) as inp,
        udp_socket(picker.take()) as out,
        udp_socket(picker.take(), receive=True) as sink,
    ):
        relay = _measure(
            _relay,
            (inp, out, sink.getsockname()[1], seconds),
            (inp.getsockname()[1], span, sink),
            "bare Python relay loop, one process",
            "relay",
        )
    return [one_way, relay]


# --- steps ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Options:
    seconds: float
    setup_rate: float
    keep: bool
    pin: bool  # the switch on one CPU, the load process on the other


@dataclass(frozen=True, slots=True)
class Step:
    """One load run with N calls, judged by the issue's criteria."""

    calls: int
    result: dict[str, Any]

    @property
    def other(self) -> float:
        """Cores busy beyond the switch and the load process while sending (noise)."""
        return float(self.result.get("other_cores", 0.0))

    @property
    def relayed(self) -> float:
        seconds = self.result.get("ticks", 0) * 0.020
        return self.result.get("received", 0) / seconds if seconds else 0.0

    @property
    def reasons(self) -> list[str]:
        r = self.result
        if "error" in r:
            return [r["error"]]
        if r["up"] < self.calls:
            return [f"only {r['up']}/{self.calls} calls set up {r['setup_failures']}"]
        out = []
        if r["loss"] >= MAX_LOSS:
            out.append(f"loss {r['loss']:.3%}")
        if r["added_ms"]["p99"] >= MAX_P99_MS:
            out.append(f"p99 {r['added_ms']['p99']:.1f} ms")
        if r["unsent"]:
            out.append(f"harness failed to send {r['unsent']}")
        if r["duplicates"] or r["foreign"]:
            out.append(f"{r['duplicates']} duplicated, {r['foreign']} malformed")
        return out

    @property
    def passed(self) -> bool:
        return not self.reasons

    def line(self) -> str:
        r = self.result
        verdict = "PASS" if self.passed else "FAIL (" + "; ".join(self.reasons) + ")"
        if "loss" not in r:
            return f"{self.calls:6} {'-':>9} {'':70} other {self.other:3.1f}  {verdict}"
        switch = r["switch_cpu"]
        per_packet = switch / self.relayed * 1e6 if self.relayed else 0.0
        return (
            f"{self.calls:6} {self.relayed:9,.0f} {r['loss']:8.3%} {r['added_ms']['p99']:8.2f} "
            f"{r['added_ms']['max']:8.1f} {switch:6.0%} {per_packet:6.2f} {r['load_cpu']:6.0%} "
            f"{r['machine_cores']:5.2f} {self.other:5.2f} {r['late_ms']['p99']:7.2f} "
            f"{r['drops']['switch']:6} {r['drops']['load']:6}  {verdict}"
        )


_TITLES = (
    ("calls", "", 6), ("pkt/s", "in = out", 9), ("loss", "", 8), ("p99", "added ms", 8),
    ("max", "added ms", 8), ("switch", "cpu", 6), ("switch", "us/pkt", 6), ("load", "cpu", 6),
    ("cores", "busy", 5), ("other", "cores", 5), ("late", "p99 ms", 7), ("drops", "switch", 6),
    ("drops", "load", 6),
)  # fmt: skip
LEGEND = (
    "pkt/s: relayed into the switch per second (as many out); added: transit - the stream's\n"
    "least transit; switch us/pkt: its CPU per relayed packet; late: how late the load\n"
    "process sent (p99); other: cores busy beyond the switch and the load; drops: datagrams the\n"
    "kernel dropped at full receive buffers, at the switch's sockets and at the load's"
)
HEADER = "\n".join(
    " ".join(f"{title[row]:>{width}}" for *title, width in _TITLES) for row in (0, 1)
)


def pin(pid: int, cpu: int) -> None:
    """Every thread of ``pid`` (ours) on ``cpu``: threads started later inherit it."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(ProcessLookupError):  # a thread that just ended
            os.sched_setaffinity(int(task.name), {cpu})


def run_step(calls: int, options: Options, ports: PortPicker) -> Step:
    wait_quiet()
    with workdir(f"media-{calls}", options.keep) as wd:
        (wd / "server").mkdir()
        with softswitch(wd / "server", ports.take(), EXTENSIONS, rtp_ports=SWITCH_RTP) as server:
            if options.pin:
                pin(server.pid, SWITCH_CPU)
            result = _load(server.port, server.pid, calls, options, wd)
            if not server.proc.alive():
                result = {"error": "the switch exited: " + server.proc.stderr_tail(3)}
    return Step(calls, result)


def _load(port: int, pid: int, calls: int, options: Options, wd: Path) -> dict[str, Any]:
    out = wd / "load.json"
    argv = [
        str(PYTHON), str(RTPLOAD),
        "--server-port", str(port), "--server-pid", str(pid), "--switch-rtp", SWITCH_RTP,
        "--calls", str(calls), "--seconds", str(options.seconds),
        "--setup-rate", str(options.setup_rate), "--out", str(out),
        *(["--cpu", str(LOAD_CPU)] if options.pin else []),
    ]  # fmt: skip
    load = spawn("rtpload", argv, wd)
    try:
        load.popen.wait(calls / options.setup_rate + options.seconds + 90)
    except subprocess.TimeoutExpired:
        load.stop()
    if not out.exists():
        return {"error": f"load process failed: {load.stderr_tail(3)}"}
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def climb(ladder: list[int], options: Options, refine: int) -> list[Step]:
    """Up the ladder until a step fails, then bisect the gap ``refine`` times. A step that
    fails while other processes kept the machine busy is run again (twice at most)."""
    ports = PortPicker()
    steps: list[Step] = []

    def run(calls: int) -> bool:
        for attempt in range(3):
            step = run_step(calls, options, ports)
            log(step.line())
            by_second = " ".join(f"{v:.1f}" for v in step.result.get("p99_by_second", []))
            log(f"{'':7}p99 added ms per second: {by_second}")
            if step.passed or step.other < DISTURBED or attempt == 2:
                break
            log(f"{'':7}(other processes used {step.other:.2f} cores: once more)")
        steps.append(step)
        return step.passed

    low, high = 0, None
    for calls in ladder:
        if not run(calls):
            high = calls
            break
        low = calls
    for _ in range(refine):
        if high is None or high - low <= 50:
            break
        middle = (low + high) // 2 // 50 * 50 or (low + high) // 2
        low, high = (middle, high) if run(middle) else (low, middle)
    return steps


DISTURBED = 0.2  # cores used by others during a step that make its failure suspect


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="10 s steps, a short ladder")
    parser.add_argument("--calls", type=int, help="one step with this many calls")
    parser.add_argument("--ladder", help="comma-separated numbers of calls")
    parser.add_argument("--seconds", type=float, help="media per step (30; --quick 10)")
    parser.add_argument("--setup-rate", type=float, default=200.0, help="calls/s while setting up")
    parser.add_argument("--no-raw", action="store_true", help="skip the raw UDP rates")
    parser.add_argument("--pin", action="store_true", help="switch on CPU 0, the load on CPU 1")
    parser.add_argument("--keep", action="store_true", help="keep the work directories")
    args = parser.parse_args()
    check_platform()
    exit_on_sigterm()
    seconds = args.seconds or (10 if args.quick else 30)
    options = Options(seconds, args.setup_rate, args.keep, args.pin)
    log(f"bench_media: {machine_note()}")
    raws: list[RawRate] = []
    if not args.no_raw:
        wait_quiet()
        raws = raw_rates()
        log("\n=== raw UDP packet rates, 172-byte datagrams, loopback")
        for raw in raws:
            log(raw.line())
    if args.calls:
        ladder, refine = [args.calls], 0
    elif args.ladder:
        ladder, refine = [int(n) for n in args.ladder.split(",")], 0
    else:
        ladder, refine = list(QUICK_LADDER if args.quick else LADDER), 0 if args.quick else 2
    log(f"\n=== relayed calls, {options.seconds:.0f} s of G.711 20 ms both ways per step")
    log(LEGEND)
    log(HEADER)
    steps = climb(ladder, options, refine)
    summary(steps, raws)
    return 0


def summary(steps: list[Step], raws: list[RawRate]) -> None:
    passing = [s for s in steps if s.passed]
    best = max(passing, key=lambda s: s.calls, default=None)
    log(f"\n=== largest N passing (< {MAX_LOSS:.1%} loss, p99 added jitter < {MAX_P99_MS:.0f} ms)")
    if best is None:
        log("none")
        return
    relayed, cost = best.relayed, best.result["switch_cpu"] / best.relayed
    log(f"{best.calls} calls: {relayed:,.0f} packets/s into the switch and as many out")
    for raw in raws:
        if raw.what.startswith("loopback"):  # datagrams: the switch's in and out both count
            share = 2 * relayed / raw.rate if raw.rate else 0.0
            log(f"  loopback carried {2 * relayed:,.0f} datagrams/s: {share:.0%} of its raw rate")
        elif raw.rate:
            bare = raw.cpu / raw.rate
            log(f"  the switch spent {cost * 1e6:.1f} us of CPU per relayed packet, a bare")
            log(f"  Python relay loop {bare * 1e6:.1f} us: one core would relay {1 / cost:,.0f}")
            log(f"  vs {1 / bare:,.0f} pkt/s ({0.01 / cost:,.0f} vs {0.01 / bare:,.0f} calls)")


if __name__ == "__main__":
    raise SystemExit(main())
