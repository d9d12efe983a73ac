"""DSP primitives of the synthetic world: harmonic tones, shaped noise, clicks, envelopes and mixing at 16 kHz."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import numpy as np

SAMPLE_RATE = 16000  # Hz
RAMP_SECONDS = 0.01  # s of raised-cosine fade at each end of an event, so onsets do not click
NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
PEAK = 0.9  # full-scale peak every clip is scaled to (before per-event loudness)


def midi_to_hz(note: int | float) -> float:
    """Frequency in Hz of a MIDI note index (69 = A4 = 440 Hz)."""
    return 440.0 * 2.0 ** ((note - 69) / 12.0)


def note_name(note: int) -> str:
    """`C4`, `F#3`, ... for a MIDI note index (60 = C4)."""
    return f"{NOTE_NAMES[note % 12]}{note // 12 - 1}"


def db_to_amp(db: float) -> float:
    """Linear amplitude of a level in dB relative to full scale."""
    return float(10.0 ** (db / 20.0))


def n_samples(seconds: float) -> int:
    return int(round(seconds * SAMPLE_RATE))


def envelope(n: int, ramp: float = RAMP_SECONDS) -> np.ndarray:
    """Unit gain with raised-cosine fades of `ramp` seconds at both ends, shape [n]."""
    env = np.ones(n, dtype=np.float64)
    r = min(n_samples(ramp), n // 2)
    if r > 0:
        fade = 0.5 - 0.5 * np.cos(np.pi * np.arange(r) / r)
        env[:r] = fade
        env[n - r:] = fade[::-1]
    return env


def harmonic_tone(f0: float, seconds: float, *, harmonics: int = 6, rolloff: float = 0.6,
                  ramp: float = RAMP_SECONDS) -> np.ndarray:
    """A tone with `harmonics` partials at k·f0 of amplitude rolloff**(k-1), peak 1, shape [n].

    Partials matter: a semitone near C4 (~16 Hz) is below the 40 Hz bin spacing of the STFT, but at
    the 4th-6th harmonic it spans 2-3 bins, so the encoder can tell neighbouring notes apart.
    """
    n = n_samples(seconds)
    t = np.arange(n) / SAMPLE_RATE
    wave = np.zeros(n)
    for k in range(1, harmonics + 1):
        if k * f0 < SAMPLE_RATE / 2 - 500:  # keep partials away from Nyquist (no aliasing)
            wave += rolloff ** (k - 1) * np.sin(2 * np.pi * k * f0 * t)
    return _unit_peak(wave * envelope(n, ramp))


def chord(f0s: list[float], seconds: float, **tone_args) -> np.ndarray:
    """Simultaneous harmonic tones (equal level), peak 1, shape [n]."""
    return _unit_peak(sum(harmonic_tone(f, seconds, **tone_args) for f in f0s))


def shaped_noise(rng: np.random.Generator, seconds: float, *, low_hz: float = 0.0,
                 high_hz: float = SAMPLE_RATE / 2, ramp: float = RAMP_SECONDS) -> np.ndarray:
    """Noise with a flat spectrum between `low_hz` and `high_hz` and none outside, peak 1, shape [n]."""
    n = n_samples(seconds)
    m = fft_length(n)   # band-limit a slightly longer noise at a fast FFT size, then keep its first n samples
    spectrum = np.fft.rfft(rng.standard_normal(m))
    freqs = np.fft.rfftfreq(m, 1.0 / SAMPLE_RATE)
    spectrum[(freqs < low_hz) | (freqs > high_hz)] = 0.0
    return _unit_peak(np.fft.irfft(spectrum, m)[:n] * envelope(n, ramp))


def fft_length(n: int) -> int:
    """The smallest m >= n whose only prime factors are 2, 3 and 5 (an FFT of m points is fast; of a
    length with a large prime factor it is 10-30x slower)."""
    m = max(int(n), 1)
    while True:
        k = m
        for p in (2, 3, 5):
            while k % p == 0:
                k //= p
        if k == 1:
            return m
        m += 1


def click(rng: np.random.Generator, seconds: float = 0.06) -> np.ndarray:
    """A drum-like hit: a decaying 150 Hz thump plus a noise transient, peak 1, shape [n]."""
    n = n_samples(seconds)
    t = np.arange(n) / SAMPLE_RATE
    decay = np.exp(-t / 0.015)
    hit = np.sin(2 * np.pi * 150 * t) * decay + 0.5 * rng.standard_normal(n) * np.exp(-t / 0.004)
    return _unit_peak(hit * envelope(n, 0.002))


# While `recording()` is active, every mix appends (clip samples, [Event, ...]) of its labelled events.
_TAPE: ContextVar[list | None] = ContextVar("mgrd_synth_tape", default=None)


@dataclass(frozen=True)
class Event:
    """A labelled event of a mix, as the frame-level truth of a scene: when it starts and how long it
    sounds (s), what it is, and the MIDI notes it plays (none for a click or a noise burst)."""

    onset: float
    seconds: float
    label: str
    notes: tuple[int, ...] = ()


@contextmanager
def recording() -> Iterator[list[tuple[int, list[Event]]]]:
    """Record the labelled events of every clip mixed inside the block (the frame-level truth of a scene)."""
    tape: list = []
    token = _TAPE.set(tape)
    try:
        yield tape
    finally:
        _TAPE.reset(token)


def mix(events: list[tuple], seconds: float) -> np.ndarray:
    """Sum of events `(onset s, waveform, gain dB[, label[, MIDI notes]])` in a clip of `seconds`, float64 [n].

    A label ("high", "note", "beat", ...) names what an event is and the notes say what pitches it
    plays, for frame-level targets; unlabelled events (a noise bed) are background.
    """
    out = np.zeros(n_samples(seconds))
    labelled = []
    for onset, wave, gain_db, *about in events:
        if about:
            notes = tuple(int(m) for m in about[1]) if len(about) > 1 else ()
            labelled.append(Event(float(onset), len(wave) / SAMPLE_RATE, str(about[0]), notes))
        start = n_samples(onset)
        end = min(start + len(wave), len(out))
        if start >= len(out) or end <= start:
            raise ValueError(f"event at {onset:.3f} s does not fit in a clip of {seconds:.3f} s")
        out[start:end] += db_to_amp(gain_db) * wave[:end - start]
    tape = _TAPE.get()
    if tape is not None:
        tape.append((len(out), sorted(labelled, key=lambda e: e.onset)))
    return out


def finish(wave: np.ndarray) -> np.ndarray:
    """Float32 clip with its peak at PEAK (relative levels kept); silence stays silence."""
    return (_unit_peak(wave) * PEAK).astype(np.float32)


def _unit_peak(wave: np.ndarray) -> np.ndarray:
    peak = float(np.max(np.abs(wave))) if len(wave) else 0.0
    return wave / peak if peak > 0 else wave
