"""The paper's ablations at a recipe's scale (format reward, RL-data curation, textual-surrogate cold start),
and the RL advantage estimator (PPO with a critic against GRPO).

The MGRD run is made once (`RUN/mgrd`); each variant changes one setting and reuses every stage of
the MGRD run whose key it shares (the world, the pretraining stand-ins and, for the RL ablations,
the cold start), so only what the setting changes is recomputed.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from mgrd.pipeline.recipe import load_recipe

# variant -> the overrides that make it (the MGRD run itself has none)
VARIANTS: dict[str, list[str]] = {
    "mgrd": [],
    "no_format_reward": ["iterations.rl.format_weight=0.0", "iterations.rl.accuracy_weight=1.0"],
    "curation_failed": ["iterations.curation.strategy=failed"],
    "curation_unfiltered": ["iterations.curation.strategy=unfiltered"],
    "surrogate_cold_start": ["cold_start.cot_style=surrogate"],
    "grpo": ["text_rl.advantage=grpo", "iterations.rl.advantage=grpo"],
}
# comparison rows: ablation/setting -> variant
GROUPS: dict[str, str] = {
    "format_reward/on": "mgrd", "format_reward/off": "no_format_reward",
    "curation/range [3,6]": "mgrd", "curation/failed (pass=0)": "curation_failed",
    "curation/unfiltered": "curation_unfiltered",
    "cold_start/grounded (MGRD)": "mgrd", "cold_start/textual surrogate": "surrogate_cold_start",
    "rl_estimator/ppo (critic)": "mgrd", "rl_estimator/grpo": "grpo",
}


def run_ablations(recipe_source: str | os.PathLike, run_dir: str | os.PathLike, overrides: list[str] = (), *,
                  say: Callable[[str], None] = print, progress: bool = True,
                  only: list[str] | None = None) -> Path:
    """Run every variant (resuming), then write RUN/report.md comparing them; returns its path."""
    from mgrd.pipeline.pipeline import run_pipeline
    from mgrd.pipeline.report import write_comparison, write_report

    run_dir = Path(run_dir)
    names = only or list(VARIANTS)
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        raise ValueError(f"unknown ablation variants {unknown}; accepted: {', '.join(VARIANTS)}")
    summaries = {}
    for name in dict.fromkeys(["mgrd", *names]):
        say(f"== ablation variant {name} ==")
        recipe = load_recipe(recipe_source, [*overrides, *VARIANTS[name], f"name={name}"])
        shared = [run_dir / "mgrd"] if name != "mgrd" else []
        summaries[name] = run_pipeline(recipe, run_dir / name, say=say, progress=progress, shared=shared)
        write_report(run_dir / name)
    rows = {group: summaries[v] for group, v in GROUPS.items() if v in summaries}
    return write_comparison(run_dir, rows)
