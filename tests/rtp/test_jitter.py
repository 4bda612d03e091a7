"""The jitter buffer in virtual time: ordering, loss, lateness, wrap, drift and restarts."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import pytest

from softswitch.rtp.jitter import FrameStatus, JitterBuffer, JitterStats

NORMAL, MISSING, PREFETCH, EMPTY = (
    FrameStatus.NORMAL,
    FrameStatus.MISSING,
    FrameStatus.PREFETCH,
    FrameStatus.EMPTY,
)
PTIME = 0.02


def frame(index: int) -> bytes:
    """A payload that says which packet it was (160 bytes, like G.711)."""
    return index.to_bytes(4, "big") * 40


def index_of(payload: bytes) -> int:
    return int.from_bytes(payload[:4], "big")


def put(jb: JitterBuffer, index: int, now: float | None = None, base_seq: int = 0) -> None:
    """Packet ``index`` of a steady 20 ms stream, arriving on time unless ``now`` says else."""
    arrival = index * PTIME if now is None else now
    jb.put((base_seq + index) & 0xFFFF, (index * 160) & 0xFFFFFFFF, frame(index), arrival)


def played(results: list[tuple[bytes | None, FrameStatus]]) -> list[int]:
    return [index_of(p) for p, status in results if status is NORMAL and p is not None]


def accounted(stats: JitterStats) -> int:
    """Where every packet put went; must equal ``received``."""
    return (
        stats.played
        + stats.late
        + stats.duplicate
        + stats.discarded
        + stats.unsupported
        + stats.buffered
    )


@dataclass
class Run:
    """The outcome of one simulated stream through a network with loss, reordering, jitter."""

    results: list[tuple[bytes | None, FrameStatus]] = field(default_factory=list)
    delivered: list[int] = field(default_factory=list)  # packet indices in arrival order
    first_slot: int | None = None  # lowest index put before playout began
    stats: JitterStats | None = None


def simulate(seed: int, packets: int = 1500, base_seq: int = 65000) -> Run:
    """Packets sent every 20 ms; 5 % lost, adjacent ones swapped, 0-60 ms of delay each;
    get() every 20 ms, offset from the sending phase; extra ticks drain the buffer."""
    rng = random.Random(seed)
    indices = [index for index in range(packets) if rng.random() >= 0.05]
    times = [index * PTIME + rng.uniform(0.0, 0.06) for index in indices]
    for i in range(len(times) - 1):
        if rng.random() < 0.05:  # swap adjacent arrivals: reordering beyond the jitter
            times[i], times[i + 1] = times[i + 1], times[i]
    arrivals = sorted(zip(times, indices, strict=True))
    jb = JitterBuffer(prefetch=2, max_frames=10)
    run = Run()
    pending = iter(arrivals)
    upcoming = next(pending, None)
    before_playout: list[int] = []
    for tick in range(packets + 30):
        now = tick * PTIME + 0.007
        while upcoming is not None and upcoming[0] <= now:
            arrival, index = upcoming
            put(jb, index, arrival, base_seq)
            run.delivered.append(index)
            if run.first_slot is None:
                before_playout.append(index)
            upcoming = next(pending, None)
        result = jb.get()
        if run.first_slot is None and result[1] in (NORMAL, MISSING):
            run.first_slot = min(before_playout)
        run.results.append(result)
    run.stats = jb.stats()
    return run


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_lossy_jittery_stream_plays_in_order_and_counts_add_up(seed: int) -> None:
    run = simulate(seed)
    stats = run.stats
    assert stats is not None and run.first_slot is not None
    out = played(run.results)
    assert out == sorted(set(out)), "strictly increasing: ordered, no duplicates"
    assert stats.played == len(out)
    assert stats.received == len(run.delivered)
    assert accounted(stats) == stats.received
    # Drained at the end, so every slot from the first to the last received is accounted for.
    assert stats.buffered == 0
    assert stats.played + stats.missing + stats.discarded == max(run.delivered) - run.first_slot + 1
    statuses = [status for _, status in run.results]
    assert stats.missing >= statuses.count(MISSING)
    # Whatever was delivered and not played came too late for its slot or was dropped.
    assert len(set(run.delivered) - set(out)) == stats.late + stats.discarded
    assert stats.duplicate == 0
    assert stats.resets == 0
    assert stats.unsupported == 0
    assert 0.005 < stats.jitter < 0.06
    # Nearly everything delivered on time is played.
    assert stats.played > 0.8 * len(run.delivered)


def test_jitter_beyond_the_target_delay_makes_late_packets() -> None:
    # 60 ms of jitter against a 40 ms target: some packets come after their slot went by
    # (the buffer grows after each underrun, so there are few).
    lates = [simulate(seed).stats for seed in (1, 2, 3, 4, 5)]
    assert all(stats is not None for stats in lates)
    assert sum(stats.late for stats in lates if stats is not None) > 0


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_playout_starts_after_prefetch(seed: int) -> None:
    statuses = [status for _, status in simulate(seed, packets=200).results]
    first_played = statuses.index(NORMAL)
    assert set(statuses[:first_played]) <= {EMPTY, PREFETCH}
    assert MISSING not in statuses[:first_played]


def test_steady_stream_plays_every_packet_after_one_prefetch_tick() -> None:
    jb = JitterBuffer(prefetch=2)
    results = []
    for index in range(300):
        put(jb, index, base_seq=65400)  # wraps after 136 packets
        results.append(jb.get())
    assert [s for _, s in results[:2]] == [PREFETCH, NORMAL]
    assert played(results) == list(range(299))
    stats = jb.stats()
    assert (stats.missing, stats.late, stats.discarded, stats.resets) == (0, 0, 0, 0)
    assert stats.buffered == 1
    assert stats.jitter == pytest.approx(0.0, abs=1e-9)


def test_empty_before_anything_arrives() -> None:
    jb = JitterBuffer()
    assert [jb.get() for _ in range(3)] == [(None, EMPTY)] * 3
    assert jb.stats() == JitterStats(0, 0, 0, 0, 0, 0, 0, 0, 0, 0.0)


def test_underrun_rebuffers_then_reports_the_stream_stopped() -> None:
    jb = JitterBuffer(prefetch=2, stopped_after=5)
    put(jb, 0)
    put(jb, 1)
    assert [s for _, s in (jb.get(), jb.get())] == [NORMAL, NORMAL]
    statuses = [jb.get()[1] for _ in range(6)]
    assert statuses == [PREFETCH] * 3 + [EMPTY] * 3
    put(jb, 2, now=1.0)  # the stream resumes where it stopped
    assert jb.get()[1] is PREFETCH
    put(jb, 3, now=1.02)
    assert played([jb.get(), jb.get()]) == [2, 3]
    assert jb.stats().missing == 0


def test_reordered_at_the_start_plays_the_earlier_packet_first() -> None:
    jb = JitterBuffer()
    put(jb, 101)
    put(jb, 100)
    assert played([jb.get(), jb.get()]) == [100, 101]


def test_missing_slot_then_late_and_duplicate_packets() -> None:
    jb = JitterBuffer(prefetch=2)
    put(jb, 0)
    put(jb, 1)
    assert played([jb.get()]) == [0]
    put(jb, 3)
    put(jb, 3)  # a copy while still buffered
    assert played([jb.get()]) == [1]
    assert jb.get() == (None, MISSING)  # slot 2: lost or late, 3 is here
    put(jb, 2)  # too late: its slot went by
    put(jb, 1)  # a copy of one already played
    assert played([jb.get()]) == [3]
    stats = jb.stats()
    assert (stats.missing, stats.late, stats.duplicate) == (1, 1, 2)
    assert accounted(stats) == stats.received == 6


def test_buffer_never_holds_more_than_max_frames() -> None:
    jb = JitterBuffer(prefetch=2, max_frames=10)
    for index in range(25):  # a burst: the consumer stalled or the sender's clock runs fast
        put(jb, index)
    stats = jb.stats()
    assert (stats.buffered, stats.discarded) == (10, 15)
    assert played([jb.get() for _ in range(10)]) == list(range(15, 25))


def test_a_gap_beyond_the_buffer_skips_slots_as_missing() -> None:
    jb = JitterBuffer(prefetch=2, max_frames=10)
    put(jb, 0)
    put(jb, 15)  # 14 packets lost in an outage
    stats = jb.stats()
    assert (stats.discarded, stats.missing, stats.buffered) == (1, 5, 1)
    put(jb, 16)  # slots 6..16 would be 11: slot 6 goes too
    assert jb.stats().missing == 6
    statuses = [jb.get()[1] for _ in range(10)]
    assert statuses == [MISSING] * 8 + [NORMAL] * 2


def test_sender_clock_drift_is_absorbed_by_dropping_single_frames() -> None:
    jb = JitterBuffer(prefetch=2, max_frames=10, shrink_window=100)
    sent = 0
    levels = []
    for tick in range(5000):  # the sender's clock is 1 % fast: 50 extra packets
        now = tick * PTIME + 0.01
        while sent * PTIME * 0.99 <= now:
            put(jb, sent, now=sent * PTIME * 0.99)
            sent += 1
        jb.get()
        levels.append(jb.stats().buffered)
    stats = jb.stats()
    assert max(levels[100:]) <= 4  # the delay stays near the target instead of growing
    assert 30 <= stats.discarded <= 50
    assert (stats.late, stats.missing, stats.resets) == (0, 0, 0)
    assert accounted(stats) == stats.received


def test_sequence_wrap_in_the_middle_of_reordering() -> None:
    jb = JitterBuffer(prefetch=3)
    for index in (0, 2, 1, 3, 5, 4):
        put(jb, index, base_seq=65533)  # seq 65533, 65535, 65534, 0, 2, 1
    assert played([jb.get() for _ in range(6)]) == list(range(6))


def test_new_ssrc_restarts_the_stream() -> None:
    jb = JitterBuffer(prefetch=2)
    for index in range(3):
        jb.put(index, index * 160, frame(index), index * PTIME, ssrc=1)
    assert played([jb.get()]) == [0]
    jb.put(9000, 777, frame(50), 0.1, ssrc=2)
    stats = jb.stats()
    assert (stats.resets, stats.discarded, stats.buffered) == (1, 2, 1)
    assert jb.get()[1] is PREFETCH
    jb.put(9001, 937, frame(51), 0.12, ssrc=2)
    assert played([jb.get(), jb.get()]) == [50, 51]


def test_a_stray_sequence_jump_does_not_restart() -> None:
    jb = JitterBuffer(prefetch=2)
    put(jb, 0)
    put(jb, 1)
    jb.put(40000, 320, frame(99), 0.04)  # one packet from nowhere
    put(jb, 2)
    put(jb, 3)
    stats = jb.stats()
    assert (stats.resets, stats.discarded) == (0, 1)
    assert played([jb.get() for _ in range(4)]) == [0, 1, 2, 3]


def test_a_confirmed_sequence_jump_restarts() -> None:
    jb = JitterBuffer(prefetch=2)
    put(jb, 0)
    put(jb, 1)
    assert played([jb.get()]) == [0]
    jb.put(40000, 320, frame(40), 0.04)
    assert jb.stats().buffered == 2  # the jumped packet is held, the old one still here
    jb.put(40001, 480, frame(41), 0.06)
    stats = jb.stats()
    assert (stats.resets, stats.discarded, stats.buffered) == (1, 1, 2)
    assert played([jb.get(), jb.get()]) == [40, 41]


def test_a_confirmed_timestamp_jump_restarts_and_a_stray_one_does_not() -> None:
    jb = JitterBuffer(prefetch=2)
    put(jb, 0)
    put(jb, 1)
    jb.put(2, 5_000_000, frame(2), 0.04)  # a stray timestamp
    put(jb, 3)
    assert jb.stats().resets == 0
    jb.put(4, 9_000_000, frame(4), 0.08)  # the sender restarted its clock
    jb.put(5, 9_000_160, frame(5), 0.10)
    stats = jb.stats()
    assert (stats.resets, stats.discarded) == (1, 4)  # stray 2, then 0, 1, 3 flushed
    assert played([jb.get(), jb.get()]) == [4, 5]


def test_silence_suppression_gap_is_not_a_jump() -> None:
    jb = JitterBuffer(prefetch=2)
    put(jb, 0)
    put(jb, 1)
    # Two seconds of silence: the sequence continues, timestamp and arrival both move on.
    jb.put(2, 160 * 101, frame(2), 101 * PTIME)
    jb.put(3, 160 * 102, frame(3), 102 * PTIME)
    stats = jb.stats()
    assert (stats.resets, stats.unsupported, stats.buffered) == (0, 0, 4)
    assert played([jb.get() for _ in range(4)]) == [0, 1, 2, 3]


def test_other_packet_times_are_counted_unsupported() -> None:
    jb = JitterBuffer()
    for index in range(10):  # a 30 ms sender: timestamps advance by 240
        jb.put(index, index * 240, frame(index), index * 0.03)
    stats = jb.stats()
    assert (stats.unsupported, stats.buffered) == (9, 1)
    assert accounted(stats) == stats.received


def test_payload_size_check_when_the_frame_size_is_known() -> None:
    jb = JitterBuffer(frame_bytes=160)
    jb.put(0, 0, bytes(160), 0.0)
    jb.put(1, 160, bytes(240), 0.02)
    jb.put(2, 320, bytes(80), 0.04)
    stats = jb.stats()
    assert (stats.unsupported, stats.buffered) == (2, 1)


def test_invalid_configuration_is_refused() -> None:
    with pytest.raises(ValueError):
        JitterBuffer(prefetch=0)
    with pytest.raises(ValueError):
        JitterBuffer(prefetch=11, max_frames=10)
