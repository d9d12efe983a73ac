"""RL data curation by pass@k (paper §4, eq. 9): keep questions the previous model solves sometimes.

For each question, k answers are sampled and graded; the pass count is how many were right.
Strategies (the paper's §6.2 ablation): `range` keeps pass counts in [low, high] (paper: pass@8 in
[3, 6]), `failed` keeps questions never solved (pass = 0), `unfiltered` keeps every question.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from mgrd.inference.backend import Backend, sample

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


def select(pass_counts: Sequence[int | None], cfg: CurationConfig) -> list[int]:
    """Indices of the kept questions, in order (a question without a pass count is never kept)."""
    return [i for i, p in enumerate(pass_counts) if p is not None and keep(p, cfg)]


def histogram(pass_counts: Sequence[int | None], k: int) -> list[int]:
    """How many questions have 0, 1, ..., k passes (questions without a pass count left out)."""
    counts = Counter(p for p in pass_counts if p is not None)
    return [counts.get(i, 0) for i in range(k + 1)]


def pass_counts(backend: Backend, prompts: Sequence[tuple[str, list]], grade: Callable[[int, str], "float | None"], *,
                k: int, max_tokens: int, temperature: float = 1.0, top_p: float = 1.0, seed: int = 0,
                batch_prompts: int = 64, on_progress: Callable[[int, int], None] | None = None) -> list[int | None]:
    """Sample k answers for each `(item id, messages)` prompt from `backend` (unlimited reasoning) and
    count those `grade(prompt_index, answer)` scores 1; sample j of an item is seeded by
    `item_seed(seed, j, item id)`. A question with a sample the backend could not produce has no
    pass count (None): pass@k of fewer than k samples is not comparable, and `select` skips it.
    """
    counts: list[int | None] = []
    sampling = {"max_tokens": max_tokens, "temperature": temperature, "top_p": top_p, "repetition_penalty": 1.0,
                "thinking_budget": None}
    for start in range(0, len(prompts), batch_prompts):
        chunk = list(prompts[start:start + batch_prompts])
        for i, outs in enumerate(sample(backend, chunk, n=k, sampling=sampling, seed=seed)):
            if any(g.status != "ok" for g in outs):
                counts.append(None)
                continue
            scores = [grade(start + i, g.answer) for g in outs]
            counts.append(sum(1 for s in scores if s is not None and s >= 1.0))
        if on_progress:
            on_progress(min(start + batch_prompts, len(prompts)), len(prompts))
    return counts
