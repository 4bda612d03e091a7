"""G.711 tables against a scalar transcription of the ITU-T G.191 reference loops."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from softswitch.media.codecs import CODECS, PCMA, PCMU, codec, transcode_table

ALL_CODES = bytes(range(256))


# --- the reference, one sample at a time, as g711.c writes it (C `short` arithmetic: ~x is
# -x - 1 and >> of a negative value is arithmetic, exactly as Python ints behave) ---


def ref_ulaw_compress(sample: int) -> int:
    absno = ((~sample) >> 2) + 33 if sample < 0 else (sample >> 2) + 33
    absno = min(absno, 0x1FFF)
    i = absno >> 6
    segno = 1
    while i != 0:
        segno += 1
        i >>= 1
    high_nibble = 0x08 - segno
    low_nibble = 0x0F - ((absno >> segno) & 0x0F)
    code = (high_nibble << 4) | low_nibble
    if sample >= 0:
        code |= 0x80
    return code


def ref_ulaw_expand(code: int) -> int:
    sign = -1 if code < 0x80 else 1
    mantissa = ~code
    exponent = (mantissa >> 4) & 0x07
    segment = exponent + 1
    mantissa &= 0x0F
    step = 4 << segment
    return sign * ((0x80 << exponent) + step * mantissa + step // 2 - 4 * 33)


def ref_alaw_compress(sample: int) -> int:
    ix = (~sample) >> 4 if sample < 0 else sample >> 4
    if ix > 15:
        iexp = 1
        while ix > 16 + 15:
            ix >>= 1
            iexp += 1
        ix -= 16
        ix += iexp << 4
    if sample >= 0:
        ix |= 0x80
    return ix ^ 0x55


def ref_alaw_expand(code: int) -> int:
    ix = (code ^ 0x55) & 0x7F
    iexp = ix >> 4
    mant = ix & 0x0F
    if iexp > 0:
        mant += 16
    mant = (mant << 4) + 0x08
    if iexp > 1:
        mant <<= iexp - 1
    return mant if code > 127 else -mant


ALL_SAMPLES = np.arange(-32768, 32768, dtype=np.int32).astype(np.int16)


@pytest.mark.parametrize(
    ("law", "compress"), [(PCMU, ref_ulaw_compress), (PCMA, ref_alaw_compress)], ids=["u", "a"]
)
def test_encode_matches_reference_for_all_65536_samples(law, compress) -> None:
    expected = bytes(compress(int(s)) for s in ALL_SAMPLES)
    assert law.encode(ALL_SAMPLES) == expected


@pytest.mark.parametrize(
    ("law", "expand"), [(PCMU, ref_ulaw_expand), (PCMA, ref_alaw_expand)], ids=["u", "a"]
)
def test_decode_matches_reference_for_all_256_codes(law, expand) -> None:
    decoded = law.decode(ALL_CODES)
    assert decoded.dtype == np.int16
    assert decoded.tolist() == [expand(c) for c in range(256)]


def test_well_known_anchor_values() -> None:
    assert PCMU.decode(b"\xff\x00\x80\x7f").tolist() == [0, -32124, 32124, 0]
    assert PCMA.decode(b"\xd5\x55\xaa\x2a").tolist() == [8, -8, 32256, -32256]
    zero = np.zeros(1, dtype=np.int16)
    assert PCMU.encode(zero) == b"\xff"
    assert PCMA.encode(zero) == b"\xd5"
    extremes = np.array([32767, -32768], dtype=np.int16)
    assert PCMU.encode(extremes) == b"\x80\x00"
    assert PCMA.encode(extremes) == b"\xaa\x2a"


def test_codec_identity_and_lookup() -> None:
    assert (PCMU.name, PCMU.payload_type) == ("PCMU", 0)
    assert (PCMA.name, PCMA.payload_type) == ("PCMA", 8)
    assert CODECS == {"PCMU": PCMU, "PCMA": PCMA}
    assert codec("pcma") is PCMA
    with pytest.raises(KeyError, match="G722"):
        codec("G722")


def test_silence_is_one_frame_of_encoded_zero() -> None:
    for law in (PCMU, PCMA):
        assert len(law.silence) == 160
        assert law.decode(law.silence).tolist() == [law.decode_table[law.silence[0]]] * 160
        assert law.silence == law.encode(np.zeros(160, dtype=np.int16))


def test_decode_then_encode_is_identity_except_mu_law_negative_zero() -> None:
    assert PCMA.encode(PCMA.decode(ALL_CODES)) == ALL_CODES
    again = PCMU.encode(PCMU.decode(ALL_CODES))
    assert [c for c in range(256) if again[c] != c] == [0x7F]  # -0 and +0 are one value


def test_encode_many_matches_row_by_row_encode() -> None:
    rng = np.random.default_rng(711)
    frames = rng.integers(-32768, 32768, size=(7, 160)).astype(np.int16)
    for law in (PCMU, PCMA):
        block = law.encode_many(frames)
        assert block.shape == (7, 160)
        assert block.dtype == np.uint8
        assert [row.tobytes() for row in block] == [law.encode(f) for f in frames]


def test_encode_accepts_non_contiguous_and_rejects_other_dtypes() -> None:
    samples = np.arange(-1000, 1000, 7, dtype=np.int16)
    assert PCMU.encode(samples[::3]) == PCMU.encode(samples[::3].copy())
    with pytest.raises(TypeError, match="int16"):
        PCMU.encode(samples.astype(np.int32))  # type: ignore[arg-type]


def test_tables_are_read_only() -> None:
    with pytest.raises(ValueError, match="read-only"):
        PCMU.encode_table[0] = 0
    decoded = PCMA.decode(b"\xd5")
    decoded[0] = 1  # the result of decode is the caller's own array
    assert PCMA.decode(b"\xd5")[0] == 8


def _step(law, code: int) -> int:
    """The quantisation step (distance between neighbouring reconstruction values) at a code."""
    values = np.unique(law.decode_table.astype(np.int32))
    value = int(law.decode_table[code])
    at = int(np.searchsorted(values, value))
    gaps = [values[i + 1] - values[i] for i in (at - 1, at) if 0 <= i < len(values) - 1]
    return int(max(gaps))


@pytest.mark.parametrize(("src", "dst"), [(PCMU, PCMA), (PCMA, PCMU)], ids=["u2a", "a2u"])
def test_transcoding_lands_within_one_step_of_the_source_value(src, dst) -> None:
    table = transcode_table(src.name, dst.name)
    assert len(table) == 256
    converted = ALL_CODES.translate(table)
    for c in range(256):
        error = abs(int(dst.decode_table[converted[c]]) - int(src.decode_table[c]))
        assert error <= _step(dst, converted[c]), hex(c)


@pytest.mark.parametrize(("src", "dst"), [(PCMA, PCMU), (PCMU, PCMA)], ids=["a-u-a", "u-a-u"])
def test_round_trip_loses_only_codes_the_other_law_merges(src, dst) -> None:
    # A true identity is impossible: each law is finer than the other somewhere (A-law near
    # 256..512, µ-law near 0), so the forward map merges pairs of codes there. Everything
    # else must come back unchanged, and a second round trip must change nothing more.
    forward, back = transcode_table(src.name, dst.name), transcode_table(dst.name, src.name)
    once = ALL_CODES.translate(forward).translate(back)
    merged = Counter(forward)
    lost = [c for c in range(256) if once[c] != c]
    assert all(merged[forward[c]] > 1 for c in lost)
    assert len(lost) == 16
    assert once.translate(forward).translate(back) == once
    for c in lost:
        assert abs(int(src.decode_table[once[c]]) - int(src.decode_table[c])) <= _step(src, c)


def test_transcode_between_the_same_law_passes_payloads_untouched() -> None:
    assert transcode_table("PCMU", "pcmu") == ALL_CODES
    payload = bytes([0x7F, 0x00, 0xFF])
    assert payload.translate(transcode_table("PCMU", "PCMU")) == payload
