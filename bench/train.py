"""Trainer throughput on this machine: SFT and PPO steps of the tiny model, tokens/s and MFU, rollout tokens/s.

MFU = model FLOPs per second (6·N·tokens for forward + backward of the decoder's matmul weights,
PaLM convention) / the FLOP/s of a 1024² float32 matmul measured in the same run (the practical
peak of these cores). Run: `python bench/train.py [--threads N]`. Timings on a shared machine are noisy.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

import torch

from mgrd.chat import train_tokenizer
from mgrd.chat.corpus import tiny_corpus
from mgrd.model import AudioTokenIds, build_model, save_pretrained, tiny_config
from mgrd.training.config import PPOConfig, SFTConfig, from_dict
from mgrd.training.metrics import measure_peak_flops
from mgrd.training.ppo import train_ppo
from mgrd.training.sft import train_sft


def make_checkpoint(root: Path) -> Path:
    tok = train_tokenizer(tiny_corpus(), vocab_size=2048)
    s = tok.special
    cfg = tiny_config(-(-tok.vocab_size // 64) * 64, audio_token_ids=AudioTokenIds(s.audio_start, s.audio_end,
                                                                                    s.audio_patch),
                      eos_token_ids=(s.eot, s.endoftext), pad_token_id=s.endoftext)
    save_pretrained(build_model(cfg, seed=0), root / "tiny", tokenizer=tok)
    return root / "tiny"


def write_data(root: Path) -> tuple[Path, Path]:
    rng = random.Random(0)
    lines = tiny_corpus()
    sft, prompts = root / "sft.jsonl", root / "prompts.jsonl"
    with open(sft, "w") as f:
        for i in range(64):
            reasoning = " ".join(rng.choice(lines) for _ in range(12))
            f.write(json.dumps({"messages": [{"role": "user", "content": rng.choice(lines)},
                                             {"role": "assistant", "content": f"{reasoning}\n</think>\nB"}]}) + "\n")
    with open(prompts, "w") as f:
        for i in range(16):
            f.write(json.dumps({"messages": [{"role": "user", "content": f"What is {i} + 3?"}],
                                "answer": str(i + 3)}) + "\n")
    return sft, prompts


def timed(train, cfg, **kw):
    stamps = []
    result = train(cfg, after_step=lambda step, m: stamps.append(time.perf_counter()), **kw)
    return result.history, [b - a for a, b in zip(stamps, stamps[1:])]   # steps 2.. (first is warm-up)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--steps", type=int, default=6)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    root = Path(tempfile.mkdtemp(prefix="mgrd-bench-"))
    ckpt = make_checkpoint(root)
    sft_data, prompts = write_data(root)
    peak = measure_peak_flops("cpu", size=1024, seconds=2.0)
    print(f"threads {args.threads}; peak (1024^2 fp32 matmul) {peak / 1e9:.1f} GFLOP/s")

    sft_cfg = from_dict(SFTConfig, {"model": str(ckpt), "data": [{"path": str(sft_data)}], "batch_size": 16,
                                    "max_steps": args.steps, "optim": {"lr": 1e-4},
                                    "run": {"dir": str(root / "sft"), "save_every": 10**6, "progress": False}})
    hist, dts = timed(train_sft, sft_cfg)
    toks = sum(h["seq_tokens"] for h in hist[1:])
    flops = sum(h["flops"] for h in hist[1:])
    print(f"SFT  batch 16 x ~{hist[-1]['seq_tokens'] // 16} tokens: {toks / sum(dts):8.0f} tokens/s, "
          f"{flops / sum(dts) / 1e9:6.1f} GFLOP/s, MFU {flops / sum(dts) / peak:6.1%}")

    ppo_cfg = from_dict(PPOConfig, {"model": str(ckpt), "prompts": [{"path": str(prompts)}],
                                    "iterations": max(3, args.steps // 2), "prompts_per_iteration": 4,
                                    "samples_per_prompt": 8, "max_new_tokens": 48, "temperature": 1.0,
                                    "reward": "text", "epochs": 2, "minibatch_size": 16,
                                    "run": {"dir": str(root / "ppo"), "save_every": 10**6, "progress": False}})
    rollout_time: list[float] = []
    from mgrd.training import rollout as rollout_mod
    original = rollout_mod.NativeRollout.generate

    def timed_generate(self, prompts, params):
        t = time.perf_counter()
        out = original(self, prompts, params)
        rollout_time.append(time.perf_counter() - t)
        return out

    rollout_mod.NativeRollout.generate = timed_generate
    hist, dts = timed(train_ppo, ppo_cfg)
    rollout_mod.NativeRollout.generate = original
    gen_tokens = [h["response_tokens"] * 32 for h in hist]
    roll = sum(gen_tokens[1:]) / sum(rollout_time[1:])
    update_time = sum(dts) - sum(rollout_time[1:])
    flops = sum(h["flops"] for h in hist[1:])
    print(f"PPO  32 rollouts x ~{sum(gen_tokens) / len(gen_tokens) / 32:.0f} new tokens: rollout {roll:8.0f} tokens/s; "
          f"iteration {sum(dts) / len(dts):.2f} s ({sum(rollout_time[1:]) / sum(dts):.0%} rollout); "
          f"scoring + updates MFU {flops / max(update_time, 1e-9) / peak:6.1%}")


if __name__ == "__main__":
    main()
