"""load_audio on hostile input: bad files, forged headers, limits, and decoder failures as AudioError."""

from __future__ import annotations

import os
import struct
import tracemalloc

import numpy as np
import pytest
import soundfile

from mgrd.audio import AudioError, load_audio, log_mel

from .audio_files import SR, assert_clean_message, encode, patch_fmt, sine


# --- bad files ---------------------------------------------------------------------------------


def test_empty_bytes():
    with pytest.raises(AudioError, match="empty audio"):
        load_audio(b"")


def test_random_and_text_bytes(tmp_path):
    noise = np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes()
    with pytest.raises(AudioError, match="unrecognised"):
        load_audio(b"\x00" + noise)
    text = tmp_path / "notes.txt"
    text.write_text("hello, this is not audio\n")
    with pytest.raises(AudioError, match="unrecognised") as info:
        load_audio(text)
    assert_clean_message(info.value, str(tmp_path), "notes")


@pytest.mark.parametrize(
    "head",
    [b"RIFF\x10\x00\x00\x00WAVEjunk", b"fLaC" + bytes(40), b"OggS" + bytes(40), b"ID3\x03" + bytes(40),
     b"\xff\xfb\x90\xc4" + bytes(40)],
    ids=["riff", "flac", "ogg", "id3", "mpeg_sync"],
)
def test_right_magic_garbage_body(head):
    with pytest.raises(AudioError) as info:
        load_audio(head)
    assert_clean_message(info.value)


@pytest.mark.parametrize("fmt, subtype", [("WAV", "PCM_16"), ("FLAC", "PCM_16"), ("OGG", "VORBIS")])
def test_zero_frames_is_empty_audio(fmt, subtype):
    with pytest.raises(AudioError, match="empty audio"):
        load_audio(encode(np.zeros((0, 1), np.float32), SR, fmt, subtype))


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf, 1e30])
def test_non_finite_or_absurd_float_wav(value):
    x = sine(100, 0.1)
    x[500] = value
    with pytest.raises(AudioError) as info:
        load_audio(encode(x, SR, "WAV", "FLOAT"))
    assert "NaN" in str(info.value) or "amplitude" in str(info.value)


def test_denormals_are_accepted_with_finite_features():
    x = np.full(800, 1e-40, dtype=np.float32)
    y = load_audio(encode(x, SR, "WAV", "FLOAT"))
    assert np.isfinite(log_mel(y).numpy()).all()


@pytest.mark.parametrize("rate", [0, 1, 7, 655350])
def test_patched_wav_sample_rate_out_of_range(rate):
    with pytest.raises(AudioError):
        load_audio(patch_fmt(encode(sine(100, 0.1), SR), sample_rate=rate))


@pytest.mark.parametrize("channels", [0, 255])
def test_patched_wav_channel_count_out_of_range(channels):
    with pytest.raises(AudioError):
        load_audio(patch_fmt(encode(sine(100, 0.1), SR), channels=channels))


def test_ms_adpcm_wav_is_not_on_the_codec_allowlist():
    with pytest.raises(AudioError, match="MS_ADPCM"):
        load_audio(encode(sine(100, 0.1), SR, "WAV", "MS_ADPCM"))


@pytest.fixture
def read_spy(monkeypatch):
    """Counts the frames SoundFile.read is asked for."""
    calls: list[int] = []
    real_read = soundfile.SoundFile.read

    def spy(self, frames=-1, *args, **kwargs):
        calls.append(frames)
        return real_read(self, frames, *args, **kwargs)

    monkeypatch.setattr(soundfile.SoundFile, "read", spy)
    return calls


def test_forged_flac_sample_rate_rejected_before_reading(read_spy):
    flac = encode(np.zeros((1000, 8), np.float32), 655350, "FLAC", "PCM_16")
    with pytest.raises(AudioError, match="655350 Hz"):
        load_audio(flac)
    assert read_spy == []


def test_decode_byte_cap_rejects_before_reading(read_spy):
    flac = encode(np.zeros((100000, 8), np.float32), 192000, "FLAC", "PCM_16")  # 3.2 MB decoded
    with pytest.raises(AudioError, match="bytes"):
        load_audio(flac, max_decode_bytes=1_000_000)
    assert read_spy == []
    assert len(load_audio(flac, max_decode_bytes=3_200_000)) == 8333


def test_header_duration_rejects_before_reading(read_spy):
    with pytest.raises(AudioError, match="duration"):
        load_audio(encode(sine(100, 3.0), SR, "OGG", "VORBIS"), max_seconds=1.0)
    assert read_spy == []


def test_lying_header_cannot_admit_long_audio(read_spy, monkeypatch):
    monkeypatch.setattr(soundfile.SoundFile, "frames", property(lambda self: 1))
    with pytest.raises(AudioError, match="duration"):
        load_audio(encode(sine(100, 3.0), SR), max_seconds=1.0)
    assert sum(read_spy) == 16001  # the limit plus one frame, never the whole stream


def test_data_chunk_claiming_4_gb_does_not_allocate_it():
    wav = bytearray(encode(np.zeros(490, np.int16), SR))
    assert len(wav) <= 1024
    p = wav.find(b"data")
    wav[p + 4 : p + 8] = struct.pack("<I", 0xFFFFFFF0)
    wav[4:8] = struct.pack("<I", 0xFFFFFFF0)  # the RIFF size lies too
    tracemalloc.start()
    try:
        try:
            y = load_audio(bytes(wav))
            assert len(y) == 490  # decoded to its real length
        except AudioError:
            pass
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 50 * 2**20


def test_exact_duration_limit_is_inclusive():
    assert len(load_audio(encode(np.zeros(16000, np.int16), SR), max_seconds=1.0)) == 16000
    with pytest.raises(AudioError, match="duration"):
        load_audio(encode(np.zeros(16001, np.int16), SR), max_seconds=1.0)
    assert len(load_audio(encode(np.zeros(4410, np.int16), 44100), max_seconds=0.1)) == 1600
    with pytest.raises(AudioError, match="duration"):
        load_audio(encode(np.zeros(4411, np.int16), 44100), max_seconds=0.1)
    assert len(load_audio(np.zeros(16000, np.float32), sample_rate=SR, max_seconds=1.0)) == 16000
    with pytest.raises(AudioError, match="duration"):
        load_audio(np.zeros(16001, np.float32), sample_rate=SR, max_seconds=1.0)


def test_byte_limit_for_bytes_and_paths(tmp_path):
    wav = encode(sine(100, 0.1), SR)
    assert len(load_audio(wav, max_bytes=len(wav))) == 1600
    with pytest.raises(AudioError, match="bytes"):
        load_audio(wav, max_bytes=len(wav) - 1)
    path = tmp_path / "big.wav"
    path.write_bytes(wav)
    with pytest.raises(AudioError, match="bytes") as info:
        load_audio(path, max_bytes=len(wav) - 1)
    assert_clean_message(info.value, str(tmp_path), "big.wav")


def test_missing_directory_and_fifo_paths(tmp_path):
    with pytest.raises(AudioError, match="not found") as info:
        load_audio(tmp_path / "secret-name.wav")
    assert_clean_message(info.value, "secret-name")
    with pytest.raises(AudioError, match="regular file"):
        load_audio(tmp_path)
    if hasattr(os, "mkfifo"):
        fifo = tmp_path / "pipe"
        os.mkfifo(fifo)
        with pytest.raises(AudioError, match="regular file"):  # must not block waiting for a writer
            load_audio(fifo)


@pytest.mark.parametrize(
    "error",
    [soundfile.LibsndfileError(0, "Error opening <_io.BytesIO object at 0x7f0000001234>: "), RuntimeError("boom"),
     TypeError("bad"), MemoryError()],
    ids=["garbled_code_0", "runtime", "type", "memory"],
)
def test_decoder_exceptions_become_audio_errors(monkeypatch, error):
    def broken(*args, **kwargs):
        raise error

    wav = encode(sine(100, 0.1), SR)
    monkeypatch.setattr(soundfile, "SoundFile", broken)
    with pytest.raises(AudioError, match="could not be decoded") as info:
        load_audio(wav)
    assert_clean_message(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__


CODECS = [("WAV", "PCM_16"), ("FLAC", "PCM_16"), ("OGG", "VORBIS"), ("MP3", "MPEG_LAYER_III")]


@pytest.mark.parametrize("fmt, subtype", CODECS)
def test_truncated_files_decode_or_raise_audio_error(fmt, subtype):
    whole = encode(sine(300, 0.5), SR, fmt, subtype)
    for cut in np.linspace(1, len(whole) - 1, 12).astype(int):
        try:
            y = load_audio(whole[:cut])
        except AudioError as e:
            assert_clean_message(e)
        else:
            assert y.dtype == np.float32 and 0 < len(y) <= 8000 and np.isfinite(y).all()


def test_bad_limits_raise():
    wav = encode(sine(100, 0.1), SR)
    bad_limits = [{"max_bytes": 0}, {"max_seconds": 0.0}, {"max_seconds": float("nan")}, {"max_decode_bytes": -1}]
    for kwargs in bad_limits:
        with pytest.raises(AudioError):
            load_audio(wav, **kwargs)


def _unknown_length_flac(samples: np.ndarray, rate: int) -> bytes:
    """A FLAC whose STREAMINFO says total_samples = 0 ("unknown"), as streaming encoders write it."""
    data = bytearray(encode(samples, rate, "FLAC", "PCM_16"))
    assert data[:4] == b"fLaC" and data[4] & 0x7F == 0   # STREAMINFO first, its fields from byte 8
    word = int.from_bytes(data[18:26], "big")            # rate 20 bits, channels 3, bits 5, total 36
    assert word & (2**36 - 1) == len(samples)
    data[18:26] = (word & ~(2**36 - 1)).to_bytes(8, "big")
    return bytes(data)


def test_flac_of_unknown_length_is_decoded():
    x = 0.3 * np.sin(2 * np.pi * 440 * np.arange(3 * SR) / SR)
    out = load_audio(_unknown_length_flac(x, SR))
    assert len(out) == 3 * SR
    np.testing.assert_allclose(out, x, atol=1e-4)


def test_flac_of_unknown_length_is_refused_once_decoding_passes_the_limit():
    x = np.zeros(3 * SR)
    # Decoding stops one frame past the limit: the error gives the decoded length, not the header's.
    with pytest.raises(AudioError, match=r"more than 2 s \(at least 2\.000 s\)"):
        load_audio(_unknown_length_flac(x, SR), max_seconds=2.0)
    assert len(load_audio(_unknown_length_flac(x, SR), max_seconds=3.0)) == 3 * SR
