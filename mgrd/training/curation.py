"""RL data curation by pass@k (paper §4, eq. 9): keep questions the previous model solves sometimes.

For each question, k answers are sampled and graded; the pass count is how many were right.
Strategies (the paper's §6.2 ablation): `range` keeps pass counts in [low, high] (paper: pass@8 in
[3, 6]), `failed` keeps questions never solved (pass = 0), `unfiltered` keeps every question.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

STRATEGIES = ("range", "failed", "unfiltered")


@dataclass(frozen=True)
class CurationConfig:
    """How questions are selected from their pass counts out of k samples."""

    k: int = 8
    low: int = 3
    high: int = 6
    strategy: str = "range"

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ValueError(f"curation strategy {self.strategy!r}; accepted: {', '.join(STRATEGIES)}")
        if self.k < 1 or not 0 <= self.low <= self.high <= self.k:
            raise ValueError(f"curation needs k >= 1 and 0 <= low <= high <= k, got k={self.k}, "
                             f"low={self.low}, high={self.high}")


def keep(passes: int, cfg: CurationConfig) -> bool:
    """Whether a question with `passes` correct answers out of cfg.k is kept.

    >>> keep(4, CurationConfig()), keep(7, CurationConfig()), keep(0, CurationConfig(strategy="failed"))
    (True, False, True)
    """
    if not 0 <= passes <= cfg.k:
        raise ValueError(f"pass count {passes} is outside 0..{cfg.k}")
    if cfg.strategy == "range":
        return cfg.low <= passes <= cfg.high
    if cfg.strategy == "failed":
        return passes == 0
    return True


def select(pass_counts: Sequence[int], cfg: CurationConfig) -> list[int]:
    """Indices of the kept questions, in order."""
    return [i for i, p in enumerate(pass_counts) if keep(p, cfg)]


def histogram(pass_counts: Sequence[int], k: int) -> list[int]:
    """How many questions have 0, 1, ..., k passes."""
    counts = Counter(pass_counts)
    return [counts.get(i, 0) for i in range(k + 1)]


def pass_counts(engine, prompts: Sequence, grade: Callable[[int, str], "float | None"], *, k: int, max_tokens: int,
                temperature: float = 1.0, seed: int = 0, batch_prompts: int = 16,
                on_progress: Callable[[int, int], None] | None = None) -> list[int]:
    """Sample k answers for each engine prompt and count those `grade(prompt_index, answer)` scores 1."""
    from mgrd.inference import SamplingParams

    counts: list[int] = []
    for start in range(0, len(prompts), batch_prompts):
        chunk = list(prompts[start:start + batch_prompts])
        params = [SamplingParams(n=k, max_tokens=max_tokens, temperature=temperature,
                                 seed=(seed * 1_000_003 + start + i) % 2**62) for i in range(len(chunk))]
        for i, gens in enumerate(engine.generate(chunk, params)):
            scores = [grade(start + i, g.answer) for g in gens]
            counts.append(sum(1 for s in scores if s is not None and s >= 1.0))
        if on_progress:
            on_progress(min(start + batch_prompts, len(prompts)), len(prompts))
    return counts
