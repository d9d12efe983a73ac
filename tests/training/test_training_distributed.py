"""Two CPU processes under torchrun (gloo, FSDP2) give the losses of one process with the same global batch."""

import json
import os
import subprocess
import sys

import pytest
import yaml

from mgrd.training.config import DPOConfig, PPOConfig, SFTConfig, from_dict
from mgrd.training.dpo import train_dpo
from mgrd.training.ppo import train_ppo
from mgrd.training.sft import train_sft

from conftest import write_jsonl

pytestmark = pytest.mark.slow

TOLERANCE = 1e-4    # relative; sharded reductions only reorder float32 sums


def configs(micro_dir, tmp_path):
    sft_data = write_jsonl(tmp_path / "sft.jsonl", [
        {"messages": [{"role": "user", "content": f"What is {i} + {i}?"},
                      {"role": "assistant", "content": f"{i} + {i} = {2 * i}.\n</think>\n{2 * i}"}]} for i in range(8)])
    pairs = write_jsonl(tmp_path / "pairs.jsonl", [
        {"messages": [{"role": "user", "content": f"What is {i} + 1?"}],
         "chosen": f"Add one.\n</think>\n{i + 1}", "rejected": f"\n</think>\n{i}"} for i in range(4)])
    prompts = write_jsonl(tmp_path / "prompts.jsonl", [
        {"messages": [{"role": "user", "content": f"What is {i} + 2?"}], "answer": str(i + 2)} for i in range(4)])
    run = {"progress": False, "save_every": 100}
    return {
        "sft": (SFTConfig, train_sft, {"model": str(micro_dir), "data": [{"path": str(sft_data)}], "batch_size": 4,
                                       "max_steps": 3, "optim": {"lr": 1e-2}, "run": run}),
        "dpo": (DPOConfig, train_dpo, {"model": str(micro_dir), "pairs": [{"path": str(pairs)}], "batch_size": 4,
                                       "max_steps": 3, "optim": {"lr": 1e-2}, "run": run}),
        "ppo": (PPOConfig, train_ppo, {"model": str(micro_dir), "prompts": [{"path": str(prompts)}],
                                       "iterations": 2, "prompts_per_iteration": 2, "samples_per_prompt": 4,
                                       "max_new_tokens": 4, "reward": "text", "minibatch_size": 4,
                                       "optim": {"lr": 1e-2}, "critic_optim": {"lr": 1e-2}, "run": run}),
    }


@pytest.mark.parametrize("stage", ["sft", "dpo", "ppo"])
def test_two_processes_match_one(micro_dir, tmp_path, stage):
    cls, train, base = configs(micro_dir, tmp_path)[stage]
    single = train(from_dict(cls, {**base, "run": {**base["run"], "dir": str(tmp_path / "one")}}))
    cfg_file = tmp_path / "cfg.yaml"
    cfg_file.write_text(yaml.safe_dump({**base, "run": {**base["run"], "dir": str(tmp_path / "two")}}))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           "-m", "mgrd.cli.main", stage, str(cfg_file)], capture_output=True, text=True,
                          timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    logged = [json.loads(x) for x in (tmp_path / "two" / "metrics.jsonl").read_text().splitlines()]
    keys = {"sft": ("loss",), "dpo": ("loss", "margin"), "ppo": ("reward", "policy_loss", "value_loss")}[stage]
    assert len(logged) == len(single.history)
    for one, two in zip(single.history, logged):
        for k in keys:
            assert two[k] == pytest.approx(one[k], rel=TOLERANCE, abs=1e-6), (k, one[k], two[k])
