"""Log-mel features of one audio chunk, exactly as the Step-Audio encoder was trained on them."""

from __future__ import annotations

import functools
import math
import numbers
from collections.abc import Sequence

import numpy as np
import torch

from mgrd.audio.errors import AudioError
from mgrd.audio.format import (
    HOP_LENGTH,
    MAX_CHUNK_SAMPLES,
    MAX_CHUNK_SECONDS,
    MAX_MEL_FRAMES,
    N_FFT,
    N_MELS,
    PAD_SAMPLES,
    SAMPLE_RATE,
)

LOG_FLOOR = 1e-10  # mel power clamp before log10
DYNAMIC_RANGE_LOG10 = 8.0  # keep 80 dB below each chunk's loudest bin

# Slaney's mel scale (librosa's default, not HTK): linear below 1 kHz, logarithmic above.
_HZ_PER_MEL = 200.0 / 3.0
_LOG_START_HZ = 1000.0
_LOG_START_MEL = _LOG_START_HZ / _HZ_PER_MEL  # 15 mel
_MELS_PER_LOG_HZ = 27.0 / math.log(6.4)
_NOT_FLOAT = "log_mel needs float samples in [-1, 1], got dtype {}; use load_audio for PCM"


def hz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    """Slaney mel value of a frequency in Hz (float64, same shape)."""
    hz = np.asarray(hz, dtype=np.float64)
    log_part = _LOG_START_MEL + _MELS_PER_LOG_HZ * np.log(np.maximum(hz, _LOG_START_HZ) / _LOG_START_HZ)
    return np.where(hz >= _LOG_START_HZ, log_part, hz / _HZ_PER_MEL)


def mel_to_hz(mel: np.ndarray | float) -> np.ndarray:
    """Frequency in Hz of a Slaney mel value (float64, same shape); inverse of hz_to_mel."""
    mel = np.asarray(mel, dtype=np.float64)
    log_part = _LOG_START_HZ * np.exp((np.maximum(mel, _LOG_START_MEL) - _LOG_START_MEL) / _MELS_PER_LOG_HZ)
    return np.where(mel >= _LOG_START_MEL, log_part, mel * _HZ_PER_MEL)


@functools.lru_cache(maxsize=8)
def mel_filters(n_mels: int = N_MELS, n_fft: int = N_FFT, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Slaney-normalised triangular mel filterbank, float32 [n_mels, n_fft // 2 + 1], 0 Hz to Nyquist.

    Equal to librosa.filters.mel(sr, n_fft, n_mels) defaults and to Whisper's mel_128 for the defaults.
    Each triangle is scaled by 2 / (its width in Hz), so its area over frequency is 1. Read-only (cached).
    """
    bin_hz = np.arange(n_fft // 2 + 1, dtype=np.float64) * (sample_rate / n_fft)
    edges_hz = mel_to_hz(np.linspace(0.0, hz_to_mel(sample_rate / 2.0), n_mels + 2))
    lower, centre, upper = edges_hz[:-2, None], edges_hz[1:-1, None], edges_hz[2:, None]
    rising = (bin_hz - lower) / (centre - lower)
    falling = (upper - bin_hz) / (upper - centre)
    weights = np.maximum(0.0, np.minimum(rising, falling)) * (2.0 / (upper - lower))
    weights = weights.astype(np.float32)
    weights.setflags(write=False)
    return weights


@functools.lru_cache(maxsize=4)
def _stft_constants(device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Periodic Hann window float64 [400] and mel filters float32 [128, 201] on `device`, built once."""
    window = torch.hann_window(N_FFT, periodic=True, dtype=torch.float64, device=device)
    filters = torch.from_numpy(np.array(mel_filters())).to(device)
    return window, filters


def mel_frames(num_samples: int) -> int:
    """Mel frames T of a chunk of `num_samples` 16 kHz samples: (n + 479) // 160, = ceil(n / 160) + 2 for n >= 1."""
    n = _count(num_samples, "num_samples")
    return (n + PAD_SAMPLES) // HOP_LENGTH


def _count(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise AudioError(f"{name} must be a non-negative integer, got {value!r}")
    return int(value)


def _as_waveform(samples: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Float32 1-D tensor of a chunk's samples, shape and length checked (finiteness is checked by log_mel)."""
    if isinstance(samples, np.ndarray):
        if samples.dtype.kind != "f":
            raise AudioError(_NOT_FLOAT.format(samples.dtype))
        array = np.ascontiguousarray(samples, dtype=np.float32)
        # torch warns on read-only buffers (np.frombuffer, cached arrays); a copy is cheaper than the FFT.
        x = torch.from_numpy(array if array.flags.writeable else array.copy())
    elif isinstance(samples, torch.Tensor):
        if not samples.is_floating_point():
            raise AudioError(_NOT_FLOAT.format(samples.dtype))
        x = samples.detach().to(torch.float32)
    else:
        raise AudioError(f"log_mel takes a numpy array or torch tensor of samples, not {type(samples).__name__}")
    if x.ndim != 1:
        raise AudioError(f"log_mel takes one mono chunk of shape [n]; got shape {tuple(x.shape)}")
    if x.numel() == 0:
        raise AudioError("empty audio: log_mel needs at least one sample")
    if x.numel() > MAX_CHUNK_SAMPLES:
        raise AudioError(
            f"audio chunk of {x.numel() / SAMPLE_RATE:.2f} s exceeds the {MAX_CHUNK_SECONDS} s chunk limit "
            f"(the encoder holds {MAX_MEL_FRAMES} mel frames); split it with split_chunks"
        )
    return x


def log_mel(samples: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Log-mel features of one 16 kHz mono chunk: float32 [128, T], T = mel_frames(n).

    `samples`: float [n], 1 <= n <= 479680 (29.98 s), full scale 1.0. Pipeline (step-audio-format §5.3):
    append 479 zeros; STFT (n_fft 400, hop 160, periodic Hann, centred with reflect padding); drop the
    last frame; power; Slaney mel filterbank; log10 of max(power, 1e-10); floor at the chunk's maximum
    minus 8; (L + 4) / 4. The result is on the input tensor's device (CPU for numpy input).

    The STFT runs in float64: a float32 FFT's rounding (about 1e-7 of the frame's energy) moves bins
    70-80 dB below a loud tone by up to 5e-5 after the log, which is how far float32 implementations
    (torch.stft as in the spec, Whisper's extractor) sit from the exact values; this one stays within 1e-6.
    """
    x = _as_waveform(samples)
    window, filters = _stft_constants(x.device)
    with torch.no_grad():
        frames = _windowed_frames(x, window)
        spec = torch.fft.rfft(frames, dim=-1)
        power = torch.addcmul(spec.real * spec.real, spec.imag, spec.imag).to(torch.float32)
        log_spec = (filters @ power.T).clamp_(min=LOG_FLOOR).log10_()
        peak = log_spec.max()
        # NaN/Inf samples reach every frame and so the peak: one check here instead of a pass over x.
        if not bool(torch.isfinite(peak)):
            if not bool(torch.isfinite(x).all()):
                raise AudioError("audio contains NaN or infinite samples; accepted: finite samples")
            raise AudioError("audio amplitude too large: the log-mel overflowed; accepted: samples near full scale 1")
        log_spec = torch.maximum(log_spec, peak - DYNAMIC_RANGE_LOG10)
        return log_spec.add_(4.0).div_(4.0)


def _windowed_frames(x: torch.Tensor, window: torch.Tensor) -> torch.Tensor:
    """Hann-windowed STFT frames float64 [T, 400] of `x` [n], T = mel_frames(n).

    Same frames as torch.stft(pad(x, (0, 479)), 400, 160, center=True, pad_mode="reflect") minus
    its last one, which the model drops anyway. The right half-window of the reflection mirrors
    only the 479 appended zeros, so it is zeros too.
    """
    n = x.numel()
    half = N_FFT // 2
    buffer = torch.zeros(n + PAD_SAMPLES + 2 * half, dtype=torch.float64, device=x.device)
    buffer[half : half + n] = x
    buffer[:half] = buffer[half + 1 : 2 * half + 1].flip(0)
    num_frames = (n + PAD_SAMPLES) // HOP_LENGTH
    return buffer.unfold(0, N_FFT, HOP_LENGTH)[:num_frames] * window


def log_mel_batch(chunks: Sequence[np.ndarray | torch.Tensor]) -> list[torch.Tensor]:
    """log_mel of each chunk, in order: a list of float32 [128, T_i]. Each chunk is normalised on its own."""
    return [log_mel(chunk) for chunk in chunks]
