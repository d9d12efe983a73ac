"""Same-seed A/B of two source trees on the training stages: SFT, PPO and DPO losses and weights, greedy answers.

Run from any directory:
`python bench/ab_training_path.py --before TREE_A --after TREE_B --model MODEL_DIR --world WORLD_DIR
 --text TEXT.jsonl --out WORK_DIR`

Each stage runs once per tree, in a subprocess with that tree first on PYTHONPATH and one torch
thread (so both runs reduce in the same order where the code does), with the same config and seed:
SFT and DPO through `python -m mgrd.cli.main`, PPO through the same `load_config` + `train_ppo` the
CLI calls, with the rollouts recorded. The comparison (per-step metric differences, the largest
weight difference absolute and relative to the largest weight, identical rollouts and greedy
answers, the first divergence) goes to WORK_DIR/ab.json and stdout. The data files are written once
with the `--before` tree's code, so both trees read the same bytes.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

HERE = Path(__file__).resolve()
STAGES = ("sft", "ppo", "dpo")


# ---- data (run inside one tree) --------------------------------------------------------------------
def prepare(world: Path, out: Path, *, audio: int, prompts: int, pairs: int, heldout: int) -> None:
    """sft_audio.jsonl (half grounded chains, half empty think), prompts.jsonl (text and audio RL prompts),
    pairs.jsonl (grounded vs surrogate chain) and heldout_text.jsonl (RL-style prompts) under `out`."""
    from mgrd.data.dataset import read_split
    from mgrd.data.records import answer_text, assistant_text, messages_for
    from mgrd.pipeline import data as D
    from mgrd.training.cognition import preference_pair

    train = list(read_split(world, "train"))
    sound = [r for r in train if D.is_audio_item(r) and D.has_chain(r, "grounded")]
    texts = [r for r in train if D.is_text_item(r)]
    if len(sound) < max(audio, pairs) or len(texts) < prompts:
        raise ValueError(f"{world}: {len(sound)} audio and {len(texts)} text train records; need "
                         f"{max(audio, pairs)} and {prompts}")
    half = audio // 2
    sft = [D.sft_record(r, world, "grounded") for r in sound[:half]]
    sft += [D.sft_record(r, world, "empty") for r in sound[half:audio]]
    rl = [D.prompt_record(r, world) for r in texts[:prompts - prompts // 4]]
    rl += [D.prompt_record(r, world) for r in sound[:prompts // 4]]
    prefs = []
    for r in sound[-pairs:]:
        chosen = assistant_text(r.reasoning["grounded"], answer_text(r))
        rejected = messages_for(r, "surrogate")[-1]["content"]
        if chosen != rejected:
            prefs.append({"id": r.id, **preference_pair(D.absolute(messages_for(r, "empty")[:1], world),
                                                        chosen, rejected)})
    held = [D.prompt_record(r, world) for r in read_split(world, "heldout") if D.is_text_item(r)][:heldout]
    for name, records in (("sft_audio", sft), ("prompts", rl), ("pairs", prefs), ("heldout_text", held)):
        D.write(out / f"{name}.jsonl", records)
    print(f"wrote {len(sft)} audio SFT records, {len(rl)} prompts, {len(prefs)} pairs, {len(held)} held-out items")


def ppo(config: Path, rollouts: Path) -> None:
    """What `mgrd ppo CONFIG` runs, with every iteration's rollouts (ids, mask, reward) written to `rollouts`."""
    from mgrd.training import ppo as P
    from mgrd.training.config import PPOConfig, load_config

    original = P.collect
    rows = []

    def recording(*args, **kwargs):
        samples = original(*args, **kwargs)
        rows.extend({"input_ids": list(s.input_ids), "response_mask": list(s.response_mask),
                     "reward": float(s.reward.value), "completion": s.completion} for s in samples)
        return samples

    P.collect = recording
    P.train_ppo(load_config(PPOConfig, config, []))
    rollouts.write_text("".join(json.dumps(r) + "\n" for r in rows))


def generate(model: Path, items: Path, out: Path, max_tokens: int) -> None:
    """Greedy completions of the RL-style records in `items` -> one JSON line each (ids, reasoning, answer)."""
    import torch

    from mgrd.chat import Tokenizer
    from mgrd.inference.engine import Engine
    from mgrd.inference.sampling import SamplingParams
    from mgrd.model import load_pretrained
    from mgrd.training.data import encode_rl_prompt

    tokenizer = Tokenizer.from_dir(model)
    lm = load_pretrained(model, dtype=torch.float32, device="cpu", tokenizer_special_ids=tokenizer.special)
    records = [json.loads(line) for line in items.read_text().splitlines() if line.strip()]
    prompts = [encode_rl_prompt(r, tokenizer) for r in records]
    with torch.no_grad():
        gens = Engine(lm, tokenizer, max_batch_size=len(prompts)).generate(
            prompts, SamplingParams(max_tokens=max_tokens, temperature=0.0))
    out.write_text("".join(json.dumps({"id": r["id"], "token_ids": g[0].token_ids, "reasoning": g[0].reasoning,
                                       "answer": g[0].answer, "reference": r["answer"]}) + "\n"
                           for r, g in zip(records, gens)))


# ---- driver ----------------------------------------------------------------------------------------
def configs(args: argparse.Namespace, data: Path) -> dict[str, dict]:
    """Per stage, the trainer config (only keys both trees accept); run.dir is filled in per tree."""
    common = {"seed": args.seed, "save_every": 1000, "keep_last": 1, "progress": False, "resume": "never"}
    optim = {"weight_decay": 0.0}
    return {
        "sft": {"max_steps": args.sft_steps, "batch_size": 8,
                "data": [{"path": str(args.text), "ratio": 1.0},
                         {"path": str(data / "sft_audio.jsonl"), "ratio": 0.25}],
                "optim": {**optim, "lr": 5e-4, "warmup_steps": 5}, "run": dict(common)},
        "ppo": {"prompts": [{"path": str(data / "prompts.jsonl")}], "iterations": 2, "prompts_per_iteration": 2,
                "samples_per_prompt": 4, "max_new_tokens": 48, "temperature": args.ppo_temperature, "epochs": 1, "minibatch_size": 8,
                "grader": "mgrd.pipeline.data:world_grader", "reward": "modality",
                "optim": {**optim, "lr": 3e-5}, "critic_optim": {**optim, "lr": 1e-4}, "run": dict(common)},
        "dpo": {"pairs": [{"path": str(data / "pairs.jsonl")}], "max_steps": args.dpo_steps, "batch_size": 4,
                "beta": 0.1, "optim": {**optim, "lr": 5e-5}, "run": dict(common)},
    }


def call(tree: Path, argv: list[str], log: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(tree), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    with log.open("w") as f:
        done = subprocess.run([sys.executable, *argv], cwd=tree, env=env, stdout=f, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv[:4])} failed in {tree} (exit {done.returncode}); see {log}")


def run_tree(args: argparse.Namespace, name: str, tree: Path, data: Path) -> Path:
    """SFT, PPO and DPO (each from `--model`) and the greedy answers of the SFT model."""
    base = args.out / name
    base.mkdir(parents=True, exist_ok=True)
    cfgs = configs(args, data)
    for stage in STAGES:
        cfg = cfgs[stage]
        cfg["run"]["dir"] = str(base / stage)
        cfg.setdefault("model", str(args.model))   # every stage starts from the same weights in both trees
        path = base / f"{stage}.yaml"
        path.write_text(yaml.safe_dump(cfg, sort_keys=False))
        if stage == "ppo":
            call(tree, [str(HERE), "_ppo", str(path), str(base / "rollouts.jsonl")], base / f"{stage}.log")
        else:
            call(tree, ["-m", "mgrd.cli.main", stage, str(path)], base / f"{stage}.log")
    call(tree, [str(HERE), "_generate", str(base / "sft" / "model"), str(data / "heldout_text.jsonl"),
                str(base / "answers.jsonl"), str(args.max_tokens)], base / "generate.log")
    return base


def metrics(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]


def weight_gap(a: Path, b: Path, start: Path) -> dict:
    """Largest |a - b| over every tensor of two saved models, relative to the largest |a| (the weights' scale),
    and the norm of a - b relative to the norm of the training update a - start (all tensors together)."""
    from safetensors.torch import load_file

    wa, wb, w0 = (load_file(str(p / "model.safetensors")) for p in (a, b, start))
    if wa.keys() != wb.keys() or wa.keys() != w0.keys():
        raise ValueError(f"{a}, {b} and {start} hold different tensors")
    gaps = {k: float((wa[k].double() - wb[k].double()).abs().max()) for k in wa}
    worst = max(gaps, key=gaps.get)
    scale = max(float(t.abs().max()) for t in wa.values())
    gap_norm = sum(float((wa[k].double() - wb[k].double()).pow(2).sum()) for k in wa) ** 0.5
    update_norm = sum(float((wa[k].double() - w0[k].double()).pow(2).sum()) for k in wa) ** 0.5
    return {"max_abs": gaps[worst], "tensor": worst, "max_weight": scale, "relative": gaps[worst] / max(scale, 1e-30),
            "gap_norm": gap_norm, "update_norm": update_norm, "relative_to_update": gap_norm / max(update_norm, 1e-30),
            "identical_tensors": sum(v == 0.0 for v in gaps.values()), "tensors": len(gaps)}


def metric_gaps(a: list[dict], b: list[dict]) -> dict:
    """Per shared numeric metric key: the largest |a - b| over steps and the first step where they differ."""
    keys = sorted(k for k in set(a[0]) & set(b[0]) if k not in ("time", "step") and isinstance(a[0][k], (int, float)))
    out = {}
    for k in keys:
        diffs = [abs(x[k] - y[k]) for x, y in zip(a, b)]
        first = next((x["step"] for x, d in zip(a, diffs) if d != 0), None)
        out[k] = {"max_abs": max(diffs), "first_step_differs": first}
    only = sorted((set(a[0]) ^ set(b[0])) - {"time"})
    return {"steps": [len(a), len(b)], "keys": out, "keys_in_one_only": only}


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def same_rows(a: list[dict], b: list[dict], field: str) -> dict:
    first = next((i for i, (x, y) in enumerate(zip(a, b)) if x[field] != y[field]), None)
    return {"rows": [len(a), len(b)], "identical": first is None and len(a) == len(b), "first_differs": first}


def compare(before: Path, after: Path, start: Path) -> dict:
    report = {}
    for stage in STAGES:
        report[stage] = {"metrics": metric_gaps(metrics(before / stage), metrics(after / stage)),
                         "weights": weight_gap(before / stage / "model", after / stage / "model", start)}
    report["ppo"]["rollouts"] = same_rows(lines(before / "rollouts.jsonl"), lines(after / "rollouts.jsonl"),
                                          "input_ids")
    ans_a, ans_b = lines(before / "answers.jsonl"), lines(after / "answers.jsonl")
    report["generate"] = {**same_rows(ans_a, ans_b, "token_ids"),
                          "same_answers": sum(x["answer"] == y["answer"] for x, y in zip(ans_a, ans_b))}
    return report


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_ppo":
        return ppo(Path(sys.argv[2]), Path(sys.argv[3]))
    if len(sys.argv) > 1 and sys.argv[1] == "_generate":
        return generate(Path(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4]), int(sys.argv[5]))
    if len(sys.argv) > 1 and sys.argv[1] == "_prepare":
        return prepare(Path(sys.argv[2]), Path(sys.argv[3]), **json.loads(sys.argv[4]))
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for name in ("before", "after", "model", "world", "text", "out"):
        p.add_argument(f"--{name}", type=lambda s: Path(s).resolve(), required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--sft-steps", type=int, default=40)
    p.add_argument("--dpo-steps", type=int, default=10)
    p.add_argument("--ppo-temperature", type=float, default=1.0, help="PPO sampling temperature (the tiny recipe: 1)")
    p.add_argument("--max-tokens", type=int, default=220, help="greedy generation limit per held-out item")
    p.add_argument("--compare-only", action="store_true", help="compare the runs already in --out, run nothing")
    args = p.parse_args()
    if not args.compare_only:
        data = args.out / "data"
        data.mkdir(parents=True, exist_ok=True)
        sizes = {"audio": 24, "prompts": 8, "pairs": 8, "heldout": 32}
        call(args.before, [str(HERE), "_prepare", str(args.world), str(data), json.dumps(sizes)],
             args.out / "prepare.log")
        for name in ("before", "after"):
            run_tree(args, name, getattr(args, name), data)
    report = compare(args.out / "before", args.out / "after", args.model)
    (args.out / "ab.json").write_text(json.dumps(report, indent=1))
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
