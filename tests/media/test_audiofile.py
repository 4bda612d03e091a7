"""Audio files of any rate and channel count become 8 kHz mono int16 with their content intact."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile
import soxr
from numpy.typing import NDArray

from softswitch.media.audiofile import (
    RATE,
    AudioError,
    list_music_files,
    load_audio,
    probe_audio,
    to_int16,
)


def tone(
    frequency: float, rate: int, seconds: float, amplitude: float = 0.5
) -> NDArray[np.float32]:
    t = np.arange(round(rate * seconds)) / rate
    return (amplitude * np.sin(2 * np.pi * frequency * t)).astype(np.float32)


def peak_frequency(samples: NDArray[np.int16], rate: int = RATE) -> float:
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64) * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[np.argmax(spectrum)])


def rms(samples: NDArray[np.int16]) -> float:
    return float(np.sqrt(np.mean(samples.astype(np.float64) ** 2)))


@pytest.mark.parametrize(
    ("rate", "channels", "suffix", "frequency"),
    [
        pytest.param(44100, 2, ".wav", 1000.0, id="wav-44k1-stereo"),
        pytest.param(16000, 1, ".wav", 440.0, id="wav-16k-mono"),
        pytest.param(8000, 1, ".wav", 1500.0, id="wav-8k-mono-as-is"),
        pytest.param(48000, 2, ".flac", 700.0, id="flac-48k-stereo"),
        pytest.param(22050, 1, ".ogg", 1200.0, id="ogg-22k05"),
        pytest.param(44100, 2, ".mp3", 1000.0, id="mp3-44k1-stereo"),
        pytest.param(16000, 1, ".mp3", 440.0, id="mp3-16k-mono"),
    ],
)
def test_converted_to_8k_mono_with_duration_and_pitch_kept(
    tmp_path: Path, rate: int, channels: int, suffix: str, frequency: float
) -> None:
    seconds = 3.0  # at 44.1 kHz this is two reading blocks and a bit: the seams are crossed
    mono = tone(frequency, rate, seconds)
    data = np.stack([mono] * channels, axis=1) if channels > 1 else mono
    path = tmp_path / f"tone{suffix}"
    soundfile.write(path, data, rate)

    samples = load_audio(path)

    assert samples.dtype == np.int16 and samples.ndim == 1
    if suffix == ".mp3":
        # MP3 frames are 1152 (or 576) samples; the decoder may pad the last one.
        assert abs(len(samples) - seconds * RATE) <= 1152 * RATE / rate + 1
    else:
        assert len(samples) == seconds * RATE
    assert peak_frequency(samples) == pytest.approx(frequency, abs=2 * RATE / len(samples))
    # The level survives: a 0.5 full-scale sine has an RMS of 0.5/sqrt(2) of full scale.
    middle = samples[RATE // 2 : -RATE // 2]
    assert rms(middle) == pytest.approx(0.5 / np.sqrt(2) * 32768, rel=0.05)


def test_channels_are_averaged(tmp_path: Path) -> None:
    left, right = tone(1000, 8000, 1.0, 0.6), tone(1000, 8000, 1.0, 0.2)
    cancelling = np.stack([left, -left], axis=1)
    soundfile.write(tmp_path / "mixed.wav", np.stack([left, right], axis=1), 8000, "FLOAT")
    soundfile.write(tmp_path / "cancel.wav", cancelling, 8000, "FLOAT")

    mixed = load_audio(tmp_path / "mixed.wav")
    assert np.max(np.abs(mixed)) == pytest.approx(0.4 * 32768, rel=0.01)
    assert not np.any(load_audio(tmp_path / "cancel.wav"))


def test_loud_input_saturates_instead_of_wrapping(tmp_path: Path) -> None:
    loud = tone(200, 8000, 0.5, amplitude=1.5)
    soundfile.write(tmp_path / "loud.wav", loud, 8000, subtype="FLOAT")
    samples = load_audio(tmp_path / "loud.wav")
    assert samples.max() == 32767 and samples.min() == -32768
    # Wrapping would flip the sign of the loudest samples.
    nonzero = np.abs(loud) > 0.01
    assert np.all(np.sign(samples[nonzero]) == np.sign(loud[nonzero]))


def test_to_int16_rounds_and_clips() -> None:
    floats = np.array([0.0, 0.5, -0.5, 1.0, -1.0, 3.0, -3.0, 1 / 65536], np.float32)
    assert to_int16(floats).tolist() == [0, 16384, -16384, 32767, -32768, 32767, -32768, 0]


def test_streamed_conversion_equals_converting_the_whole_file(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    noise = (rng.standard_normal(200_000) * 0.1).astype(np.float32)  # three reading blocks
    soundfile.write(tmp_path / "noise.wav", noise, 44100, subtype="FLOAT")
    whole = soxr.resample(noise, 44100, RATE, quality="HQ")
    expected = np.clip(np.rint(whole * 32768), -32768, 32767).astype(np.int16)
    streamed = load_audio(tmp_path / "noise.wav")
    assert len(streamed) == len(expected)
    assert np.max(np.abs(streamed.astype(np.int32) - expected)) <= 2


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        pytest.param(lambda p: p.write_text("hello, not audio"), "not a readable audio", id="text"),
        pytest.param(lambda p: None, "no such file", id="missing"),
        pytest.param(lambda p: p.mkdir(), "is a directory", id="directory"),
        pytest.param(
            lambda p: soundfile.write(p, np.zeros(0, np.float32), 8000), "no audio", id="empty"
        ),
    ],
)
def test_unreadable_files_raise_a_clear_error(
    tmp_path: Path, make: Callable[[Path], object], reason: str
) -> None:
    path = tmp_path / "prompt.wav"
    make(path)
    with pytest.raises(AudioError) as caught:
        load_audio(path)
    assert caught.value.path == path
    assert reason in caught.value.reason
    assert str(path) in str(caught.value)
    probed = probe_audio(path)
    assert probed is not None and reason in probed


def test_a_damaged_mp3_is_not_called_missing(tmp_path: Path) -> None:
    # libsndfile reports "File does not exist" for an MP3 it cannot decode.
    path = tmp_path / "damaged.mp3"
    path.write_bytes(b"ID3" + bytes(range(256)) * 4)
    with pytest.raises(AudioError) as caught:
        load_audio(path)
    assert caught.value.reason == "not a readable audio file (unrecognised format, or damaged)"
    assert probe_audio(path) == caught.value.reason


def test_probe_accepts_real_audio_without_decoding_it(tmp_path: Path) -> None:
    soundfile.write(tmp_path / "ok.mp3", tone(440, 44100, 0.5), 44100)
    soundfile.write(tmp_path / "ok.wav", tone(440, 16000, 0.5), 16000)
    assert probe_audio(tmp_path / "ok.mp3") is None
    assert probe_audio(tmp_path / "ok.wav") is None


def test_music_files_are_wav_and_mp3_in_name_order(tmp_path: Path) -> None:
    for name in ("b.mp3", "a.WAV", "c.wav", "notes.txt", "cover.jpg", "d.flac"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "sub.wav").mkdir()
    assert [p.name for p in list_music_files(tmp_path)] == ["a.WAV", "b.mp3", "c.wav"]
