"""Text to telephone audio with eSpeak NG, through ctypes and the ``espeakng_loader`` wheel.

The wheel carries the library and its voice data, so text prompts need no system package.
eSpeak NG keeps one global engine per process and is not thread-safe: ``synthesize`` holds a
lock for the whole select-voice/synthesise sequence, and the engine is initialised once, on
first use. Synchronous mode makes ``espeak_Synth`` run the synthesis on the calling thread,
handing the samples to our callback as they are produced; the 22,050 Hz result is resampled
to 8 kHz like any audio file.

Rendering costs tens of milliseconds per sentence: callers cache the result
(``prompts.PromptCache``) and never call this from the media ticker.
"""

from __future__ import annotations

import ctypes
import threading
from typing import Any

import espeakng_loader
import numpy as np
from numpy.typing import NDArray

from softswitch.config.model import Voice
from softswitch.config.schema import TTS_LANGUAGES, normalize_language
from softswitch.media.audiofile import to_int16, to_telephone_rate

__all__ = ["TtsError", "Voice", "espeak_language", "synthesize"]

# Languages eSpeak NG has no voice for, spoken with the closest one it has. Galician is
# written with Spanish-like spelling (ll, ñ, ch, stress accents), so the Spanish voice reads it
# far more intelligibly than the Portuguese one would.
_ALIASES = {"gl": "es"}
_GENDER = {"male": 1, "female": 2}  # espeak_VOICE.gender
# eSpeak's default 175 is brisk for a phone line, where a caller hears a prompt once.
_WORDS_PER_MINUTE = 150

# speak_lib.h
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_ESPEAK_RATE = 1
_EE_OK = 0


class TtsError(Exception):
    """Text that cannot be spoken: unknown language, empty text, or the engine failed."""


class _EspeakVoice(ctypes.Structure):
    _fields_ = (
        ("name", ctypes.c_char_p),
        ("languages", ctypes.c_char_p),
        ("identifier", ctypes.c_char_p),
        ("gender", ctypes.c_ubyte),
        ("age", ctypes.c_ubyte),
        ("variant", ctypes.c_ubyte),
        ("xx1", ctypes.c_ubyte),
        ("score", ctypes.c_int),
        ("spare", ctypes.c_void_p),
    )


_SynthCallback = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)


def espeak_language(language: str) -> str:
    """The eSpeak language code that speaks ``language``; TtsError if there is none."""
    code = normalize_language(language)
    if code not in TTS_LANGUAGES:
        raise TtsError(f"no text-to-speech voice for language {language!r}")
    return _ALIASES.get(code, code)


def synthesize(text: str, language: str, voice: Voice = "female") -> NDArray[np.int16]:
    """``text`` spoken in ``language`` by a female or male voice, as 8 kHz mono int16."""
    if not text.strip():
        raise TtsError("nothing to say: the text is empty")
    if voice not in _GENDER:
        raise TtsError(f"voice must be female or male, not {voice!r}")
    code = espeak_language(language)
    samples, rate = _ENGINE.speak(text, code, _GENDER[voice])
    if samples.size == 0:
        raise TtsError(f"eSpeak NG produced no audio for {language!r}")
    return to_int16(to_telephone_rate(samples.astype(np.float32) / 32768.0, rate))


class _Engine:
    """The process-wide eSpeak NG instance: loaded and initialised on first use, one caller at a
    time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lib: Any = None
        self._rate = 0
        self._chunks: list[NDArray[np.int16]] = []
        # Kept referenced: eSpeak holds a raw pointer to it for the life of the process.
        self._callback = _SynthCallback(self._collect)

    def speak(self, text: str, language: str, gender: int) -> tuple[NDArray[np.int16], int]:
        with self._lock:
            lib = self._started()
            self._select_voice(lib, language, gender)
            lib.espeak_SetParameter(_ESPEAK_RATE, _WORDS_PER_MINUTE, 0)
            data = text.encode("utf-8")
            self._chunks = []
            status = lib.espeak_Synth(
                data, len(data) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None
            )
            lib.espeak_Synchronize()
            chunks, self._chunks = self._chunks, []
        if status != _EE_OK:
            raise TtsError(f"eSpeak NG failed to synthesise (error {status})")
        samples = np.concatenate(chunks) if chunks else np.zeros(0, np.int16)
        return samples, self._rate

    def _collect(self, wav: Any, count: int, _events: Any) -> int:
        # Called by eSpeak, on the synthesising thread, with each block of samples; a NULL
        # block ends the utterance. Copy: the buffer is eSpeak's and is reused.
        if wav and count > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(count,)).copy())
        return 0  # 0 = go on

    def _select_voice(self, lib: Any, language: str, gender: int) -> None:
        spec = _EspeakVoice()
        spec.languages = language.encode("ascii")
        spec.gender = gender
        status = lib.espeak_SetVoiceByProperties(ctypes.byref(spec))
        if status != _EE_OK:
            raise TtsError(f"eSpeak NG has no voice for language {language!r} (error {status})")

    def _started(self) -> Any:
        if self._lib is not None:
            return self._lib
        try:
            lib = ctypes.CDLL(espeakng_loader.get_library_path())
            data_path = espeakng_loader.get_data_path()
        except (OSError, RuntimeError) as exc:
            raise TtsError(f"cannot load eSpeak NG: {exc}") from exc
        _declare(lib)
        rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data_path.encode(), 0)
        if rate <= 0:
            raise TtsError(f"eSpeak NG failed to initialise with data at {data_path}")
        lib.espeak_SetSynthCallback(self._callback)
        self._lib, self._rate = lib, rate
        return lib


def _declare(lib: Any) -> None:
    """C signatures, so that ctypes converts arguments instead of guessing."""
    lib.espeak_Initialize.argtypes = (ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int)
    lib.espeak_Initialize.restype = ctypes.c_int
    lib.espeak_SetSynthCallback.argtypes = (_SynthCallback,)
    lib.espeak_SetSynthCallback.restype = None
    lib.espeak_SetVoiceByProperties.argtypes = (ctypes.POINTER(_EspeakVoice),)
    lib.espeak_SetParameter.argtypes = (ctypes.c_int, ctypes.c_int, ctypes.c_int)
    lib.espeak_Synth.argtypes = (
        ctypes.c_void_p,
        ctypes.c_size_t,
        ctypes.c_uint,
        ctypes.c_int,
        ctypes.c_uint,
        ctypes.c_uint,
        ctypes.c_void_p,
        ctypes.c_void_p,
    )
    for name in ("espeak_SetVoiceByProperties", "espeak_SetParameter", "espeak_Synth"):
        getattr(lib, name).restype = ctypes.c_int
    lib.espeak_Synchronize.restype = ctypes.c_int


_ENGINE = _Engine()
