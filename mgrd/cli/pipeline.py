"""`mgrd quickstart | train RECIPE | report RUN | experiment ablations`: the whole MGRD pipeline."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from mgrd.cli.errors import user_errors

_out = Console(width=120)
_err = Console(stderr=True)

OverridesArg = Annotated[list[str] | None, typer.Argument(help="key=value overrides, e.g. cold_start.steps=200")]


def _say(message: str) -> None:
    _err.print(message, highlight=False, markup=False, soft_wrap=True)


def _run(recipe_source: str, overrides: list[str], run_dir: Path | None, *, quickstart: bool,
         allow_outside_data: bool = False) -> None:
    from mgrd.io import outside_data_allowed
    from mgrd.pipeline import load_recipe
    from mgrd.pipeline.pipeline import run_pipeline
    from mgrd.pipeline.report import write_report
    from mgrd.pipeline.runner import StageInterrupted

    with user_errors(), outside_data_allowed(allow_outside_data):
        recipe = load_recipe(recipe_source, overrides)
        run_dir = run_dir or Path("runs") / ("quickstart" if quickstart else recipe.name)
        _say(f"recipe {recipe.name} -> {run_dir} (rerun the same command to resume after an interruption)")
        try:
            summary = run_pipeline(recipe, run_dir, say=_say)
        except (StageInterrupted, KeyboardInterrupt) as e:
            _say(f"interrupted: {e or 'Ctrl-C'}; what was done is kept in {run_dir}; rerun the same command to go on")
            raise typer.Exit(143 if isinstance(e, StageInterrupted) else 130) from None
        report = write_report(run_dir)
    _out.print(results_table(summary))
    _out.print(f"total {summary['wall_s'] / 60:.1f} min; report: {report}; summary: {run_dir / 'summary.json'}")
    world = recipe.data.source == "world"
    clip = f"{run_dir / 'world/data/audio'}/<clip>.flac" if world else "<one of your clips>"
    _out.print("next:\n"
               f"  mgrd chat --model {run_dir / 'final'} --audio {clip} \"What do you hear?\"\n"
               f"  mgrd report {run_dir}\n"
               + (f"  mgrd eval world --model {run_dir / 'final'} --data {run_dir / 'world/data'}\n" if world else "")
               + "  mgrd experiment ablations")


def results_table(summary: dict) -> Table:
    """Held-out accuracy with and without thinking, grounding and self-cognition error per evaluated stage."""
    source = "world" if summary.get("data", {}).get("source", "world") == "world" else "data"
    table = Table(title=f"{summary.get('recipe', '')}: held-out {source} items")
    for col in ("stage", "think", "no-think", "think − no-think [95 % CI], verdict", "reasoning tokens", "grounding",
                "self-cognition error (independent / filter rule)"):
        table.add_column(col, justify="left" if col == "stage" else "right", no_wrap=col == "stage")

    def pct(x):
        return "-" if x is None else f"{100 * x:.1f} %"

    claims = {c.get("stage"): c for c in summary.get("claims") or () if c.get("name") == "think > no-think"}
    for name, ev in summary.get("evals", {}).items():
        acc = ev.get("accuracy", {})
        think, no = acc.get("think"), acc.get("no_think")
        tokens = ev.get("reasoning_tokens")
        table.add_row(name, pct(think), pct(no), _paired(claims.get(name)),
                      "-" if tokens is None else f"{tokens:.0f}", pct(ev.get("grounding")),
                      f"{pct(ev.get('self_cognition_error_independent'))} / {pct(ev.get('self_cognition_error'))}")
    return table


def _paired(claim: dict | None) -> str:
    """"+2.5 [-1.0, +6.0] not significant" from a claim of the summary; "-" without one."""
    if not claim or claim.get("diff") is None or not claim.get("ci95"):
        return "-"
    lo, hi = claim["ci95"]
    return f"{100 * claim['diff']:+.1f} [{100 * lo:+.1f}, {100 * hi:+.1f}] {claim.get('verdict', '')}"


def quickstart(
    run_dir: Annotated[Path, typer.Option("--run-dir", help="run directory")] = Path("runs/quickstart"),
    recipe: Annotated[str, typer.Option(help="recipe file or shipped recipe name")] = "tiny",
    overrides: OverridesArg = None,
) -> None:
    """World data -> tiny model -> full MGRD -> evaluation -> report, on a CPU (rerun to resume)."""
    _run(recipe, overrides or [], run_dir, quickstart=True)


def train(
    recipe: Annotated[str, typer.Argument(help="recipe YAML (e.g. recipes/tiny.yaml) or a shipped name")],
    overrides: OverridesArg = None,
    run_dir: Annotated[Path | None, typer.Option("--run-dir", help="run directory (default runs/<name>)")] = None,
    allow_outside_data: Annotated[bool, typer.Option(
        "--allow-outside-data", help="accept audio paths in record files that lead outside the file's folder")] = False,
) -> None:
    """Run a recipe's whole pipeline; rerunning the same command resumes it."""
    _run(recipe, overrides or [], run_dir, quickstart=False, allow_outside_data=allow_outside_data)


def report(run_dir: Annotated[Path, typer.Argument(help="run directory with summary.json")]) -> None:
    """Regenerate report.md and the plots of a run from its directory alone."""
    import json

    from mgrd.pipeline.report import write_report

    with user_errors():
        if not (run_dir / "summary.json").is_file():
            raise FileNotFoundError(f"{run_dir} has no summary.json: give the directory of a pipeline run")
        path = write_report(run_dir)
        summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    _out.print(results_table(summary))
    _out.print(f"wrote {path}")


def experiment(
    name: Annotated[str, typer.Argument(help="the experiment: ablations")],
    run_dir: Annotated[Path, typer.Option("--run-dir", help="directory of the experiment")] = Path("runs/ablations"),
    recipe: Annotated[str, typer.Option(help="recipe file or shipped recipe name")] = "tiny",
    only: Annotated[str, typer.Option(help="comma-separated variants (default: all)")] = "",
    overrides: OverridesArg = None,
) -> None:
    """The paper's ablations at tiny scale (format reward, curation range, surrogate cold start) and PPO vs GRPO."""
    from mgrd.pipeline.ablations import run_ablations

    with user_errors():
        if name != "ablations":
            raise ValueError(f"unknown experiment {name!r}; accepted: ablations")
        variants = [v.strip() for v in only.split(",") if v.strip()] or None
        path = run_ablations(recipe, run_dir, overrides or [], say=_say, only=variants)
    _out.print(f"comparative report: {path}")


def register(app: typer.Typer) -> None:
    app.command("quickstart")(quickstart)
    app.command("train")(train)
    app.command("report")(report)
    app.command("experiment")(experiment)
