"""Plain DSP measurements of generated clips, written apart from the generator (no shared code or parameters)."""

from __future__ import annotations

import numpy as np

SR = 16000
FRAME = 160  # 10 ms


def frame_db(wave: np.ndarray, frame: int = FRAME) -> np.ndarray:
    """RMS level of each frame in dB relative to full scale."""
    n = len(wave) // frame * frame
    frames = wave[:n].astype(np.float64).reshape(-1, frame)
    return 10 * np.log10(np.mean(frames ** 2, axis=1) + 1e-12)


def segments(wave: np.ndarray, floor_db: float = -20.0, min_gap: float = 0.05) -> list[tuple[float, float]]:
    """(start s, end s) of the stretches louder than `floor_db` below the loudest frame; gaps shorter
    than `min_gap` are bridged."""
    db = frame_db(wave)
    active = db > db.max() + floor_db
    runs, start = [], None
    for i, a in enumerate(active):
        if a and start is None:
            start = i
        if not a and start is not None:
            runs.append([start, i])
            start = None
    if start is not None:
        runs.append([start, len(active)])
    merged = []
    for r in runs:
        if merged and (r[0] - merged[-1][1]) * FRAME / SR < min_gap:
            merged[-1][1] = r[1]
        else:
            merged.append(r)
    return [(a * FRAME / SR, b * FRAME / SR) for a, b in merged]


def peak_hz(wave: np.ndarray, lo: float = 60.0, hi: float = 2000.0) -> float:
    """Frequency of the strongest spectral peak between lo and hi (Hann window, zero-padded to 0.25 Hz)."""
    x = wave.astype(np.float64) * np.hanning(len(wave))
    n = 1 << 16
    spectrum = np.abs(np.fft.rfft(x, n))
    freqs = np.fft.rfftfreq(n, 1 / SR)
    band = (freqs >= lo) & (freqs <= hi)
    return float(freqs[band][np.argmax(spectrum[band])])


def piece(wave: np.ndarray, seg: tuple[float, float], trim: float = 0.02) -> np.ndarray:
    return wave[int((seg[0] + trim) * SR):int((seg[1] - trim) * SR)]


def level_db(wave: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(wave.astype(np.float64) ** 2) + 1e-12))


def centroid_hz(wave: np.ndarray) -> float:
    power = np.abs(np.fft.rfft(wave.astype(np.float64))) ** 2
    freqs = np.fft.rfftfreq(len(wave), 1 / SR)
    return float(np.sum(freqs * power) / np.sum(power))


def band_energy(wave: np.ndarray, hz: float, width_semitones: float = 0.4) -> float:
    """Spectral energy within ±width semitones of `hz`."""
    power = np.abs(np.fft.rfft(wave.astype(np.float64) * np.hanning(len(wave)))) ** 2
    freqs = np.fft.rfftfreq(len(wave), 1 / SR)
    k = 2 ** (width_semitones / 12)
    return float(power[(freqs > hz / k) & (freqs < hz * k)].sum())


def semitones(a: float, b: float) -> float:
    return 12 * np.log2(b / a)
