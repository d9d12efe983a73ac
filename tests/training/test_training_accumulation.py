"""Gradient accumulation: 8 sequences in micro-batches of 1 give the gradients of one forward of 8.

The gradients are read back from one AdamW step with eps = 1 and no clipping: the first step moves
each parameter by -lr * g / (|g| + 1), which is invertible, so g = d / (1 - |d|) with d = -step / lr.
Tolerance (float32, only the summation order differs): |g_1x8 - g_8x1| <= 1e-4 * max|g| + 1e-7.
"""

import pytest
import torch

from mgrd.model import load_pretrained
from mgrd.training.config import DPOConfig, PPOConfig, SFTConfig, from_dict
from mgrd.training.dpo import train_dpo
from mgrd.training.ppo import train_ppo
from mgrd.training.sft import train_sft

from conftest import write_jsonl

LR = 0.1
OPTIM = {"lr": LR, "eps": 1.0, "grad_clip": 0.0, "warmup_steps": 0, "weight_decay": 0.0}


def stage_configs(micro_dir, tmp_path):
    sft = write_jsonl(tmp_path / "sft.jsonl", [
        {"messages": [{"role": "user", "content": f"What is {i} + {i}?"},
                      {"role": "assistant", "content": f"{i} and {i}{'!' * i} make {2 * i}.\n</think>\n{2 * i}"}]}
        for i in range(8)])
    pairs = write_jsonl(tmp_path / "pairs.jsonl", [
        {"messages": [{"role": "user", "content": f"What is {i} + 1?"}],
         "chosen": f"Add one{'.' * i}\n</think>\n{i + 1}", "rejected": f"\n</think>\n{i}"} for i in range(8)])
    prompts = write_jsonl(tmp_path / "prompts.jsonl", [
        {"messages": [{"role": "user", "content": f"What is {i} + 2?"}], "answer": str(i + 2)} for i in range(2)])
    run = {"progress": False, "save_every": 100}
    return {
        "sft": (SFTConfig, train_sft, {"model": str(micro_dir), "data": [{"path": str(sft)}], "batch_size": 8,
                                       "max_steps": 1, "optim": OPTIM, "run": run}),
        "dpo": (DPOConfig, train_dpo, {"model": str(micro_dir), "pairs": [{"path": str(pairs)}], "batch_size": 8,
                                       "max_steps": 1, "optim": OPTIM, "run": run}),
        "ppo": (PPOConfig, train_ppo, {"model": str(micro_dir), "prompts": [{"path": str(prompts)}],
                                       "iterations": 1, "prompts_per_iteration": 2, "samples_per_prompt": 4,
                                       "max_new_tokens": 6, "reward": "text", "minibatch_size": 8, "epochs": 1,
                                       "temperature": 0.9, "top_p": 0.95, "logprob_chunk": 3,
                                       "optim": OPTIM, "critic_optim": OPTIM, "run": run}),
    }


def gradients(before: dict, after: dict) -> dict:
    out = {}
    for k, p in before.items():
        d = -(after[k].double() - p.double()) / LR
        out[k] = d / (1.0 - d.abs())
    return out


@pytest.mark.parametrize("stage", ["sft", "dpo", "ppo"])
def test_micro_batches_of_one_give_the_gradients_of_the_whole_batch(micro_dir, tmp_path, stage):
    cls, train, base = stage_configs(micro_dir, tmp_path)[stage]
    start = load_pretrained(micro_dir).state_dict()
    results = {}
    for micro in (0, 1):
        cfg = from_dict(cls, {**base, "micro_batch_size": micro, "run": {**base["run"], "dir": str(tmp_path / str(micro))}})
        out = train(cfg, **({"reward_fn": lambda c, r: _length_reward(c)} if stage == "ppo" else {}))
        results[micro] = gradients(start, load_pretrained(out.model_dir).state_dict())
    whole, split = results[0], results[1]
    scale = max(float(g.abs().max()) for g in whole.values())
    assert scale > 1e-3                      # something was learned: the comparison is not of zeros
    moved = sum(int((g != 0).sum()) for g in whole.values())
    assert moved > 1000
    for k in whole:
        diff = float((whole[k] - split[k]).abs().max())
        assert diff <= 1e-4 * scale + 1e-7, (k, diff, scale)


def _length_reward(completion):
    from mgrd.training.rewards import Reward

    return Reward(min(len(completion), 10) / 10.0, {})
