"""Means with 95 % confidence intervals: Student t over seeds or items, Wilson for one proportion."""

from __future__ import annotations

import math
from collections.abc import Sequence

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
