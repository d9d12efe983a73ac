"""Benchmark: the world's band-limited noise at a fast FFT length against an FFT of the clip's own length.

    python bench/noise.py --clips 200

The baseline is the previous implementation, kept inline: noise of exactly n samples, band-limited
with an n-point FFT (n is the clip's sample count, often with a large prime factor). Both run on the
same clip lengths, drawn as the sound scenes draw them (1-8 s at 16 kHz).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from mgrd.data.world.synth import SAMPLE_RATE, envelope, n_samples, shaped_noise


def own_length_noise(rng: np.random.Generator, seconds: float, low_hz: float, high_hz: float) -> np.ndarray:
    """The baseline: an FFT of the clip's own length."""
    n = n_samples(seconds)
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1.0 / SAMPLE_RATE)
    spectrum[(freqs < low_hz) | (freqs > high_hz)] = 0.0
    x = np.fft.irfft(spectrum, n) * envelope(n)
    return x / np.abs(x).max()


def timed(fn, lengths: list[float]) -> float:
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    for s in lengths:
        fn(rng, s, 200.0, 4000.0)
    return (time.perf_counter() - start) / len(lengths)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=200)
    args = parser.parse_args()
    lengths = [float(s) for s in np.random.default_rng(1).uniform(1.0, 8.0, args.clips)]
    base = timed(own_length_noise, lengths)
    fast = timed(lambda rng, s, lo, hi: shaped_noise(rng, s, low_hz=lo, high_hz=hi), lengths)
    print(f"{args.clips} clips of 1-8 s: own-length FFT {1000 * base:.2f} ms/clip, fast length "
          f"{1000 * fast:.2f} ms/clip: {base / fast:.1f}x")


if __name__ == "__main__":
    main()
