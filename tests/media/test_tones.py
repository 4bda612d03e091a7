"""Tone plans: frequency, cadence to the sample, level in dBm0, continuity across frames."""

from __future__ import annotations

import math

import numpy as np
import pytest

from softswitch.media.tones import COUNTRIES, TonePlan, dbm0_to_peak, frames, tone

MS = 8  # samples per millisecond at 8 kHz


def signal(plan: TonePlan, count: int, start: int = 0) -> np.ndarray:
    return frames(plan, count, start).reshape(-1).astype(np.float64)


def peak_hz(samples: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(samples))
    return float(np.fft.rfftfreq(len(samples), 1 / 8000)[np.argmax(spectrum)])


def dbm0(samples: np.ndarray) -> float:
    # Independent of the module: a full-scale sine (RMS 32767/sqrt 2) is +3.17 dBm0.
    rms = math.sqrt(float(np.mean(samples**2)))
    return 20 * math.log10(rms / (32767 / math.sqrt(2))) + 3.17


def bursts(samples: np.ndarray) -> list[tuple[int, int]]:
    """(start, end) sample indices of the runs of 1 ms blocks that carry any sound."""
    sounding = np.abs(samples.reshape(-1, MS)).max(axis=1) > 0
    edges = np.flatnonzero(np.diff(np.concatenate([[0], sounding.astype(int), [0]])))
    return [(int(a) * MS, int(b) * MS) for a, b in zip(edges[::2], edges[1::2], strict=True)]


@pytest.mark.parametrize(
    ("country", "name", "on_off_ms"),
    [
        ("es", "ringback", [1500, 3000]),
        ("es", "busy", [200, 200]),
        ("es", "congestion", [200, 200, 200, 200, 200, 600]),
        ("eu", "ringback", [1000, 4000]),
        ("eu", "busy", [500, 500]),
        ("eu", "congestion", [250, 250]),
    ],
)
def test_cadence_switches_at_the_exact_millisecond(country, name, on_off_ms) -> None:
    plan = tone(name, country)
    cycle = sum(on_off_ms)
    assert plan.duration_ms == cycle
    # Two full cycles, read from an arbitrary tick onward that is a whole number of cycles in.
    first_tick = 3 * cycle // 20
    x = signal(plan, 2 * cycle // 20, first_tick)
    expected, t = [], 0
    for _ in range(2):
        for i, ms in enumerate(on_off_ms):
            if i % 2 == 0:
                expected.append((t * MS, (t + ms) * MS))
            t += ms
    assert bursts(x) == expected
    for start, end in expected:
        # Silence right up to each burst and right from its end, and sound in between.
        assert (x[max(0, start - MS) : start] == 0).all()
        assert (x[end : end + MS] == 0).all()
        assert np.count_nonzero(x[start:end]) > 0.9 * (end - start)


@pytest.mark.parametrize("country", COUNTRIES)
@pytest.mark.parametrize("name", ["ringback", "busy", "congestion", "dial"])
def test_call_progress_tones_are_425_hz_at_minus_10_dbm0(country, name) -> None:
    plan = tone(name, country)
    x = signal(plan, 10)[2 * MS : 200 * MS]  # inside the first burst, past the ramp
    assert peak_hz(x) == pytest.approx(425, abs=8000 / len(x))
    assert dbm0(x) == pytest.approx(plan.level_dbm0, abs=0.5)
    assert plan.level_dbm0 == -10.0


def test_level_follows_dbm0_for_several_levels() -> None:
    for level in (3.0, 0.0, -6.0, -20.0, -40.0):
        plan = TonePlan("t", (((1000.0,), 1000),), True, level)
        assert dbm0(signal(plan, 50)) == pytest.approx(level, abs=0.5)
    assert dbm0_to_peak(3.17) == pytest.approx(32767)


def test_beep_plays_once_then_silence() -> None:
    beep = tone("beep")
    assert beep.frame_count == 13  # 250 ms: 12.5 frames, rounded up
    x = signal(beep, 20)
    assert bursts(x) == [(0, 250 * MS)]
    assert peak_hz(x[: 250 * MS]) == pytest.approx(1000, abs=32)
    assert not beep.frame(10_000).any()


@pytest.mark.parametrize(("name", "low_first"), [("join", True), ("leave", False)])
def test_join_and_leave_are_two_notes_rising_or_falling(name, low_first) -> None:
    plan = tone(name, "eu")
    assert plan is tone(name, "es")  # the same everywhere
    x = signal(plan, plan.frame_count or 0)
    first, second = peak_hz(x[: 100 * MS]), peak_hz(x[100 * MS : 250 * MS])
    assert (first < second) is low_first
    assert {round(first, -2), round(second, -2)} == {600, 900}
    assert bursts(x) == [(0, 250 * MS)]


def max_jump(x: np.ndarray) -> float:
    return float(np.abs(np.diff(x)).max())


@pytest.mark.parametrize(
    ("country", "name"),
    [("es", "ringback"), ("es", "dial"), ("eu", "busy"), ("es", "join"), ("es", "beep")],
)
def test_no_clicks_anywhere_including_frame_and_cadence_edges(country, name) -> None:
    plan = tone(name, country)
    x = signal(plan, 2 * (plan.frame_count or plan.duration_ms // 20) + 5)
    highest = max(f for freqs, _ in plan.segments for f in freqs)
    # A sine of peak A moves at most 2A sin(pi f / fs) between samples; allow rounding.
    bound = 2 * dbm0_to_peak(plan.level_dbm0) * math.sin(math.pi * highest / 8000) + 2
    assert max_jump(x) <= bound
    # And specifically across every frame boundary.
    edges = np.abs(x[160::160] - x[159:-1:160])
    assert edges.max() <= bound


def test_frame_is_a_pure_function_of_the_tick_number() -> None:
    plan = tone("ringback")
    per_cycle = 4500 // 20
    hour = 3600 * 50
    assert np.array_equal(plan.frame(hour + 7), plan.frame((hour + 7) % per_cycle))
    block = plan.frames(30, start=per_cycle - 10)  # wraps around the cycle end
    assert np.array_equal(block[12], plan.frame(2))
    assert [np.array_equal(block[i], plan.frame(per_cycle - 10 + i)) for i in range(30)] == [
        True
    ] * 30


def test_a_cycle_that_is_not_a_whole_number_of_frames_still_loops_exactly() -> None:
    plan = TonePlan("odd", (((700.0,), 30), ((), 15)), True, -10.0)  # 45 ms cycle
    x = signal(plan, 9 * 4)  # 720 ms = 16 cycles
    cycle = 45 * MS
    reference = x[:cycle]
    assert all(np.array_equal(x[k * cycle : (k + 1) * cycle], reference) for k in range(16))


def test_frames_are_read_only_views_of_the_shared_rendering() -> None:
    frame = tone("busy").frame(0)
    assert frame.shape == (160,)
    assert frame.dtype == np.int16
    with pytest.raises(ValueError, match="read-only"):
        frame[0] = 1


def test_unknown_names_raise_key_errors_that_list_the_choices() -> None:
    with pytest.raises(KeyError, match=r"'fax'.*busy.*ringback"):
        tone("fax")
    with pytest.raises(KeyError, match=r"'xx'.*es, eu"):
        tone("busy", "xx")
    assert tone("BUSY", "EU") is tone("busy", "eu")


def test_bad_plans_and_indices_are_rejected() -> None:
    with pytest.raises(ValueError, match="no segments"):
        TonePlan("empty", ())
    with pytest.raises(ValueError, match="4000"):
        TonePlan("alias", (((5000.0,), 100),))
    with pytest.raises(ValueError, match="> 0 ms"):
        TonePlan("zero", (((400.0,), 0),))
    with pytest.raises(ValueError, match="full scale"):
        TonePlan("loud", (((400.0,), 100),), True, 6.0)
    with pytest.raises(ValueError, match=">= 0"):
        tone("busy").frame(-1)
