"""The audio frontend: decode, resample, chunk, log-mel and token counts (layer L1)."""

from mgrd.audio.chunks import split_chunks
from mgrd.audio.decode import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_DECODE_BYTES,
    DEFAULT_MAX_SECONDS,
    MAX_CHANNELS,
    MAX_PEAK_AMPLITUDE,
    MAX_SAMPLE_RATE,
    MIN_SAMPLE_RATE,
    load_audio,
)
from mgrd.audio.errors import AudioError
from mgrd.audio.features import log_mel, log_mel_batch, mel_filters, mel_frames
from mgrd.audio.format import (
    CHUNK_SECONDS,
    HOP_LENGTH,
    MAX_CHUNK_SAMPLES,
    MAX_CHUNK_SECONDS,
    MAX_MEL_FRAMES,
    N_FFT,
    N_MELS,
    PAD_SAMPLES,
    SAMPLE_RATE,
)
from mgrd.audio.tokens import audio_tokens_for_samples, num_audio_tokens

__all__ = [
    "AudioError",
    "CHUNK_SECONDS",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_DECODE_BYTES",
    "DEFAULT_MAX_SECONDS",
    "HOP_LENGTH",
    "MAX_CHANNELS",
    "MAX_CHUNK_SAMPLES",
    "MAX_CHUNK_SECONDS",
    "MAX_MEL_FRAMES",
    "MAX_PEAK_AMPLITUDE",
    "MAX_SAMPLE_RATE",
    "MIN_SAMPLE_RATE",
    "N_FFT",
    "N_MELS",
    "PAD_SAMPLES",
    "SAMPLE_RATE",
    "audio_tokens_for_samples",
    "load_audio",
    "log_mel",
    "log_mel_batch",
    "mel_filters",
    "mel_frames",
    "num_audio_tokens",
    "split_chunks",
]
