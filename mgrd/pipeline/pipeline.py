"""The whole MGRD pipeline of a recipe in one run directory: data → base → pretraining → MGRD → evaluation → report.

RUN/recipe.yaml             the recipe as run
RUN/world/ or RUN/data/     the generated world, or the check of the recipe's record files
RUN/<stage>/                one directory per stage (`iter1/distill`, `eval/final`, ...), DONE.json when done
RUN/final/                  the final model (official layout), for `mgrd chat --model RUN/final`
RUN/summary.json            machine-readable results; RUN/report.md + RUN/plots/ from it alone
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from mgrd.io import write_text_atomic
from mgrd.pipeline import iterations as I
from mgrd.pipeline import stages as S
from mgrd.pipeline.recipe import Recipe, dump_recipe
from mgrd.pipeline.runner import Runner, StageResult, write_summary


def run_pipeline(recipe: Recipe, run_dir: str | os.PathLike, *, say: Callable[[str], None] = print,
                 progress: bool = True, shared: Sequence[str | os.PathLike] = ()) -> dict:
    """Run (or resume) every stage of `recipe` in `run_dir`; returns the summary.

    `shared`: other run directories whose done stages with equal keys are reused instead of rerun
    (the ablations share their common prefix this way).
    """
    run_dir = Path(run_dir).resolve()   # stage outputs hold absolute paths: valid from any working directory
    run_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(run_dir / "recipe.yaml", dump_recipe(recipe))
    if recipe.threads:
        torch.set_num_threads(recipe.threads)
    runner = Runner(run_dir, log=say, shared=[Path(s).resolve() for s in shared])
    ctx = S.Context(recipe, runner, say=say, progress=progress)
    try:
        final = _stages(ctx)
        _publish_final(final, run_dir / "final")
    except BaseException:
        write_summary(run_dir, recipe.name, runner.results, finished_run=False)
        raise
    return write_summary(run_dir, recipe.name, runner.results, finished_run=True)


def _stages(ctx: S.Context) -> StageResult:
    data = S.data(ctx)
    current = S.base_model(ctx, data)
    current = S.text_pretrain(ctx, current)
    if ctx.recipe.encoder_pretrain.steps > 0 and not any(r.facts for r in ctx.audio_items):
        # The auxiliary heads learn facts; data without them keeps the base encoder.
        ctx.say("[skip] encoder_pretrain: no audio record of the train data has facts")
    else:
        current = S.encoder_pretrain(ctx, current)
    current = S.audio_pretrain(ctx, current)
    current = S.cold_start(ctx, current)
    I.evaluation(ctx, "cold_start", current)
    current = S.text_rl(ctx, current)
    for t in range(1, ctx.recipe.iterations.count + 1):
        current = I.iteration(ctx, t, current)
        if t < ctx.recipe.iterations.count and ctx.recipe.eval.between_iterations:
            I.evaluation(ctx, f"iter{t}", current)
    current = I.cognition(ctx, current)
    I.evaluation(ctx, "final", current, final=True)
    return current


def _publish_final(stage: StageResult, out: Path) -> None:
    """Copy the final model to RUN/final."""
    publish_dir(Path(S.model_of(stage)), out)


def publish_dir(source: Path, out: Path) -> None:
    """Replace the directory `out` with a copy of `source`.

    Not atomic (a directory cannot be swapped in one rename): the copy is made beside `out`
    (`out.tmp`), then the old `out` is renamed away (`out.old`), the copy renamed into place and
    the old one removed. `out` never holds a partial copy; a reader may find no `out` in the
    instant between the two renames, and a kill there leaves it absent until the next run, which
    publishes again. Leftovers of a killed publish are removed first.
    """
    tmp, old = out.with_name(out.name + ".tmp"), out.with_name(out.name + ".old")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(source, tmp)
    shutil.rmtree(old, ignore_errors=True)
    if out.exists():
        os.replace(out, old)
    os.replace(tmp, out)
    shutil.rmtree(old, ignore_errors=True)
