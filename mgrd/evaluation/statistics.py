"""Means with 95 % confidence intervals (Student t over seeds or items, Wilson for one proportion), paired
differences with their interval, the verdict an interval gives a directional claim, and paired-test sizes."""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import NormalDist

# Two-sided 95 % Student t quantiles t_{0.975, df} for df = 1..30; beyond, the normal 1.96 is close enough.
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145,
         2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048,
         2.045, 2.042)


def t_quantile_975(df: int) -> float:
    if df < 1:
        raise ValueError(f"degrees of freedom must be >= 1, got {df}")
    return _T975[df - 1] if df <= len(_T975) else 1.96


def mean_ci(values: Sequence[float]) -> tuple[float, float, float] | None:
    """(mean, low, high): mean ± t_{0.975,n-1}·s/√n with the sample standard deviation s.

    None for no values; for one value the interval is the value itself (no spread is known).

    >>> [round(x, 4) for x in mean_ci([0.6, 0.7, 0.8])]   # s = 0.1, half-width 4.303 * 0.1 / sqrt(3)
    [0.7, 0.4516, 0.9484]
    """
    n = len(values)
    if n == 0:
        return None
    mean = sum(values) / n
    if n == 1:
        return mean, mean, mean
    s = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = t_quantile_975(n - 1) * s / math.sqrt(n)
    return mean, mean - half, mean + half


def wilson_interval(successes: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of a proportion successes/n (95 % for z = 1.96)."""
    if n <= 0:
        raise ValueError("a proportion needs n >= 1")
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def summarise(per_seed: Sequence[float], pooled: Sequence[float]) -> dict:
    """The mean over seeds with its interval: t over seed means when there are two seeds or more,
    else Wilson (0/1 scores) or t over items (graded scores) from the pooled item scores."""
    if not pooled:
        return {"mean": None, "ci95": None, "n": 0, "seeds": len(per_seed), "method": "none"}
    if len(per_seed) >= 2:
        mean, low, high = mean_ci(per_seed)
        method = "t over seeds"
    elif all(v in (0.0, 1.0) for v in pooled):
        mean = sum(pooled) / len(pooled)
        low, high = wilson_interval(sum(pooled), len(pooled))
        method = "wilson"
    else:
        mean, low, high = mean_ci(pooled)
        method = "t over items"
    return {"mean": mean, "ci95": [low, high], "n": len(pooled), "seeds": len(per_seed), "method": method}


def paired_difference(a: Sequence[float], b: Sequence[float]) -> dict:
    """{"diff", "ci95": [low, high], "n"} of a − b over paired items (a[i] and b[i] are one item's scores).

    diff = mean of d_i = a_i − b_i; ci95 = diff ± t_{0.975,n−1}·s_d/√n with s_d the sample standard
    deviation of the d_i (scores 0/1 or graded). With n < 2 no spread is known: ci95 is None. Pairing
    removes the item-to-item spread both sides share, so the interval is narrower than two independent
    ones whenever a and b agree on most items.

    >>> r = paired_difference([1, 1, 0, 1], [0, 1, 0, 0])   # d = 1, 0, 0, 1: s = 0.57735, half 3.182·s/2
    >>> r["diff"], [round(x, 4) for x in r["ci95"]], r["n"]
    (0.5, [-0.4186, 1.4186], 4)
    """
    if len(a) != len(b):
        raise ValueError(f"paired scores need one b per a: got {len(a)} and {len(b)} values")
    n = len(a)
    if n == 0:
        return {"diff": None, "ci95": None, "n": 0}
    d = [float(x) - float(y) for x, y in zip(a, b)]
    mean = sum(d) / n
    if n == 1:
        return {"diff": mean, "ci95": None, "n": 1}
    s = math.sqrt(sum((x - mean) ** 2 for x in d) / (n - 1))
    half = t_quantile_975(n - 1) * s / math.sqrt(n)
    return {"diff": mean, "ci95": [mean - half, mean + half], "n": n}


REPRODUCES, NOT_SIGNIFICANT, OPPOSITE, NOT_MEASURED = "reproduces", "not significant", "opposite", "not measured"


def interval_verdict(ci95: Sequence[float] | None, direction: str) -> str:
    """The verdict on a claim that a difference is > 0 (direction ">") or < 0 ("<"), from its 95 % interval.

    "reproduces" when the interval excludes 0 on the claimed side, "opposite" when it excludes 0 on
    the other, "not significant" when it holds 0 (an end at exactly 0 holds it), "not measured"
    without an interval.

    >>> interval_verdict([0.01, 0.2], ">"), interval_verdict([0.0, 0.2], ">"), interval_verdict([-0.3, -0.1], ">")
    ('reproduces', 'not significant', 'opposite')
    """
    if direction not in (">", "<"):
        raise ValueError(f"direction must be '>' (the difference is claimed positive) or '<', got {direction!r}")
    if ci95 is None:
        return NOT_MEASURED
    low, high = float(ci95[0]), float(ci95[1])
    if low > 0:
        return REPRODUCES if direction == ">" else OPPOSITE
    if high < 0:
        return REPRODUCES if direction == "<" else OPPOSITE
    return NOT_SIGNIFICANT


def paired_sample_size(diff: float, discordance: float, *, power: float = 0.8, alpha: float = 0.05) -> int:
    """Items a paired two-sided test of 0/1 scores needs to detect a true difference `diff` with `power`.

    `discordance` is the share of items whose two scores differ, P(a ≠ b); the per-item difference
    then has variance discordance − diff², and n = (z_{1−α/2} + z_{power})² · (discordance − diff²) / diff²
    (the normal approximation of the paired t / McNemar test), rounded up.

    >>> paired_sample_size(0.10, 0.40)     # (1.95996 + 0.84162)^2 * 0.39 / 0.01 = 306.09
    307
    """
    if not 0 < abs(diff) <= discordance <= 1:
        raise ValueError(f"need 0 < |diff| <= discordance <= 1 (a difference needs items that differ), "
                         f"got diff={diff}, discordance={discordance}")
    if not 0 < power < 1 or not 0 < alpha < 1:
        raise ValueError(f"power and alpha must be in (0, 1), got power={power}, alpha={alpha}")
    z = NormalDist().inv_cdf(1 - alpha / 2) + NormalDist().inv_cdf(power)
    return math.ceil(z * z * (discordance - diff * diff) / (diff * diff))
