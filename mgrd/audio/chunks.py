"""Cutting long audio into consecutive chunks the encoder can take."""

from __future__ import annotations

import math
import numbers

import numpy as np

from mgrd.audio.errors import AudioError
from mgrd.audio.format import CHUNK_SECONDS, MAX_CHUNK_SECONDS, SAMPLE_RATE


def split_chunks(
    samples: np.ndarray, seconds: float = CHUNK_SECONDS, sample_rate: int = SAMPLE_RATE
) -> list[np.ndarray]:
    """Consecutive pieces of mono `samples` [n], each at most `seconds` long, in time order.

    Every chunk but the last has exactly round(seconds * sample_rate) samples; the last holds the rest
    and is never empty, so there are ceil(n / chunk) chunks (50.000 s -> 2, unlike the official
    client's trailing empty chunk). The chunks are views of `samples`, not copies.
    """
    if not isinstance(samples, np.ndarray) or samples.ndim != 1:
        shape = tuple(samples.shape) if isinstance(samples, np.ndarray) else type(samples).__name__
        raise AudioError(f"split_chunks takes mono samples as a numpy array of shape [n]; got {shape}")
    if samples.size == 0:
        raise AudioError("empty audio: there is nothing to split into chunks")
    if isinstance(seconds, bool) or not isinstance(seconds, numbers.Real) or not 0 < seconds <= MAX_CHUNK_SECONDS:
        raise AudioError(f"chunk length must be in (0, {MAX_CHUNK_SECONDS}] seconds, got {seconds!r}")
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, numbers.Integral) or sample_rate < 1:
        raise AudioError(f"sample_rate must be a positive integer of Hz, got {sample_rate!r}")
    size = round(seconds * sample_rate)
    if size < 1:
        raise AudioError(f"a chunk of {seconds} s at {sample_rate} Hz holds no sample; use a longer chunk")
    count = math.ceil(samples.size / size)
    return [samples[i * size : (i + 1) * size] for i in range(count)]
