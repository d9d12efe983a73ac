"""In-memory audio files for the audio tests: encoders, tones and hand-patched headers."""

from __future__ import annotations

import io
import re
import struct

import numpy as np
import soundfile

from mgrd.audio import AudioError

SR = 16000


def encode(x: np.ndarray, sample_rate: int, fmt: str = "WAV", subtype: str = "PCM_16") -> bytes:
    """Bytes of an audio file holding `x` [n] or [n, channels]; written in blocks (libsndfile's Vorbis
    writer crashes on very large single writes)."""
    x = x if x.ndim == 2 else x[:, None]
    buf = io.BytesIO()
    with soundfile.SoundFile(buf, "w", sample_rate, x.shape[1], format=fmt, subtype=subtype) as f:
        for i in range(0, len(x), 8192):
            f.write(x[i : i + 8192])
    return buf.getvalue()


def sine(freq: float, seconds: float, sample_rate: int = SR, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(round(seconds * sample_rate)) / sample_rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def patch_fmt(wav: bytes, *, channels: int | None = None, sample_rate: int | None = None) -> bytes:
    """`wav` with its fmt chunk's channel count and/or sample rate overwritten."""
    data = bytearray(wav)
    p = data.find(b"fmt ")
    if channels is not None:
        data[p + 10 : p + 12] = struct.pack("<H", channels)
    if sample_rate is not None:
        data[p + 12 : p + 16] = struct.pack("<I", sample_rate)
    return bytes(data)


def dominant_hz(x: np.ndarray, sample_rate: int = SR) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.argmax(spectrum) * sample_rate / len(x))


def assert_clean_message(err: AudioError, *forbidden: str) -> None:
    msg = str(err)
    assert msg and not re.search(r"0x[0-9a-fA-F]{6,}", msg), msg
    assert "Traceback" not in msg and "BytesIO" not in msg, msg
    for word in forbidden:
        assert word not in msg, msg
