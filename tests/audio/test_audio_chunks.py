"""Splitting audio into consecutive chunks of at most 25 s."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mgrd.audio import AudioError, split_chunks

SR = 16000


@pytest.mark.parametrize(
    "num_samples, lengths",
    [
        (160, [160]),  # 0.01 s
        (399840, [399840]),  # 24.99 s
        (400000, [400000]),  # 25.000 s
        (400001, [400000, 1]),  # 25 s + 1 sample
        (800000, [400000, 400000]),  # 50.000 s: no trailing empty chunk
        (1000000, [400000, 400000, 200000]),  # 62.5 s
    ],
)
def test_chunk_counts_and_lengths(num_samples, lengths):
    x = np.arange(num_samples, dtype=np.float32)
    chunks = split_chunks(x)
    assert [len(c) for c in chunks] == lengths
    assert len(chunks) == math.ceil(num_samples / (25 * SR))
    assert np.array_equal(np.concatenate(chunks), x)


def test_chunks_are_views_in_time_order():
    x = np.arange(900000, dtype=np.float32)
    chunks = split_chunks(x)
    assert all(np.shares_memory(c, x) for c in chunks)
    assert [float(c[0]) for c in chunks] == [0.0, 400000.0, 800000.0]


def test_other_chunk_length_and_rate():
    chunks = split_chunks(np.zeros(25, dtype=np.float32), seconds=1.0, sample_rate=10)
    assert [len(c) for c in chunks] == [10, 10, 5]


@pytest.mark.parametrize(
    "samples, kwargs",
    [
        (np.zeros(0, dtype=np.float32), {}),
        (np.zeros((2, 10), dtype=np.float32), {}),
        ([0.0, 1.0], {}),
        (np.zeros(10, dtype=np.float32), {"seconds": 0.0}),
        (np.zeros(10, dtype=np.float32), {"seconds": 30.0}),  # over the 29.98 s encoder limit
        (np.zeros(10, dtype=np.float32), {"sample_rate": 0}),
        (np.zeros(10, dtype=np.float32), {"seconds": 0.01, "sample_rate": 10}),  # 0.1 sample per chunk
    ],
    ids=["empty", "2d", "list", "zero_seconds", "too_long", "zero_rate", "sub_sample_chunk"],
)
def test_rejects_bad_input(samples, kwargs):
    with pytest.raises(AudioError):
        split_chunks(samples, **kwargs)
