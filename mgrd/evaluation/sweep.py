"""Sweeps: thinking budgets × seeds, each pair one setting of a run."""

from __future__ import annotations

from dataclasses import dataclass

UNLIMITED = "unlimited"


@dataclass(frozen=True, order=True)
class Setting:
    """A thinking budget (None = unlimited, 0 = no thinking) and a sampling seed."""

    budget: int | None
    seed: int

    @property
    def budget_label(self) -> str:
        return UNLIMITED if self.budget is None else str(self.budget)

    @property
    def label(self) -> str:
        return f"budget={self.budget_label}/seed={self.seed}"


def parse_budgets(text: str) -> tuple[int | None, ...]:
    """"0,64,unlimited" -> (0, 64, None); "think" = unlimited and "no-think" = 0 are accepted too."""
    out: list[int | None] = []
    for raw in text.split(","):
        token = raw.strip().lower()
        if token in (UNLIMITED, "none", "inf", "think"):
            value = None
        elif token in ("no-think", "nothink"):
            value = 0
        else:
            try:
                value = int(token)
            except ValueError:
                value = -1
            if value < 0:
                raise ValueError(f"bad thinking budget {raw.strip()!r}; accepted: integers >= 0 (0 = no thinking), "
                                 "'unlimited', 'think', 'no-think', comma-separated")
        if value not in out:
            out.append(value)
    if not out:
        raise ValueError("no thinking budget given")
    return tuple(out)


def budget_sort_key(budget: int | None) -> float:
    return float("inf") if budget is None else float(budget)


def settings(budgets: tuple[int | None, ...], seeds: int | tuple[int, ...]) -> list[Setting]:
    """Every (budget, seed) pair; `seeds` is a count (seeds 0..n-1) or explicit seeds."""
    seed_list = tuple(range(seeds)) if isinstance(seeds, int) else tuple(seeds)
    if not seed_list or any(not isinstance(s, int) or s < 0 for s in seed_list):
        raise ValueError(f"seeds must be a count >= 1 or non-negative integers, got {seeds!r}")
    return [Setting(b, s) for b in budgets for s in seed_list]
