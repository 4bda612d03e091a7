"""Leaving and listening to voicemail, through a real Player and MediaPort on a fake session.

The caller's audio goes in as RTP packets (PCMU, no telephone-event: keys are heard in-band
by the port's detector, the hardest case for "the key's tone is not in the message"); what
the caller hears is the port's RTP, read back as a timeline of labelled sounds (every
sentence and prompt is seeded noise, so each frame says which one it belongs to). Time is the
tick count. The store is real (SQLite and WAV files under tmp_path), and so are the worker
threads the service uses: each test runs in an event loop and settles the spawned tasks.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import numpy as np
import numpy.typing as npt
import pytest
import soundfile

from softswitch.call.local import LocalApp, LocalSession
from softswitch.config import load_config
from softswitch.dialplan.voicemail import MAX_SECONDS, SILENCE_SECONDS, TAIL
from softswitch.dialplan.voicemail_menu import DIGIT_TIMEOUT
from softswitch.dialplan.voicemail_service import VoicemailService
from softswitch.media.codecs import FRAME_SAMPLES, PCMU
from softswitch.media.player import Player
from softswitch.media.port import MediaPort
from softswitch.media.tones import tone
from softswitch.rtp.packet import RtpSender, parse_rtp
from softswitch.storage.voicemail import RATE, VoicemailStore

Pcm = npt.NDArray[np.int16]
T0 = 1_768_473_005.0  # 2026-01-15 10:30:05 UTC
VOICE_HZ = 440.0
HASH_HZ = (941.0, 1477.0)  # the "#" key's row and column

CONFIG = """
[server]
domain = "pbx.example.com"
state_dir = "state"

[extensions.1001]
name = "Ana García"
password = "ana-1001-secret-pass"
email = "ana@example.com"
voicemail = { pin = "4321", attach = true }

[extensions.1002]
password = "bruno-1002-secret-pass"
voicemail = true

[prompts.fuera]
text = "Estamos fuera de la oficina."
language = "es"

[voicemail.general]
greeting = "fuera"
email = "oficina@example.com"
pin = "2468"
"""


# -- sounds -------------------------------------------------------------------------------------


def noise(label: str, frames: int = 4) -> Pcm:
    """Seeded noise standing for a sentence: its frames identify it in the timeline."""
    rng = np.random.default_rng(zlib.crc32(label.encode()))
    return rng.integers(-9000, 9000, frames * FRAME_SAMPLES).astype(np.int16)


def sine(freqs: tuple[float, ...], seconds: float, amplitude: float = 6000.0) -> Pcm:
    t = np.arange(round(seconds * RATE)) / RATE
    wave = sum(np.sin(2 * np.pi * f * t) for f in freqs)
    return np.rint(amplitude * np.asarray(wave)).astype(np.int16)


def level(signal: Pcm, freq: float) -> float:
    """Amplitude of ``freq`` in ``signal`` (a sine of amplitude A reads as about A)."""
    spectrum = np.abs(np.fft.rfft(signal.astype(np.float64))) * 2 / signal.size
    return float(spectrum[round(freq * signal.size / RATE)])


def frames_of(samples: Pcm) -> list[Pcm]:
    count = len(samples) // FRAME_SAMPLES
    return list(samples[: count * FRAME_SAMPLES].reshape(count, FRAME_SAMPLES))


class Sounds:
    """The prompts and system sentences, and a table from encoded frame to its label."""

    def __init__(self) -> None:
        self.labels: dict[bytes, str] = {PCMU.silence: "-"}
        beep = tone("beep")
        assert beep.frame_count is not None
        for k in range(beep.frame_count):
            self.labels.setdefault(PCMU.encode(beep.frame(k)), "beep")

    def learn(self, label: str, samples: Pcm) -> Pcm:
        padded = np.zeros(-(-len(samples) // FRAME_SAMPLES) * FRAME_SAMPLES, np.int16)
        padded[: len(samples)] = samples
        for frame in frames_of(padded):
            self.labels[PCMU.encode(frame)] = label
        return samples

    def system(self, key: str) -> Pcm:
        return self.learn(key, noise(key))

    def prompt(self, name: str) -> Pcm:
        return self.learn(f"prompt:{name}", noise(f"prompt:{name}", 6))


# -- the rig ------------------------------------------------------------------------------------


class Rig:
    """A service on a real store, one call's port and player, and the call's fake session."""

    def __init__(self, tmp_path: Path) -> None:
        (tmp_path / "pbx.toml").write_text(CONFIG, encoding="utf-8")
        self.config = load_config(tmp_path / "pbx.toml")
        self.store = VoicemailStore(self.config.server.state_dir)
        self.sounds = Sounds()
        self.changes: list[tuple[str, int, int]] = []
        self.service = VoicemailService(
            self.config,
            self.store,
            self.sounds.prompt,
            self.sounds.system,
            wall=lambda: T0,
            on_change=lambda box, new, old: self.changes.append((box, new, old)),
        )
        self.t = 0.0
        self.sent: list[bytes] = []
        self.port = MediaPort(self.sent.append, PCMU, None, lambda: self.t)  # in-band keys
        self.player = Player(self.port)
        self.phone = RtpSender(ssrc=7, sequence=100, timestamp=0)
        self.tasks: list[asyncio.Task[None]] = []
        self.hangups: list[str] = []
        self.n = 0
        self.app: LocalApp | None = None

    def start(self, app: LocalApp | None) -> None:
        assert app is not None
        self.app = app
        session = SimpleNamespace(
            call_id="call-1",
            caller="+34600111222",
            call=SimpleNamespace(caller_name="Cliente Uno"),
            player=self.player,
            b2bua=SimpleNamespace(spawn=self._spawn),
            hangup=self.hangups.append,
        )
        self.port.on_digit = app.on_digit
        app.start(cast(LocalSession, session))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        self.tasks.append(asyncio.get_running_loop().create_task(coro))

    async def settle(self) -> None:
        """Wait for the worker-thread jobs (and the ones they start)."""
        while pending := [t for t in self.tasks if not t.done()]:
            await asyncio.gather(*pending)

    def tick(self, frame: Pcm | None = None) -> None:
        """One 20 ms tick; ``frame`` is what the phone sent for it (None: no packet)."""
        self.t = self.n * 0.02
        if frame is not None:
            self.port.receive(self.phone.packet(PCMU.encode(frame), PCMU.payload_type))
        self.player.tick(self.n, self.t)
        self.n += 1

    def speak(self, samples: Pcm) -> None:
        for frame in frames_of(samples):
            self.tick(frame)

    def until(self, done: Callable[[], bool], limit: int = 5000) -> None:
        for _ in range(limit):
            if done():
                return
            self.tick(np.zeros(FRAME_SAMPLES, np.int16))
        raise AssertionError("the call never got there")

    def key(self, digit: str) -> None:
        self.port.digit(digit)  # as an RFC 4733 event or a SIP INFO would arrive

    def timeline(self, silence: bool = False) -> list[str]:
        """What the caller heard, one label per run of frames."""
        runs: list[str] = []
        for data in self.sent:
            packet = parse_rtp(data)
            assert packet is not None
            label = self.sounds.labels.get(packet.payload, "?")
            if (silence or label != "-") and (not runs or runs[-1] != label):
                runs.append(label)
        return runs

    def state(self) -> str:
        return str(getattr(self.app, "state").value)  # noqa: B009 - both apps' enums


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    rig = Rig(tmp_path)
    yield rig
    rig.store.close()


def run(scenario: Callable[[Rig], Coroutine[Any, Any, None]], rig: Rig) -> Rig:
    asyncio.run(scenario(rig))
    return rig


def recording(rig: Rig, mailbox: str = "1001", reason: str = "unavailable") -> None:
    rig.start(rig.service.app_for(mailbox, reason, called="+34910000000"))  # type: ignore[arg-type]
    rig.until(lambda: rig.state() == "recording")


def stored(rig: Rig, mailbox: str = "1001") -> Pcm:
    [message] = rig.store.list(mailbox)
    samples, rate = soundfile.read(str(message.path), dtype="int16")
    assert rate == RATE
    return np.asarray(samples, dtype=np.int16)


# -- leaving a message --------------------------------------------------------------------------


def test_greeting_beep_recording_then_hash_saves_without_the_key_tone(rig: Rig) -> None:
    async def scenario(rig: Rig) -> None:
        recording(rig)
        assert rig.timeline() == ["voicemail_greeting_unavailable", "beep"]
        rig.speak(sine((VOICE_HZ,), 2.0))
        rig.speak(sine(HASH_HZ, 0.12, amplitude=4000.0))  # the phone's "#", in the audio
        rig.until(lambda: rig.state() != "recording", limit=10)
        assert rig.state() == "saving"
        assert rig.store.list("1001") == []  # "saved" is said only once it is
        await rig.settle()
        rig.until(lambda: bool(rig.hangups))

    run(scenario, rig)
    assert rig.timeline()[-1] == "voicemail_saved"
    assert rig.hangups == ["voicemail"]
    [message] = rig.store.list("1001")
    assert (message.caller_number, message.caller_name) == ("+34600111222", "Cliente Uno")
    assert message.called_number == "+34910000000"
    assert message.received_at.timestamp() == T0
    samples = stored(rig)
    assert 1.7 <= len(samples) / RATE <= 2.05  # the voice, less the 0.2 s before the key
    assert level(samples, VOICE_HZ) > 4000
    end = samples[-800:]  # the last 100 ms, where the key would be
    assert level(end, VOICE_HZ) > 4000
    assert max(level(end, f) for f in HASH_HZ) < 40
    assert rig.changes == [("1001", 1, 0)]


def test_hash_during_the_greeting_skips_to_the_beep_other_keys_do_not(rig: Rig) -> None:
    async def scenario(rig: Rig) -> None:
        rig.start(rig.service.app_for("1002", "busy"))
        rig.tick()
        rig.key("5")
        rig.tick()
        assert rig.state() == "greeting"
        rig.key("#")
        rig.until(lambda: rig.state() == "recording", limit=20)

    run(scenario, rig)
    # The greeting (4 frames) was cut after 2; the beep followed at once.
    labels = rig.timeline(silence=True)
    assert labels == ["voicemail_greeting_busy", "beep"]
    payloads = [parse_rtp(d) for d in rig.sent]
    greeting = [p for p in payloads if p and rig.sounds.labels.get(p.payload) != "beep"]
    assert len(greeting) == 2


def test_a_shared_mailbox_plays_its_own_greeting(rig: Rig) -> None:
    async def scenario(rig: Rig) -> None:
        recording(rig, "general", "plain")

    assert run(scenario, rig).timeline() == ["prompt:fuera", "beep"]


def test_a_greeting_that_cannot_be_loaded_falls_back_to_the_system_one(rig: Rig) -> None:
    def gone(name: str) -> Pcm:
        raise OSError(f"{name}.wav: no such file")

    rig.service.prompt = gone

    async def scenario(rig: Rig) -> None:
        recording(rig, "general", "plain")

    assert run(scenario, rig).timeline() == ["voicemail_greeting_plain", "beep"]


@pytest.mark.parametrize("line", ["quiet", "no packets"])
def test_silence_ends_the_recording_and_is_cut_off(rig: Rig, line: str) -> None:
    rng = np.random.default_rng(3)

    def quiet() -> Pcm | None:
        if line == "no packets":
            return None
        return rng.integers(-60, 60, FRAME_SAMPLES).astype(np.int16)  # line noise, ~-55 dBov

    async def scenario(rig: Rig) -> None:
        recording(rig, "1002")
        rig.speak(sine((VOICE_HZ,), 1.5))
        silent_ticks = 0
        while rig.state() == "recording":
            rig.tick(quiet())
            silent_ticks += 1
            assert silent_ticks <= (SILENCE_SECONDS + 0.1) * 50
        assert silent_ticks >= (SILENCE_SECONDS - 0.1) * 50
        await rig.settle()
        rig.until(lambda: bool(rig.hangups))

    run(scenario, rig)
    samples = stored(rig, "1002")
    assert 1.5 + TAIL - 0.1 <= len(samples) / RATE <= 1.5 + TAIL + 0.1
    assert level(samples, VOICE_HZ) > 4000
    assert rig.timeline()[-1] == "voicemail_saved"
    assert rig.changes == [("1002", 1, 0)]


def test_hanging_up_mid_message_still_saves_it(rig: Rig) -> None:
    async def scenario(rig: Rig) -> None:
        recording(rig)
        rig.speak(sine((VOICE_HZ,), 1.5))
        assert rig.app is not None
        rig.app.stop()  # BYE: the session closes
        await rig.settle()

    run(scenario, rig)
    samples = stored(rig)
    assert 1.4 <= len(samples) / RATE <= 1.5
    assert level(samples, VOICE_HZ) > 4000
    assert rig.hangups == []  # the caller is gone: nothing more is said
    assert "voicemail_saved" not in rig.timeline()
    assert rig.changes == [("1001", 1, 0)]


@pytest.mark.parametrize("end", ["#", "hang-up"])
def test_a_message_too_short_is_dropped(rig: Rig, end: str) -> None:
    async def scenario(rig: Rig) -> None:
        recording(rig)
        rig.speak(sine((VOICE_HZ,), 0.6))
        if end == "#":
            rig.key("#")
            rig.until(lambda: bool(rig.hangups))
        else:
            assert rig.app is not None
            rig.app.stop()
        await rig.settle()

    run(scenario, rig)
    assert rig.store.list("1001") == []
    assert rig.changes == []
    if end == "#":
        assert rig.timeline()[-1] == "voicemail_not_saved"


def test_the_recording_stops_at_the_maximum_length(rig: Rig) -> None:
    async def scenario(rig: Rig) -> None:
        recording(rig, "1002")
        voice = frames_of(sine((VOICE_HZ,), 1.0))
        ticks = 0
        while rig.state() == "recording":
            rig.tick(voice[ticks % len(voice)])
            ticks += 1
        assert ticks == MAX_SECONDS * 50
        await rig.settle()
        rig.until(lambda: bool(rig.hangups))

    run(scenario, rig)
    assert len(stored(rig, "1002")) == MAX_SECONDS * RATE
    assert rig.timeline()[-1] == "voicemail_saved"


def test_a_store_that_fails_says_sorry_and_loses_nothing_else(rig: Rig) -> None:
    async def scenario(rig: Rig) -> None:
        recording(rig)
        rig.speak(sine((VOICE_HZ,), 1.5))
        rig.store.close()  # the database is gone: the save raises in the worker thread
        rig.key("#")
        await rig.settle()
        rig.until(lambda: bool(rig.hangups))

    run(scenario, rig)
    assert rig.timeline()[-1] == "voicemail_failed"
    assert rig.changes == []
    assert not list((rig.config.server.state_dir / "voicemail" / "1001").glob("*.wav"))


# -- listening ----------------------------------------------------------------------------------


def deposit(rig: Rig, label: str, seconds: float = 0.5, mailbox: str = "1001") -> int:
    audio = rig.sounds.learn(label, noise(label, round(seconds * 50)))
    return rig.service.deposit(mailbox, audio, caller="+34600111222").id


def test_three_wrong_pins_and_the_switch_hangs_up(rig: Rig) -> None:
    async def scenario(rig: Rig) -> None:
        deposit(rig, "message")
        rig.start(rig.service.menu_app("1001"))
        for attempt in ("1111", "4322", "43210"):
            rig.until(lambda: rig.state() == "pin")
            rig.tick()
            for digit in attempt:
                rig.key(digit)
            rig.key("#")
        rig.until(lambda: bool(rig.hangups))

    run(scenario, rig)
    assert rig.timeline() == [
        *["voicemail_enter_pin", "voicemail_wrong_pin"] * 3,
        "goodbye",
    ]
    assert rig.store.counts("1001") == (1, 0)  # nothing was heard


def test_silence_after_the_pin_prompt_counts_as_a_wrong_try(rig: Rig) -> None:
    async def scenario(rig: Rig) -> None:
        rig.start(rig.service.menu_app("1001"))
        rig.until(lambda: rig.timeline(silence=True)[-1:] == ["-"])  # the prompt is over
        waited = 0
        while rig.state() == "pin":
            rig.tick()
            waited += 1
        assert DIGIT_TIMEOUT * 50 - 2 <= waited <= DIGIT_TIMEOUT * 50 + 2

    run(scenario, rig)
    assert rig.timeline() == ["voicemail_enter_pin", "voicemail_wrong_pin"]


def log_in(rig: Rig, pin: str = "4321") -> None:
    rig.until(lambda: rig.state() == "pin")
    rig.tick()  # the prompt starts; the first key stops it
    for digit in pin:
        rig.key(digit)
    rig.key("#")


async def hear(rig: Rig, label: str) -> None:
    """Tick (settling the store's jobs) until ``label`` has been heard to its end."""
    for _ in range(2000):
        await rig.settle()
        if label in rig.timeline() and rig.timeline(silence=True)[-1] != label:
            return
        rig.tick()
    raise AssertionError(f"{label} never played: {rig.timeline()}")


async def reach(rig: Rig, label: str) -> None:
    """Tick until ``label`` plays, then a few frames into it."""
    for _ in range(2000):
        await rig.settle()
        if label in rig.timeline():
            rig.tick()
            return
        rig.tick()
    raise AssertionError(f"{label} never played: {rig.timeline()}")


def test_the_right_pin_plays_new_then_old_messages_and_marks_them_heard(rig: Rig) -> None:
    async def scenario(rig: Rig) -> None:
        old = deposit(rig, "old message")
        rig.store.mark_heard(old)
        deposit(rig, "first new")
        rig.service._wall = lambda: T0 + 60  # a minute later
        deposit(rig, "second new")
        rig.changes.clear()
        rig.start(rig.service.menu_app("1001"))
        log_in(rig)
        await hear(rig, "second new")  # the newest new one first
        await hear(rig, "voicemail_options")
        rig.key("9")
        await reach(rig, "first new")
        rig.key("#")  # keys work during a message too
        await hear(rig, "old message")
        rig.key("9")
        await hear(rig, "voicemail_no_more")
        rig.until(lambda: bool(rig.hangups))

    run(scenario, rig)
    assert rig.timeline() == [
        "voicemail_enter_pin",
        "voicemail_new",
        "second new",
        "voicemail_options",
        "first new",
        "old message",
        "voicemail_options",
        "voicemail_no_more",
    ]
    assert rig.store.counts("1001") == (0, 3)
    assert rig.changes == [("1001", 1, 2), ("1001", 0, 3), ("1001", 0, 3)]


def test_seven_deletes_the_message_and_one_replays_it(rig: Rig) -> None:
    async def scenario(rig: Rig) -> None:
        keep = deposit(rig, "keep me")
        rig.store.mark_heard(keep)
        rig.service._wall = lambda: T0 + 60
        gone = deposit(rig, "delete me")
        rig.changes.clear()
        rig.start(rig.service.menu_app("1001"))
        log_in(rig)
        await hear(rig, "delete me")
        rig.key("1")  # during the options: the message starts again...
        rig.tick()
        rig.tick()
        rig.key("7")  # ...and goes, two frames into it
        await hear(rig, "voicemail_deleted")
        assert rig.store.get(gone) is None
        await hear(rig, "keep me")
        rig.key("*")
        rig.until(lambda: bool(rig.hangups))

    run(scenario, rig)
    assert rig.timeline() == [
        "voicemail_enter_pin",
        "voicemail_one_new",
        "delete me",
        "voicemail_options",
        "delete me",
        "voicemail_deleted",
        "keep me",
        "voicemail_options",
        "goodbye",
    ]
    assert [m.caller_number for m in rig.store.list("1001")] == ["+34600111222"]
    assert rig.store.counts("1001") == (0, 1)
    assert rig.changes == [("1001", 0, 2), ("1001", 0, 1), ("1001", 0, 1)]


def test_a_mailbox_without_pin_opens_for_its_phone_and_says_when_it_is_empty(
    rig: Rig,
) -> None:
    async def scenario(rig: Rig) -> None:
        rig.start(rig.service.menu_app("1002"))
        await hear(rig, "voicemail_no_messages")
        rig.until(lambda: bool(rig.hangups))

    assert run(scenario, rig).timeline() == ["voicemail_no_messages"]


@pytest.mark.parametrize(
    ("mailbox", "pin"), [("9999", "1"), ("1002", ""), ("1001", "1234")], ids=str
)
def test_a_typed_mailbox_always_needs_its_pin(rig: Rig, mailbox: str, pin: str) -> None:
    """Unknown, PIN-less (only its own phone opens it) and wrong-PIN mailboxes all get the
    same answer, so nobody learns which mailboxes exist; then the right login opens."""

    async def scenario(rig: Rig) -> None:
        deposit(rig, "for ana")
        rig.start(rig.service.menu_app(None))
        for box, code in ((mailbox, pin), ("1001", "4321")):
            rig.until(lambda: rig.state() == "mailbox")
            rig.tick()
            for digit in f"{box}#":
                rig.key(digit)
            log_in(rig, code)
        await hear(rig, "for ana")

    run(scenario, rig)
    assert rig.timeline() == [
        *["voicemail_enter_mailbox", "voicemail_enter_pin", "voicemail_wrong_login"],
        *["voicemail_enter_mailbox", "voicemail_enter_pin", "voicemail_one_new", "for ana"],
        "voicemail_options",
    ]
    assert rig.store.counts("1001") == (0, 1)
