"""Encoder pretraining settings compared on dev clips: probe accuracy per fact type, each setting against the
recipe's own in the same run (the same probe clips; the same model and stream unless a setting changes them).

    python bench/encoder.py --set encoder_pretrain.fact_weight=1.0

Trains the tiny recipe's encoder stage (its base model, its clip sources over a 300-item stored world,
its trainer and probes), and probes it on fresh dev-split items of the families made on the fly: never on the held-out split, so settings chosen here do not tune the
pipeline's held-out probes. Prints accuracy per fact type for the baseline (the recipe as shipped)
and for each `--set` variant (Wilson 95 % intervals; n is the number of facts).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from mgrd.data.world.targets import STREAMED_FAMILIES, stream_references
from mgrd.evaluation.statistics import wilson_interval
from mgrd.io import write_jsonl_atomic
from mgrd.pipeline import stages as S
from mgrd.pipeline.encoder_data import encoder_sources
from mgrd.pipeline.recipe import load_recipe
from mgrd.pipeline.runner import Runner
from mgrd.pipeline.trainer_configs import encoder_config
from mgrd.training.config import RunConfig, SourceConfig
from mgrd.training.encoder_pretrain import train_encoder

# A small stored world gives the heads their labels (as the pipeline's stored clips do); most clips are
# made on the fly, as in the recipe (encoder_pretrain.streamed_share).
SMALL_WORLD = ["world.families=[sound,music,composite]", "world.train=300", "world.heldout=8"]


def context(overrides: list[str], scratch: Path) -> S.Context:
    recipe = load_recipe("tiny", SMALL_WORLD + overrides)
    return S.Context(recipe, Runner(scratch / "pipeline", log=lambda _: None), say=lambda _: None, progress=False)


def run(name: str, overrides: list[str], scratch: Path, probes: str) -> dict:
    """The recipe's encoder stage with `overrides`: its base model, training clips and trainer; dev probes."""
    ctx = context(overrides, scratch)
    model = str(S.base_model(ctx, S.data(ctx)).output.model.path)
    spec = ctx.recipe.encoder_pretrain
    sdir = scratch / name
    sdir.mkdir()
    run_cfg = RunConfig(dir=str(sdir / "train"), seed=ctx.recipe.seed, save_every=10 ** 9, progress=False)
    cfg = encoder_config(spec, model, encoder_sources(ctx, sdir, spec), [SourceConfig(probes)], run_cfg)
    start = time.perf_counter()
    train_encoder(cfg)
    report = json.loads((sdir / "train" / "probes.json").read_text())
    return {"name": name, "overrides": overrides, "wall_s": time.perf_counter() - start, "probes": report}


def show(result: dict) -> None:
    print(f"\n{result['name']}: {result['wall_s']:.0f} s")
    for kind, v in result["probes"]["by_type"].items():
        k, n = round(v["accuracy"] * v["n"]), v["n"]
        lo, hi = wilson_interval(k, n)
        print(f"  {kind:18s} {100 * v['accuracy']:5.1f} %  [{100 * lo:.0f}, {100 * hi:.0f}]  n={n}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a variant: recipe overrides, comma-separated (repeat for more variants)")
    parser.add_argument("--probe-clips", type=int, default=300)
    parser.add_argument("--steps", type=int, help="train every variant this many steps (default: the recipe's)")
    parser.add_argument("--out", type=Path, help="write all results as JSON here")
    args = parser.parse_args()
    common = [f"encoder_pretrain.steps={args.steps}"] if args.steps else []
    variants = [("recipe", common)] + [(v, common + v.split(",")) for v in args.set]
    with tempfile.TemporaryDirectory(prefix="mgrd-encoder-bench-") as tmp:
        scratch = Path(tmp)
        probes = scratch / "dev.jsonl"
        write_jsonl_atomic(probes, stream_references(STREAMED_FAMILIES, split="dev", seed=0, n=args.probe_clips))
        results = [run(f"v{i}", o, scratch, str(probes)) | {"name": name} for i, (name, o) in enumerate(variants)]
    for r in results:
        show(r)
    if args.out:
        args.out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
