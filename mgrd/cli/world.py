"""`mgrd world`: generate, inspect and summarise the synthetic world's datasets."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from mgrd.cli.errors import user_errors

_out = Console()
_err = Console(stderr=True)


def generate(
    out: Annotated[Path, typer.Option("--out", help="dataset directory (created if missing)")],
    split: Annotated[str, typer.Option(help="train, dev or heldout (seeds never shared between splits)")] = "train",
    n: Annotated[int, typer.Option("--n", help="number of items")] = 1000,
    families: Annotated[str, typer.Option(help="comma-separated families (default: all)")] = "",
    seed: Annotated[int, typer.Option(help="base seed")] = 0,
    workers: Annotated[int, typer.Option(help="worker processes (default: up to 2)")] = 0,
    bait_share: Annotated[float, typer.Option(help="share of cognition items that are bait dialogues")] = 0.25,
    force: Annotated[bool, typer.Option(help="replace a split made with other settings")] = False,
) -> None:
    """Generate one split of the synthetic world (resumes an interrupted run)."""
    from mgrd.data.world import WorldConfig, generate_split
    from mgrd.progress import ProgressBar

    with user_errors():
        chosen = tuple(f.strip() for f in families.split(",") if f.strip()) or None
        config = WorldConfig(split=split, n=n, families=chosen, seed=seed, bait_share=bait_share).checked()
        workers = workers or min(2, os.cpu_count() or 1)
        with ProgressBar(f"world {split}", n, unit="items", console=_err) as bar:
            info = generate_split(out, config, workers=workers, force=force, on_progress=bar.callback(),
                                  on_message=lambda m: _err.print(m, highlight=False))
        _out.print(f"{split}: {info['records']} records, {info['audio_seconds'] / 60:.1f} min of audio in {out} "
                   f"({', '.join(f'{k} {v}' for k, v in info['families'].items())})", highlight=False)


def show(
    data_dir: Annotated[Path, typer.Argument(help="dataset directory")],
    n: Annotated[int, typer.Option("--n", help="items to show")] = 5,
    split: Annotated[str, typer.Option(help="split (default: the first complete one)")] = "",
    audio_out: Annotated[Path | None, typer.Option(help="where playable WAV copies go (default DIR/show)")] = None,
) -> None:
    """Print items (question, answer, facts, the three reasoning chains) and write their audio as WAV."""
    import itertools

    import soundfile

    from mgrd.data import read_manifest, read_split

    with user_errors():
        if n <= 0:
            raise ValueError(f"--n must be a positive number of items, got {n}")
        split = split or _first_split(data_dir, read_manifest)
        audio_out = audio_out or data_dir / "show"
        for r in itertools.islice(read_split(data_dir, split), n):
            _out.rule(f"{r.id}  [{r.family}/{r.kind}, {r.question_type}]")
            _out.print(f"[bold]Q:[/] {r.question}")
            for i, c in enumerate(r.choices or []):
                _out.print(f"   {chr(65 + i)}. {c}", highlight=False)
            _out.print(f"[bold]A:[/] {r.answer}   ({r.answer_type})")
            _out.print("[bold]facts:[/] " + "; ".join(f"{f.name} {f.value} {f.unit} ({f.event})".replace("  ", " ")
                                                    for f in r.facts), highlight=False)
            for style, chain in r.reasoning.items():
                _out.print(f"[bold]{style}:[/] " + (chain.replace("\n", " | ") or "(empty)"), highlight=False)
            for rel in r.audio:
                wav = audio_out / (Path(rel).stem + ".wav")
                wav.parent.mkdir(parents=True, exist_ok=True)
                data, rate = soundfile.read(data_dir / rel)
                soundfile.write(wav, data, rate)
                _out.print(f"[bold]audio:[/] {wav}", highlight=False)


def stats(data_dir: Annotated[Path, typer.Argument(help="dataset directory")],
          split: Annotated[str, typer.Option(help="split (default: every complete one)")] = "") -> None:
    """Counts per family, kind and question type, answer balance and durations."""
    from rich.table import Table

    from mgrd.data import read_manifest, read_split
    from mgrd.data.stats import record_stats

    with user_errors():
        splits = [split] if split else list(read_manifest(data_dir)["splits"])
        if not splits:
            raise ValueError(f"no complete split in {data_dir}; generate one with `mgrd world generate`")
        for name in splits:
            s = record_stats(read_split(data_dir, name))
            table = Table(title=f"{data_dir} / {name}: {s['records']} records")
            for column in ("family / kind", "items", "audio s (mean, min-max)"):
                table.add_column(column)
            for family, count in s["families"].items():
                d = s["durations"].get(family)
                table.add_row(f"[bold]{family}[/]", str(count),
                              f"{d['mean']:.2f} ({d['min']:.2f}-{d['max']:.2f})" if d else "-")
                for kind, k in s["kinds"].items():
                    if kind.startswith(family + "/"):
                        table.add_row("  " + kind.split("/", 1)[1], str(k), "")
            _out.print(table)
            _out.print("question types: " + ", ".join(f"{k} {v}" for k, v in s["question_types"].items()))
            for size, shares in s["answer_positions"].items():
                _out.print(f"answer position, {size} choices: " +
                           ", ".join(f"{k} {v:.1%}" for k, v in shares.items()), highlight=False)


def _first_split(data_dir: Path, read_manifest) -> str:
    done = list(read_manifest(data_dir)["splits"])
    if not done:
        raise ValueError(f"no complete split in {data_dir}; generate one with `mgrd world generate`")
    return done[0]


def register(app: typer.Typer) -> None:
    """Add the `world` command group to the main app."""
    world = typer.Typer(no_args_is_help=True, help="The synthetic world: perception-grounded audio reasoning data.")
    world.command("generate")(generate)
    world.command("show")(show)
    world.command("stats")(stats)
    app.add_typer(world, name="world")
