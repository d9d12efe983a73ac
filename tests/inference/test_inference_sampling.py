"""Sampling maths on hand-computed numbers, and SamplingParams validation."""

import math

import pytest
import torch

from mgrd.inference.sampling import (RowSampling, SamplingParams, apply_repetition_penalty,
                                     filter_top_k_top_p, sample_rows)


def test_repetition_penalty_hand_computed():
    logits = torch.tensor([[2.0, -1.0, 0.5, 3.0]])
    seen = torch.tensor([[True, True, False, False]])
    out = apply_repetition_penalty(logits, seen, torch.tensor([2.0]))
    assert out.tolist() == [[1.0, -2.0, 0.5, 3.0]]


def test_top_k_and_top_p_hand_computed():
    # probabilities 0.5, 0.25, 0.125, 0.125 (logits are their logs)
    logits = torch.log(torch.tensor([[0.5, 0.25, 0.125, 0.125]] * 3))
    out = filter_top_k_top_p(logits, torch.tensor([2, 0, 0]), torch.tensor([1.0, 0.7, 0.75]))
    kept = torch.isfinite(out).tolist()
    assert kept[0] == [True, True, False, False]     # top-k 2
    assert kept[1] == [True, True, False, False]     # top-p 0.7: 0.5 < 0.7, 0.5+0.25 >= 0.7
    assert kept[2] == [True, True, False, False]     # top-p 0.75: mass before 3rd is exactly 0.75
    out = filter_top_k_top_p(logits[:1], torch.tensor([0]), torch.tensor([0.1]))
    assert torch.isfinite(out).tolist() == [[True, False, False, False]]  # the best token always survives


def test_sampling_follows_the_distribution():
    logits = torch.log(torch.tensor([[0.7, 0.2, 0.1]]))
    gen = torch.Generator().manual_seed(0)
    row = RowSampling(temperature=1.0, top_k=0, top_p=1.0, generator=gen)
    counts = torch.zeros(3)
    for _ in range(3000):
        counts[sample_rows(logits, [row])[0]] += 1
    freq = counts / counts.sum()
    assert freq.tolist() == pytest.approx([0.7, 0.2, 0.1], abs=0.03)


def test_greedy_rows_take_argmax_next_to_sampled_rows():
    logits = torch.tensor([[0.0, 5.0, 1.0], [0.0, 5.0, 1.0]])
    rows = [RowSampling(0.0, 0, 1.0, None), RowSampling(1.0, 1, 1.0, torch.Generator().manual_seed(1))]
    assert sample_rows(logits, rows).tolist() == [1, 1]  # top-k 1 is greedy too


@pytest.mark.parametrize("kwargs,name", [
    ({"temperature": -0.1}, "temperature"), ({"temperature": math.nan}, "temperature"),
    ({"top_p": 0.0}, "top_p"), ({"top_p": 1.5}, "top_p"), ({"top_k": -1}, "top_k"),
    ({"max_tokens": 0}, "max_tokens"), ({"n": 0}, "n"), ({"repetition_penalty": 0.0}, "repetition_penalty"),
    ({"thinking_budget": -1}, "thinking_budget"), ({"seed": -5}, "seed"), ({"stop": ("",)}, "stop"),
    ({"stop_token_ids": (-1,)}, "stop_token_ids"), ({"max_tokens": 3.5}, "max_tokens"),
])
def test_invalid_params_are_rejected_with_the_field_name(kwargs, name):
    with pytest.raises(ValueError, match=name):
        SamplingParams(**kwargs)


def test_params_are_frozen():
    p = SamplingParams()
    with pytest.raises(AttributeError):
        p.temperature = 0.5  # type: ignore[misc]
