"""CallRecording: taps copy each side's voice packets; the engine's ticks write a WAV.

Side a speaks 500 Hz in PCMU, side b 1300 Hz in PCMA; the file is read back with soundfile and
checked sample for sample (both buffers prefetch two frames, so both start one tick late).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
import soundfile

from softswitch.media.codecs import FRAME_SAMPLES, G711, PCMA, PCMU
from softswitch.media.engine import MediaEngine
from softswitch.media.recording import CallRecording
from softswitch.rtp.packet import build_rtp

from .signals import AMPLITUDE, RATE, Clock, level, sine

Pcm = npt.NDArray[np.int16]
TICKS = 50
CODECS = {"a": (0, "PCMU"), "b": (8, "PCMA")}


def roundtrip(frames: Pcm, codec: G711) -> Pcm:
    return np.concatenate([codec.decode(codec.encode(frame)) for frame in frames])


def run_call(recording: CallRecording, engine: MediaEngine, clock: Clock) -> tuple[Pcm, Pcm]:
    """Both sides talk for TICKS ticks, with stray packets the taps must leave out."""
    tap_a, tap_b = recording.tap("a"), recording.tap("b")
    a, b = sine(500, TICKS), sine(1300, TICKS)
    for k in range(TICKS):
        clock.t = 0.02 * k
        tap_a(build_rtp(0, 7000 + k, 160 * k, 11, PCMU.encode(a[k])))
        tap_b(build_rtp(8, 300 + k, 999 + 160 * k, 22, PCMA.encode(b[k])))
        # Not voice of that side's codec: a telephone-event, the other law, junk, RTCP.
        tap_a(build_rtp(101, 7100 + k, 160 * k, 11, b"\x05\x0a\x00\xa0"))
        tap_a(build_rtp(8, 7000 + k, 160 * k, 11, PCMA.encode(b[k])))
        tap_b(b"\x00\x01")
        tap_b(build_rtp(72, 1, 2, 3, b"sr"))
        engine.tick(k, clock.t)
    return a, b


def test_stereo_recording_has_side_a_left_and_side_b_right(tmp_path: Path) -> None:
    engine, clock = MediaEngine(), Clock()
    path = tmp_path / "2024" / "call.wav"  # the folder is created
    recording = CallRecording(path, CODECS, engine, clock)
    assert recording in engine and recording.path == path
    a, b = run_call(recording, engine, clock)
    assert recording.duration == pytest.approx(TICKS * 0.02)
    recording.close()
    assert recording not in engine

    info = soundfile.info(path)
    assert (info.samplerate, info.channels, info.frames) == (RATE, 2, TICKS * FRAME_SAMPLES)
    data, _ = soundfile.read(path, dtype="int16", always_2d=True)
    left, right = data[:, 0], data[:, 1]
    # Tick 0 is silence on both sides (prefetch); then every frame, decoded with its own law.
    assert np.count_nonzero(data[:FRAME_SAMPLES]) == 0
    assert np.array_equal(left[FRAME_SAMPLES:], roundtrip(a[:-1], PCMU))
    assert np.array_equal(right[FRAME_SAMPLES:], roundtrip(b[:-1], PCMA))
    window = slice(FRAME_SAMPLES, 41 * FRAME_SAMPLES)  # 40 frames: whole periods of both
    assert level(left[window], 500) == pytest.approx(AMPLITUDE, rel=0.02)
    assert level(left[window], 1300) < 20
    assert level(right[window], 1300) == pytest.approx(AMPLITUDE, rel=0.02)
    assert level(right[window], 500) < 20


def test_mono_recording_mixes_both_sides(tmp_path: Path) -> None:
    engine, clock = MediaEngine(), Clock()
    path = tmp_path / "mono.wav"
    recording = CallRecording(path, CODECS, engine, clock, stereo=False)
    a, b = run_call(recording, engine, clock)
    recording.close()
    data, rate = soundfile.read(path, dtype="int16", always_2d=True)
    assert rate == RATE and data.shape == (TICKS * FRAME_SAMPLES, 1)
    mixed = roundtrip(a[:-1], PCMU).astype(np.int32) + roundtrip(b[:-1], PCMA)
    assert np.array_equal(data[FRAME_SAMPLES:, 0], mixed)


def test_a_silent_side_records_silence_and_keeps_the_other_aligned(tmp_path: Path) -> None:
    engine, clock = MediaEngine(), Clock()
    path = tmp_path / "one-way.wav"
    recording = CallRecording(path, CODECS, engine, clock)
    tap_b = recording.tap("b")
    b = sine(1300, 10)
    for k in range(10):
        if k != 5:  # one packet lost on the way
            tap_b(build_rtp(8, k, 160 * k, 22, PCMA.encode(b[k])))
        engine.tick(k, 0.02 * k)
    recording.close()
    data, _ = soundfile.read(path, dtype="int16", always_2d=True)
    assert data.shape == (10 * FRAME_SAMPLES, 2)
    assert np.count_nonzero(data[:, 0]) == 0
    right = data[:, 1].reshape(10, FRAME_SAMPLES)
    # Played one tick behind; the lost frame 5 is noticed (MISSING) when 6 arrives, at tick 6.
    expected = [None, 0, 1, 2, 3, 4, None, 6, 7, 8]
    for tick, frame in enumerate(expected):
        if frame is None:
            assert np.count_nonzero(right[tick]) == 0
        else:
            assert np.array_equal(right[tick], PCMA.decode(PCMA.encode(b[frame])))


def test_close_stops_the_recording_and_may_be_repeated(tmp_path: Path) -> None:
    engine, clock = MediaEngine(), Clock()
    path = tmp_path / "short.wav"
    recording = CallRecording(path, CODECS, engine, clock)
    for k in range(3):
        engine.tick(k, 0.02 * k)
    recording.close()
    recording.close()
    engine.tick(3, 0.06)  # no longer on the engine: nothing more is written
    assert not engine.active and engine.failures == 0
    assert recording.duration == pytest.approx(0.06)
    assert soundfile.info(path).frames == 3 * FRAME_SAMPLES


def test_unknown_side_has_no_tap(tmp_path: Path) -> None:
    recording = CallRecording(tmp_path / "x.wav", CODECS, MediaEngine(), Clock())
    with pytest.raises(KeyError):
        recording.tap("c")
    recording.close()
