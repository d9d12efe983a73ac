"""Log-mel features against an independent numpy formulation, the mel filterbank and frame counts."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mgrd.audio import AudioError, log_mel, log_mel_batch, mel_filters, mel_frames
from mgrd.audio.features import hz_to_mel, mel_to_hz

SR = 16000


def reference_filters() -> np.ndarray:
    """Slaney mel filterbank [128, 201] from the textbook formulas, one np.interp triangle per filter."""

    def mel(f: float) -> float:
        return 3.0 * f / 200.0 if f < 1000.0 else 15.0 + 27.0 * math.log(f / 1000.0) / math.log(6.4)

    def hz(m: float) -> float:
        return 200.0 * m / 3.0 if m < 15.0 else 1000.0 * 6.4 ** ((m - 15.0) / 27.0)

    top = mel(8000.0)
    edges = [hz(top * i / 129) for i in range(130)]
    freqs = np.arange(201) * 40.0
    bank = np.zeros((128, 201))
    for i in range(128):
        tri = np.interp(freqs, edges[i : i + 3], [0.0, 1.0, 0.0], left=0.0, right=0.0)
        bank[i] = tri * 2.0 / (edges[i + 2] - edges[i])
    return bank


REF_FILTERS = reference_filters()


def reference_log_mel(x: np.ndarray) -> np.ndarray:
    """float64 log-mel by explicit framing and numpy's rfft; shares no code with mgrd."""
    a = np.concatenate([np.asarray(x, dtype=np.float64), np.zeros(479)])
    a = np.pad(a, 200, mode="reflect")
    n_frames = 1 + (len(a) - 400) // 160
    index = np.arange(400)[None, :] + 160 * np.arange(n_frames)[:, None]
    window = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(400) / 400)
    power = np.abs(np.fft.rfft(a[index] * window, axis=1)) ** 2
    mel = REF_FILTERS @ power.T[:, :-1]
    log = np.log10(np.maximum(mel, 1e-10))
    log = np.maximum(log, log.max() - 8.0)
    return (log + 4.0) / 4.0


def _signals() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    t = np.arange(SR) / SR
    n = 12345
    chirp_phase = 2 * np.pi * (100 * np.arange(n) + 1500 * np.arange(n) ** 2 / n) / SR
    return {
        "sine_440": 0.5 * np.sin(2 * np.pi * 440 * t),
        "loud_sine": 0.99 * np.sin(2 * np.pi * 1234.5 * t),
        "noise": 0.1 * rng.standard_normal(4800),
        "silence": np.zeros(8000),
        "one_sample": np.array([0.5]),
        "odd_chirp": 0.3 * np.sin(chirp_phase),
        "odd_161": rng.uniform(-1, 1, 161),
        "max_length_noise": 0.2 * rng.standard_normal(479680),
    }


@pytest.mark.parametrize("name", list(_signals()))
def test_log_mel_matches_independent_reference(name):
    x = _signals()[name].astype(np.float32)
    ours = log_mel(x)
    assert ours.dtype == torch.float32
    assert tuple(ours.shape) == (128, mel_frames(len(x)))
    ref = reference_log_mel(x)
    assert np.abs(ours.numpy().astype(np.float64) - ref).max() <= 1e-5


def test_silence_is_minus_one_and_a_half_everywhere():
    # All mel power clamps to 1e-10: log10 = -10, the max-8 floor is -18, (−10 + 4) / 4 = −1.5.
    out = log_mel(np.zeros(1600, dtype=np.float32))
    assert torch.equal(out, torch.full((128, 12), -1.5))


def test_dynamic_range_is_two_below_the_peak():
    x = np.sin(2 * np.pi * 1000 * np.arange(SR) / SR).astype(np.float32)
    out = log_mel(x)
    assert float(out.max() - out.min()) == pytest.approx(2.0, abs=1e-6)  # 8 decades / 4


def test_torch_numpy_and_float64_inputs_agree():
    x = np.random.default_rng(1).uniform(-0.5, 0.5, 5000)
    a = log_mel(x.astype(np.float32))
    assert torch.equal(a, log_mel(torch.from_numpy(x.astype(np.float32))))
    assert torch.equal(a, log_mel(x))  # float64 is rounded to float32 first, like a decoded file


def test_batch_equals_one_by_one():
    rng = np.random.default_rng(2)
    chunks = [rng.uniform(-1, 1, n).astype(np.float32) for n in (100, 16000, 3333)]
    outs = log_mel_batch(chunks)
    assert [tuple(o.shape) for o in outs] == [(128, 3), (128, 102), (128, 23)]
    for chunk, out in zip(chunks, outs):
        assert torch.equal(out, log_mel(chunk))


@pytest.mark.parametrize(
    "n, frames", [(0, 2), (1, 3), (160, 3), (161, 4), (8000, 52), (16000, 102), (400000, 2502), (479680, 3000)]
)
def test_mel_frames_golden(n, frames):
    assert mel_frames(n) == frames
    if n:
        assert frames == math.ceil(n / 160) + 2


def test_log_mel_length_equals_mel_frames_for_many_lengths():
    rng = np.random.default_rng(3)
    for n in [1, 2, 159, 160, 161, 319, 320, 321, 479, 480, 481, 1000, 4001]:
        assert log_mel(rng.uniform(-1, 1, n).astype(np.float32)).shape[1] == mel_frames(n)


def test_mel_frames_rejects_bad_counts():
    for bad in (-1, 1.5, True, "3"):
        with pytest.raises(AudioError):
            mel_frames(bad)


def test_mel_scale_hand_values():
    assert float(hz_to_mel(1000.0)) == pytest.approx(15.0)
    assert float(hz_to_mel(500.0)) == pytest.approx(7.5)  # linear part: 3 f / 200
    # 15 + 27 ln(8) / ln(6.4) for 8 kHz
    assert float(hz_to_mel(8000.0)) == pytest.approx(45.245640471924965, abs=1e-12)
    assert float(mel_to_hz(hz_to_mel(3210.0))) == pytest.approx(3210.0)


def test_mel_filterbank_shape_and_hand_values():
    bank = mel_filters()
    assert bank.shape == (128, 201) and bank.dtype == np.float32
    # Filter 0: edges 0, 23.3828, 46.7655 Hz (mel step 45.2456 / 129, times 200/3). Bin 1 = 40 Hz is on
    # the falling side: (46.7655 - 40) / 23.3828 * 2 / 46.7655 = 0.0123740.
    assert bank[0, 1] == pytest.approx(0.012373986, rel=1e-6)
    assert bank[0, 0] == 0.0 and bank[0, 2] == 0.0
    # Filter 127: edges 7623.33, 7809.39, 8000 Hz. Bin 196 = 7840 Hz:
    # (8000 - 7840) / (8000 - 7809.39) * 2 / (8000 - 7623.33) = 0.0044571.
    assert bank[127, 196] == pytest.approx(0.00445712, rel=1e-5)
    assert bank[127, 200] == 0.0  # the last edge is exactly Nyquist
    assert (bank >= 0).all() and (bank.max(axis=1) > 0).all()  # no empty filter


def test_mel_filterbank_slaney_area_norm():
    # Each triangle is scaled by 2 / width, so its area over Hz is 1: sampled every 40 Hz, the wide
    # high filters sum to 1 / 40 Hz (the narrow low ones are too coarsely sampled for this).
    areas = mel_filters().sum(axis=1) * 40.0
    assert np.abs(areas[100:] - 1.0).max() < 0.02


def test_mel_filterbank_matches_independent_builds():
    assert np.abs(mel_filters() - REF_FILTERS).max() < 1e-8
    audio_utils = pytest.importorskip("transformers.audio_utils")
    whisper = audio_utils.mel_filter_bank(
        num_frequency_bins=201,
        num_mel_filters=128,
        min_frequency=0.0,
        max_frequency=8000.0,
        sampling_rate=16000,
        norm="slaney",
        mel_scale="slaney",
    )
    assert np.abs(mel_filters() - whisper.T).max() < 1e-8


def test_mel_filterbank_is_cached_and_read_only():
    assert mel_filters() is mel_filters()
    with pytest.raises(ValueError):
        mel_filters()[0, 0] = 1.0


def test_log_mel_rejects_longer_than_chunk_limit():
    log_mel(np.zeros(479680, dtype=np.float32))  # 29.98 s is accepted
    with pytest.raises(AudioError, match="29.98"):
        log_mel(np.zeros(479681, dtype=np.float32))


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros(0, dtype=np.float32),
        np.zeros((2, 100), dtype=np.float32),
        np.array([0.0, np.nan], dtype=np.float32),
        np.array([0.0, np.inf], dtype=np.float32),
        np.zeros(100, dtype=np.int16),
        torch.zeros(100, dtype=torch.int32),
        [0.0, 0.1],
    ],
    ids=["empty", "2d", "nan", "inf", "int16", "torch_int", "list"],
)
def test_log_mel_rejects_bad_input(bad):
    with pytest.raises(AudioError):
        log_mel(bad)


def test_log_mel_rejects_overflowing_amplitude():
    with pytest.raises(AudioError, match="amplitude"):
        log_mel(np.full(1000, 1e30, dtype=np.float32))


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_log_mel_names_non_finite_samples(value):
    x = np.zeros(3000, dtype=np.float32)
    x[2999] = value  # the very last sample must still be seen
    with pytest.raises(AudioError, match="NaN or infinite"):
        log_mel(x)
