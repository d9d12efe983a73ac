"""Two CPU processes under torchrun (gloo, FSDP2) give the losses of one process with the same global batch."""

import json
import os
import subprocess
import sys

import pytest
import torch
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


@pytest.mark.parametrize("stage, checkpointing", [("sft", False), ("dpo", False), ("ppo", False), ("grpo", False),
                                                   ("sft", True), ("dpo", True), ("ppo", True)])
def test_two_processes_match_one(micro_dir, tmp_path, stage, checkpointing):
    trainer = "ppo" if stage == "grpo" else stage   # GRPO: each process holds whole groups of samples
    cls, train, base = configs(micro_dir, tmp_path)[trainer]
    if stage == "grpo":
        base = {**base, "advantage": "grpo"}
    if checkpointing:   # activation checkpointing in the two processes only: it must not change a number
        base = {**base, "run": {**base["run"], "activation_checkpointing": True}}
        single_run = {**base["run"], "activation_checkpointing": False}
    else:
        single_run = base["run"]
    single = train(from_dict(cls, {**base, "run": {**single_run, "dir": str(tmp_path / "one")}}))
    cfg_file = tmp_path / "cfg.yaml"
    cfg_file.write_text(yaml.safe_dump({**base, "run": {**base["run"], "dir": str(tmp_path / "two")}}))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           "-m", "mgrd.cli.main", trainer, str(cfg_file)], capture_output=True, text=True,
                          timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    logged = [json.loads(x) for x in (tmp_path / "two" / "metrics.jsonl").read_text().splitlines()]
    keys = {"sft": ("loss",), "dpo": ("loss", "margin"), "ppo": ("reward", "policy_loss", "value_loss"),
            "grpo": ("reward", "policy_loss", "zero_advantage_groups")}[stage]
    assert len(logged) == len(single.history)
    for one, two in zip(single.history, logged):
        for k in keys:
            assert two[k] == pytest.approx(one[k], rel=TOLERANCE, abs=1e-6), (k, one[k], two[k])


@pytest.mark.parametrize("stage", ["sft", "dpo", "ppo"])
def test_two_processes_match_one_with_lora(micro_dir, tmp_path, stage):
    """peft adapters injected on the meta device, sharded with FSDP2 and seeded per name: the same
    losses and the same saved adapters as one process (PPO: the actor's and the critic's adapters,
    the KL reference as the base with adapters off, the replica refreshed with merged weights)."""
    pytest.importorskip("peft")
    from safetensors.torch import load_file

    cls, train, base = configs(micro_dir, tmp_path)[stage]
    base = {**base, "lora": {"rank": 4, "alpha": 8.0, "dropout": 0.0}}
    if stage == "ppo":
        base["kl_coef"] = 0.1
    single = train(from_dict(cls, {**base, "run": {**base["run"], "dir": str(tmp_path / "one")}}))
    cfg_file = tmp_path / "cfg.yaml"
    cfg_file.write_text(yaml.safe_dump({**base, "run": {**base["run"], "dir": str(tmp_path / "two")}}))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           "-m", "mgrd.cli.main", stage, str(cfg_file)], capture_output=True, text=True,
                          timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    logged = [json.loads(x) for x in (tmp_path / "two" / "metrics.jsonl").read_text().splitlines()]
    keys = {"sft": ("loss",), "dpo": ("loss", "margin"), "ppo": ("reward", "policy_loss", "value_loss", "kl_ref")}[stage]
    assert len(logged) == len(single.history)
    for one, two in zip(single.history, logged):
        for k in keys:
            assert two[k] == pytest.approx(one[k], rel=TOLERANCE, abs=1e-6), (k, one[k], two[k])
    a = load_file(str(tmp_path / "one" / "model" / "adapter_model.safetensors"))
    b = load_file(str(tmp_path / "two" / "model" / "adapter_model.safetensors"))
    assert a.keys() == b.keys() and len(a) == 28
    for k in a:
        torch.testing.assert_close(b[k], a[k], rtol=TOLERANCE, atol=1e-6)


SHARDED_LOAD = """
import json, os, sys
import torch
from mgrd.training.distributed import init_distributed
from mgrd.training.loading import load_for_training
info = init_distributed("cpu")
actor, _ = load_for_training(sys.argv[1], info, checkpointing=True)
critic, _ = load_for_training(sys.argv[1], info, critic=True)
local = lambda m: sum(p.to_local().numel() for p in m.parameters())
full = {k: v.full_tensor() for k, v in actor.state_dict().items()}
out = {"actor_local": local(actor), "critic_local": local(critic),
       "critic_keys": sorted(critic.state_dict()), "sums": {k: float(v.double().sum()) for k, v in full.items()}}
with open(os.path.join(sys.argv[2], f"rank{info.rank}.json"), "w") as f:
    json.dump(out, f)
"""


def test_sharded_loading_holds_half_the_parameters_per_process_and_the_checkpoints_values(micro_dir, tmp_path):
    from mgrd.model import load_pretrained

    script = tmp_path / "load.py"
    script.write_text(SHARDED_LOAD)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           str(script), str(micro_dir), str(tmp_path)], capture_output=True, text=True, timeout=600,
                          env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    whole = load_pretrained(micro_dir)
    total = sum(p.numel() for p in whole.parameters())
    head = whole.lm_head.weight.numel()
    assert ranks[0]["actor_local"] + ranks[1]["actor_local"] == total
    for r in ranks:
        assert r["actor_local"] <= total / 2 + 4096       # a shard each (uneven rows at most), never the whole
        assert r["critic_local"] <= (total - head + 65) / 2 + 4096
        assert not any("lm_head" in k for k in r["critic_keys"]) and "value_head.weight" in r["critic_keys"]
    assert ranks[0]["critic_local"] + ranks[1]["critic_local"] == total - head + whole.text_config.hidden_size + 1
    for k, v in whole.state_dict().items():       # the gathered shards are the checkpoint's tensors
        assert ranks[0]["sums"][k] == pytest.approx(float(v.double().sum()), rel=1e-9, abs=1e-9), k
