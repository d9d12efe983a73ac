"""GPU checks on one CUDA device: bf16 engine correctness and throughput, bf16 SFT/PPO, FSDP2, the smoke pipeline.

    python bench/gpu.py [--work DIR]

Each section prints its own result and failures do not stop later sections. Compares the engine
with transformers `generate` on the same weights (bf16) at batch 1, 16 and 64.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

import torch

DEVICE = "cuda"
sys.path.insert(0, str(Path(__file__).parent))


def section(name):
    def wrap(fn):
        def run(*a, **k):
            print(f"\n== {name}", flush=True)
            t = time.perf_counter()
            try:
                fn(*a, **k)
            except Exception:  # report and go on with the next section
                traceback.print_exc(limit=6)
            print(f"-- {name}: {time.perf_counter() - t:.1f} s", flush=True)
        return run
    return wrap


@section("environment")
def environment():
    import transformers
    print(f"torch {torch.__version__}, transformers {transformers.__version__}, "
          f"device {torch.cuda.get_device_name(0)}")


@section("engine bf16: greedy vs full forward, throughput vs transformers generate")
def engine(ckpt: Path):
    from generate import hf_generate

    from mgrd.chat import Tokenizer
    from mgrd.inference import Engine, Prompt, SamplingParams
    from mgrd.model import load_pretrained

    tok = Tokenizer.from_dir(ckpt)
    model = load_pretrained(ckpt, dtype=torch.bfloat16, device="cuda", tokenizer_special_ids=tok.special)
    eng = Engine(model, tok, max_batch_size=64)
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(0, tok.special.endoftext, (64, 64), generator=g)
    same = 0
    for row in ids[:8].tolist():  # engine vs recomputing the full forward each step
        out = eng.generate([Prompt(tuple(row))], SamplingParams(max_tokens=16, temperature=0))[0][0].token_ids
        seq, ref = list(row), []
        with torch.no_grad():
            for _ in range(len(out)):
                nxt = int(model(torch.tensor([seq], device="cuda")).logits[0, -1].argmax())
                ref.append(nxt)
                seq.append(nxt)
        same += out == ref
    print(f"greedy identical to full forward (bf16): {same}/8")
    for batch in (1, 16, 64):
        prompts = [Prompt(tuple(r)) for r in ids[:batch].tolist()]
        params = SamplingParams(max_tokens=128, temperature=0)
        eng.generate(prompts[:1], SamplingParams(max_tokens=4, temperature=0))
        hf_generate(model, tok, ids[:1].cuda(), 4)
        best_e = best_h = 0.0
        for _ in range(3):
            torch.cuda.synchronize(); t = time.perf_counter()
            ours = [x[0].token_ids for x in eng.generate(prompts, params)]
            torch.cuda.synchronize(); best_e = max(best_e, sum(map(len, ours)) / (time.perf_counter() - t))
            t = time.perf_counter()
            theirs = hf_generate(model, tok, ids[:batch].cuda(), 128)
            torch.cuda.synchronize(); best_h = max(best_h, sum(map(len, theirs)) / (time.perf_counter() - t))
        ident = sum(a == b for a, b in zip(ours, theirs))
        print(f"batch {batch:2d}: engine {best_e:8.0f} tok/s, transformers {best_h:8.0f} tok/s, "
              f"ratio {best_e / best_h:.2f}x, greedy identical {ident}/{batch}")


def _world(work: Path) -> Path:
    out = work / "world"
    subprocess.run([sys.executable, "-m", "mgrd.cli.main", "world", "generate", "--out", str(out),
                    "--split", "train", "--n", "256", "--families", "sound,music,composite,text",
                    "--seed", "0"], check=True, capture_output=True, text=True)
    return out


def _write_cfg(path: Path, cfg: dict) -> Path:
    path.write_text(json.dumps(cfg))  # JSON is YAML
    return path


@section("SFT bf16 autocast on the GPU (tiny model, world data)")
def sft(ckpt: Path, work: Path):
    from mgrd.training import sft as sft_mod
    from mgrd.training.config import SFTConfig, load_config

    data = _world(work)
    jsonl = next(data.glob("train*.jsonl"))
    cfg = _write_cfg(work / "sft.yaml", {"model": str(ckpt), "data": [{"path": str(jsonl)}],
                                          "max_steps": 40, "batch_size": 32,
                                          "optim": {"lr": 3e-4, "warmup_steps": 5},
                                          "run": {"dir": str(work / "sft"), "save_every": 40,
                                                  "progress": False, "device": DEVICE}})
    t = time.perf_counter()
    result = sft_mod.train_sft(load_config(SFTConfig, cfg, []))
    print(f"40 steps in {time.perf_counter() - t:.1f} s; result: {result}")
    lines = (work / "sft" / "metrics.jsonl").read_text().splitlines()
    print("first/last metrics:", lines[0][:300], "\n", lines[-1][:300])


@section("FSDP2 under torchrun (1 process, NCCL, bf16)")
def fsdp(ckpt: Path, work: Path):
    jsonl = next((work / "world").glob("train*.jsonl"))
    cfg = _write_cfg(work / "sft_fsdp.yaml", {"model": str(ckpt), "data": [{"path": str(jsonl)}],
                                               "max_steps": 10, "batch_size": 16,
                                               "run": {"dir": str(work / "sft_fsdp"), "save_every": 10,
                                                       "progress": False, "device": DEVICE}})
    proc = subprocess.run(["torchrun", "--standalone", "--nproc_per_node", "1", "-m", "mgrd.cli.main", "sft",
                           str(cfg)], capture_output=True, text=True, timeout=240)
    print("exit", proc.returncode)
    print(proc.stdout[-1500:], proc.stderr[-2500:])


@section("PPO iteration on the GPU (rollouts through the engine)")
def ppo(ckpt: Path, work: Path):
    from mgrd.training.config import PPOConfig, load_config
    from mgrd.training.ppo import train_ppo

    jsonl = next((work / "world").glob("train*.jsonl"))
    cfg = _write_cfg(work / "ppo.yaml", {"model": str(ckpt), "prompts": [{"path": str(jsonl)}],
                                          "iterations": 2, "prompts_per_iteration": 8,
                                          "samples_per_prompt": 8, "max_new_tokens": 64,
                                          "run": {"dir": str(work / "ppo"), "save_every": 2,
                                                  "progress": False, "device": DEVICE}})
    t = time.perf_counter()
    train_ppo(load_config(PPOConfig, cfg, []))
    print(f"2 iterations in {time.perf_counter() - t:.1f} s")
    for line in (work / "ppo" / "metrics.jsonl").read_text().splitlines()[-2:]:
        print(line[:400])


@section("the smoke recipe end to end on the GPU (bf16 autocast training, float32 engine)")
def pipeline(work: Path):
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "mgrd.cli.main", "train", "smoke", "--run-dir", str(work / "smoke")],
                          capture_output=True, text=True, timeout=300)
    print("exit", proc.returncode, f"in {time.perf_counter() - t:.1f} s")
    print(proc.stdout[-2500:], proc.stderr[-1500:])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--work", default=None)
    ap.add_argument("--cpu-dry-run", action="store_true", help="run the training sections on the CPU")
    ap.add_argument("--only-pipeline", action="store_true", help="run only the smoke pipeline section")
    args = ap.parse_args()
    global DEVICE
    if args.cpu_dry_run:
        DEVICE = "cpu"
    work = Path(args.work or tempfile.mkdtemp(prefix="mgrd-gpu-"))
    work.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if args.only_pipeline:
        pipeline(work)
        return
    ckpt = work / "tiny"
    subprocess.run([sys.executable, "-m", "mgrd.cli.main", "init-tiny", str(ckpt), "--force"], check=True)
    if not args.cpu_dry_run:
        environment()
        engine(ckpt)
    else:
        _world(work)
    sft(ckpt, work)
    fsdp(ckpt, work)
    ppo(ckpt, work)
    if not args.cpu_dry_run:
        pipeline(work)


if __name__ == "__main__":
    main()
