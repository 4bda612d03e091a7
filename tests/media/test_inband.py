"""In-band DTMF: every key once per press, in noise and through G.711; no talk-off."""

from __future__ import annotations

import math

import numpy as np
import pytest

from softswitch.media.codecs import PCMA, PCMU
from softswitch.media.inband import DigitDetected, InbandDtmfDetector
from softswitch.media.tones import frames, tone

KEYS = "123A456B789C*0#D"
ROWS = (697.0, 770.0, 852.0, 941.0)
COLS = (1209.0, 1336.0, 1477.0, 1633.0)


def peak(level_dbm0: float) -> float:
    return 32767 * 10 ** ((level_dbm0 - 3.17) / 20)  # full-scale sine is +3.17 dBm0


def key_tone(
    key: str,
    ms: int,
    rng: np.random.Generator,
    row_dbm0: float = -10.0,
    col_dbm0: float = -10.0,
    deviation: float = 0.0,
) -> np.ndarray:
    i = KEYS.index(key)
    t = np.arange(ms * 8) / 8000
    row, col = ROWS[i // 4] * (1 + deviation), COLS[i % 4] * (1 + deviation)
    return peak(row_dbm0) * np.sin(2 * np.pi * row * t + rng.uniform(0, 2 * np.pi)) + peak(
        col_dbm0
    ) * np.sin(2 * np.pi * col * t + rng.uniform(0, 2 * np.pi))


def gap(ms: int) -> np.ndarray:
    return np.zeros(ms * 8)


def with_noise(x: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    power = float(np.mean(x[x != 0] ** 2))
    return x + rng.normal(0.0, math.sqrt(power / 10 ** (snr_db / 10)), len(x))


def to_frames(x: np.ndarray, offset: int = 0, ptime_samples: int = 160) -> np.ndarray:
    """int16 frames of ``x`` delayed by ``offset`` samples (so tones start mid-frame)."""
    x = np.concatenate([np.zeros(offset), x])
    x = np.concatenate([x, np.zeros(-len(x) % ptime_samples + 2 * ptime_samples)])
    return np.clip(np.rint(x), -32768, 32767).astype(np.int16).reshape(-1, ptime_samples)


def detect(x: np.ndarray, offset: int = 0, ptime_samples: int = 160) -> list[DigitDetected]:
    detector = InbandDtmfDetector()
    events: list[DigitDetected] = []
    ptime = ptime_samples / 8000
    for n, frame in enumerate(to_frames(x, offset, ptime_samples)):
        events += detector.feed(frame, 100.0 + n * ptime)
    return events


def digits(x: np.ndarray, offset: int = 0) -> str:
    return "".join(e.digit for e in detect(x, offset))


@pytest.mark.parametrize("level", [-3.0, -10.0, -18.0, -25.0])
@pytest.mark.parametrize("twist", [6.0, 0.0, -3.0], ids=["row+6dB", "flat", "col+3dB"])
def test_every_key_at_every_level_and_twist_in_noise_is_heard_once(level, twist) -> None:
    rng = np.random.default_rng(int(-level * 10 + twist))
    for key in KEYS:
        # ``level`` is the stronger tone; twist > 0: row (low group) stronger.
        row, col = (level, level - twist) if twist >= 0 else (level + twist, level)
        burst = key_tone(key, int(rng.integers(50, 120)), rng, row, col)
        x = with_noise(np.concatenate([gap(100), burst, gap(100)]), 15.0, rng)
        assert digits(x, int(rng.integers(0, 160))) == key, (key, row, col)


def test_a_dialled_sequence_with_50_ms_gaps_comes_out_in_order_with_times() -> None:
    rng = np.random.default_rng(159)
    parts, onsets, t = [gap(30)], [], 30
    for key in "159#":
        onsets.append(t)
        parts += [key_tone(key, 70, rng), gap(50)]
        t += 120
    events = detect(with_noise(np.concatenate(parts), 20.0, rng))
    assert [e.digit for e in events] == list("159#")
    for event, onset_ms in zip(events, onsets, strict=True):
        # Stamped with the `now` of the frame that confirmed it (fed at the frame's start
        # time here): that frame ends 30-80 ms after the tone started.
        frame_end = event.at - 100.0 + 0.02
        assert 0.030 - 1e-9 <= frame_end - onset_ms / 1000 <= 0.080 + 1e-9
        assert round((event.at - 100.0) / 0.02, 6).is_integer()


def test_a_key_held_for_a_second_is_one_digit() -> None:
    rng = np.random.default_rng(1)
    x = with_noise(np.concatenate([gap(40), key_tone("0", 1000, rng), gap(200)]), 15.0, rng)
    assert digits(x, 77) == "0"


@pytest.mark.parametrize("offset", range(0, 160, 20))
def test_same_key_twice_needs_a_pause_and_a_lost_packet_is_not_one(offset) -> None:
    rng = np.random.default_rng(offset)
    twice = np.concatenate([key_tone("5", 60, rng), gap(50), key_tone("5", 60, rng)])
    assert digits(twice, offset) == "55"
    held = key_tone("5", 400, rng)
    held[1600:1760] = 0  # one 20 ms packet lost and played out as silence
    assert digits(with_noise(held, 15.0, rng), offset) == "5"


@pytest.mark.parametrize("offset", range(0, 160, 8))
def test_40_ms_is_always_enough_and_20_ms_never_is(offset) -> None:
    rng = np.random.default_rng(offset)
    assert digits(np.concatenate([gap(60), key_tone("8", 40, rng), gap(60)]), offset) == "8"
    assert digits(np.concatenate([gap(60), key_tone("8", 20, rng), gap(60)]), offset) == ""


def test_frequency_tolerance_accepts_1_5_percent_and_rejects_3_5_percent() -> None:
    rng = np.random.default_rng(35)
    for key in KEYS:
        for deviation in (-0.015, 0.015):
            x = np.concatenate([gap(40), key_tone(key, 80, rng, deviation=deviation), gap(40)])
            assert digits(x, 33) == key, (key, deviation)
        for deviation in (-0.035, 0.035):
            x = np.concatenate([gap(40), key_tone(key, 80, rng, deviation=deviation), gap(40)])
            assert digits(x, 33) == "", (key, deviation)


def test_twist_beyond_the_limits_and_tones_too_weak_are_rejected() -> None:
    rng = np.random.default_rng(8)
    for key in "1D5*":
        row_hot = key_tone(key, 100, rng, row_dbm0=-6.0, col_dbm0=-18.0)  # 12 dB normal
        col_hot = key_tone(key, 100, rng, row_dbm0=-16.0, col_dbm0=-8.0)  # 8 dB reverse
        faint = key_tone(key, 100, rng, row_dbm0=-45.0, col_dbm0=-45.0)
        for x in (row_hot, col_hot, faint):
            assert digits(np.concatenate([gap(40), x, gap(40)])) == ""
        assert digits(key_tone(key, 100, rng, row_dbm0=-33.0, col_dbm0=-33.0)) == key


@pytest.mark.parametrize("law", [PCMU, PCMA], ids=["PCMU", "PCMA"])
@pytest.mark.parametrize("level", [-3.0, -25.0])
def test_keys_survive_g711_encode_and_decode(law, level) -> None:
    rng = np.random.default_rng(711)
    parts = [gap(40)]
    for key in KEYS:
        parts += [key_tone(key, 60, rng, level, level - 2), gap(60)]
    pcm = to_frames(np.concatenate(parts), 51).reshape(-1)
    through = law.decode(law.encode(pcm)).astype(np.float64)
    assert digits(through) == KEYS


def notes(freqs: list[float], ms: int, level: float, rng: np.random.Generator) -> np.ndarray:
    """Music-like notes: each with five harmonics falling as 1/h."""
    t = np.arange(ms * 8) / 8000
    x = np.zeros(len(t))
    for f in freqs:
        for h in range(1, 6):
            if f * h < 3900:
                x += peak(level) / h * np.sin(2 * np.pi * f * h * t + rng.uniform(0, 6.3))
    return x


def test_no_talk_off_from_silence_noise_tones_music_or_ringback() -> None:
    rng = np.random.default_rng(404)
    t = np.arange(8000 * 2) / 8000
    heard = {
        "silence": digits(gap(2000)),
        "noise": digits(np.concatenate([rng.normal(0, peak(lv), 16000) for lv in (-40, -5)])),
        "1 kHz": digits(peak(-5) * np.sin(2 * np.pi * 1000 * t)),
        "chord": digits(notes([261.63, 329.63, 392.0, 523.25], 2000, -15, rng)),
        "ringback": digits(frames(tone("ringback", "es"), 250).reshape(-1).astype(float)),
        "melody": digits(
            np.concatenate(
                [
                    notes(list(440 * 2 ** (rng.integers(-24, 12, n) / 12)), 200, -12, rng)
                    for n in rng.integers(1, 4, 300)
                ]
            )
        ),
    }
    assert heard == dict.fromkeys(heard, "")


def test_ten_millisecond_frames_give_the_same_digits() -> None:
    rng = np.random.default_rng(10)
    x = np.concatenate([gap(30), key_tone("A", 60, rng), gap(60), key_tone("B", 60, rng)])
    assert [e.digit for e in detect(x, 13, ptime_samples=80)] == ["A", "B"]


def test_frames_the_caller_skipped_count_as_a_pause() -> None:
    rng = np.random.default_rng(3)
    detector = InbandDtmfDetector()
    block = to_frames(key_tone("9", 100, rng))[:5]
    first = [e for n, f in enumerate(block) for e in detector.feed(f, n * 0.02)]
    # The source stalls for 60 ms, then the same tone again: a new press, not a splice.
    second = [e for n, f in enumerate(block) for e in detector.feed(f, 0.16 + n * 0.02)]
    assert [e.digit for e in first + second] == ["9", "9"]


def test_reset_forgets_a_held_key_and_bad_frame_sizes_are_refused() -> None:
    rng = np.random.default_rng(4)
    detector = InbandDtmfDetector()
    block = to_frames(key_tone("#", 200, rng))
    got = [e.digit for n, f in enumerate(block[:5]) for e in detector.feed(f, n * 0.02)]
    detector.reset()
    got += [e.digit for n, f in enumerate(block[5:]) for e in detector.feed(f, 0.1 + n * 0.02)]
    assert got == ["#", "#"]
    with pytest.raises(ValueError, match="multiple of 80"):
        detector.feed(np.zeros(100, dtype=np.int16), 1.0)


def test_a_second_tone_of_the_same_group_within_8_db_is_rejected() -> None:
    rng = np.random.default_rng(12)
    t = np.arange(800) / 8000
    for extra_db in (0.0, -4.0):
        chord = key_tone("1", 100, rng) + peak(-10.0 + extra_db) * np.sin(2 * np.pi * 770.0 * t)
        assert digits(np.concatenate([gap(40), chord, gap(40)])) == "", extra_db
    # 14 dB down the second row tone is just leakage-sized: the key stands.
    chord = key_tone("1", 100, rng) + peak(-24.0) * np.sin(2 * np.pi * 770.0 * t)
    assert digits(np.concatenate([gap(40), chord, gap(40)])) == "1"


def test_jittery_tick_times_do_not_split_a_held_key() -> None:
    rng = np.random.default_rng(21)
    detector = InbandDtmfDetector()
    got = []
    for n, frame in enumerate(to_frames(key_tone("6", 600, rng))):
        got += detector.feed(frame, n * 0.02 + rng.uniform(0.0, 0.009))
    assert [e.digit for e in got] == ["6"]
