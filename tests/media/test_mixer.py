"""The conference mixer: N-1 mixes, muting, isolation, saturation, and a seeded comparison
with a naive per-conference loop under random joins, leaves and mutes."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from softswitch.media.mixer import SAMPLES_PER_FRAME, Mixer, MixResult, mix

RATE = 8000
TICKS = 10  # 200 ms: FFT bins of 5 Hz, every test tone falls on a bin


def tone(freq: float, tick: int, amplitude: int = 6000) -> npt.NDArray[np.int16]:
    """Frame ``tick`` of a continuous sine (the phase runs on across ticks)."""
    t = (np.arange(SAMPLES_PER_FRAME) + tick * SAMPLES_PER_FRAME) / RATE
    return np.round(amplitude * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def level(signal: npt.NDArray[np.int16], freq: float) -> float:
    """Amplitude of ``freq`` in ``signal`` (a sine of amplitude A reads as A)."""
    spectrum = np.abs(np.fft.rfft(signal.astype(np.float64))) * 2 / signal.size
    return float(spectrum[round(freq * signal.size / RATE)])


def run(mixer: Mixer[str], freqs: dict[int, float], ticks: int = TICKS) -> list[MixResult]:
    """Feed each slot its tone for ``ticks`` ticks; the results in order."""
    results = []
    for tick in range(ticks):
        frames = np.zeros((mixer.rows, SAMPLES_PER_FRAME), np.int16)
        for slot, freq in freqs.items():
            frames[slot] = tone(freq, tick)
        results.append(mixer.mix(frames))
    return results


def heard(results: list[MixResult], slot: int) -> npt.NDArray[np.int16]:
    return np.concatenate([r.per_participant[slot] for r in results])


def three_party() -> tuple[Mixer[str], dict[int, float]]:
    mixer: Mixer[str] = Mixer()
    slots = [mixer.add("room") for _ in range(3)]
    return mixer, dict(zip(slots, (500.0, 900.0, 1300.0), strict=True))


def test_each_participant_hears_the_others_and_not_itself() -> None:
    mixer, freqs = three_party()
    results = run(mixer, freqs)
    for slot, own in freqs.items():
        out = heard(results, slot)
        assert level(out, own) < 1.0
        for other_slot, other in freqs.items():
            if other_slot != slot:
                assert level(out, other) == pytest.approx(6000, rel=0.01)
    # The conference's full mix (what a silent listener gets) has all three.
    full = np.concatenate([r.per_conference[mixer.conference_row("room")] for r in results])
    for freq in freqs.values():
        assert level(full, freq) == pytest.approx(6000, rel=0.01)


def test_muted_participant_is_not_heard_but_still_hears() -> None:
    mixer, freqs = three_party()
    muted = next(slot for slot, f in freqs.items() if f == 500.0)
    mixer.set_muted(muted)
    assert mixer.is_muted(muted)
    results = run(mixer, freqs)
    for slot in freqs:
        if slot != muted:
            assert level(heard(results, slot), 500.0) < 1.0
    mine = heard(results, muted)
    assert level(mine, 900.0) == pytest.approx(6000, rel=0.01)
    assert level(mine, 1300.0) == pytest.approx(6000, rel=0.01)
    # A silent member hears exactly the conference mix, so the ticker may share its encoding.
    row = mixer.conference_row("room")
    for r in results:
        assert np.array_equal(r.per_participant[muted], r.per_conference[row])
    mixer.set_muted(muted, False)
    listener = next(s for s in freqs if s != muted)
    assert level(heard(run(mixer, freqs), listener), 500.0) > 5900


def test_two_conferences_do_not_leak() -> None:
    mixer: Mixer[str] = Mixer()
    freqs = {
        mixer.add("a"): 500.0,
        mixer.add("b"): 1300.0,
        mixer.add("a"): 900.0,
        mixer.add("b"): 1700.0,
    }
    results = run(mixer, freqs)
    for slot, _ in freqs.items():
        out = heard(results, slot)
        room = mixer.conference_of(slot)
        foreign = (1300.0, 1700.0) if room == "a" else (500.0, 900.0)
        for freq in foreign:
            assert level(out, freq) < 1.0
        partner = next(s for s in freqs if s != slot and mixer.conference_of(s) == room)
        assert level(out, freqs[partner]) == pytest.approx(6000, rel=0.01)
    assert results[0].conf_of_row.tolist() == [
        mixer.conference_row(mixer.conference_of(s)) for s in range(4)
    ]


def test_loud_inputs_saturate_instead_of_wrapping() -> None:
    mixer: Mixer[str] = Mixer()
    slots = [mixer.add("room") for _ in range(4)]
    frames = np.zeros((mixer.rows, SAMPLES_PER_FRAME), np.int16)
    frames[:, :80] = 30000  # three others at +30000: 90000, which wraps to 24464 in int16
    frames[:, 80:] = -32768
    result = mixer.mix(frames)
    for slot in slots:
        assert (result.per_participant[slot, :80] == 32767).all()
        assert (result.per_participant[slot, 80:] == -32768).all()
    full = result.per_conference[mixer.conference_row("room")]
    assert (full[:80] == 32767).all() and (full[80:] == -32768).all()
    # Opposite loud speakers cancel exactly: the sum is taken before clipping.
    frames[0], frames[1], frames[2:] = 32767, -32767, 0
    result = mixer.mix(frames)
    assert (result.per_participant[2] == 0).all()
    assert (result.per_participant[0] == -32767).all()


def test_alone_in_a_conference_is_silence() -> None:
    mixer: Mixer[str] = Mixer()
    alone = mixer.add("solo")
    results = run(mixer, {alone: 500.0}, ticks=2)
    assert all(not r.per_participant[alone].any() for r in results)


def test_sent_mask_silences_participants_without_a_frame() -> None:
    mixer, freqs = three_party()
    frames = np.stack([tone(freqs[s], 0) for s in range(3)])
    result = mixer.mix(frames, sent=np.array([True, False, True]))
    # Slot 1 sent nothing (its row holds stale audio): nobody hears it, it hears 0 and 2.
    assert np.array_equal(result.per_participant[0], frames[2])
    assert np.array_equal(result.per_participant[2], frames[0])
    assert np.array_equal(result.per_participant[1], frames[0] + frames[2])


def test_add_and_remove_between_ticks_keep_other_slots() -> None:
    mixer: Mixer[str] = Mixer()
    a, b, c = mixer.add("room"), mixer.add("room"), mixer.add("room")
    assert (a, b, c) == (0, 1, 2)
    mixer.remove(b)
    assert mixer.members("room") == {a, c}
    results = run(mixer, {a: 500.0, c: 900.0}, ticks=4)
    assert level(heard(results, a), 900.0) > 5900
    assert not results[-1].per_participant[b].any()  # a free slot hears nothing
    assert results[-1].conf_of_row[b] == -1
    d = mixer.add("room")
    assert d == b  # the freed slot is reused; a and c did not move
    assert mixer.conference_of(a) == mixer.conference_of(c) == mixer.conference_of(d) == "room"
    results = run(mixer, {a: 500.0, c: 900.0, d: 1300.0})
    assert level(heard(results, a), 1300.0) > 5900
    assert level(heard(results, d), 500.0) > 5900
    assert level(heard(results, d), 1300.0) < 1.0
    with pytest.raises(KeyError):
        mixer.remove(99)
    with pytest.raises(KeyError):
        mixer.set_muted(99)


def test_growth_keeps_slots_and_frees_empty_conferences() -> None:
    mixer: Mixer[int] = Mixer()
    slots = [mixer.add(i % 7) for i in range(100)]  # past the first few growths
    assert slots == list(range(100))
    for s in slots:
        assert mixer.conference_of(s) == s % 7
    for s in mixer.members(3):
        mixer.remove(s)
    with pytest.raises(KeyError):
        mixer.conference_row(3)
    new = mixer.add(42)
    assert mixer.conference_row(42) == 3  # the emptied conference's row is reused
    assert new == 3  # the lowest free slot
    assert len(mixer) == 100 - len(range(3, 100, 7)) + 1


def test_frames_of_the_wrong_shape_are_refused() -> None:
    mixer: Mixer[str] = Mixer()
    mixer.add("room")
    mixer.add("room")
    with pytest.raises(ValueError, match="frames"):
        mixer.mix(np.zeros((1, SAMPLES_PER_FRAME), np.int16))
    with pytest.raises(ValueError, match="frames"):
        mixer.mix(np.zeros((2, 80), np.int16))
    with pytest.raises(ValueError, match="range"):
        mix(np.zeros((2, 4), np.int16), [0, 2], [True, True], conferences=2)


def naive(
    frames: npt.NDArray[np.int16], conf: list[int], speaking: list[bool], conferences: int
) -> tuple[npt.NDArray[np.int16], npt.NDArray[np.int16]]:
    """The definition, one participant and one conference at a time in Python ints."""
    rows, samples = frames.shape
    per_participant = np.zeros((rows, samples), np.int16)
    per_conference = np.zeros((conferences, samples), np.int16)
    for c in range(conferences):
        for t in range(samples):
            total = sum(int(frames[j, t]) for j in range(rows) if conf[j] == c and speaking[j])
            per_conference[c, t] = min(32767, max(-32768, total))
    for i in range(rows):
        if conf[i] < 0:
            continue
        for t in range(samples):
            total = sum(
                int(frames[j, t])
                for j in range(rows)
                if j != i and conf[j] == conf[i] and speaking[j]
            )
            per_participant[i, t] = min(32767, max(-32768, total))
    return per_participant, per_conference


def test_random_membership_matches_the_naive_mix() -> None:
    rng = np.random.default_rng(20261122)
    samples = 8  # the mix is per sample; short frames keep the naive loop quick
    mixer: Mixer[str] = Mixer(samples=samples)
    rooms = [f"room{i}" for i in range(6)]
    slots: set[int] = set()
    for _ in range(200):
        action = rng.random()
        if action < 0.35 or not slots:
            slot = mixer.add(rooms[rng.integers(len(rooms))])
            assert slot not in slots
            slots.add(slot)
        elif action < 0.55:
            slot = int(rng.choice(sorted(slots)))
            mixer.remove(slot)
            slots.remove(slot)
        elif action < 0.7:
            mixer.set_muted(int(rng.choice(sorted(slots))), bool(rng.random() < 0.6))
        # Loud enough that several speakers clip; some rows sent nothing this tick.
        frames = rng.integers(-32768, 32768, (mixer.rows, samples), dtype=np.int16)
        frames //= rng.choice(np.array([1, 4, 64], np.int16), size=(mixer.rows, 1))
        sent = rng.random(mixer.rows) < 0.85
        result = mixer.mix(frames, sent)
        conf = [int(c) for c in result.conf_of_row]
        speaking = [
            conf[s] >= 0 and bool(sent[s]) and not mixer.is_muted(s) for s in range(mixer.rows)
        ]
        want_p, want_c = naive(frames, conf, speaking, result.per_conference.shape[0])
        assert np.array_equal(result.per_participant, want_p)
        assert np.array_equal(result.per_conference, want_c)
        assert {s for s in range(mixer.rows) if conf[s] >= 0} == slots
        for s in slots:
            assert conf[s] == mixer.conference_row(mixer.conference_of(s))
        # The stateless function agrees with the table.
        again = mix(frames, conf, speaking, conferences=result.per_conference.shape[0])
        assert np.array_equal(again.per_participant, result.per_participant)
        assert np.array_equal(again.per_conference, result.per_conference)
