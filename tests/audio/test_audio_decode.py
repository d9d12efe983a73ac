"""load_audio: format round trips, channel mean, resampling, accepted rates and array sources."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile

from mgrd.audio import AudioError, load_audio, log_mel

from .audio_files import SR, assert_clean_message, dominant_hz, encode, sine


# --- round trips -------------------------------------------------------------------------------

LOSSLESS = [
    ("WAV", "PCM_16", 2.0**-15),
    ("WAV", "PCM_24", 2.0**-23),
    ("WAV", "PCM_32", 1e-7),
    ("WAV", "FLOAT", 0.0),
    ("WAV", "DOUBLE", 0.0),
    ("WAV", "PCM_U8", 2.0**-7),
    ("WAV", "ULAW", 0.02),
    ("WAV", "ALAW", 0.02),
    ("FLAC", "PCM_16", 2.0**-15),
    ("FLAC", "PCM_24", 2.0**-23),
]


@pytest.mark.parametrize("fmt, subtype, tol", LOSSLESS, ids=[f"{f}-{s}" for f, s, _ in LOSSLESS])
def test_lossless_round_trip(fmt, subtype, tol):
    x = sine(440, 0.5)
    y = load_audio(encode(x, SR, fmt, subtype))
    assert y.dtype == np.float32 and y.shape == x.shape
    assert np.abs(y - x).max() <= tol
    if tol <= 2.0**-15:  # A13: features of the decoded file equal those of the source
        assert (log_mel(y) - log_mel(x)).abs().max() <= 1e-4 * (1 if tol < 2.0**-15 else 100)


LOSSY = [("OGG", "VORBIS"), ("OGG", "OPUS"), ("MP3", "MPEG_LAYER_III")]


@pytest.mark.parametrize("fmt, subtype", LOSSY, ids=[s for _, s in LOSSY])
def test_lossy_round_trip_keeps_length_pitch_and_level(fmt, subtype):
    if subtype not in soundfile.available_subtypes(fmt):
        pytest.skip(f"this libsndfile cannot write {fmt}/{subtype}")
    x = sine(440, 1.0)
    y = load_audio(encode(x, SR, fmt, subtype))
    assert abs(len(y) - len(x)) <= 0.01 * len(x)
    assert dominant_hz(y) == pytest.approx(440, abs=2)
    rms = float(np.sqrt(np.mean(y[2000:14000] ** 2)))
    assert rms == pytest.approx(0.5 / np.sqrt(2), rel=0.1)


def test_bytes_path_and_array_sources_agree(tmp_path):
    stereo = np.stack([sine(300, 0.25), sine(700, 0.25, amplitude=0.2)], axis=1)
    pcm = np.round(stereo * 32767).astype(np.int16)
    wav = encode(pcm, SR)
    path = tmp_path / "clip.wav"
    path.write_bytes(wav)
    expected = load_audio(wav)
    for other in (
        load_audio(str(path)),
        load_audio(path),
        load_audio(bytearray(wav)),
        load_audio(memoryview(wav)),
        load_audio(pcm, sample_rate=SR),
        load_audio((pcm, SR)),
    ):
        assert np.array_equal(other, expected)


def test_channel_mean_is_exact_at_16k():
    left, right = sine(500, 0.2), sine(1300, 0.2, amplitude=0.3)
    y = load_audio(encode(np.stack([left, right], axis=1), SR, "WAV", "FLOAT"))
    assert np.array_equal(y, (left + right) / np.float32(2))


def test_resample_44k1_stereo_sine():
    n = 44100
    tone = np.sin(2 * np.pi * 1000 * np.arange(n) / 44100)
    stereo = np.stack([0.5 * tone, 0.3 * tone], axis=1).astype(np.float32)  # mean 0.4 * tone
    y = load_audio(encode(stereo, 44100, "WAV", "FLOAT"))
    assert abs(len(y) - n * 16000 / 44100) <= 1
    assert dominant_hz(y) == pytest.approx(1000, abs=2)
    inner = y[1000:-1000]
    assert float(np.sqrt(np.mean(inner**2))) == pytest.approx(0.4 / np.sqrt(2), rel=0.01)


def test_resample_8k_mono():
    y = load_audio(encode(sine(300, 1.0, sample_rate=8000), 8000))
    assert len(y) == 16000
    assert dominant_hz(y) == pytest.approx(300, abs=2)


@pytest.mark.parametrize("rate", [8000, 16000, 44100, 192000])
def test_accepted_sample_rates(rate):
    y = load_audio(encode(sine(100, 0.05, sample_rate=rate), rate))
    assert abs(len(y) - 800) <= 1


@pytest.mark.parametrize("channels", [1, 2, 8])
def test_accepted_channel_counts(channels):
    x = np.repeat(sine(100, 0.05)[:, None], channels, axis=1)
    assert np.abs(load_audio(encode(x, SR, "WAV", "FLOAT")) - x[:, 0]).max() < 1e-6


def test_one_sample_at_16k_is_accepted_and_too_short_after_resampling_is_not():
    assert load_audio(encode(np.array([0.25], dtype=np.float32), SR, "WAV", "FLOAT")).tolist() == [0.25]
    with pytest.raises(AudioError, match="too short"):
        load_audio(encode(np.array([0.25], dtype=np.float32), 44100, "WAV", "FLOAT"))


# --- arrays ------------------------------------------------------------------------------------


def test_integer_arrays_scale_like_libsndfile():
    assert load_audio(np.array([-32768, 0, 16384], dtype=np.int16), sample_rate=SR).tolist() == [-1.0, 0.0, 0.5]
    assert load_audio(np.array([0, 128, 192], dtype=np.uint8), sample_rate=SR).tolist() == [-1.0, 0.0, 0.5]
    assert load_audio(np.array([-128, 64], dtype=np.int8), sample_rate=SR).tolist() == [-1.0, 0.5]
    assert load_audio(np.array([-(2**31), 2**30], dtype=np.int32), sample_rate=SR).tolist() == [-1.0, 0.5]
    u8 = np.arange(256, dtype=np.uint8)
    as_int16 = ((u8.astype(np.int16) - 128) * 256).astype(np.int16)  # exactly representable in 8 bits
    assert np.array_equal(load_audio(u8, sample_rate=SR), load_audio(encode(as_int16, SR, "WAV", "PCM_U8")))


def test_float_array_with_whole_float_rate():
    y = load_audio(np.array([[0.5, -0.5], [0.25, 0.75]]), sample_rate=16000.0)
    assert y.dtype == np.float32 and y.tolist() == [0.0, 0.5]


@pytest.mark.parametrize(
    "array, rate",
    [
        (np.zeros((10, 2, 2), np.float32), SR),
        (np.zeros((2, 16000), np.float32), SR),  # [channels, n]
        (np.zeros((100, 9), np.float32), SR),
        (np.zeros(100, np.int64), SR),
        (np.zeros(100, np.complex64), SR),
        (np.zeros(100, bool), SR),
        (np.array([0.0, np.nan], np.float32), SR),
        (np.array([0.0, -np.inf], np.float64), SR),
        (np.array([0.0, 1e30], np.float32), SR),
        (np.zeros(0, np.float32), SR),
        (np.zeros((0, 2), np.float32), SR),
        (np.zeros(100, np.float32), 7999),
        (np.zeros(100, np.float32), 192001),
        (np.zeros(100, np.float32), 0),
        (np.zeros(100, np.float32), 16000.5),
        (np.zeros(100, np.float32), True),
        (np.zeros(100, np.float32), "16000"),
    ],
    ids=[
        "3d", "channels_first", "9ch", "int64", "complex", "bool", "nan", "neg_inf", "huge", "empty",
        "empty_2d", "sr_7999", "sr_192001", "sr_0", "sr_fraction", "sr_bool", "sr_str",
    ],
)
def test_bad_arrays_raise(array, rate):
    with pytest.raises(AudioError) as info:
        load_audio(array, sample_rate=rate)
    assert_clean_message(info.value)


def test_array_needs_exactly_one_rate():
    x = np.zeros(10, np.float32)
    with pytest.raises(AudioError, match="sample_rate"):
        load_audio(x)
    with pytest.raises(AudioError, match="not both"):
        load_audio((x, SR), sample_rate=SR)
    with pytest.raises(AudioError):
        load_audio((x, SR, 1))
    with pytest.raises(AudioError):
        load_audio(([0.0, 0.1], SR))


def test_unsupported_sources_raise():
    for bad in ([0.0, 0.1], 3, None, {"audio": b"RIFF"}):
        with pytest.raises(AudioError, match="unsupported audio source"):
            load_audio(bad)
    with pytest.raises(AudioError, match="only for array"):
        load_audio(encode(sine(100, 0.1), SR), sample_rate=SR)
