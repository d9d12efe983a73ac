"""Trainer configs are frozen and check their values when built, naming the key and what is accepted."""

import dataclasses

import pytest

from mgrd.training.config import DPOConfig, PPOConfig, SFTConfig, from_dict

BASE = {"sft": (SFTConfig, {"model": "m", "data": [{"path": "d.jsonl"}]}),
        "ppo": (PPOConfig, {"model": "m", "prompts": [{"path": "p.jsonl"}]}),
        "dpo": (DPOConfig, {"model": "m", "pairs": [{"path": "p.jsonl"}]})}


def build(kind, **extra):
    cls, base = BASE[kind]
    return from_dict(cls, {**base, **extra})


@pytest.mark.parametrize("kind, extra, words", [
    ("sft", {"batch_size": 0}, ["batch_size=0", "integer >= 1"]),
    ("sft", {"micro_batch_size": -2}, ["micro_batch_size=-2", ">= 0"]),
    ("sft", {"max_length": 1}, ["max_length=1"]),
    ("sft", {"data": []}, ["data", "non-empty list"]),
    ("sft", {"data": [{"path": "d.jsonl", "ratio": 0}]}, ["ratio > 0"]),
    ("sft", {"data": [{"path": "d.jsonl", "loss_on": "user"}]}, ["loss_on='user'", "assistant, all"]),
    ("sft", {"optim": {"lr": -1.0}}, ["lr=-1.0", "> 0"]),
    ("sft", {"optim": {"betas": [0.9, 1.0]}}, ["betas", "[0, 1)"]),
    ("sft", {"optim": {"min_lr_ratio": 2.0}}, ["min_lr_ratio=2.0", "[0, 1]"]),
    ("sft", {"run": {"autocast": "fp16"}}, ["run.autocast='fp16'", "auto, bf16, none"]),
    ("sft", {"run": {"resume": "yes"}}, ["run.resume", "auto, never"]),
    ("sft", {"run": {"save_every": 0}}, ["run.save_every=0"]),
    ("ppo", {"clip": 0.0}, ["clip=0.0", "(0, 1)"]),
    ("ppo", {"epochs": 0}, ["epochs=0"]),
    ("ppo", {"reward": "length"}, ["reward='length'", "modality, audio, text"]),
    ("ppo", {"grader": "not a function"}, ["grader", "package.module:function"]),
    ("ppo", {"temperature": 0.0}, ["temperature=0.0"]),
    ("ppo", {"top_p": 0.0}, ["top_p=0.0", "(0, 1]"]),
    ("ppo", {"samples_per_prompt": 500}, ["samples_per_prompt=500", "<= 128"]),
    ("ppo", {"gamma": 1.5}, ["gamma=1.5"]),
    ("ppo", {"kl_coef": -0.1}, ["kl_coef=-0.1"]),
    ("ppo", {"max_length": 512, "max_new_tokens": 512}, ["max_length=512", "max_new_tokens=512"]),
    ("ppo", {"thinking_budget": -1}, ["thinking_budget=-1"]),
    ("ppo", {"advantage": "rloo"}, ["advantage='rloo'", "gae, grpo"]),
    ("ppo", {"advantage": "grpo", "grpo_scale": "mad"}, ["grpo_scale='mad'", "std, none"]),
    ("ppo", {"advantage": "grpo", "grpo_eps": 0.0}, ["grpo_eps=0.0", "> 0"]),
    ("ppo", {"advantage": "grpo", "samples_per_prompt": 1}, ["samples_per_prompt=1", ">= 2", "advantage='gae'"]),
    ("ppo", {"advantage": "grpo", "whiten_advantages": True}, ["whiten_advantages", "grpo_scale"]),
    ("dpo", {"beta": 0.0}, ["beta=0.0", "> 0"]),
    ("dpo", {"batch_size": 0}, ["batch_size=0"]),
])
def test_bad_values_are_refused_naming_the_key(kind, extra, words):
    with pytest.raises(ValueError) as e:
        build(kind, **extra)
    assert all(w in str(e.value) for w in words), str(e.value)


@pytest.mark.parametrize("kind", sorted(BASE))
def test_defaults_are_valid_and_frozen(kind):
    cfg = build(kind)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.model = "other"
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.optim.lr = 1.0
    assert dataclasses.replace(cfg, model="other").model == "other"   # a changed copy is checked again
    with pytest.raises(ValueError, match="model|batch_size|iterations"):
        dataclasses.replace(cfg, **({"iterations": -1} if kind == "ppo" else {"batch_size": -1}))
