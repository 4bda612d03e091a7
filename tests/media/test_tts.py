"""Text-to-speech through the bundled eSpeak NG: real speech, in every configured language."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from numpy.typing import NDArray

from softswitch.config.schema import TTS_LANGUAGES
from softswitch.media.audiofile import RATE
from softswitch.media.tts import TtsError, espeak_language, synthesize

SENTENCES = {
    "es": "Bienvenido a la centralita. Por favor, espere.",
    "ca": "Benvingut a la centraleta. Si us plau, espereu.",
    "eu": "Ongi etorri. Mesedez, itxaron.",
    "gl": "Benvido á centraliña. Por favor, agarde.",
    "en": "Welcome to the switchboard. Please hold.",
    "fr": "Bienvenue au standard. Veuillez patienter.",
    "pt": "Bem-vindo à central. Por favor, aguarde.",
    "de": "Willkommen in der Zentrale. Bitte warten Sie.",
}


def band_fraction(samples: NDArray[np.int16], low: float, high: float) -> float:
    """The share of the signal's energy between ``low`` and ``high`` Hz."""
    power = np.abs(np.fft.rfft(samples.astype(np.float64))) ** 2
    frequencies = np.fft.rfftfreq(len(samples), 1 / RATE)
    in_band = (frequencies >= low) & (frequencies <= high)
    return float(power[in_band].sum() / power.sum())


def same_speech(a: NDArray[np.int16], b: NDArray[np.int16]) -> bool:
    """Whether two renderings say the same thing in the same voice. eSpeak is not bit-exact from
    run to run (random breath noise, timing that drifts by 10 ms), so compare what a listener
    would: the length (within 1 %), the 20 ms loudness contour (the same sentence correlates
    above 0.99, another one near 0.4) and the pitch (female and male differ by 1.8x)."""
    if abs(len(a) - len(b)) > 0.01 * len(a):
        return False
    n = min(len(a), len(b)) // 160 * 160

    def contour(x: NDArray[np.int16]) -> NDArray[np.float64]:
        frames = x[:n].astype(np.float64).reshape(-1, 160)
        levels: NDArray[np.float64] = np.sqrt(np.mean(frames**2, axis=1))
        return levels

    if np.corrcoef(contour(a), contour(b))[0, 1] < 0.95:
        return False
    return abs(median_f0(a) / median_f0(b) - 1) < 0.15


def median_f0(samples: NDArray[np.int16]) -> float:
    """Median pitch of the voiced 40 ms frames, by autocorrelation (60-400 Hz)."""
    x = samples.astype(np.float64)
    frame, low, high = 320, RATE // 400, RATE // 60
    level = np.sqrt(np.mean(x**2))
    pitches = []
    for start in range(0, len(x) - frame, frame):
        chunk = x[start : start + frame] - x[start : start + frame].mean()
        if np.sqrt(np.mean(chunk**2)) < 0.5 * level:
            continue  # silence or a consonant
        correlation = np.correlate(chunk, chunk, "full")[frame - 1 :]
        lag = low + int(np.argmax(correlation[low:high]))
        if correlation[lag] > 0.4 * correlation[0]:  # clearly periodic: a vowel
            pitches.append(RATE / lag)
    assert len(pitches) >= 5, "too few voiced frames to estimate a pitch"
    return float(np.median(pitches))


@pytest.mark.parametrize("language", sorted(SENTENCES))
@pytest.mark.parametrize("voice", ["female", "male"])
def test_each_required_language_speaks(language: str, voice: str) -> None:
    samples = synthesize(SENTENCES[language], language, voice)  # type: ignore[arg-type]
    assert samples.dtype == np.int16 and samples.ndim == 1
    assert 0.5 <= len(samples) / RATE <= 10.0
    # Speech, not silence or noise: loud enough, and mostly in the telephone band.
    assert np.sqrt(np.mean(samples.astype(np.float64) ** 2)) > 500
    assert band_fraction(samples, 300, 3400) > 0.6


@pytest.mark.parametrize("language", ["es", "en", "de", "eu"])
def test_male_voice_is_lower_than_female(language: str) -> None:
    female = median_f0(synthesize(SENTENCES[language], language, "female"))
    male = median_f0(synthesize(SENTENCES[language], language, "male"))
    assert 70 <= male < 160 and 150 < female <= 350
    assert female > 1.4 * male


def test_every_configurable_language_really_renders() -> None:
    # The config's static list (config may not import media) must not promise what eSpeak
    # cannot do: digits are read out in every language's own words.
    silent = []
    for language in sorted(TTS_LANGUAGES):
        for voice in ("female", "male"):
            samples = synthesize("1 2 3", language, voice)
            loudness = np.sqrt(np.mean(samples.astype(np.float64) ** 2))
            if len(samples) < 0.3 * RATE or loudness < 300:
                silent.append(f"{language}/{voice}")
    assert silent == []


def test_language_spelling_is_normalised() -> None:
    assert espeak_language("pt_BR") == espeak_language("PT-br") == "pt-br"
    text = "Por favor, aguarde."
    assert same_speech(synthesize(text, "pt_BR"), synthesize(text, "pt-br"))


def test_galician_is_spoken_with_the_spanish_voice() -> None:
    assert espeak_language("gl") == "es"
    text = "Por favor, agarde un momento."
    assert same_speech(synthesize(text, "gl"), synthesize(text, "es"))
    assert not same_speech(synthesize(text, "gl"), synthesize(text, "pt"))


@pytest.mark.parametrize(
    ("text", "language", "voice", "message"),
    [
        pytest.param("Hola", "xx", "female", "no text-to-speech voice", id="language"),
        pytest.param("Hola", "klingon", "female", "no text-to-speech voice", id="long-code"),
        pytest.param("   ", "es", "female", "empty", id="empty-text"),
        pytest.param("Hola", "es", "robot", "female or male", id="voice"),
    ],
)
def test_bad_requests_are_clear_errors(text: str, language: str, voice: str, message: str) -> None:
    with pytest.raises(TtsError, match=message):
        synthesize(text, language, voice)  # type: ignore[arg-type]


def test_an_error_leaves_the_engine_usable() -> None:
    before = synthesize(SENTENCES["en"], "en")
    with pytest.raises(TtsError):
        synthesize("Hola", "xx")
    assert same_speech(synthesize(SENTENCES["en"], "en"), before)


def test_concurrent_callers_get_their_own_speech() -> None:
    # eSpeak NG is one global engine: without the lock, two threads' samples would interleave.
    jobs = [
        (SENTENCES[lang], lang, voice)
        for lang in ("es", "en", "de")
        for voice in ("female", "male")
    ]
    expected = [synthesize(*job) for job in jobs]  # type: ignore[arg-type]
    results: list[NDArray[np.int16] | None] = [None for _ in range(3 * len(jobs))]
    barrier = threading.Barrier(len(results))

    def run(index: int) -> None:
        barrier.wait()
        results[index] = synthesize(*jobs[index % len(jobs)])  # type: ignore[arg-type]

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(results))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for index, samples in enumerate(results):
        assert samples is not None
        assert same_speech(samples, expected[index % len(jobs)])


def test_same_speech_tells_renderings_apart() -> None:
    # The comparison the tests above rely on must be able to fail.
    english = synthesize(SENTENCES["en"], "en", "female")
    assert same_speech(english, synthesize(SENTENCES["en"], "en", "female"))
    assert not same_speech(english, synthesize(SENTENCES["en"], "en", "male"))
    assert not same_speech(english, synthesize(SENTENCES["es"], "es", "female"))
