"""Recordings: read back with soundfile (duration, channels, tones), valid on disk after every
flush without close (a crash loses under a second), stereo separation, saturating mono."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
import soundfile

from softswitch.media.recorder import HEADER_SIZE, WavRecorder, wav_header

RATE = 8000
FRAME = 160
TICKS_PER_SECOND = 50


def tone(freq: float, tick: int, amplitude: int = 8000) -> npt.NDArray[np.int16]:
    t = (np.arange(FRAME) + tick * FRAME) / RATE
    return np.round(amplitude * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def level(signal: npt.NDArray[np.int16], freq: float) -> float:
    """Amplitude of ``freq`` in ``signal`` (a sine of amplitude A reads as A)."""
    spectrum = np.abs(np.fft.rfft(signal.astype(np.float64))) * 2 / signal.size
    return float(spectrum[round(freq * signal.size / RATE)])


def record(recorder: WavRecorder, ticks: int, start: int = 0) -> None:
    for tick in range(start, start + ticks):
        recorder.write(tone(500, tick), tone(1300, tick))


def read(path: Path) -> tuple[npt.NDArray[np.int16], int]:
    data, rate = soundfile.read(path, dtype="int16", always_2d=True)
    return data, rate


def test_mono_recording_reads_back_with_both_sides(tmp_path: Path) -> None:
    path = tmp_path / "call.wav"
    with WavRecorder(path) as recorder:
        record(recorder, 175)  # 3.5 s
        assert recorder.duration == pytest.approx(3.5)
        assert recorder.path == path
    assert recorder.closed
    info = soundfile.info(path)
    assert (info.samplerate, info.channels, info.frames) == (8000, 1, 28000)
    assert info.subtype == "PCM_16"
    data, _ = read(path)
    assert level(data[:, 0], 500) == pytest.approx(8000, rel=0.01)
    assert level(data[:, 0], 1300) == pytest.approx(8000, rel=0.01)
    expected = np.concatenate([tone(500, t) + tone(1300, t) for t in range(175)])
    assert np.array_equal(data[:, 0], expected)


def test_stereo_keeps_the_sides_apart(tmp_path: Path) -> None:
    path = tmp_path / "stereo.wav"
    recorder = WavRecorder(path, channels=2)
    record(recorder, 175)
    recorder.close()
    data, rate = read(path)
    assert rate == 8000 and data.shape == (28000, 2)
    left, right = data[:, 0], data[:, 1]
    assert level(left, 500) == pytest.approx(8000, rel=0.01)
    assert level(left, 1300) < 1.0
    assert level(right, 1300) == pytest.approx(8000, rel=0.01)
    assert level(right, 500) < 1.0


def test_missing_sides_are_silence_and_keep_time(tmp_path: Path) -> None:
    path = tmp_path / "gaps.wav"
    with WavRecorder(path, channels=2) as recorder:
        recorder.write(tone(500, 0), None)
        recorder.write(None, tone(1300, 1))
        recorder.write(None, None)  # neither side: 20 ms of silence
        recorder.write(tone(500, 3), tone(1300, 3))
    data, _ = read(path)
    assert data.shape == (4 * FRAME, 2)
    assert np.array_equal(data[:FRAME, 0], tone(500, 0)) and not data[:FRAME, 1].any()
    assert not data[FRAME : 2 * FRAME, 0].any()
    assert np.array_equal(data[FRAME : 2 * FRAME, 1], tone(1300, 1))
    assert not data[2 * FRAME : 3 * FRAME].any()
    assert np.array_equal(data[3 * FRAME :, 1], tone(1300, 3))


def test_mono_mix_saturates(tmp_path: Path) -> None:
    path = tmp_path / "loud.wav"
    loud = np.full(FRAME, 30000, np.int16)
    with WavRecorder(path) as recorder:
        recorder.write(loud, loud)
        recorder.write(-loud, -loud)
        recorder.write(None, loud)
    data, _ = read(path)
    assert (data[:FRAME, 0] == 32767).all()  # 60000 would wrap to -5536
    assert (data[FRAME : 2 * FRAME, 0] == -32768).all()
    assert (data[2 * FRAME :, 0] == 30000).all()


@pytest.mark.parametrize("channels", [1, 2])
def test_file_is_valid_at_every_point_without_close(tmp_path: Path, channels: int) -> None:
    """The process "dies" after each tick: what is on disk then is a WAV with all the audio
    but the last second at most, and exactly what was recorded."""
    path = tmp_path / "crash.wav"
    recorder = WavRecorder(path, channels=channels)
    ticks = 130  # 2.6 s
    for tick in range(ticks):
        record(recorder, 1, start=tick)
        data, rate = read(path)
        recorded = (tick + 1) * FRAME
        assert rate == 8000 and data.shape[1] == channels
        assert recorded - RATE < data.shape[0] <= recorded  # loses less than a second
        assert data.shape[0] % RATE == 0  # the flush points are whole seconds of audio
        assert recorder.saved == data.shape[0] / RATE
    assert recorder.saved == 2.0 and recorder.duration == pytest.approx(2.6)
    data, _ = read(path)
    left = np.concatenate([tone(500, t) for t in range(100)])
    right = np.concatenate([tone(1300, t) for t in range(100)])
    expected = (left + right)[:, None] if channels == 1 else np.stack([left, right], axis=1)
    assert np.array_equal(data, expected)
    # The header's sizes describe the file exactly (no reader leniency needed).
    raw = path.read_bytes()
    assert raw[:HEADER_SIZE] == wav_header(channels, RATE, len(raw) - HEADER_SIZE)
    riff, data_size = struct.unpack_from("<I", raw, 4)[0], struct.unpack_from("<I", raw, 40)[0]
    assert (riff, data_size) == (len(raw) - 8, len(raw) - HEADER_SIZE)
    recorder.close()


class CountingWriter(io.BytesIO):
    """An injected writer that counts the writes of audio (anything but a header)."""

    def __init__(self) -> None:
        super().__init__()
        self.audio_writes: list[int] = []

    def write(self, data: bytes | bytearray | memoryview, /) -> int:  # type: ignore[override]
        size = len(memoryview(data).cast("B"))
        if not (self.tell() == 0 and size == HEADER_SIZE):
            self.audio_writes.append(size)
        return super().write(data)


def test_one_write_per_second_of_audio_to_an_injected_writer() -> None:
    writer = CountingWriter()
    recorder = WavRecorder("mem.wav", channels=2, file=writer)
    record(recorder, 175)
    assert writer.audio_writes == [RATE * 4] * 3  # 3 s flushed, 0.5 s still buffered
    recorder.close()
    assert writer.audio_writes == [RATE * 4] * 3 + [RATE * 2]
    assert not writer.closed  # the caller owns it
    data, rate = soundfile.read(io.BytesIO(writer.getvalue()), dtype="int16")
    assert rate == 8000 and data.shape == (28000, 2)
    assert recorder.closed and recorder.duration == pytest.approx(3.5)


def test_frames_straddling_a_flush_point(tmp_path: Path) -> None:
    path = tmp_path / "odd.wav"
    signal = np.arange(-12000, 12000, 1, dtype=np.int16)  # 3 s of a ramp, in 700-sample frames
    with WavRecorder(path, flush_seconds=0.5) as recorder:
        for start in range(0, signal.size, 700):
            recorder.write(signal[start : start + 700])
            assert recorder.saved == (start + 700) // 4000 * 0.5
    data, _ = read(path)
    assert np.array_equal(data[:, 0], signal)


def test_misuse_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="channels"):
        WavRecorder(tmp_path / "x.wav", channels=3)
    recorder = WavRecorder(tmp_path / "y.wav")
    with pytest.raises(ValueError, match="length"):
        recorder.write(np.zeros(160, np.int16), np.zeros(80, np.int16))
    with pytest.raises(ValueError, match="1-D"):
        recorder.write(np.zeros((2, 80), np.int16))
    recorder.close()
    recorder.close()
    with pytest.raises(ValueError, match="closed"):
        recorder.write(None)
    info = soundfile.info(tmp_path / "y.wav")
    assert info.frames == 0 and info.channels == 1
