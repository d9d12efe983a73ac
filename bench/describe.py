"""Audio-text pretraining settings compared by the verbalisation rung on dev items: the claim accuracy
per fact type of the decoder's answer to "Describe what you hear.", each setting against the recipe's.

    python bench/describe.py --run-dir runs/quickstart --set audio_pretrain.steps=600
    python bench/describe.py --model mgrd/pipeline/bases/tiny-audio-v1 --shuffled   # a model as it is

Starts from a finished run's encoder stage (its frozen encoder and adaptor) and trains the audio-text
stage on that run's own sources (answers and descriptions of its train split) with the run's recipe
(its `recipe.yaml`) and with each `--set` variant of it; then describes fresh `dev` items (never the
held-out split, so settings chosen here do not tune the pipeline's ladder) and checks every claim
with the event-bound verifier. `--shuffled` adds a control per setting: the same question asked about
each item with another item's clips of the same family, so a reader sees how much of the accuracy
the audio carries. `--model` describes a checkpoint as it is (an audio base), with no training.
Wilson 95 % intervals; n is the number of claims, which differs between settings since each
describes in its own words.
"""

from __future__ import annotations

import argparse
import functools
import json
import tempfile
import time
from pathlib import Path

from mgrd.data.dataset import read_split
from mgrd.data.records import Record
from mgrd.data.world.generate import WorldConfig, generate_split
from mgrd.evaluation.statistics import wilson_interval
from mgrd.pipeline.backends import stage_backend
from mgrd.pipeline.data import is_audio_item
from mgrd.pipeline.evaluate import run_task
from mgrd.pipeline.perception import verbalisation
from mgrd.pipeline.recipe import load_recipe
from mgrd.pipeline.trainer_configs import sft_config
from mgrd.training.config import RunConfig, SourceConfig
from mgrd.training.sft import train_sft

FAMILIES = ("sound", "music", "composite", "speech")


def dev_items(root: Path, n: int) -> list[Record]:
    generate_split(root, WorldConfig("dev", n, FAMILIES, 0, 0.0), workers=2)
    return [r for r in read_split(root, "dev") if is_audio_item(r)]


def swapped(items: list[Record]) -> list[Record]:
    """Each item with the clips of the next item of its family and clip count (its facts kept)."""
    groups: dict[tuple, list[Record]] = {}
    for r in items:
        groups.setdefault((r.family, len(r.audio)), []).append(r)
    out = []
    for group in groups.values():
        for i, r in enumerate(group):
            data = r.to_dict()
            data["audio"] = list(group[(i + 1) % len(group)].audio)
            out.append(Record.from_dict(data))
    return out


def describe(model: str, items: list[Record], root: Path, out: Path, temperature: float) -> dict:
    run = functools.partial(run_task, seed=0)
    return verbalisation(run, stage_backend(model, None), items, root, out, max_tokens=96,
                         temperature=temperature, on_progress=None)


def train(run_dir: Path, overrides: list[str], out: Path) -> tuple[str, float]:
    """The run's audio-text stage retrained with `overrides`, from the run's encoder stage."""
    spec = load_recipe(str(run_dir / "recipe.yaml"), overrides).audio_pretrain   # the run's own recipe
    stage = run_dir / "audio_pretrain"
    sources = [SourceConfig(str(stage / f)) for f in ("answers.jsonl", "descriptions.jsonl") if (stage / f).is_file()]
    cfg = sft_config(spec, str(run_dir / "encoder_pretrain" / "train" / "model"), sources,
                     RunConfig(dir=str(out / "train"), seed=0, save_every=10 ** 9, progress=False))
    start = time.perf_counter()
    result = train_sft(cfg)
    return result.model_dir, time.perf_counter() - start


def show(name: str, result: dict, wall: float | None = None) -> None:
    took = f": {wall:.0f} s" if wall is not None else ""
    print(f"\n{name}{took}, {result.get('checked', 0)} claims checked")
    for kind, v in sorted(result.get("by_type", {}).items()):
        if isinstance(v, dict) and v.get("n"):
            lo, hi = wilson_interval(round(v["accuracy"] * v["n"]), v["n"])
            print(f"  {kind:18s} {100 * v['accuracy']:5.1f} %  [{100 * lo:.0f}, {100 * hi:.0f}]  n={v['n']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-dir", type=Path, help="a run whose encoder stage has finished")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a variant: recipe overrides, comma-separated (repeat for more variants)")
    parser.add_argument("--model", action="append", default=[], type=Path,
                        help="a checkpoint to describe as it is (repeat for more)")
    parser.add_argument("--items", type=int, default=160, help="dev items to generate (audio items are described)")
    parser.add_argument("--temperature", type=float, default=0.7, help="as the pipeline's eval samples")
    parser.add_argument("--shuffled", action="store_true", help="also describe each setting on swapped clips")
    parser.add_argument("--out", type=Path, help="write all results as JSON here")
    args = parser.parse_args()
    if args.run_dir is None and not args.model:
        parser.error("give --run-dir (retrain its audio-text stage) or --model (describe a checkpoint), or both")
    for needed in ("recipe.yaml", "encoder_pretrain/train/model", "audio_pretrain/descriptions.jsonl"):
        if args.run_dir is not None and not (args.run_dir / needed).exists():
            parser.error(f"{args.run_dir / needed} is missing: run the quickstart (or `mgrd train`) to its "
                         "audio_pretrain stage first")
    for model in args.model:
        if not (model / "config.json").is_file():
            parser.error(f"--model {model}: not a checkpoint directory (no config.json)")
    variants = ([("recipe", [])] + [(v, v.split(",")) for v in args.set]) if args.run_dir is not None else []
    results = []
    with tempfile.TemporaryDirectory(prefix="mgrd-describe-bench-") as tmp:
        scratch = Path(tmp)
        items = dev_items(scratch / "dev", args.items)
        jobs = [(str(m), None, None) for m in args.model] + [(name, overrides, i) for i, (name, overrides)
                                                             in enumerate(variants)]
        for n, (name, overrides, i) in enumerate(jobs):
            model, wall = (name, None) if overrides is None else train(args.run_dir, overrides, scratch / f"v{i}")
            entry = {"name": name, "overrides": overrides, "wall_s": wall,
                     "describe": describe(model, items, scratch / "dev", scratch / f"e{n}", args.temperature)}
            if args.shuffled:
                entry["shuffled"] = describe(model, swapped(items), scratch / "dev", scratch / f"e{n}-shuffled",
                                             args.temperature)
            results.append(entry)
            show(name, entry["describe"], wall)
            if args.shuffled:
                show(f"{name}, clips swapped between items", entry["shuffled"])
    if args.out:
        args.out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
