"""Audio token counts: the vLLM formula, its golden table and the true conv/pool output length."""

from __future__ import annotations

import pytest
import torch

from mgrd.audio import AudioError, audio_tokens_for_samples, mel_frames, num_audio_tokens

# duration, samples at 16 kHz, mel frames T, tokens N (step-audio-format.md §5.4)
TABLE = [
    (0.50, 8000, 52, 7),
    (1.00, 16000, 102, 13),
    (1.05, 16800, 107, 14),
    (2.00, 32000, 202, 25),
    (5.00, 80000, 502, 63),
    (10.00, 160000, 1002, 125),
    (20.00, 320000, 2002, 250),
    (25.00, 400000, 2502, 313),
    (29.90, 478400, 2992, 374),
    (29.98, 479680, 3000, 375),
]


@pytest.mark.parametrize("seconds, samples, frames, tokens", TABLE)
def test_token_table(seconds, samples, frames, tokens):
    assert samples == round(seconds * 16000)
    assert mel_frames(samples) == frames
    assert num_audio_tokens(frames) == tokens
    assert audio_tokens_for_samples(samples) == tokens


def true_length(t: int) -> int:
    """Output length of conv(k3, s2, p1) -> avg-pool(2) -> conv(k3, s2, p1) on T frames."""
    t2 = (t + 2 - 3) // 2 + 1
    t3 = t2 // 2
    return (t3 + 2 - 3) // 2 + 1


def test_formula_equals_true_output_length_for_every_chunk_length():
    for t in range(1, 3001):
        assert num_audio_tokens(t) == true_length(t), t


def test_formula_equals_real_layers_on_a_few_lengths():
    conv1 = torch.nn.Conv1d(1, 1, 3, stride=2, padding=1)
    pool = torch.nn.AvgPool1d(2)
    conv2 = torch.nn.Conv1d(1, 1, 3, stride=2, padding=1)
    for t in (4, 5, 6, 7, 8, 9, 52, 107, 2502, 3000):
        out = conv2(pool(conv1(torch.zeros(1, 1, t))))
        assert out.shape[-1] == num_audio_tokens(t), t


def test_zero_frames_give_zero_tokens():
    assert num_audio_tokens(0) == 0 == true_length(0)


@pytest.mark.parametrize("bad", [-1, 2.0, True, None, "10"])
def test_rejects_bad_frame_counts(bad):
    with pytest.raises(AudioError):
        num_audio_tokens(bad)
    with pytest.raises(AudioError):
        audio_tokens_for_samples(bad)
