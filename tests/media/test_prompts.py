"""The prompt cache, system prompts, rendering ahead of time, and the music-on-hold library."""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import pytest
import soundfile
from numpy.typing import NDArray

from softswitch.config import load_config
from softswitch.config.model import MusicClass, Prompt
from softswitch.config.schema import TTS_LANGUAGES
from softswitch.media.audiofile import RATE, AudioError, load_audio
from softswitch.media.library import DEFAULT_CLASS, TRACK_GAP, MusicLibrary, default_tune
from softswitch.media.prompts import SYSTEM_TEXTS, PromptCache, render_all, system_text
from softswitch.media.tts import Voice


class FakeSpeech:
    """A synthesiser that records its calls and returns a distinct tone per text."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, Voice]] = []

    def __call__(self, text: str, language: str, voice: Voice) -> NDArray[np.int16]:
        self.calls.append((text, language, voice))
        t = np.arange(RATE // 2) / RATE
        frequency = 300 + 10 * (sum(text.encode()) % 200)
        return (8000 * np.sin(2 * np.pi * frequency * t)).astype(np.int16)


class CountingLoader:
    def __init__(self) -> None:
        self.paths: list[Path] = []

    def __call__(self, path: Path) -> NDArray[np.int16]:
        self.paths.append(path)
        return load_audio(path)


def write_tone(path: Path, frequency: float, seconds: float = 0.5, rate: int = 16000) -> Path:
    t = np.arange(round(rate * seconds)) / rate
    soundfile.write(path, (0.5 * np.sin(2 * np.pi * frequency * t)).astype(np.float32), rate)
    return path


def peak_frequency(samples: NDArray[np.int16]) -> float:
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64) * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / RATE)[np.argmax(spectrum)])


def text_prompt(text: str = "Hola", language: str = "es", voice: Voice = "female") -> Prompt:
    return Prompt("saludo", "", None, text, language, voice)


def file_prompt(path: Path) -> Prompt:
    return Prompt("bienvenida", "", path, None, "es", "female")


def cached_files(state: Path) -> list[Path]:
    return sorted((state / "prompts").iterdir())


# -- the cache --------------------------------------------------------------------------------


def test_text_is_rendered_once_then_served_from_memory_and_disk(tmp_path: Path) -> None:
    speech = FakeSpeech()
    cache = PromptCache(tmp_path, synthesize=speech)
    first = cache.get(text_prompt())
    assert cache.get(text_prompt()) is first  # memory
    assert speech.calls == [("Hola", "es", "female")]

    (stored,) = cached_files(tmp_path)
    info = soundfile.info(str(stored))
    assert (info.samplerate, info.channels, info.subtype) == (RATE, 1, "PCM_16")

    # A new process: nothing in memory, the disk copy is used and nothing is rendered.
    restarted = PromptCache(tmp_path, synthesize=speech)
    assert np.array_equal(restarted.get(text_prompt()), first)
    assert len(speech.calls) == 1


@pytest.mark.parametrize(
    "other",
    [text_prompt(text="Adiós"), text_prompt(language="ca"), text_prompt(voice="male")],
    ids=["text", "language", "voice"],
)
def test_each_input_of_speech_is_part_of_the_key(tmp_path: Path, other: Prompt) -> None:
    speech = FakeSpeech()
    cache = PromptCache(tmp_path, synthesize=speech)
    cache.get(text_prompt())
    cache.get(other)
    assert len(speech.calls) == 2 and len(cached_files(tmp_path)) == 2


def test_language_spellings_share_one_entry(tmp_path: Path) -> None:
    speech = FakeSpeech()
    cache = PromptCache(tmp_path, synthesize=speech)
    cache.speech("Olá", "pt-br")
    cache.speech("Olá", "PT_br")
    assert len(speech.calls) == 1


def test_file_is_converted_once_until_it_changes(tmp_path: Path) -> None:
    recording = write_tone(tmp_path / "bienvenida.wav", 440)
    loader = CountingLoader()
    state = tmp_path / "state"
    cache = PromptCache(state, load=loader)
    assert peak_frequency(cache.get(file_prompt(recording))) == pytest.approx(440, abs=4)
    (stored,) = cached_files(state)
    stored_mtime = stored.stat().st_mtime_ns

    PromptCache(state, load=loader).get(file_prompt(recording))
    assert loader.paths == [recording]
    assert stored.stat().st_mtime_ns == stored_mtime  # a hit rewrites nothing

    # The admin uploads a new recording under the same name: converted again.
    write_tone(recording, 880, seconds=0.7)
    os.utime(recording, ns=(stored_mtime + 10**9, stored_mtime + 10**9))
    assert peak_frequency(cache.get(file_prompt(recording))) == pytest.approx(880, abs=4)
    assert loader.paths == [recording, recording]


def test_cached_audio_is_read_only(tmp_path: Path) -> None:
    samples = PromptCache(tmp_path, synthesize=FakeSpeech()).get(text_prompt())
    with pytest.raises(ValueError, match="read-only"):
        samples[0] = 1


def test_memory_keeps_the_most_recently_used_within_its_budget(tmp_path: Path) -> None:
    speech = FakeSpeech()
    one_prompt = RATE // 2 * 2  # bytes of FakeSpeech's half second
    cache = PromptCache(tmp_path, synthesize=speech, memory_bytes=2 * one_prompt)
    a, b, c = (cache.speech(text, "es") for text in ("a", "b", "c"))  # "a" evicted
    for stored in cached_files(tmp_path):
        stored.unlink()  # from now on, only memory can answer without rendering
    assert cache.speech("c", "es") is c and cache.speech("b", "es") is b
    assert len(speech.calls) == 3
    assert np.array_equal(cache.speech("a", "es"), a)
    assert [call[0] for call in speech.calls] == ["a", "b", "c", "a"]


def test_a_damaged_cache_file_is_rendered_again(tmp_path: Path) -> None:
    speech = FakeSpeech()
    good = PromptCache(tmp_path, synthesize=speech).get(text_prompt())
    (stored,) = cached_files(tmp_path)
    stored.write_bytes(b"RIFF garbage")
    again = PromptCache(tmp_path, synthesize=speech).get(text_prompt())
    assert np.array_equal(again, good) and len(speech.calls) == 2
    assert soundfile.info(str(stored)).frames == len(good)


def test_writes_are_atomic_and_leave_no_temporary_files(tmp_path: Path) -> None:
    cache = PromptCache(tmp_path, synthesize=FakeSpeech())
    for text in ("uno", "dos", "tres"):
        cache.speech(text, "es")
    names = [path.name for path in cached_files(tmp_path)]
    assert len(names) == 3 and all(n.endswith(".wav") and not n.startswith(".") for n in names)


def test_failed_write_costs_the_cache_not_the_prompt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken_write(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(soundfile, "write", broken_write)
    samples = PromptCache(tmp_path, synthesize=FakeSpeech()).get(text_prompt())
    assert len(samples) == RATE // 2
    assert list((tmp_path / "prompts").iterdir()) == []  # the temporary file was removed
    assert "cannot cache" in caplog.text


def test_missing_file_is_an_audio_error(tmp_path: Path) -> None:
    with pytest.raises(AudioError, match="No such file"):
        PromptCache(tmp_path).get(file_prompt(tmp_path / "gone.wav"))


def test_real_speech_goes_through_the_cache(tmp_path: Path) -> None:
    samples = PromptCache(tmp_path).get(text_prompt("Bienvenido a la centralita."))
    assert 0.8 < len(samples) / RATE < 5
    assert len(cached_files(tmp_path)) == 1


# -- system prompts ---------------------------------------------------------------------------


def test_system_texts_cover_every_key_in_every_language() -> None:
    keys = set(SYSTEM_TEXTS["en"])
    assert {"conference_enter_pin", "conference_wrong_pin", "conference_alone"} <= keys
    assert {"es", "en"} <= set(SYSTEM_TEXTS)
    for language, texts in SYSTEM_TEXTS.items():
        assert set(texts) == keys, language
        assert language in TTS_LANGUAGES
        assert all(text.strip() for text in texts.values())


@pytest.mark.parametrize(
    ("language", "spoken"),
    [("es", "es"), ("es-MX", "es"), ("ca", "ca"), ("eu", "en"), ("ja", "en"), ("en-us", "en")],
)
def test_system_prompt_language_falls_back_to_english(language: str, spoken: str) -> None:
    text, used = system_text("conference_wrong_pin", language)
    assert used == spoken and text == SYSTEM_TEXTS[spoken]["conference_wrong_pin"]


def test_system_prompt_is_spoken_through_the_cache(tmp_path: Path) -> None:
    speech = FakeSpeech()
    cache = PromptCache(tmp_path, synthesize=speech)
    first = cache.system_prompt("conference_alone", "es")
    assert cache.system_prompt("conference_alone", "es") is first
    assert speech.calls == [(SYSTEM_TEXTS["es"]["conference_alone"], "es", "female")]
    with pytest.raises(KeyError, match="no_such_prompt"):
        cache.system_prompt("no_such_prompt", "es")


# -- rendering ahead of time ----------------------------------------------------------------


def write_config(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "pbx.toml"
    path.write_text('[server]\nlanguage = "es"\nstate_dir = "state"\n' + body, encoding="utf-8")
    return path


def test_render_all_fills_the_cache_and_reports_progress(tmp_path: Path) -> None:
    write_tone(tmp_path / "bienvenida.wav", 440)
    (tmp_path / "moh").mkdir()
    write_tone(tmp_path / "moh" / "a.wav", 500)
    write_tone(tmp_path / "moh" / "b.wav", 600)
    config = load_config(
        write_config(
            tmp_path,
            '[prompts.bienvenida]\nfile = "bienvenida.wav"\n'
            '[prompts.cerrado]\ntext = "Estamos cerrados."\n'
            '[music_on_hold.default]\ndirectory = "moh"\n',
        )
    )
    speech = FakeSpeech()
    cache = PromptCache(config.server.state_dir, synthesize=speech)
    seen: list[tuple[int, int, str]] = []

    failures = render_all(config, lambda *step: seen.append(step), cache)

    assert failures == ()
    system = [f"system.{key}" for key in SYSTEM_TEXTS["en"]]
    total = 3 + len(system)
    expected_names = ["bienvenida", "cerrado", "music_on_hold.default", *system]
    assert seen == [(i + 1, total, name) for i, name in enumerate(expected_names)]
    # 1 recording + 2 tracks + 1 text + the system prompts, in Spanish.
    assert len(cached_files(config.server.state_dir)) == 4 + len(system)
    assert {call[1] for call in speech.calls} == {"es"}


def test_render_all_lists_what_failed_and_goes_on(tmp_path: Path) -> None:
    (tmp_path / "roto.wav").write_text("not audio")
    config = load_config(
        write_config(
            tmp_path,
            '[prompts.roto]\nfile = "roto.wav"\n[prompts.cerrado]\ntext = "Cerrado."\n',
        )
    )
    cache = PromptCache(config.server.state_dir, synthesize=FakeSpeech())
    failures = render_all(config, None, cache)
    assert [failure.name for failure in failures] == ["roto"]
    assert "not a readable audio file" in failures[0].message
    assert cache.speech("Cerrado.", "es") is not None  # the others were rendered


# -- music on hold ----------------------------------------------------------------------------


def music_directory(tmp_path: Path) -> tuple[Path, dict[str, float]]:
    directory = tmp_path / "moh"
    directory.mkdir()
    tones = {"c.wav": 700.0, "a.wav": 400.0, "b.mp3": 550.0, "d.wav": 850.0}
    for name, frequency in tones.items():
        write_tone(directory / name, frequency, seconds=1.0, rate=44100)
    (directory / "readme.txt").write_text("not music")
    return directory, tones


def track_frequencies(samples: NDArray[np.int16], count: int) -> list[float]:
    """The tone of each track, cutting at the silent gaps (found in 20 ms frames)."""
    frames = samples[: len(samples) // 160 * 160].astype(np.float64).reshape(-1, 160)
    loud = np.concatenate([[0], np.sqrt(np.mean(frames**2, axis=1)) > 100, [0]])
    edges = np.flatnonzero(np.diff(loud.astype(np.int8))) * 160
    starts, ends = edges[0::2], edges[1::2]
    assert len(starts) == count, "one sound between each pair of gaps"
    return [peak_frequency(samples[s:e]) for s, e in zip(starts, ends, strict=True)]


def test_tracks_play_in_name_order_each_followed_by_a_gap(tmp_path: Path) -> None:
    directory, tones = music_directory(tmp_path)
    library = MusicLibrary(PromptCache(tmp_path / "state"), {})
    samples = library.load(MusicClass("jazz", directory, shuffle=False))
    gap = round(TRACK_GAP * RATE)
    assert samples.dtype == np.int16
    assert abs(len(samples) - 4 * (RATE + gap)) <= 4 * 160  # MP3 padding aside
    assert not np.any(samples[-gap:])  # the loop seam is a gap like the others
    order = [tones[name] for name in sorted(tones)]
    assert track_frequencies(samples, 4) == pytest.approx(order, abs=3)


def test_shuffle_follows_the_seeded_random(tmp_path: Path) -> None:
    directory, tones = music_directory(tmp_path)
    cache = PromptCache(tmp_path / "state")
    music = MusicClass("mix", directory, shuffle=True)
    names = sorted(tones)
    random.Random(42).shuffle(names)
    assert names != sorted(tones)  # the seed really reorders
    samples = MusicLibrary(cache, {}, seed=42).load(music)
    assert track_frequencies(samples, 4) == pytest.approx([tones[n] for n in names], abs=3)
    again = MusicLibrary(cache, {}, seed=42).load(music)
    assert np.array_equal(again, samples)


def test_tracks_are_converted_through_the_cache(tmp_path: Path) -> None:
    directory, _ = music_directory(tmp_path)
    loader = CountingLoader()
    cache = PromptCache(tmp_path / "state", load=loader)
    music = MusicClass("default", directory, shuffle=False)
    MusicLibrary(cache, {"default": music}).get()
    MusicLibrary(PromptCache(tmp_path / "state", load=loader), {"default": music}).get()
    assert len(loader.paths) == 4


def test_get_builds_each_class_once_and_shares_it(tmp_path: Path) -> None:
    directory, _ = music_directory(tmp_path)
    library = MusicLibrary(PromptCache(tmp_path), {"jazz": MusicClass("jazz", directory, False)})
    jazz = library.get("jazz")
    assert library.get("jazz") is jazz and not jazz.flags.writeable
    assert np.array_equal(library.get(DEFAULT_CLASS), default_tune())  # none configured
    with pytest.raises(KeyError, match="rock"):
        library.get("rock")


def test_a_configured_default_replaces_the_tune(tmp_path: Path) -> None:
    directory, _ = music_directory(tmp_path)
    classes = {"default": MusicClass("default", directory, False)}
    samples = MusicLibrary(PromptCache(tmp_path), classes).get()
    assert len(samples) != len(default_tune())


def test_default_tune_is_pleasant_enough_to_hold_to() -> None:
    tune = default_tune()
    assert tune.dtype == np.int16 and len(tune) == 20 * RATE
    assert np.array_equal(default_tune(), tune)  # deterministic
    # Never silent for long: every half second has sound.
    halves = tune.astype(np.float64).reshape(-1, RATE // 2)
    assert np.all(np.sqrt(np.mean(halves**2, axis=1)) > 300)
    # Comfortably below full scale, and mostly where a handset carries sound.
    assert 0.2 * 32767 < np.max(np.abs(tune)) <= 0.26 * 32767
    power = np.abs(np.fft.rfft(tune.astype(np.float64))) ** 2
    frequencies = np.fft.rfftfreq(len(tune), 1 / RATE)
    assert power[(frequencies >= 250) & (frequencies <= 3400)].sum() > 0.7 * power.sum()
    # Seamless loop: the jump from the last sample to the first is an ordinary step.
    steps = np.abs(np.diff(tune.astype(np.int32)))
    assert abs(int(tune[0]) - int(tune[-1])) <= np.percentile(steps, 99)
