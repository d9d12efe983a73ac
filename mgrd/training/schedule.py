"""Learning-rate schedule: linear warmup, then cosine decay to a floor."""

from __future__ import annotations

import math


def warmup_cosine(step: int, *, warmup_steps: int, total_steps: int, min_ratio: float = 0.1) -> float:
    """Multiplier of the peak learning rate at optimizer step `step` (0-based).

    Linear from 1/(warmup+1) to 1 over the warmup steps, then cosine from 1 down to `min_ratio`
    at `total_steps`; held at `min_ratio` after that.
    """
    if step < warmup_steps:
        return (step + 1) / (warmup_steps + 1)
    span = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / span)
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def set_lr(optimizer, peak_lr: float, multiplier: float) -> float:
    """Write lr = peak·multiplier into every param group; returns it."""
    lr = peak_lr * multiplier
    for group in optimizer.param_groups:
        group["lr"] = lr
    return lr
