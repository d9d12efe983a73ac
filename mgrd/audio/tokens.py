"""How many audio tokens the encoder and adaptor turn a chunk into."""

from __future__ import annotations

import numbers

from mgrd.audio.errors import AudioError
from mgrd.audio.features import mel_frames


def num_audio_tokens(num_frames: int) -> int:
    """Audio tokens N of a chunk with `num_frames` mel frames T: ((T + 1) // 4 - 1) // 2 + 1.

    This is vLLM's count, equal to the true output length of conv (stride 2) -> avg-pool (2) ->
    adaptor conv (stride 2) for every T >= 0; e.g. T 2502 (25 s) -> 313. Each chunk also takes
    <audio_start> and <audio_end> in the prompt, which are not counted here.
    """
    if isinstance(num_frames, bool) or not isinstance(num_frames, numbers.Integral) or num_frames < 0:
        raise AudioError(f"num_frames must be a non-negative integer, got {num_frames!r}")
    return ((int(num_frames) + 1) // 4 - 1) // 2 + 1


def audio_tokens_for_samples(num_samples: int) -> int:
    """Audio tokens of a chunk of `num_samples` 16 kHz samples: num_audio_tokens(mel_frames(n))."""
    return num_audio_tokens(mel_frames(num_samples))
